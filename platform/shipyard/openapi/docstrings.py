"""Reading a view's docstring: the text before a ``---`` line is the operation's summary
(its first paragraph, on one line) and description (the rest); the YAML after it is the
operation.

The YAML is data, parsed with ``yaml.safe_load``: it names no Python object and runs no
code. It is either one operation (flasgger's and Allonia's style)::

    Add two numbers.
    ---
    tags: [maths]
    responses: ...

or, apispec's style, one operation per HTTP method (``get:``, ``post:``, ...), of which the
route's method is taken (a route whose method the YAML leaves out is a ``DocstringError``
that says so). What it holds becomes JSON (``load_yaml``, also used for a service's
``openapi-components.yaml``): keys become strings (``200:`` is the response ``"200"``),
dates become ISO strings; anything else that JSON cannot hold, and YAML too large to be
documentation, is a ``DocstringError``.

apispec's docstring helpers (``yaml_utils.load_yaml_from_docstring`` and
``load_operations_from_docstring``) do not fit, which is why this module exists: they drop
the summary and description, let YAML errors out unexplained (no line, no column), accept
YAML of any size and values JSON cannot hold, return a list or a string as they find it,
and the second keeps only method keys, so the flasgger style (one operation, the most
common in services) would be read as nothing.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from typing import Any

import yaml

__all__ = [
    "HTTP_METHODS",
    "MAX_DOCSTRING_CHARS",
    "Docstring",
    "DocstringError",
    "load_yaml",
    "operation_fields",
    "split_docstring",
]

HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
MAX_DOCSTRING_CHARS = 64 * 1024
_MAX_NODES = 20_000
_SEPARATOR = "---"
_AFTER_SEPARATOR = "the YAML after ---"
# libyaml's safe loader when it is there: as safe as yaml.safe_load, and faster.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class DocstringError(ValueError):
    """A docstring whose YAML cannot document its route; the message says why."""


@dataclass(frozen=True)
class Docstring:
    """A docstring split at its ``---`` line; ``yaml_text`` is None when it has none."""

    summary: str
    description: str
    yaml_text: str | None


def split_docstring(text: str) -> Docstring:
    """Split an (already dedented) docstring into summary, description and YAML."""
    lines = text.strip("\n").splitlines()
    yaml_text: str | None = None
    for index, line in enumerate(lines):
        if line.strip() == _SEPARATOR:
            yaml_text = "\n".join(lines[index + 1:])
            lines = lines[:index]
            break
    prose = "\n".join(lines).strip()
    summary, _, description = prose.partition("\n\n")
    return Docstring(" ".join(summary.split()), description.strip(), yaml_text)


def operation_fields(docstring: Docstring, method: str, source: str = _AFTER_SEPARATOR
                     ) -> dict[str, Any]:
    """The operation fields the YAML gives for ``method``: {} when there is no YAML.
    ``source`` names where the YAML is, for the errors."""
    if docstring.yaml_text is None or not docstring.yaml_text.strip():
        return {}
    loaded = load_yaml(docstring.yaml_text, source)
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise DocstringError(
            f"{source} must be a mapping of operation fields, not a {_kind(loaded)}"
        )
    keys = {key.lower() for key in loaded}
    if keys and keys <= HTTP_METHODS:
        by_method = {key.lower(): value for key, value in loaded.items()}
        if method.lower() not in by_method:
            documented = ", ".join(sorted(key.upper() for key in by_method))
            raise DocstringError(
                f"{source} documents only {documented} (not {method.upper()})"
            )
        chosen = by_method[method.lower()]
        if not isinstance(chosen, dict):
            raise DocstringError(f"the YAML's {method.lower()!r} entry must be a mapping")
        return chosen
    return loaded


def load_yaml(text: str, source: str) -> Any:
    """``text`` parsed as JSON data; ``source`` names it in the errors (``the YAML after
    ---``, ``openapi-components.yaml``)."""
    if len(text) > MAX_DOCSTRING_CHARS:
        raise DocstringError(f"{source} is over {MAX_DOCSTRING_CHARS} characters")
    try:
        loaded = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise DocstringError(f"{source} does not parse: {_yaml_problem(exc)}") from None
    return _jsonable(loaded, [0], source)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        problem = exc.problem or exc.context or "invalid YAML"
        mark = exc.problem_mark
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1} of the YAML)"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _kind(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def _jsonable(value: Any, seen: list[int], source: str) -> Any:
    """``value`` as JSON data; ``seen`` counts nodes (shared aliases count each time)."""
    seen[0] += 1
    if seen[0] > _MAX_NODES:
        raise DocstringError(f"{source} holds over {_MAX_NODES} values")
    if isinstance(value, dict):
        return {_key(key, source): _jsonable(item, seen, source) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item, seen, source) for item in value]
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        raise DocstringError(f"{source} holds {value}, which JSON cannot")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise DocstringError(f"{source} holds a {type(value).__name__}, which JSON cannot")


def _key(key: Any, source: str) -> str:
    if isinstance(key, bool) or key is None:
        return str(key).lower() if key is not None else "null"
    if isinstance(key, str | int | float):
        return str(key)
    if isinstance(key, datetime.date):
        return key.isoformat()
    raise DocstringError(f"{source} has a {type(key).__name__} as a key")
