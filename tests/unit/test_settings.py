from pathlib import Path

import pytest

from shipyard.errors import InvalidInput
from shipyard.settings import Settings, resolve_value


def test_precedence_is_flag_then_file_then_environment_then_default() -> None:
    assert resolve_value("port", {"port": 1}, {"port": 2}, {"SHIPYARD_PORT": "3"}, 4) == 1
    assert resolve_value("port", {}, {"port": 2}, {"SHIPYARD_PORT": "3"}, 4) == 2
    assert resolve_value("port", {}, {}, {"SHIPYARD_PORT": "3"}, 4) == "3"
    assert resolve_value("port", {}, {}, {}, 4) == 4


def test_defaults_put_state_in_the_home_directory(tmp_path: Path) -> None:
    settings = Settings.resolve({}, {"SHIPYARD_HOME": str(tmp_path)})
    assert settings.home == tmp_path
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'shipyard.db'}"


def test_config_file_in_home_beats_environment(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("port: 9001\nrunner: local\n")
    env = {"SHIPYARD_HOME": str(tmp_path), "SHIPYARD_PORT": "9002"}
    assert Settings.resolve({}, env).port == 9001
    assert Settings.resolve({"port": 9003}, env).port == 9003


def test_unknown_setting_in_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("prot: 1\n")
    with pytest.raises(InvalidInput, match="prot"):
        Settings.resolve({"config": config}, {"SHIPYARD_HOME": str(tmp_path)})


def test_missing_named_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        Settings.resolve({"config": tmp_path / "nope.yaml"}, {})


def test_bad_number_is_named() -> None:
    with pytest.raises(InvalidInput, match="'port'"):
        Settings.resolve({}, {"SHIPYARD_PORT": "eighty"})


def test_json_round_trip(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, port=0, templates_dir=tmp_path / "t")
    assert Settings.from_json(settings.to_json()) == settings


def test_signing_services_come_from_a_flag_the_file_or_the_environment(tmp_path: Path) -> None:
    env = {"SHIPYARD_HOME": str(tmp_path), "SHIPYARD_SIGNING_SERVICES": "execute-api, s3 lambda"}
    assert Settings.resolve({}, env).signing_services == ("execute-api", "s3", "lambda")
    (tmp_path / "config.yaml").write_text("signing_services: [s3, es]\n")
    assert Settings.resolve({}, env).signing_services == ("s3", "es")
    assert Settings.resolve({"signing_services": ("iot",)}, env).signing_services == ("iot",)
    settings = Settings.resolve({"signing_services": "iot,iot"}, env)
    assert settings.signing_services == ("iot",)
    assert Settings.from_json(settings.to_json()) == settings


def test_signing_service_is_always_accepted(tmp_path: Path) -> None:
    assert Settings(home=tmp_path).accepted_signing_services == ("execute-api", "s3")
    mine = Settings(home=tmp_path, signing_service="shipyard", signing_services=("s3",))
    assert mine.accepted_signing_services == ("shipyard", "s3")


@pytest.mark.parametrize("bad", ["s3/x", {"s3": 1}, ["s3", 3], ["a=b"]])
def test_a_bad_signing_service_is_named(tmp_path: Path, bad: object) -> None:
    with pytest.raises(InvalidInput, match="signing_services"):
        Settings.resolve({"signing_services": bad}, {"SHIPYARD_HOME": str(tmp_path)})


@pytest.mark.parametrize(("host", "url"), [
    ("127.0.0.1", "http://127.0.0.1:8123"),
    ("0.0.0.0", "http://127.0.0.1:8123"),
    ("::", "http://127.0.0.1:8123"),
    ("10.1.2.3", "http://10.1.2.3:8123"),
    ("::1", "http://[::1]:8123"),
])
def test_the_local_url_is_the_front_door_on_this_node_whatever_the_public_url(
    host: str, url: str,
) -> None:
    settings = Settings(host=host, port=8123, public_url="https://shipyard.example.com")
    assert settings.local_url == url
