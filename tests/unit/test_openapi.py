"""Documents from routes and docstrings: no process, no network."""

from __future__ import annotations

import inspect

import pytest

from shipyard.openapi import build_document, first_problem, gateway_url, published
from shipyard.openapi import document as document_module
from shipyard.openapi.docstrings import DocstringError, operation_fields, split_docstring
from shipyard.openapi.rules import openapi_path
from shipyard.openapi.swagger2 import upgrade_operation
from shipyard.resources import templates_root
from shipyard_runners import Route

INFO = {"title": "svc", "version": "v1"}


def template_docstring() -> str:
    """The docstring of /add-numbers in the custom-service template, as rendered."""
    source = (templates_root() / "custom-service" / "app.py.j2").read_text()
    start = source.index('def add_numbers():\n    """') + len('def add_numbers():\n    """')
    raw = source[start:source.index('"""', start)]
    return inspect.cleandoc(raw.replace("{{ [name] | yaml }}", "[add-numbers]"))


def documented(*routes: Route) -> tuple[dict, list[str]]:
    built = build_document(INFO, routes)
    assert first_problem(built.document) is None
    return built.document, built.warnings


def test_the_template_docstring_gives_request_schema_tags_and_responses() -> None:
    document, warnings = documented(
        Route("/add-numbers", "add_numbers", "POST", template_docstring())
    )
    assert warnings == []
    operation = document["paths"]["/add-numbers"]["post"]
    assert operation["summary"] == "Add two numbers."
    assert operation["description"].startswith("Answers the sum")
    assert operation["tags"] == ["add-numbers"]
    assert operation["operationId"] == "add_numbers"
    body = operation["requestBody"]["content"]["application/json"]
    assert body["schema"]["required"] == ["num1", "num2"]
    assert body["example"] == {"num1": 2, "num2": 5}
    assert set(operation["responses"]) == {"200", "400"}


def test_routes_without_docstrings_keep_methods_and_path_parameters() -> None:
    document, warnings = documented(
        Route("/files/<path:name>", "files", "GET"),
        Route("/files/<path:name>", "files", "DELETE"),
        Route("/at/<float(signed=True):x>/<uuid:id>/<any(a, 'b'):which>", "at", "GET"),
    )
    assert warnings == []
    files = document["paths"]["/files/{name}"]
    assert set(files) == {"get", "delete"}
    assert files["get"]["operationId"] == "files_get"
    assert files["get"]["parameters"][0]["name"] == "name"
    assert list(files["delete"]["responses"]) == ["default"]
    parameters = document["paths"]["/at/{x}/{id}/{which}"]["get"]["parameters"]
    assert [p["schema"] for p in parameters] == [
        {"type": "number"}, {"type": "string", "format": "uuid"},
        {"type": "string", "enum": ["a", "b"]},
    ]


@pytest.mark.parametrize(("yaml", "problem"), [
    ("responses: [200", "does not parse"),
    ("- a list", "must be a mapping"),
    ("responses:\n  200: {description: x, content: {application/json: {schema: {type: nubmer}}}}",
     "'nubmer' is not valid"),
    ("summry: typo\nresponses: {200: {description: x}}", "'summry' was unexpected"),
    ("get:\n  responses: {200: {description: x}}", "documents only GET (not PUT)"),
    ("when: !!python/object/apply:os.system [echo hi]", "does not parse"),
])
def test_a_bad_docstring_is_one_warning_and_the_route_stays(yaml: str, problem: str) -> None:
    document, warnings = documented(
        Route("/bad/<int:n>", "bad", "PUT", f"Bad one.\n---\n{yaml}"),
        Route("/good", "good", "GET", "Good.\n---\nresponses: {200: {description: fine}}"),
    )
    assert len(warnings) == 1
    assert warnings[0].startswith("PUT /bad/<int:n>: ")
    assert problem in warnings[0]
    assert warnings[0].endswith("documented without its YAML")
    bad = document["paths"]["/bad/{n}"]["put"]
    assert bad["summary"] == "Bad one."
    assert bad["parameters"][0]["name"] == "n"
    why = bad["responses"]["default"]["description"]
    assert why.startswith("Not documented: the docstring's YAML was left out: ")
    assert problem in why
    assert document["paths"]["/good"]["get"]["responses"] == {"200": {"description": "fine"}}


def test_a_document_is_validated_whole_once_and_operation_by_operation_only_when_it_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    validated: list[bool] = []
    real = document_module.first_problem

    def counted(document: dict, *, in_operation: bool = False) -> str | None:
        validated.append(in_operation)
        return real(document, in_operation=in_operation)

    monkeypatch.setattr(document_module, "first_problem", counted)
    good = [Route(f"/good/{n}", f"good{n}", "GET",
                  f"Good {n}.\n---\nresponses: {{200: {{description: fine}}}}")
            for n in range(5)]
    documented(*good)
    assert validated == [False]
    validated.clear()
    bad = Route("/bad", "bad", "GET", "Bad.\n---\nresponses: {200: {description: 5}}")
    document, warnings = documented(*good, bad)
    # The whole, then each of the six in a trial of its own, then the whole again.
    assert validated == [False, *[True] * 6, False]
    assert [warning.split(":")[0] for warning in warnings] == ["GET /bad"]
    assert document["paths"]["/good/0"]["get"]["responses"] == {"200": {"description": "fine"}}


def test_flasgger_style_is_upgraded() -> None:
    docstring = """Create a pet.
    ---
    tags: [pets]
    consumes: [application/json]
    parameters:
      - {name: dry_run, in: query, type: boolean, default: false}
      - name: body
        in: body
        required: true
        schema: {$ref: '#/definitions/Pet'}
    responses:
      201:
        description: Created.
        schema: {$ref: '#/definitions/Pet'}
        examples: {application/json: {name: Rex}}
      400:
        schema: {type: object}
    definitions:
      Pet:
        type: object
        properties:
          name: {type: string, x-nullable: true}
          photo: {type: file}
    """
    document, warnings = documented(Route("/pets", "create_pet", "POST",
                                          inspect.cleandoc(docstring)))
    assert warnings == []
    operation = document["paths"]["/pets"]["post"]
    assert operation["parameters"] == [
        {"name": "dry_run", "in": "query", "schema": {"type": "boolean", "default": False}}
    ]
    assert operation["requestBody"] == {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}},
        "required": True,
    }
    created = operation["responses"]["201"]["content"]["application/json"]
    assert created == {"schema": {"$ref": "#/components/schemas/Pet"}, "example": {"name": "Rex"}}
    assert operation["responses"]["400"]["description"] == "Bad Request"
    pet = document["components"]["schemas"]["Pet"]["properties"]
    assert pet == {"name": {"type": "string", "nullable": True},
                   "photo": {"type": "string", "format": "binary"}}


def test_form_parameters_become_a_form_body() -> None:
    operation, _ = upgrade_operation({"parameters": [
        {"name": "title", "in": "formData", "type": "string", "required": True},
        {"name": "upload", "in": "formData", "type": "file"},
    ], "responses": {"200": {"description": "ok"}}})
    schema = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["title"]
    assert schema["properties"]["upload"] == {"type": "string", "format": "binary"}
    assert "parameters" not in operation


def test_apispec_style_takes_the_routes_method() -> None:
    docstring = split_docstring(
        "Items.\n---\nget:\n  responses: {200: {description: listed}}\n"
        "post:\n  responses: {201: {description: made}}"
    )
    assert operation_fields(docstring, "POST") == {"responses": {"201": {"description": "made"}}}
    with pytest.raises(DocstringError, match=r"documents only GET, POST \(not DELETE\)"):
        operation_fields(docstring, "DELETE")


def test_docstring_parts_and_yaml_values() -> None:
    parts = split_docstring("A summary\nthat wraps.\n\nA description.\n---\nx-date: 2024-01-02")
    assert parts.summary == "A summary that wraps."
    assert parts.description == "A description."
    assert operation_fields(parts, "GET") == {"x-date": "2024-01-02"}
    assert split_docstring("No YAML here.").yaml_text is None
    with pytest.raises(DocstringError, match="holds over"):
        operation_fields(split_docstring("x\n---\n" + alias_bomb()), "GET")


def alias_bomb(levels: int = 6) -> str:
    """YAML of a few lines that stands for 10 ** levels values."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    return "\n".join(lines)


def test_duplicate_and_custom_operation_ids() -> None:
    document, warnings = documented(
        Route("/a", "a", "GET",
              "A.\n---\noperationId: listThings\nresponses: {200: {description: a}}"),
        Route("/b", "b", "GET",
              "B.\n---\noperationId: listThings\nresponses: {200: {description: b}}"),
    )
    assert document["paths"]["/a"]["get"]["operationId"] == "listThings"
    assert document["paths"]["/b"]["get"]["operationId"] == "b"
    assert warnings == ["GET /b: the operationId 'listThings' is taken or not a name; using 'b'"]


def test_rules_become_openapi_paths() -> None:
    template = openapi_path("/users/<int:user_id>/posts/<slug>")
    assert template.path == "/users/{user_id}/posts/{slug}"
    assert [p["name"] for p in template.parameters] == ["user_id", "slug"]
    assert template.parameters[0]["schema"] == {"type": "integer", "minimum": 0}


def test_publication_adds_the_gateway_server_first() -> None:
    document, _ = documented(Route("/x", "x", "GET"))
    url = gateway_url("http://127.0.0.1:8080/", "add-numbers")
    assert url == "http://127.0.0.1:8080/user-services/invoke/add-numbers"
    served = published(document, server_url=url)
    assert list(served)[:3] == ["openapi", "info", "servers"]
    assert served["servers"] == [{"url": url}]
    assert "servers" not in document
    assert gateway_url("", "a b") == "/user-services/invoke/a%20b"

