import pytest

from shipyard.domain.manifest import parse_manifest
from shipyard.errors import InvalidInput, InvalidName, InvalidPackageList


def test_parses_a_scaffolded_manifest() -> None:
    manifest = parse_manifest(
        "name: add-numbers\nkind: custom\nenvironment: small\npackages: [numpy>=1.26]\n"
    )
    assert manifest.name == "add-numbers"
    assert manifest.packages == ("numpy>=1.26",)
    assert manifest.to_spec()["environment"] == "small"


@pytest.mark.parametrize(
    ("text", "error", "named"),
    [
        ("name: Bad_Name\n", InvalidName, "Bad_Name"),
        ("name: ok\npackages: ['--index-url http://x']\n", InvalidPackageList, "--index-url"),
        ("name: ok\nkind: lambda\n", InvalidInput, "lambda"),
        ("name: ok\nport: 80\n", InvalidInput, "port"),
        ("- a list\n", InvalidInput, "mapping"),
        ("name: [unclosed\n", InvalidInput, "YAML"),
    ],
)
def test_bad_manifests_name_the_problem(text: str, error: type, named: str) -> None:
    with pytest.raises(error, match=named):
        parse_manifest(text)


def test_query_log_settings_are_optional_and_checked() -> None:
    plain = parse_manifest("name: ok\n")
    assert "collect_prediction_data" not in plain.to_spec()
    assert "association_id_field" not in plain.to_spec()
    chosen = parse_manifest(
        "name: ok\ncollect_prediction_data: true\nassociation_id_field: customer_id\n"
    ).to_spec()
    assert chosen["collect_prediction_data"] is True
    assert chosen["association_id_field"] == "customer_id"
    with pytest.raises(InvalidInput, match=r"collect_prediction_data.*true or false"):
        parse_manifest("name: ok\ncollect_prediction_data: 'yes'\n")
    with pytest.raises(InvalidInput, match="association_id_field must be a string"):
        parse_manifest("name: ok\nassociation_id_field: 12\n")
    with pytest.raises(InvalidInput, match="control"):
        parse_manifest('name: ok\nassociation_id_field: "a\\tb"\n')
