"""The document's assembly by apispec: components registered through it, parameters by
reference given in its terms, sections it has no method for kept, and an operation it
refuses replaced by what the caller makes of it."""

from __future__ import annotations

import pytest

from shipyard.openapi import first_problem
from shipyard.openapi.assembly import PlacedOperation, Refused, assemble

INFO = {"title": "t", "version": "1", "description": "d"}
OK = {"responses": {"200": {"description": "ok"}}}


def test_components_and_references_come_out_as_they_went_in() -> None:
    components = {
        "schemas": {"Pet": {"type": "object"}},
        "parameters": {"Limit": {"name": "limit", "in": "query", "schema": {"type": "integer"}}},
        "requestBodies": {"PetBody": {"content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Pet"}}}}},
    }
    operation = {**OK, "parameters": [{"$ref": "#/components/parameters/Limit"}],
                 "requestBody": {"$ref": "#/components/requestBodies/PetBody"}}
    document = assemble(INFO, [PlacedOperation("/pets", "POST", operation)],
                        components=components, tags=[{"name": "pets"}])
    assert list(document)[:4] == ["openapi", "info", "tags", "paths"]
    assert document["info"] == INFO
    assert document["paths"]["/pets"]["post"] == operation
    assert document["components"] == components
    assert first_problem(document) is None


def test_an_operation_apispec_refuses_is_replaced_or_raised() -> None:
    nameless = {**OK, "parameters": [{"in": "query", "schema": {"type": "string"}}]}
    placed = [PlacedOperation("/x", "GET", nameless), PlacedOperation("/y", "GET", OK)]
    with pytest.raises(Refused, match="Missing keys"):
        assemble(INFO, placed)
    seen = []

    def refused(item: PlacedOperation, exc: Refused) -> dict[str, object]:
        seen.append((item.path, str(exc)))
        return OK

    document = assemble(INFO, placed, refused=refused)
    assert seen == [("/x", "Missing keys ['name'] for parameter")]
    assert document["paths"] == {"/x": {"get": OK}, "/y": {"get": OK}}


def test_a_docstring_may_name_a_shared_request_body() -> None:
    from shipyard.openapi import build_document
    from shipyard_runners import Route

    components = {"requestBodies": {"Pair": {"content": {"application/json": {
        "schema": {"type": "object"}}}}}}
    docstring = ("Add.\n---\nrequestBody: {$ref: '#/components/requestBodies/Pair'}\n"
                 "responses:\n  200: {description: The sum}\n")
    built = build_document(INFO, [Route("/add", "add", "POST", docstring)],
                           components=components)
    assert built.warnings == []
    assert built.document["paths"]["/add"]["post"]["requestBody"] == {
        "$ref": "#/components/requestBodies/Pair"}
    assert built.document["components"] == components
