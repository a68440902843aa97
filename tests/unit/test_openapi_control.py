"""The documentation endpoints, and the control plane's own document, on the Flask test
client (no process)."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from shipyard.openapi import first_problem
from shipyard.openapi.control_api import control_plane_document, control_plane_routes
from shipyard.openapi.docstrings import split_docstring
from shipyard.openapi.document import NOT_DOCUMENTED
from shipyard.store import GenerationRow, ServiceRow

STORED = {"openapi": "3.0.3", "info": {"title": "svc", "version": "v1"},
          "paths": {"/x": {"get": {"responses": {"200": {"description": "x"}}}}}}


def test_the_control_plane_document_validates_and_documents_every_route(app: Flask) -> None:
    built = control_plane_document(app)
    assert built.warnings == []
    assert first_problem(built.document) is None
    routes = control_plane_routes(app)
    assert routes
    for route in routes:
        own = split_docstring(route.docstring)
        assert own.summary, f"{route.endpoint} has no docstring"
        assert own.yaml_text, f"{route.endpoint}'s docstring has no YAML after ---"
        path = route.rule.replace("<", "{").replace(">", "}")
        for prefix in ("{int:", "{path:"):
            path = path.replace(prefix, "{")
        operation = built.document["paths"][path][route.method.lower()]
        answers = [answer.get("description", "") for answer in operation["responses"].values()]
        assert not any(text.startswith(NOT_DOCUMENTED) for text in answers), (
            f"{route.method} {route.rule}"
        )
        assert operation.get("tags"), f"{route.method} {route.rule} has no tag"


def test_openapi_json_is_served_with_a_server(client: FlaskClient) -> None:
    answer = client.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    document = answer.get_json()
    assert list(document)[:3] == ["openapi", "info", "servers"]
    assert document["servers"][0]["url"] == "/"
    assert "/api/v1/services/{ref}/openapi.json" in document["paths"]


def test_the_pages_load_their_assets_from_this_server(client: FlaskClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert "/docs/assets/swagger-ui-bundle.js" in text
    assert "http://" not in text and "https://" not in text
    assert "script-src 'self';" in page.headers["Content-Security-Policy"]
    initializer = client.get("/docs/assets/shipyard-swagger-ui.js")
    assert initializer.status_code == 200
    assert "validatorUrl: null" in initializer.get_data(as_text=True)
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        with client.get(f"/docs/assets/{name}") as asset:  # closes the file it streams
            assert asset.status_code == 200 and len(asset.data) > 10_000
    assert client.get("/docs/assets/index.html").status_code == 404
    assert client.get("/docs/assets/..%2Fswagger-ui.css").status_code == 404


def test_a_service_document_by_generation_and_its_absence(app: Flask, client: FlaskClient) -> None:
    created = client.post("/api/v1/services", json={"name": "svc"}).get_json()
    missing = client.get("/api/v1/services/svc/openapi.json")
    assert missing.status_code == 404
    assert "no live generation" in missing.get_json()["error"]["message"]
    assert client.post("/api/v1/services/svc/enable").status_code == 200
    assert client.post("/api/v1/services/svc/deploy").status_code == 202
    building = client.get("/api/v1/services/svc/openapi.json?generation=v1")
    assert building.status_code == 404
    assert "still building" in building.get_json()["error"]["message"]

    store = app.extensions["shipyard"].store
    with store.writing() as session:
        generation = session.query(GenerationRow).one()
        generation.build_state = "succeeded"
        generation.openapi = STORED
        session.get_one(ServiceRow, created["id"]).live_generation_id = generation.id
    live = client.get("/api/v1/services/svc/openapi.json").get_json()
    assert live["paths"] == STORED["paths"]
    assert live["servers"][0]["url"] == "/user-services/invoke/svc"
    assert client.get("/api/v1/services/svc/openapi.json?generation=v1").status_code == 200
    assert client.get("/api/v1/services/svc/openapi.json?generation=1").status_code == 400

    page = client.get("/services/svc/docs")
    assert page.status_code == 200
    assert f"/api/v1/services/{created['id']}/openapi.json" in page.get_data(as_text=True)
    assert "?generation=v1" in client.get("/services/svc/docs?generation=v1").get_data(
        as_text=True
    )
    assert client.get("/services/nobody/docs").status_code == 404
