"""Validating documents with openapi-spec-validator, each problem as one readable line.

The validator is imported on first use: processes that never validate (and the API until
it first builds its own document) start without it.

Why here: apispec validates nothing; openapi-spec-validator does, and this words its
errors.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["OPENAPI_VERSION", "first_problem"]

OPENAPI_VERSION = "3.0.3"
_MAX_MESSAGE = 300
_MAX_ERRORS = 10
_TOP_LEVEL = frozenset({"openapi", "info", "servers", "paths", "components", "security",
                        "tags", "externalDocs"})


def first_problem(document: Mapping[str, Any], *, in_operation: bool = False) -> str | None:
    """Why ``document`` is not a valid OpenAPI 3.0 document, or None when it is.

    With ``in_operation``, a problem inside an operation is located relative to it (the
    caller names the route).
    """
    from openapi_spec_validator import OpenAPIV30SpecValidator
    from referencing.exceptions import Unresolvable

    try:
        errors = list(itertools.islice(
            OpenAPIV30SpecValidator(dict(document)).iter_errors(), _MAX_ERRORS
        ))
    except Unresolvable as exc:
        ref = getattr(exc, "ref", None)
        return f"the reference {ref!r} does not resolve" if ref else "a reference does not resolve"
    except (RecursionError, ValueError, TypeError, KeyError) as exc:
        return f"the document cannot be checked: {type(exc).__name__}: {_short(str(exc))}"
    return _describe(errors, in_operation) if errors else None


def _describe(errors: Sequence[Exception], in_operation: bool) -> str:
    """The most telling of ``errors``: one that names the value at fault rather than
    dumping a whole object, located in the document."""
    from jsonschema.exceptions import ValidationError

    first = errors[0]
    chosen = next((e for e in errors if not _dumps_instance(e)), first)
    if not isinstance(chosen, ValidationError):
        return _short(str(chosen))
    message = chosen.message.splitlines()[0] if chosen.message else type(chosen).__name__
    path = [str(part) for part in chosen.absolute_path]
    if path and path[0] not in _TOP_LEVEL and isinstance(first, ValidationError):
        # A schema checked on its own knows only where it is inside itself.
        path = [str(part) for part in first.absolute_path] + ["…", *path]
    if len(path) >= 3 and path[0] == "paths":
        inside = "/".join(path[3:])
        where = inside if in_operation else f"{path[2].upper()} {path[1]} {inside}".strip()
    else:
        where = "/".join(path)
    return _short(message) + (f" (at {where})" if where else "")


def _dumps_instance(error: Exception) -> bool:
    message = getattr(error, "message", "") or ""
    return message.startswith(("{", "["))


def _short(message: str) -> str:
    line = " ".join(message.split())
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 1] + "…"
