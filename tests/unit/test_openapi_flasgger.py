"""Services written for flasgger: its forms (``swag_from`` with a file or a dict, a
docstring's ``file:``, ``definitions`` shared across routes) found by the service's runtime
and documented as flasgger documents them, compared with flasgger's own ``/apispec_1.json``
after the OpenAPI 3 upgrade."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.openapi import build_document, first_problem
from shipyard_runners import Route, RouteSpec
from shipyard_sdk.runtime.routes import list_routes
from tests.flasgger_comparison import assert_same_as_flasgger

SERVICE = Path(__file__).parents[1] / "fixtures" / "services" / "flasgger-maths"
INFO = {"title": "maths", "version": "v1"}

pytest.importorskip("flasgger", reason="flasgger is one of the test extras")


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The sample service's app, imported from its folder as an instance would."""
    monkeypatch.chdir(SERVICE)
    spec = importlib.util.spec_from_file_location("flasgger_maths_app", SERVICE / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module.app
    sys.modules.pop("flasgger_maths_app", None)


def listed(app: Any) -> list[Route]:
    routes, problem = list_routes(app)
    assert problem == ""
    return [Route.from_dict(item) for item in routes]


def test_the_runtime_finds_each_form_as_flasgger_does(service: Any) -> None:
    specs = {route.rule: route.spec for route in listed(service)}
    assert specs["/add"] is not None and specs["/add"].kind == "file"
    assert specs["/add"].source == "specs/add.yml"
    assert specs["/add"].text == (SERVICE / "specs" / "add.yml").read_text()
    assert specs["/subtract/<int:a>/<int:b>"] is not None
    assert specs["/subtract/<int:a>/<int:b>"].kind == "dict"
    assert '"200": {"description": "The difference"' in specs["/subtract/<int:a>/<int:b>"].text
    assert specs["/multiply"] == RouteSpec(
        "file", "specs/multiply.yml", (SERVICE / "specs" / "multiply.yml").read_text())
    assert specs["/apispec_1.json"] is None  # flasgger's own routes declare nothing


def test_the_document_has_flasggers_operations_and_definitions(service: Any) -> None:
    swagger2 = service.test_client().get("/apispec_1.json").get_json()
    built = build_document(INFO, listed(service))
    assert first_problem(built.document) is None
    assert not [w for w in built.warnings if "add" in w or "multiply" in w or "subtract" in w]
    assert built.unresolved == []
    assert assert_same_as_flasgger(swagger2, built.document) == 3


def test_a_definition_serves_routes_listed_before_the_one_that_declares_it() -> None:
    uses = Route("/a", "a", "GET", "Uses it.\n---\nresponses:\n  200:\n    description: ok\n"
                 "    schema: {$ref: '#/definitions/Thing'}\n")
    declares = Route("/b", "b", "GET", "Declares it.\n---\nresponses:\n  200:\n"
                     "    description: ok\ndefinitions:\n  Thing: {type: string}\n")
    built = build_document(INFO, [uses, declares])
    assert built.warnings == [] and built.unresolved == []
    answer = built.document["paths"]["/a"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Thing"}
    assert built.document["components"]["schemas"] == {"Thing": {"type": "string"}}


def test_a_docstring_merges_into_a_dict_and_its_prose_wins() -> None:
    spec = RouteSpec("dict", "swag_from", '{"summary": "from the dict", "tags": ["a"], '
                     '"responses": {"200": {"description": "ok"}}}')
    docstring = ("From the docstring.\n---\ntags: [b]\n"
                 "responses:\n  404:\n    description: missing\n")
    built = build_document(INFO, [Route("/x", "x", "GET", docstring, spec)])
    operation = built.document["paths"]["/x"]["get"]
    assert operation["summary"] == "From the docstring."
    assert operation["tags"] == ["a", "b"]
    assert set(operation["responses"]) == {"200", "404"}
    alone = build_document(INFO, [Route("/x", "x", "GET", "", spec)])
    assert alone.document["paths"]["/x"]["get"]["summary"] == "from the dict"


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (RouteSpec("error", "../x.yml", "the spec file ../x.yml is outside the service's "
                   "folder"), "outside the service's folder"),
        (RouteSpec("file", "specs/bad.yml", "Bad.\n---\nresponses: [unclosed"),
         "specs/bad.yml does not parse"),
        (RouteSpec("dict", "swag_from", "[1, 2]"), "the swag_from dict must be a mapping"),
    ],
)
def test_a_spec_that_cannot_document_its_route_is_a_warning(spec: RouteSpec, words: str) -> None:
    built = build_document(INFO, [Route("/x", "x", "GET", "Some route.", spec)])
    assert first_problem(built.document) is None
    [warning] = built.warnings
    assert warning.startswith("GET /x: ") and words in warning
    assert warning.endswith("; documented without its YAML")


def test_the_runtime_refuses_spec_files_it_should_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipyard_sdk.runtime.flasgger_specs import flasgger_spec

    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("x")

    def view() -> None: ...

    view.swag_path = "/etc/hostname"  # type: ignore[attr-defined]
    assert flasgger_spec(view, "v", "GET", "")["kind"] == "error"
    view.swag_path = str(tmp_path / "notes.txt")  # type: ignore[attr-defined]
    assert "not a .yml or .yaml file" in flasgger_spec(view, "v", "GET", "")["text"]
    view.swag_path = str(tmp_path / "gone.yml")  # type: ignore[attr-defined]
    assert "cannot be read" in flasgger_spec(view, "v", "GET", "")["text"]
    del view.swag_path  # type: ignore[attr-defined]
    view.swag_paths = {"v_post": str(tmp_path / "p.yml"), "get": str(tmp_path / "g.yml")}  # type: ignore[attr-defined]
    (tmp_path / "p.yml").write_text("post")
    (tmp_path / "g.yml").write_text("get")
    assert flasgger_spec(view, "v", "POST", "")["text"] == "post"
    assert flasgger_spec(view, "v", "GET", "")["text"] == "get"
    del view.swag_paths  # type: ignore[attr-defined]
    view.specs_dict = {"responses": {200: {"description": object()}}}  # type: ignore[attr-defined]
    assert flasgger_spec(view, "v", "GET", "")["kind"] == "error"
    assert flasgger_spec(len, "len", "GET", "plain docstring") is None
