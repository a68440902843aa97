"""The registry over HTTP (the Flask app on a real SQLite store, in process)."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile

import pytest
from flask.testing import FlaskClient
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart


def create(client: FlaskClient, **fields: object) -> dict:
    answer = client.post("/api/v1/services", json={"name": "add-numbers", **fields})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def error_of(answer) -> dict:  # type: ignore[no-untyped-def]
    body = answer.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"type", "message"}
    return body["error"]


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def snapshot(client: FlaskClient) -> list:
    services = client.get("/api/v1/services").get_json()["services"]
    files = {s["id"]: client.get(f"/api/v1/services/{s['id']}/files").get_json() for s in services}
    return [services, files]


def test_healthz(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_create_renders_the_template_disabled_and_undeployed(client: FlaskClient) -> None:
    service = create(client, description="Adds two numbers")
    assert service["id"].startswith("svc_")
    assert (service["kind"], service["environment"], service["template"]) == (
        "custom", "small", "custom-service"
    )
    assert service["enabled"] is False
    assert service["deployed"] is False
    fetched = client.get("/api/v1/services/add-numbers").get_json()
    assert fetched["created_at"] == service["created_at"]
    assert fetched["created_at"].endswith("+00:00")
    listed = client.get("/api/v1/services/add-numbers/files").get_json()["files"]
    paths = {f["path"] for f in listed}
    assert {"app.py", "shipyard.yaml"} <= paths
    app_py = client.get("/api/v1/services/add-numbers/files/app.py").get_data(as_text=True)
    assert "/add-numbers" in app_py
    compile(app_py, "app.py", "exec")


def test_get_list_update_delete(client: FlaskClient) -> None:
    service = create(client)
    assert client.get(f"/api/v1/services/{service['id']}").get_json()["name"] == "add-numbers"
    assert client.get("/api/v1/services/add-numbers").get_json()["id"] == service["id"]
    changed = client.patch(
        "/api/v1/services/add-numbers",
        json={"environment": "large", "packages": ["NumPy>=1.26"], "description": "x"},
    ).get_json()
    assert changed["environment"] == "large"
    assert changed["packages"] == ["numpy>=1.26"]
    listed = client.get("/api/v1/services").get_json()["services"]
    assert [s["name"] for s in listed] == ["add-numbers"]
    assert client.delete("/api/v1/services/add-numbers").status_code == 204
    answer = client.get("/api/v1/services/add-numbers")
    assert answer.status_code == 404
    assert error_of(answer)["type"] == "NotFound"


def test_model_services_get_the_model_packages_by_default(client: FlaskClient) -> None:
    service = create(client, name="scorer", kind="model")
    assert service["template"] == "model-service"
    assert service["packages"] == ["joblib", "pandas", "scikit-learn"]


def test_enable_and_disable(client: FlaskClient) -> None:
    create(client)
    assert client.post("/api/v1/services/add-numbers/enable").get_json()["enabled"] is True
    assert client.post("/api/v1/services/add-numbers/disable").get_json()["enabled"] is False


@pytest.mark.parametrize(
    ("body", "status", "error_type", "named"),
    [
        ({"name": "Add_Numbers"}, 400, "InvalidName", "Add_Numbers"),
        ({"name": "x", "environment": "huge"}, 400, "UnknownEnvironment",
         "known: gpu, large, small"),
        ({"name": "x", "packages": ["--index-url https://evil"]}, 400, "InvalidPackageList",
         "--index-url"),
        ({"name": "x", "packages": ["pkg @ https://evil/pkg.whl"]}, 400, "InvalidPackageList",
         "pkg @"),
        ({"name": "x", "kind": "lambda"}, 400, "InvalidInput", "lambda"),
        ({"name": "x", "packages": {"flask": "3"}}, 400, "InvalidPackageList", "not a dict"),
        ({"name": "x", "template": "../etc"}, 400, "InvalidTemplate", "../etc"),
        ({"name": "x", "colour": "red"}, 400, "InvalidInput", "colour"),
        ({"name": "add-numbers"}, 409, "Conflict", "add-numbers"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    client: FlaskClient, body: dict, status: int, error_type: str, named: str
) -> None:
    create(client)
    before = snapshot(client)
    answer = client.post("/api/v1/services", json=body)
    assert answer.status_code == status
    error = error_of(answer)
    assert error["type"] == error_type
    assert named in error["message"]
    assert snapshot(client) == before


def test_non_json_body_is_a_400(client: FlaskClient) -> None:
    answer = client.post("/api/v1/services", data="name=x")
    assert answer.status_code == 400
    assert "JSON" in error_of(answer)["message"]


def test_unknown_route_and_method_answer_the_error_shape(client: FlaskClient) -> None:
    assert error_of(client.get("/api/v1/nothing-here"))["type"] == "NotFound"
    answer = client.put("/api/v1/services")
    assert answer.status_code == 405
    assert error_of(answer)["type"] == "MethodNotAllowed"


def test_files_read_write_delete(client: FlaskClient) -> None:
    create(client)
    url = "/api/v1/services/add-numbers/files/lib/helpers.py"
    written = client.put(url, data=b"def double(x):\n    return 2 * x\n").get_json()
    assert written["path"] == "lib/helpers.py"
    assert written["size"] == 32
    assert client.get(url).get_data() == b"def double(x):\n    return 2 * x\n"
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("path", ["../evil.py", "a/../../evil.py", "%2Fetc%2Fpasswd", "a//b"])
def test_file_paths_cannot_escape(client: FlaskClient, path: str) -> None:
    create(client)
    before = snapshot(client)
    answer = client.put(f"/api/v1/services/add-numbers/files/{path}", data=b"x")
    assert answer.status_code in (400, 404)
    assert snapshot(client) == before


def test_replace_files_from_zip_and_tar_gz(client: FlaskClient) -> None:
    create(client)
    url = "/api/v1/services/add-numbers/files"
    answer = client.put(url, data=zip_of({"svc/app.py": b"app = 1\n", "svc/x.txt": b"x"}))
    assert answer.status_code == 200, answer.get_json()
    assert [f["path"] for f in answer.get_json()["files"]] == ["app.py", "x.txt"]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("main.py")
        info.size = 3
        archive.addfile(info, io.BytesIO(b"y=1"))
    answer = client.put(url, data=buffer.getvalue())
    assert [f["path"] for f in answer.get_json()["files"]] == ["main.py"]


def test_evil_archive_is_refused_and_changes_nothing(client: FlaskClient) -> None:
    create(client)
    before = snapshot(client)
    answer = client.put(
        "/api/v1/services/add-numbers/files",
        data=zip_of({"app.py": b"ok", "../evil": b"owned"}),
    )
    assert answer.status_code == 400
    error = error_of(answer)
    assert error["type"] == "InvalidArchive"
    assert "../evil" in error["message"]
    assert snapshot(client) == before


def test_garbage_archive_is_refused(client: FlaskClient) -> None:
    create(client)
    answer = client.put("/api/v1/services/add-numbers/files", data=b"not an archive")
    assert answer.status_code == 400
    assert error_of(answer)["type"] == "InvalidArchive"


def test_create_from_an_uploaded_archive(client: FlaskClient) -> None:
    answer = client.post(
        "/api/v1/services",
        data={
            "service": '{"name": "uploaded", "packages": ["requests"]}',
            "archive": (io.BytesIO(zip_of({"app.py": b"from flask import Flask\n"})), "s.zip"),
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code == 201, answer.get_json()
    files = client.get("/api/v1/services/uploaded/files").get_json()["files"]
    assert [f["path"] for f in files] == ["app.py"]


def test_upload_over_the_limit_is_413(client: FlaskClient, app) -> None:  # type: ignore[no-untyped-def]
    create(client)
    limit = app.config["MAX_CONTENT_LENGTH"]
    answer = client.put("/api/v1/services/add-numbers/files/big.bin", data=b"0" * (limit + 1))
    assert answer.status_code == 413
    assert error_of(answer)["type"] == "PayloadTooLarge"
    message = error_of(answer)["message"]
    assert message == f"the request body is over the upload limit of {limit} bytes"


def test_archive_download_round_trips(client: FlaskClient) -> None:
    create(client)
    archive = client.get("/api/v1/services/add-numbers/archive").get_data()
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        assert "app.py" in opened.namelist()


def test_environments_are_listed(client: FlaskClient) -> None:
    body = client.get("/api/v1/environments").get_json()
    assert body["default"] == "small"
    assert {e["name"] for e in body["environments"]} == {"small", "large", "gpu"}


def test_a_form_field_is_bounded_by_the_upload_limit_alone(client: FlaskClient) -> None:
    """A model's metadata with 10,000 baseline records (about 600 kB) is a form field
    past Werkzeug's default 500 kB cap, and well within the upload limit."""
    features = [{"name": name, "type": "number"} for name in ("sepal", "petal")]
    baseline = [{"sepal": 1.2345678 + row, "petal": 2.3456789 + row, "kind": "setosa"}
                for row in range(10_000)]
    metadata = json.dumps({"name": "wide", "features": features, "target": "kind",
                           "problem_type": "classification", "baseline": baseline})
    assert len(metadata) > 520_000
    # Encoded here: the test client spools a body this large to a file it never closes.
    boundary, body = encode_multipart({
        "metadata": metadata,
        "model": FileStorage(io.BytesIO(b"model bytes"), "model.joblib"),
    })
    answer = client.post("/api/v1/models", data=body,
                         content_type=f"multipart/form-data; boundary={boundary}")
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["baseline_rows"] == 10_000
