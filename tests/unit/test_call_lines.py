"""The example call ``shipyard deploy FOLDER`` ends with: taken from the service's own
OpenAPI operations, and a curl line that never holds the secret key."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from shipyard.cli.call_lines import curl_line, example_call, invoke_line
from shipyard.openapi.model_service import PREDICT_PATH, model_operations

METADATA = {
    "name": "iris", "version": 1, "problem_type": "classification", "target": "species",
    "features": [{"name": "sepal_length", "type": "number"},
                 {"name": "sepal_width", "type": "number"}],
}
RECORD = {"sepal_length": 5.1, "sepal_width": 3.5}


def model_document() -> dict:
    paths: dict = {}
    for (method, path), operation in model_operations(METADATA, "iris v1", RECORD).items():
        paths.setdefault(path, {})[method.lower()] = operation
    return {"openapi": "3.0.3", "paths": paths}


def test_a_model_service_is_called_with_one_baseline_record() -> None:
    assert example_call(model_document()) == ("post", PREDICT_PATH, [RECORD])


def test_a_custom_service_is_called_with_its_documented_example_else_a_plain_get() -> None:
    documented = {"paths": {
        "/items/{item_id}": {"get": {}},
        "/add-numbers": {"post": {"requestBody": {"content": {"application/json": {
            "example": {"num1": 2, "num2": 5}}}}}},
    }}
    assert example_call(documented) == ("post", "/add-numbers", {"num1": 2, "num2": 5})
    assert example_call({"paths": {"/items/{item_id}": {"get": {}}, "/hello": {"get": {}}}}) \
        == ("get", "/hello", None)
    assert example_call({"paths": {}}) == ("get", "/_shipyard/health", None)


def test_the_invoke_line_is_one_shell_command() -> None:
    line = invoke_line("iris", ("post", PREDICT_PATH, [RECORD]))
    words = shlex.split(line)
    assert words[:5] == ["shipyard", "invoke", "iris", "post", PREDICT_PATH]
    assert json.loads(words[5]) == [RECORD]


def test_the_curl_line_reads_the_secret_where_the_cli_found_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = tmp_path / "creds.json"
    credentials.write_text(json.dumps({"access_key_id": "SYKEY", "secret_access_key": "s3cr3t",
                                       "region": "eu-west-3"}))
    monkeypatch.setenv("SHIPYARD_CREDENTIALS_FILE", str(credentials))
    call = ("post", "/add-numbers", {"num1": 2, "num2": 5})
    line = curl_line("http://127.0.0.1:8080/user-services/invoke/add", call, signed=True)
    assert "s3cr3t" not in line
    words = shlex.split(line)
    assert words[words.index("--aws-sigv4") + 1] == "aws:amz:eu-west-3:execute-api"
    assert words[words.index("--user") + 1].startswith("SYKEY:$(python3 -c ")
    assert str(credentials) in line

    monkeypatch.delenv("SHIPYARD_CREDENTIALS_FILE")
    monkeypatch.setenv("SHIPYARD_ACCESS_KEY_ID", "SYENV")
    monkeypatch.setenv("SHIPYARD_SECRET_ACCESS_KEY", "s3cr3t")
    line = curl_line("http://h/user-services/invoke/add", call, signed=True)
    assert "s3cr3t" not in line
    assert '--user "SYENV:$SHIPYARD_SECRET_ACCESS_KEY"' in line
    assert "--user" not in curl_line("http://h/user-services/invoke/add", call, signed=False)
