"""Building an OpenAPI 3 document from an app's routes and their docstrings.

Every route appears, with its methods and path parameters, whether or not it has a
docstring. A docstring's YAML (see ``shipyard.openapi.docstrings``; flasgger style is
upgraded by ``shipyard.openapi.swagger2``) is kept only when it parses and its operation
validates: otherwise the build gets a warning naming the route and the problem, the
operation keeps its summary and description but not its YAML (its answer says why), and
the rest of the document is published. A ``$ref`` that resolves nowhere costs only itself
(``shipyard.openapi.references``). Nothing here raises for a docstring.

What is left here is what apispec, which assembles the document (``assembly``), does not
do: judging each operation on its own and keeping the rest when one is bad, naming the
operations, and merging a docstring's YAML with what the route itself says (its path
parameters).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shipyard.openapi.assembly import PlacedOperation, Refused, assemble
from shipyard.openapi.docstrings import Docstring, DocstringError
from shipyard.openapi.flasgger_forms import route_fields, route_prose
from shipyard.openapi.references import (
    pointer_resolver,
    replace_in_components,
    replace_in_operation,
)
from shipyard.openapi.rules import PathTemplate, openapi_path
from shipyard.openapi.swagger2 import lift_property_required, upgrade_operation
from shipyard.openapi.validation import OPENAPI_VERSION, first_problem
from shipyard_runners import Route

__all__ = ["NOT_DOCUMENTED", "BuiltDocument", "build_document", "skeleton"]

NOT_DOCUMENTED = "Not documented: "
"""How the answer of an operation without (usable) YAML begins; the rest says why."""


@dataclass
class BuiltDocument:
    """A valid document and the warnings met while building it (one line each)."""

    document: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    """The ``$ref``s that resolved nowhere (each also a warning)."""


@dataclass
class _Operation:
    route: Route
    path: PathTemplate
    operation: dict[str, Any]


def skeleton(info: Mapping[str, Any]) -> dict[str, Any]:
    """A document with no path yet."""
    return {"openapi": OPENAPI_VERSION, "info": dict(info), "paths": {}}


def build_document(
    info: Mapping[str, Any],
    routes: Iterable[Route],
    *,
    overrides: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
    components: Mapping[str, Any] | None = None,
    tags: Sequence[Mapping[str, Any]] = (),
) -> BuiltDocument:
    """The document of ``routes``.

    ``overrides`` maps (METHOD, OpenAPI path) to a complete operation that replaces the
    docstring's (a model service's generated predict operation); ``components`` are shared
    by every docstring (the control plane's own schemas); ``tags`` describe tag names.
    """
    overrides = overrides or {}
    base = skeleton(info)
    if components:
        base["components"] = {key: dict(value) for key, value in components.items()}
    if tags:
        base["tags"] = [dict(tag) for tag in tags]
    ordered = _unique_routes(routes)
    shared = _shared_definitions(info, ordered, base.get("components") or {})
    if shared:
        base.setdefault("components", {}).setdefault("schemas", {}).update(shared)
    counts: dict[str, int] = {}
    for route in ordered:
        counts[route.endpoint] = counts.get(route.endpoint, 0) + 1

    def attempt(check_each: bool) -> tuple[dict[str, Any], list[_Operation], list[str],
                                           list[str]]:
        """The document, each route's operation, the warnings and the unresolved refs;
        ``check_each``: validate each operation in a trial of its own, to find which is
        at fault."""
        warnings: list[str] = []
        unresolved: list[str] = []
        document_base = {**base, "components": {
            key: dict(value) for key, value in (base.get("components") or {}).items()}}
        used_ids: set[str] = set()
        operations: list[_Operation] = []
        for route in ordered:
            path = openapi_path(route.rule)
            generated_id = _unique(
                route.endpoint if counts[route.endpoint] == 1
                else f"{route.endpoint}_{route.method.lower()}",
                used_ids,
            )
            override = overrides.get((route.method, path.path))
            if override is not None:
                operation = {"operationId": generated_id, **override}
                operation["operationId"] = generated_id
            else:
                operation = _operation(route, path, generated_id, document_base, used_ids,
                                       warnings, unresolved, check_each)
            operations.append(_Operation(route, path, operation))
        by_place = {(item.path.path, item.route.method.lower()): item for item in operations}

        def refused(placed: PlacedOperation, exc: Refused) -> dict[str, Any]:
            item = by_place[(placed.path, placed.method.lower())]
            warnings.append(f"{item.route.method} {item.route.rule}: {exc}; "
                            "documented without its YAML")
            return _bare(item.route, item.path, item.operation["operationId"], _left_out(exc))

        document = assemble(
            info, [PlacedOperation(item.path.path, item.route.method, item.operation)
                   for item in operations],
            components=document_base.get("components") or None, tags=tags, refused=refused,
        )
        return document, operations, warnings, unresolved

    # Most documents validate whole: one validation. Validating each operation in a trial
    # that holds every component validated the components once per operation (5 s for
    # the control plane's 93), so that is done only to find what spoils a document.
    document, operations, warnings, unresolved = attempt(check_each=False)
    problem = first_problem(document)
    if problem is not None:
        document, operations, warnings, unresolved = attempt(check_each=True)
        problem = first_problem(document)
    if problem is not None:
        warnings.append(f"the document does not validate ({problem}); "
                        "publishing every route without its YAML")
        why = f"with its YAML, the document did not validate ({problem})."
        document = assemble(info, [
            PlacedOperation(item.path.path, item.route.method,
                            _bare(item.route, item.path, item.operation["operationId"], why))
            for item in operations
        ])
    return BuiltDocument(document, warnings, list(dict.fromkeys(unresolved)))


def _unique_routes(routes: Iterable[Route]) -> list[Route]:
    """One route per (path, method): Flask answers with the first rule that matches."""
    seen: set[tuple[str, str]] = set()
    unique = []
    for route in routes:
        key = (openapi_path(route.rule).path, route.method.upper())
        if key in seen:
            continue
        seen.add(key)
        unique.append(dataclasses.replace(route, method=route.method.upper()))
    return unique


def _shared_definitions(
    info: Mapping[str, Any], routes: Iterable[Route], components: Mapping[str, Any]
) -> dict[str, Any]:
    """The schemas the routes' YAML declares (flasgger's ``definitions``), for every route
    to use, as flasgger gathers them: the first declaration of a name counts (a later one
    that differs is that route's problem), none that ``components`` has. When they do not
    validate together, none is shared, and each joins with its route's kept operation."""
    known = components.get("schemas") or {}
    found: dict[str, Any] = {}
    for route in routes:
        text = route.docstring + (route.spec.text if route.spec is not None else "")
        if "definitions" not in text:
            continue
        try:
            fields = route_fields(route)
            lift_property_required(fields)
            _, schemas = upgrade_operation(fields)
        except DocstringError:
            continue
        for name, schema in schemas.items():
            if name not in known and name not in found:
                found[name] = schema
    if not found:
        return {}
    trial = skeleton(info)
    trial["components"] = {**components, "schemas": {**known, **found}}
    return found if first_problem(trial) is None else {}


def _unique(wanted: str, used: set[str]) -> str:
    candidate, number = wanted, 1
    while candidate in used:
        number += 1
        candidate = f"{wanted}_{number}"
    used.add(candidate)
    return candidate


def _bare(
    route: Route, path: PathTemplate, operation_id: str, why: str | None = None
) -> dict[str, Any]:
    """The operation as it is without the docstring's YAML; its answer says ``why``."""
    docstring = route_prose(route)
    operation: dict[str, Any] = {}
    if docstring.summary:
        operation["summary"] = docstring.summary
    if docstring.description:
        operation["description"] = docstring.description
    operation["operationId"] = operation_id
    if path.parameters:
        operation["parameters"] = [dict(parameter) for parameter in path.parameters]
    operation["responses"] = _not_documented(why or _without_yaml(route, docstring))
    return operation


def _not_documented(why: str) -> dict[str, Any]:
    return {"default": {"description": NOT_DOCUMENTED + why}}


def _without_yaml(route: Route, docstring: Docstring) -> str:
    if not route.docstring.strip():
        return "the route has no docstring."
    if docstring.yaml_text is None:
        return "the route's docstring has no YAML (after a --- line)."
    return "the YAML after the docstring's --- line is empty."


def _left_out(problem: object) -> str:
    return f"the docstring's YAML was left out: {problem}."


def _operation(
    route: Route, path: PathTemplate, operation_id: str, document: dict[str, Any],
    used_ids: set[str], warnings: list[str], unresolved: list[str], check: bool,
) -> dict[str, Any]:
    """The documented operation, or the bare one with a warning when its YAML is unusable.

    Schemas the docstring declares (flasgger's ``definitions``) join ``document``'s
    components when the operation is kept. ``check``: validate the operation in a trial
    document of its own (only to find what spoils a document that does not validate).
    """
    bare = _bare(route, path, operation_id)
    where = f"{route.method} {route.rule}"
    try:
        fields = route_fields(route)
        lifted = lift_property_required(fields)
        fields, schemas = upgrade_operation(fields)
    except DocstringError as exc:
        warnings.append(f"{where}: {exc}; documented without its YAML")
        return _bare(route, path, operation_id, _left_out(exc))
    if not fields and not schemas:
        return bare
    if lifted:
        warnings.append(f"{where}: {lifted.describe()}")
    wanted = fields.get("operationId")
    if isinstance(wanted, str) and wanted and wanted not in used_ids:
        used_ids.add(wanted)
        operation_id = wanted
    elif wanted is not None:
        warnings.append(f"{where}: the operationId {wanted!r} is taken or not a name; "
                        f"using {operation_id!r}")
    operation = _merged(bare, fields, operation_id)
    trial = skeleton(document["info"])
    trial_components = {key: dict(value) for key, value in document.get("components", {}).items()}
    known = trial_components.setdefault("schemas", {})
    clashes = sorted(name for name in schemas if name in known and known[name] != schemas[name])
    if clashes:
        problem = f"the schema(s) {', '.join(clashes)} are already defined differently"
        warnings.append(f"{where}: {problem}; documented without its YAML")
        return _bare(route, path, operation_id, _left_out(problem))
    resolves = pointer_resolver({"components": {**trial_components,
                                                "schemas": {**known, **schemas}}})
    replaced = replace_in_operation(operation, resolves)
    replaced += replace_in_components({"schemas": schemas}, resolves)
    warnings.extend(f"{where}: {item}" for item in replaced)
    unresolved.extend(item.ref for item in replaced)
    known.update(schemas)
    trial["components"] = trial_components
    trial["paths"] = {path.path: {route.method.lower(): operation}}
    problem = first_problem(trial, in_operation=True) if check else None
    if problem is not None:
        warnings.append(f"{where}: {problem}; documented without its YAML")
        return _bare(route, path, operation_id, _left_out(problem))
    if schemas:
        document.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
    return operation


_ORDER = ("tags", "summary", "description", "operationId", "parameters", "requestBody",
          "responses")


def _merged(bare: dict[str, Any], fields: dict[str, Any], operation_id: str) -> dict[str, Any]:
    merged = {**bare, **fields}
    operation = {key: merged[key] for key in _ORDER if key in merged}
    operation.update(merged)
    operation["operationId"] = operation_id
    if "responses" not in fields:
        operation["responses"] = _not_documented("the docstring's YAML has no responses.")
    declared = fields.get("parameters")
    if isinstance(declared, list):
        named = {
            (item.get("name"), item.get("in")) for item in declared if isinstance(item, dict)
        }
        generated = [p for p in bare.get("parameters", []) if (p["name"], "path") not in named]
        operation["parameters"] = [*generated, *declared]
    return operation
