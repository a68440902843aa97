"""A generation's documentation step with a stand-in runner, model services' generated
operations, and the runtime module that lists routes inside a service's environment."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from flask import Flask
from flask.views import MethodView

from shipyard.errors import BuildFailed
from shipyard.openapi import GenerationFacts, document_generation, first_problem
from shipyard.openapi.model_service import PREDICT_PATH, example_record, model_operations
from shipyard_runners import AppRoutes, Artifact, LogSink, Route
from shipyard_sdk.runtime.routes import list_routes, main

ARTIFACT = Artifact(key="k", env_key="e", path="/nowhere", runner="fake")
METADATA = {
    "name": "iris", "version": "3", "problem_type": "classification", "target": "species",
    "features": [{"name": "width", "type": "number"}, {"name": "legs", "type": "integer"},
                 {"name": "color", "type": "string"}, {"name": "wild", "type": "boolean"}],
}


class ListingRunner:
    """Answers ``routes`` as a runner would, and nothing else."""

    def __init__(self, listed: AppRoutes | Exception) -> None:
        self.listed = listed

    def routes(self, artifact: Artifact, log: LogSink) -> AppRoutes:
        log("listed")
        if isinstance(self.listed, Exception):
            raise self.listed
        return self.listed


def facts(tmp_path: Path, kind: str = "custom", **extra: object) -> GenerationFacts:
    return GenerationFacts(service_name="svc", tag="v2", kind=kind, description="",
                           code_dir=tmp_path, **extra)  # type: ignore[arg-type]


def run_step(runner: ListingRunner, generation: GenerationFacts) -> tuple[dict | None, list[str]]:
    lines: list[str] = []
    document = document_generation(runner, ARTIFACT, generation, lines.append)  # type: ignore[arg-type]
    return document, lines


def test_the_step_documents_and_warns_in_the_build_log(tmp_path: Path) -> None:
    runner = ListingRunner(AppRoutes((
        Route("/ok", "ok", "GET", "OK.\n---\nresponses: {200: {description: fine}}"),
        Route("/bad", "bad", "POST", "Bad.\n---\nresponses: [oops"),
    )))
    document, lines = run_step(runner, facts(tmp_path))
    assert document is not None and first_problem(document) is None
    assert document["info"] == {"title": "svc", "version": "v2",
                                "description": "The Shipyard service svc."}
    warnings = [line for line in lines if line.startswith("warning: ")]
    assert len(warnings) == 1 and warnings[0].startswith("warning: POST /bad: ")
    assert lines[-1] == "documented 2 operation(s) of svc v2"


def test_the_step_uses_the_components_the_service_ships(tmp_path: Path) -> None:
    pointing = Route("/job", "jobs.job", "GET", "A job.\n---\nresponses:\n  200:\n"
                     "    description: it\n    content: {application/json: {schema: "
                     "{$ref: '#/components/schemas/Job'}}}")
    document, lines = run_step(ListingRunner(AppRoutes((pointing,))), facts(tmp_path))
    assert document is not None and first_problem(document) is None
    assert lines[-3:] == [
        "warning: GET /job: the reference '#/components/schemas/Job' does not resolve; "
        "described as any value",
        "warning: shared schemas that docstrings $ref go in openapi-components.yaml, next "
        "to the app (see the README's Documentation section)",
        "documented 1 operation(s) of svc v2",
    ]

    (tmp_path / "openapi-components.yaml").write_text("schemas:\n  Job: {type: object}\n")
    document, lines = run_step(ListingRunner(AppRoutes((pointing,))), facts(tmp_path))
    assert document is not None and first_problem(document) is None
    assert document["components"] == {"schemas": {"Job": {"type": "object"}}}
    answer = document["paths"]["/job"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Job"}
    assert "openapi-components.yaml: 1 shared component(s)" in lines
    assert not [line for line in lines if line.startswith("warning")]


def test_routes_that_cannot_be_listed_are_a_warning_not_a_failure(tmp_path: Path) -> None:
    document, lines = run_step(
        ListingRunner(BuildFailed("listing the app's routes failed (exit code 1)")),
        facts(tmp_path),
    )
    assert document is not None and document["paths"] == {}
    assert "warning: the routes could not be listed: listing the app's routes failed" in (
        "\n".join(lines)
    )
    document, lines = run_step(ListingRunner(AppRoutes((), "not a Flask app")), facts(tmp_path))
    assert document is not None and "warning: not a Flask app" in lines


def test_a_model_service_is_documented_from_its_metadata(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "metadata.json").write_text(json.dumps(METADATA))
    baseline = [{"width": 2.5, "legs": 4, "color": "red", "wild": False, "species": "cat"}]
    undocumented = AppRoutes((Route(PREDICT_PATH, "predict", "POST"),
                              Route("/api/v1.0/health/status/", "health", "GET")))
    document, lines = run_step(
        ListingRunner(undocumented), facts(tmp_path, kind="model", baseline=baseline)
    )
    assert document is not None and first_problem(document) is None
    assert not [line for line in lines if line.startswith("warning")]
    predict = document["paths"][PREDICT_PATH]["post"]
    assert predict["operationId"] == "predict"
    json_body = predict["requestBody"]["content"]["application/json"]
    record = json_body["schema"]["oneOf"][0]["items"]
    assert record["required"] == ["width", "legs", "color", "wild"]
    assert record["properties"]["legs"] == {"type": "integer"}
    assert json_body["examples"]["records"]["value"] == [
        {"width": 2.5, "legs": 4, "color": "red", "wild": False}
    ]
    assert predict["requestBody"]["content"]["text/csv"]["example"] == (
        "width,legs,color,wild\n2.5,4,red,false\n"
    )
    answer = predict["responses"]["200"]["content"]["application/json"]
    assert answer["schema"]["properties"]["predictions"]["items"] == {"type": "string"}
    assert answer["example"]["predictions"] == ["cat"]
    assert "200" in document["paths"]["/api/v1.0/health/status/"]["get"]["responses"]

    # Even when the routes cannot be listed, the model's own routes are documented.
    document, _ = run_step(ListingRunner(BuildFailed("no")), facts(tmp_path, kind="model"))
    assert document is not None and set(document["paths"]) == {
        PREDICT_PATH, "/api/v1.0/health/status/"
    }


def test_made_up_examples_and_regression_answers() -> None:
    example, answer = example_record(METADATA)
    assert example == {"width": 1.5, "legs": 1, "color": "text", "wild": True}
    assert answer is None
    regression = {**METADATA, "problem_type": "regression"}
    operations = model_operations(regression, "svc", example)
    schema = operations[("POST", PREDICT_PATH)]["responses"]["200"]["content"][
        "application/json"]["schema"]
    assert schema["properties"]["predictions"]["items"] == {"type": "number"}
    assert "probabilities" not in schema["properties"]


def test_the_runtime_lists_routes_methods_and_docstrings() -> None:
    app = Flask(__name__)

    @app.route("/things/<int:thing_id>", methods=["GET", "PUT"])
    def thing(thing_id: int) -> str:
        """A thing.
        ---
        responses: {}
        """
        return ""

    @app.get("/plain")
    def plain() -> str:
        return ""

    class Widgets(MethodView):
        def get(self) -> str:
            """List widgets."""
            return ""

        def post(self) -> str:
            return ""

    app.add_url_rule("/widgets", view_func=Widgets.as_view("widgets"))
    routes, problem = list_routes(app)
    assert problem == ""
    found = {(r["rule"], r["method"]): r["docstring"] for r in routes}
    assert set(found) == {
        ("/things/<int:thing_id>", "GET"), ("/things/<int:thing_id>", "PUT"),
        ("/plain", "GET"), ("/widgets", "GET"), ("/widgets", "POST"),
    }
    assert found[("/things/<int:thing_id>", "PUT")] == "A thing.\n---\nresponses: {}"
    assert found[("/plain", "GET")] == ""
    assert found[("/widgets", "GET")] == "List widgets."
    assert found[("/widgets", "POST")] == ""
    assert list_routes(object())[0] == []
    assert "not a Flask app" in list_routes(object())[1]


def test_the_runtime_writes_json_for_the_app_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "docsapp.py").write_text(
        "from flask import Flask\napp = Flask(__name__)\n\n"
        "@app.get('/')\ndef index():\n    'Home.'\n    return ''\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHIPYARD_APP_MODULE", "docsapp")
    monkeypatch.syspath_prepend(str(tmp_path))
    output = tmp_path / "routes.json"
    try:
        assert main([str(output)]) == 0
    finally:
        sys.modules.pop("docsapp", None)
    listed = json.loads(output.read_text())
    assert listed["app"] == "docsapp:app"
    assert listed["routes"] == [
        {"rule": "/", "endpoint": "index", "method": "GET", "docstring": "Home."}
    ]
