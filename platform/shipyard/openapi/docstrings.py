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
route's method is taken. What it holds becomes JSON: keys become strings (``200:`` is the
response ``"200"``), dates become ISO strings; anything else that JSON cannot hold, and
YAML too large to be documentation, is a ``DocstringError``.
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
    "operation_fields",
    "split_docstring",
]

HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
MAX_DOCSTRING_CHARS = 64 * 1024
_MAX_NODES = 20_000
_SEPARATOR = "---"
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


def operation_fields(docstring: Docstring, method: str) -> dict[str, Any]:
    """The operation fields the YAML gives for ``method``: {} when there is no YAML."""
    if docstring.yaml_text is None or not docstring.yaml_text.strip():
        return {}
    if len(docstring.yaml_text) > MAX_DOCSTRING_CHARS:
        raise DocstringError(f"the YAML after --- is over {MAX_DOCSTRING_CHARS} characters")
    try:
        loaded = yaml.load(docstring.yaml_text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise DocstringError(f"the YAML after --- does not parse: {_yaml_problem(exc)}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise DocstringError(
            f"the YAML after --- must be a mapping of operation fields, not a "
            f"{_kind(loaded)}"
        )
    fields = _jsonable(loaded, [0])
    keys = {key.lower() for key in fields}
    if keys and keys <= HTTP_METHODS:
        chosen = {key.lower(): value for key, value in fields.items()}.get(method.lower(), {})
        if not isinstance(chosen, dict):
            raise DocstringError(f"the YAML's {method.lower()!r} entry must be a mapping")
        return chosen
    return fields


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


def _jsonable(value: Any, seen: list[int]) -> Any:
    """``value`` as JSON data; ``seen`` counts nodes (shared aliases count each time)."""
    seen[0] += 1
    if seen[0] > _MAX_NODES:
        raise DocstringError(f"the YAML after --- holds over {_MAX_NODES} values")
    if isinstance(value, dict):
        return {_key(key): _jsonable(item, seen) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item, seen) for item in value]
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        raise DocstringError(f"the YAML after --- holds {value}, which JSON cannot")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise DocstringError(f"the YAML after --- holds a {type(value).__name__}, which JSON cannot")


def _key(key: Any) -> str:
    if isinstance(key, bool) or key is None:
        return str(key).lower() if key is not None else "null"
    if isinstance(key, str | int | float):
        return str(key)
    if isinstance(key, datetime.date):
        return key.isoformat()
    raise DocstringError(f"the YAML after --- has a {type(key).__name__} as a key")
