"""Docstrings written in other tools' habits (Allonia's blueprints, Swagger 2.0's
``required: true`` in properties, ``$ref``s to shared schemas), a service's shipped
``openapi-components.yaml``, and what a route whose YAML is left out says: no process."""

from __future__ import annotations

import copy
import inspect
from pathlib import Path

import pytest

from shipyard.openapi import build_document, first_problem
from shipyard.openapi.references import pointer_resolver, replace_in_operation
from shipyard.openapi.service_components import (
    COMPONENTS_FILE,
    parse_components,
    read_components,
)
from shipyard.openapi.swagger2 import lift_property_required
from shipyard_runners import Route

INFO = {"title": "svc", "version": "v1"}
MODEL_PATH = "#/components/schemas/AleiaModelPathDescription"

LEARN = inspect.cleandoc(f"""
    Train a model
    ---
    post:
      tags:
        - Learning
      summary: Train a model from a dataset
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                dataset_path:
                  type: string
                  required: true
                  description: where the training data is
                model:
                  $ref: '{MODEL_PATH}'
                epochs:
                  type: integer
                  required: false
      responses:
        200:
          description: the trained model's path
          content:
            application/json:
              schema:
                $ref: '{MODEL_PATH}'
    """)

COMPONENTS = inspect.cleandoc("""
    schemas:
      AleiaModelPathDescription:
        type: object
        properties:
          path: {type: string, required: true, description: where the model is stored}
          version: {type: integer}
    """)


def learn_route() -> Route:
    """The route as the runtime lists a blueprint's view: endpoint ``blueprint.view``."""
    return Route("/learn", "learning.learn", "POST", LEARN)


def learn_body(document: dict) -> dict:
    operation = document["paths"]["/learn"]["post"]
    return operation["requestBody"]["content"]["application/json"]["schema"]


def test_the_allonia_docstring_keeps_its_yaml_with_the_shipped_components() -> None:
    shipped = parse_components(COMPONENTS)
    built = build_document(INFO, [learn_route()], components=shipped.components)
    assert first_problem(built.document) is None
    operation = built.document["paths"]["/learn"]["post"]
    assert operation["tags"] == ["Learning"]
    assert operation["summary"] == "Train a model from a dataset"
    assert operation["operationId"] == "learning.learn"
    body = learn_body(built.document)
    assert body["required"] == ["dataset_path"]
    assert body["properties"]["model"] == {"$ref": MODEL_PATH}
    assert body["properties"]["epochs"] == {"type": "integer"}
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": MODEL_PATH}
    model = built.document["components"]["schemas"]["AleiaModelPathDescription"]
    assert model["required"] == ["path"]
    assert built.warnings == [
        "POST /learn: 'required' inside a property is Swagger 2.0's habit, not OpenAPI 3: "
        "'dataset_path' now listed in its object's 'required'; "
        "'required: false' dropped from 'epochs'"
    ]
    assert built.unresolved == []


def test_without_the_components_only_the_references_are_lost() -> None:
    built = build_document(INFO, [learn_route()])
    assert first_problem(built.document) is None
    operation = built.document["paths"]["/learn"]["post"]
    assert operation["summary"] == "Train a model from a dataset"
    assert learn_body(built.document)["required"] == ["dataset_path"]
    model = learn_body(built.document)["properties"]["model"]
    assert model == {"description": f"Any value: its schema, {MODEL_PATH}, is not defined."}
    answer = operation["responses"]["200"]
    assert answer["description"] == "the trained model's path"
    assert answer["content"]["application/json"]["schema"] == model
    assert built.warnings[1:] == [
        f"POST /learn: the reference '{MODEL_PATH}' does not resolve; described as any value"
    ]
    assert built.unresolved == [MODEL_PATH]
    assert "components" not in built.document


def test_required_in_properties_is_lifted_at_every_depth_and_data_is_left_alone() -> None:
    schema = {
        "type": "object", "required": ["id"],
        "properties": {
            "id": {"type": "integer", "required": True},
            "owner": {
                "type": "object", "required": True,
                "properties": {"name": {"type": "string", "required": True},
                               "properties": {"type": "string", "required": False}},
            },
            "tags": {"type": "array", "items": {
                "type": "object", "properties": {"label": {"type": "string", "required": True}},
            }},
        },
        "example": {"properties": {"id": {"required": True}}},
    }
    found = lift_property_required(schema)
    assert found.lifted == ["id", "owner", "name", "label"]
    assert found.dropped == ["properties"]
    assert schema["required"] == ["id", "owner"]
    owner = schema["properties"]["owner"]
    assert owner["required"] == ["name"]
    assert owner["properties"]["properties"] == {"type": "string"}
    assert schema["properties"]["tags"]["items"]["required"] == ["label"]
    assert schema["example"] == {"properties": {"id": {"required": True}}}
    assert not lift_property_required({"parameters": [{"name": "q", "in": "query",
                                                       "required": True}]})


def test_required_is_lifted_in_swagger2_body_parameters_and_definitions() -> None:
    docstring = inspect.cleandoc("""
        Create a pet.
        ---
        parameters:
          - name: body
            in: body
            required: true
            schema: {$ref: '#/definitions/Pet'}
        responses: {201: {description: Created.}}
        definitions:
          Pet:
            type: object
            properties:
              name: {type: string, required: true}
        """)
    built = build_document(INFO, [Route("/pets", "create_pet", "POST", docstring)])
    assert first_problem(built.document) is None
    operation = built.document["paths"]["/pets"]["post"]
    assert operation["requestBody"]["required"] is True
    assert built.document["components"]["schemas"]["Pet"]["required"] == ["name"]
    assert len(built.warnings) == 1 and "'name' now listed" in built.warnings[0]


def test_unresolved_references_get_what_their_place_needs() -> None:
    operation = {
        "parameters": [{"$ref": "#/components/parameters/Page"},
                       {"name": "q", "in": "query", "schema": {"$ref": "other.yaml#/Q"}}],
        "requestBody": {"$ref": "#/components/requestBodies/Nowhere"},
        "responses": {
            "200": {"description": "ok", "content": {"application/json": {
                "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Known"},
                           "allOf": [{"$ref": "https://example.org/s.json"}]},
                "example": {"$ref": "#/data/not/a/reference"},
            }}, "headers": {"X-Rate": {"$ref": "#/components/headers/Rate"}}},
            "404": {"$ref": "#/components/responses/NotFound"},
        },
    }
    resolves = pointer_resolver({"components": {"schemas": {"Known": {"type": "string"}}}})
    replaced = replace_in_operation(operation, resolves)
    assert [(item.ref, item.outcome) for item in replaced] == [
        ("#/components/parameters/Page", "the parameter is left out"),
        ("other.yaml#/Q", "described as any value"),
        ("#/components/requestBodies/Nowhere", "the request body is left out"),
        ("https://example.org/s.json", "described as any value"),
        ("#/components/headers/Rate", "the header is left out"),
        ("#/components/responses/NotFound", "the response is described as not documented"),
    ]
    assert operation["parameters"] == [{"name": "q", "in": "query", "schema": {
        "description": "Any value: its schema, other.yaml#/Q, is not defined."}}]
    assert "requestBody" not in operation
    ok = operation["responses"]["200"]
    media = ok["content"]["application/json"]
    assert media["schema"]["items"] == {"$ref": "#/components/schemas/Known"}
    assert media["example"] == {"$ref": "#/data/not/a/reference"}
    assert ok["headers"] == {}
    assert operation["responses"]["404"] == {
        "description": "Not documented: #/components/responses/NotFound is not defined."
    }


def test_pointers_resolve_into_the_document_with_escapes() -> None:
    resolves = pointer_resolver({"components": {"schemas": {"a/b": {"properties": {"x": {}}},
                                                            "list": {"allOf": [{}]}}}})
    assert resolves("#/components/schemas/a~1b/properties/x")
    assert resolves("#/components/schemas/list/allOf/0")
    assert not resolves("#/components/schemas/list/allOf/1")
    assert not resolves("#/components/schemas/a/b")
    assert not resolves("#components/schemas/list")


@pytest.mark.parametrize(("docstring", "why"), [
    ("", "Not documented: the route has no docstring."),
    ("Just prose.", "Not documented: the route's docstring has no YAML (after a --- line)."),
    ("Yes.\n---\ntags: [a]", "Not documented: the docstring's YAML has no responses."),
    ("Bad.\n---\nresponses: [oops",
     "Not documented: the docstring's YAML was left out: the YAML after --- does not parse"),
    ("Bad.\n---\nresponses: {200: {description: x, content: {application/json: "
     "{schema: {type: nubmer}}}}}",
     "Not documented: the docstring's YAML was left out: 'nubmer' is not valid"),
])
def test_an_operation_without_its_yaml_says_why(docstring: str, why: str) -> None:
    built = build_document(INFO, [Route("/x", "x", "GET", docstring)])
    assert first_problem(built.document) is None
    answer = built.document["paths"]["/x"]["get"]["responses"]["default"]["description"]
    assert answer.startswith(why)


def test_shipped_components_may_keep_their_components_key() -> None:
    wrapped = "components:\n" + "\n".join("  " + line for line in COMPONENTS.splitlines())
    assert parse_components(wrapped).components == parse_components(COMPONENTS).components
    assert parse_components(COMPONENTS).count == 1


def test_shipped_components_are_forgiven_like_docstrings() -> None:
    shipped = parse_components(inspect.cleandoc("""
        schemas:
          Job:
            type: object
            properties:
              id: {type: string, required: true}
              model: {$ref: '#/components/schemas/Missing'}
              owner: {$ref: '#/components/schemas/Owner'}
          Owner: {type: string}
        securitySchemes:
          basic: {type: http, scheme: basic}
        """))
    job = shipped.components["schemas"]["Job"]
    assert job["required"] == ["id"]
    assert job["properties"]["owner"] == {"$ref": "#/components/schemas/Owner"}
    assert job["properties"]["model"]["description"].startswith("Any value")
    assert "securitySchemes" not in shipped.components
    assert shipped.warnings == (
        f"{COMPONENTS_FILE}: securitySchemes left out: the gateway authenticates callers, "
        "and the served document declares how",
        f"{COMPONENTS_FILE}: 'required' inside a property is Swagger 2.0's habit, not "
        "OpenAPI 3: 'id' now listed in its object's 'required'",
        f"{COMPONENTS_FILE}: the reference '#/components/schemas/Missing' does not resolve; "
        "described as any value",
    )


@pytest.mark.parametrize(("text", "problem"), [
    ("schemas: [oops", f"{COMPONENTS_FILE} does not parse"),
    ("- a list", f"{COMPONENTS_FILE} must be a mapping of sections"),
    ("schemas:\n  A: {type: nubmer}",
     f"{COMPONENTS_FILE} is not a valid components object: 'nubmer' is not valid"),
    ("shemas:\n  A: {type: string}", f"{COMPONENTS_FILE} is not a valid components object"),
])
def test_shipped_components_that_do_not_validate_are_a_warning(text: str, problem: str) -> None:
    shipped = parse_components(text)
    assert shipped.components == {}
    assert len(shipped.warnings) == 1
    assert shipped.warnings[0].startswith(problem)
    assert shipped.warnings[0].endswith("the service is documented without it")


def test_components_are_read_from_the_service_folder(tmp_path: Path) -> None:
    assert read_components(tmp_path).components == {}
    assert read_components(tmp_path).warnings == ()
    (tmp_path / COMPONENTS_FILE).write_text(COMPONENTS)
    assert read_components(tmp_path).components == parse_components(COMPONENTS).components
    (tmp_path / COMPONENTS_FILE).write_bytes(b"schemas: {A: {description: \xff}}")
    assert "cannot be read as UTF-8" in read_components(tmp_path).warnings[0]
    (tmp_path / COMPONENTS_FILE).write_text("# " + "x" * (4 * 64 * 1024))
    assert read_components(tmp_path).warnings == (
        f"{COMPONENTS_FILE} is over 65536 characters; the service is documented without it",
    )


def test_a_docstring_definition_and_the_components_are_checked_together() -> None:
    shipped = parse_components(COMPONENTS)
    clashing = LEARN.replace("post:\n", "post:\n  definitions:\n"
                             "    AleiaModelPathDescription: {type: string}\n", 1)
    before = copy.deepcopy(shipped.components)
    built = build_document(INFO, [Route("/learn", "learning.learn", "POST", clashing)],
                           components=shipped.components)
    assert first_problem(built.document) is None
    assert built.warnings[-1] == (
        "POST /learn: the schema(s) AleiaModelPathDescription are already defined "
        "differently; documented without its YAML"
    )
    assert built.document["components"] == before
