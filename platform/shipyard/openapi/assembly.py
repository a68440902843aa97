"""Putting a document together with apispec: its ``APISpec``, the components registered
through it, one ``path`` call per operation.

apispec does what a document's assembly needs: it keeps the paths in the order they come,
merges the methods of one path, registers each component under a name it refuses twice,
makes response codes strings and path parameters required, and refuses a parameter
without a name or a place, or twice the same. Two things it does not take as they are
written, so they are handed to it in its own terms:

- a parameter that is a ``$ref`` to ``#/components/parameters/NAME`` is given as the
  string ``NAME``, which apispec turns back into that reference (it checks every
  parameter object for ``name`` and ``in``, which a reference has not);
- components sections it has no method for (``requestBodies``, ``callbacks``) go in as
  top-level options, which its ``to_dict`` merges into ``components``;
- a request body that is a ``$ref`` (to ``requestBodies``) is put back into its operation
  after apispec is done: apispec reads every request body's ``content``, which a
  reference has not.

An operation apispec refuses is reported to the caller (``Refused``), which documents it
without its YAML; nothing else here judges an operation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from apispec import APISpec
from apispec.exceptions import APISpecError

from shipyard.openapi.validation import OPENAPI_VERSION

__all__ = ["PlacedOperation", "Refused", "assemble"]

_PARAMETER_REF = "#/components/parameters/"
_TOP_LEVEL_ORDER = ("openapi", "info", "servers", "tags", "paths", "components")
_REGISTERED = {  # components section -> the method of apispec's that registers one
    "schemas": "schema", "responses": "response", "parameters": "parameter",
    "headers": "header", "examples": "example", "links": "link",
    "securitySchemes": "security_scheme",
}


@dataclass(frozen=True)
class PlacedOperation:
    """One operation and where it goes."""

    path: str
    method: str
    operation: Mapping[str, Any]


class Refused(ValueError):
    """apispec would not take an operation; the message says why."""


def assemble(
    info: Mapping[str, Any],
    operations: Sequence[PlacedOperation],
    *,
    components: Mapping[str, Any] | None = None,
    tags: Sequence[Mapping[str, Any]] = (),
    refused: Callable[[PlacedOperation, Refused], Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The document of ``operations`` with ``components`` and ``tags``. An operation apispec
    refuses is replaced by what ``refused`` makes of it, or raises ``Refused``."""
    extra_info = {key: value for key, value in info.items() if key not in ("title", "version")}
    components = dict(components or {})
    unregistered = {name: dict(section) for name, section in components.items()
                    if name not in _REGISTERED and section}
    options: dict[str, Any] = {}
    if extra_info:
        options["info"] = extra_info
    if unregistered:
        options["components"] = unregistered
    spec = APISpec(title=str(info["title"]), version=str(info["version"]),
                   openapi_version=OPENAPI_VERSION, **options)
    _register(spec, components)
    for tag in tags:
        spec.tag(dict(tag))
    bodies: list[tuple[str, str, Any]] = []
    for placed in operations:
        try:
            bodies += _add(spec, placed.path, placed.method, placed.operation)
        except Refused as exc:
            if refused is None:
                raise
            bodies += _add(spec, placed.path, placed.method, refused(placed, exc))
    document = spec.to_dict()
    for path, method, body in bodies:
        document["paths"][path][method]["requestBody"] = body
    # apispec puts the paths before the version; a reader expects the usual order.
    return {key: document[key] for key in (*_TOP_LEVEL_ORDER, *document) if key in document}


def _register(spec: APISpec, components: Mapping[str, Any]) -> None:
    for section, method in _REGISTERED.items():
        register = getattr(spec.components, method)
        for name, component in (components.get(section) or {}).items():
            if section == "parameters":  # apispec takes a parameter's place apart
                register(name, component.get("in", ""), component)
            else:
                register(name, component)


def _add(spec: APISpec, path: str, method: str, operation: Mapping[str, Any]
         ) -> list[tuple[str, str, Any]]:
    """Add one operation; the request body to put back after (see the module)."""
    given = dict(operation)
    method = method.lower()
    parameters = given.get("parameters")
    if isinstance(parameters, list):
        given["parameters"] = [_in_apispec_terms(parameter) for parameter in parameters]
    body = given.get("requestBody")
    deferred = []
    if isinstance(body, dict) and "$ref" in body:
        deferred.append((path, method, given.pop("requestBody")))
    try:
        spec.path(path=path, operations={method: given})
    except APISpecError as exc:
        raise Refused(str(exc)) from None
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        # apispec assumes the shapes it writes; a valid document may use others.
        raise Refused(f"apispec cannot take it ({type(exc).__name__}: {exc})") from None
    return deferred


def _in_apispec_terms(parameter: Any) -> Any:
    if isinstance(parameter, dict) and set(parameter) == {"$ref"}:
        ref = parameter["$ref"]
        if isinstance(ref, str) and ref.startswith(_PARAMETER_REF):
            return ref.removeprefix(_PARAMETER_REF)
    return parameter
