import pytest

from shipyard.errors import InvalidInput, InvalidName, InvalidPackageList
from shipyard.manifest import parse_manifest


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
