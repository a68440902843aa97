"""Swagger pages from route docstrings, through a real ``shipyard up``: the documentation
step of a build, the stored documents, the API that serves them, ``shipyard docs``, and the
page itself in a headless chromium whose "try it out" goes through the gateway."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from shipyard.openapi import first_problem
from tests.conftest import RunningShipyard, start_shipyard

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ALLONIA_LEARNING = Path(__file__).parents[1] / "fixtures" / "services" / "allonia-learning"
MODEL_PATH = "#/components/schemas/AleiaModelPathDescription"
CHROMIUM_FLAGS = [  # headless comes from playwright, a fresh profile from the test
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

ONE_BROKEN = '''\
from flask import Flask

app = Flask(__name__)


@app.get("/hello/<name>")
def hello(name):
    """Greet someone.

    By name.
    ---
    tags: [greetings]
    responses:
      200:
        description: A greeting.
        content:
          application/json:
            schema: {type: object, properties: {hello: {type: string}}}
    """
    return {"hello": name}


@app.post("/broken")
def broken():
    """Its YAML does not parse.
    ---
    responses: [200
    """
    return {}


@app.get("/items/<int:item_id>")
def item(item_id):
    return {"item": item_id}
'''


@dataclass
class Documented:
    shipyard: RunningShipyard
    logs: dict[str, str]

    def document(self, service: str, **params: str) -> requests.Response:
        return self.shipyard.http.get(
            f"{self.shipyard.url}/api/v1/services/{service}/openapi.json", params=params,
            timeout=10,
        )


def _deploy(
    shipyard: RunningShipyard, folder: Path, name: str, app: str | Path | None
) -> str:
    """Create, push, enable and deploy a service whose app is the template's, ``app``'s
    source, or a fixture folder's files; its build log."""
    assert shipyard.cli("new", "custom", name, cwd=folder).returncode == 0
    if isinstance(app, Path):
        shutil.copytree(app, folder / name, dirs_exist_ok=True)
    elif app is not None:
        (folder / name / "app.py").write_text(app)
    for args in (("push", name), ("enable", name), ("deploy", name)):
        done = shipyard.cli(*args, cwd=folder)
        assert done.returncode == 0, done.stdout + done.stderr
    return shipyard.cli("logs", name).stdout


@pytest.fixture(scope="module")
def documented(tmp_path_factory: pytest.TempPathFactory, module_database_url: str
               ) -> Iterator[Documented]:
    """One control plane serving the template's add-numbers, a service with one broken
    docstring and an Allonia-style blueprint service (deployed here, so their instances
    predate each test's leak check)."""
    folder = tmp_path_factory.mktemp("docs")
    shipyard = start_shipyard(folder / "home", database_url=module_database_url)
    try:
        logs = {
            "add-numbers": _deploy(shipyard, folder, "add-numbers", None),
            "one-broken": _deploy(shipyard, folder, "one-broken", ONE_BROKEN),
            "learning": _deploy(shipyard, folder, "learning", ALLONIA_LEARNING),
        }
        yield Documented(shipyard, logs)
    finally:
        shipyard.stop()


def test_the_template_docstring_documents_add_numbers(documented: Documented) -> None:
    answer = documented.document("add-numbers")
    assert answer.status_code == 200
    document = answer.json()
    assert first_problem(document) is None
    assert document["info"] == {
        "title": "add-numbers", "version": "v1",
        "description": "The Shipyard service add-numbers.",
    }
    assert document["servers"][0]["url"] == (
        f"{documented.shipyard.url}/user-services/invoke/add-numbers"
    )
    operation = document["paths"]["/add-numbers"]["post"]
    assert operation["tags"] == ["add-numbers"]
    assert operation["summary"] == "Add two numbers."
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["num1", "num2"]
    assert schema["properties"] == {"num1": {"type": "number"}, "num2": {"type": "number"}}
    assert set(operation["responses"]) == {"200", "400"}
    assert "warning" not in documented.logs["add-numbers"]
    assert "documented 1 operation(s) of add-numbers v1" in documented.logs["add-numbers"]


def test_a_broken_docstring_is_a_warning_and_the_rest_is_documented(
    documented: Documented,
) -> None:
    log = documented.logs["one-broken"]
    warnings = [line for line in log.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, log
    assert warnings[0].startswith("warning: POST /broken: the YAML after --- does not parse")

    document = documented.document("one-broken").json()
    assert first_problem(document) is None
    paths = document["paths"]
    assert set(paths) == {"/hello/{name}", "/broken", "/items/{item_id}"}
    hello = paths["/hello/{name}"]["get"]
    assert hello["tags"] == ["greetings"]
    assert hello["description"] == "By name."
    assert hello["parameters"][0]["name"] == "name"
    assert "hello" in hello["responses"]["200"]["content"]["application/json"]["schema"][
        "properties"
    ]
    broken = paths["/broken"]["post"]
    assert broken["summary"] == "Its YAML does not parse."
    assert list(broken["responses"]) == ["default"]
    item = paths["/items/{item_id}"]["get"]
    assert item["parameters"] == [{
        "name": "item_id", "in": "path", "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }]


def test_an_allonia_blueprint_keeps_its_yaml_with_its_shared_components(
    documented: Documented,
) -> None:
    log = documented.logs["learning"]
    assert "openapi-components.yaml: 2 shared component(s)" in log
    warnings = [line for line in log.splitlines() if line.startswith("warning:")]
    habit = "'required' inside a property is Swagger 2.0's habit, not OpenAPI 3: "
    assert warnings == [
        f"warning: openapi-components.yaml: {habit}'path' now listed in its object's "
        "'required'",
        f"warning: POST /learn: {habit}'dataset_path' now listed in its object's 'required'; "
        "'required: false' dropped from 'epochs'",
        "warning: GET /learn/<int:run>: the reference "
        "'#/components/schemas/AleiaRunDescription' does not resolve; described as any value",
    ], log
    assert "documented 2 operation(s) of learning v1" in log

    document = documented.document("learning").json()
    assert first_problem(document) is None
    learn = document["paths"]["/learn"]["post"]
    assert learn["operationId"] == "learning.learn"
    assert learn["tags"] == ["Learning"]
    assert learn["summary"] == "Train a model from a dataset"
    body = learn["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["dataset_path"]
    assert body["properties"]["model"] == {"$ref": MODEL_PATH}
    assert body["properties"]["epochs"] == {"type": "integer"}
    assert learn["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": MODEL_PATH
    }
    assert learn["responses"]["400"] == {"$ref": "#/components/responses/BadRequest"}
    shared = document["components"]
    assert shared["schemas"]["AleiaModelPathDescription"]["required"] == ["path"]
    assert "BadRequest" in shared["responses"]
    run = document["paths"]["/learn/{run}"]["get"]
    assert run["parameters"][0]["name"] == "run"
    assert run["responses"]["200"]["description"] == "the run's model"
    assert run["responses"]["200"]["content"]["application/json"]["schema"] == {
        "description": "Any value: its schema, #/components/schemas/AleiaRunDescription, "
                       "is not defined."
    }


def test_documents_of_other_generations_and_their_absence(documented: Documented) -> None:
    assert documented.document("add-numbers", generation="v1").json()["info"]["version"] == "v1"
    missing = documented.document("add-numbers", generation="v7")
    assert missing.status_code == 404
    assert "no build 7" in missing.json()["error"]["message"]
    assert documented.document("add-numbers", generation="seven").status_code == 400
    assert documented.document("nobody").status_code == 404

    url, http = documented.shipyard.url, documented.shipyard.http
    created = http.post(f"{url}/api/v1/services", json={"name": "undeployed"}, timeout=10)
    assert created.status_code == 201
    none_yet = documented.document("undeployed")
    assert none_yet.status_code == 404
    assert "no live generation" in none_yet.json()["error"]["message"]
    assert http.get(f"{url}/services/undeployed/docs", timeout=10).status_code == 404


def test_shipyard_docs_prints_the_page_url_or_the_document(documented: Documented) -> None:
    shipyard = documented.shipyard
    page = shipyard.cli("docs", "add-numbers")
    assert page.returncode == 0, page.stderr
    assert page.stdout.strip() == f"{shipyard.url}/services/add-numbers/docs"
    as_json = shipyard.cli("docs", "add-numbers", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert '"/add-numbers"' in as_json.stdout
    unknown = shipyard.cli("docs", "nobody")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "Error: no service 'nobody'"


def test_the_control_plane_documents_itself(documented: Documented) -> None:
    shipyard = documented.shipyard
    document = shipyard.http.get(f"{shipyard.url}/api/v1/openapi.json", timeout=60).json()
    assert first_problem(document) is None
    assert document["servers"][0]["url"] == documented.shipyard.url
    assert "/api/v1/services/{ref}/openapi.json" in document["paths"]
    page = documented.shipyard.http.get(f"{documented.shipyard.url}/docs", timeout=60)
    assert page.status_code == 200
    assert "/api/v1/openapi.json" in page.text


@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed at /usr/bin/chromium (.ci/run installs it)",
)
def test_the_swagger_page_works_offline_in_a_real_browser(
    documented: Documented, tmp_path: Path
) -> None:
    # A browser signs nothing: the page of a public service works as it is.
    documented.shipyard.set_access_level("add-numbers", "public")
    try:
        _try_it_out_in_chromium(documented, tmp_path)
    finally:
        documented.shipyard.set_access_level("add-numbers", "project")


@contextlib.contextmanager
def launch_chromium(profile: Path) -> Iterator[Any]:
    """Debian's chromium, headless, on a fresh ``profile``, closed after the block."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
        )
        with contextlib.closing(browser):
            yield browser


def _try_it_out_in_chromium(documented: Documented, tmp_path: Path) -> None:
    from playwright.sync_api import Route

    origin = urlsplit(documented.shipyard.url).netloc
    seen: list[str] = []
    errors: list[str] = []

    def only_shipyard(route: Route) -> None:
        seen.append(route.request.url)
        if urlsplit(route.request.url).netloc == origin:
            route.continue_()
        else:
            route.abort()

    with launch_chromium(tmp_path / "chromium-profile") as browser:
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.route("**/*", only_shipyard)
        page.goto(f"{documented.shipyard.url}/services/add-numbers/docs")
        page.wait_for_selector(".opblock")
        paths = [e.inner_text() for e in page.query_selector_all(".opblock-summary-path")]
        assert paths == ["/add-numbers"]
        page.click(".opblock-summary")
        page.click("button.try-out__btn")
        page.click("button.execute")
        answer = ".live-responses-table tr.response "
        status = page.wait_for_selector(answer + ".response-col_status")
        assert status is not None
        assert status.inner_text().strip() == "200"
        assert page.inner_text(answer + ".response-col_description pre").strip() == "7"
    outside = [url for url in seen if urlsplit(url).netloc != origin]
    assert outside == []
    assert errors == []  # a Content-Security-Policy violation would show here
    assert f"{documented.shipyard.url}/user-services/invoke/add-numbers/add-numbers" in seen
    assert any(url.endswith("/docs/assets/swagger-ui-bundle.js") for url in seen)
