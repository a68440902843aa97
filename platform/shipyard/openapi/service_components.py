"""A service's shared components: ``openapi-components.yaml`` in its folder.

The file is an OpenAPI 3 components object (``schemas``, ``responses``, ``parameters``,
...; one copied with its ``components:`` key works too) whose entries the route
docstrings' ``$ref``s point to (``$ref: '#/components/schemas/Model'``). It is part of the
service's code, so each generation is documented with the components it was pushed with.

It is read like a docstring's YAML (``load_yaml``), with the same forgiveness: a
property's ``required: true`` is lifted to its object, an unresolved ``$ref`` is replaced
(``shipyard.openapi.references``). ``securitySchemes`` are left out: the gateway
authenticates callers and the served document declares how. What remains is validated;
a file that does not parse or validate is a warning and the service is documented without
it. Nothing here raises.

Why here: the file is the user's, read, forgiven and checked before apispec registers
its components (``assembly``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.openapi.docstrings import MAX_DOCSTRING_CHARS, DocstringError, load_yaml
from shipyard.openapi.references import pointer_resolver, replace_in_components
from shipyard.openapi.swagger2 import lift_property_required
from shipyard.openapi.validation import OPENAPI_VERSION, first_problem

__all__ = ["COMPONENTS_FILE", "ServiceComponents", "parse_components", "read_components"]

COMPONENTS_FILE = "openapi-components.yaml"
_LEFT_OUT = "securitySchemes"


@dataclass(frozen=True)
class ServiceComponents:
    """The components a service ships ({} when none), and the warnings met reading them."""

    components: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        return sum(len(section) for section in self.components.values()
                   if isinstance(section, dict))


def read_components(code_dir: Path) -> ServiceComponents:
    """The components shipped in ``code_dir``; none, with no warning, when there is no file."""
    path = code_dir / COMPONENTS_FILE
    if not path.is_file():
        return ServiceComponents()
    try:
        if path.stat().st_size > 4 * MAX_DOCSTRING_CHARS:  # UTF-8 takes 4 bytes at most
            return _without(f"{COMPONENTS_FILE} is over {MAX_DOCSTRING_CHARS} characters")
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return _without(f"{COMPONENTS_FILE} cannot be read as UTF-8 text "
                        f"({type(exc).__name__})")
    return parse_components(text)


def parse_components(text: str) -> ServiceComponents:
    """The components ``text`` declares, checked."""
    try:
        data = load_yaml(text, COMPONENTS_FILE)
    except DocstringError as exc:
        return _without(str(exc))
    if data is None:
        return ServiceComponents()
    if isinstance(data, dict) and isinstance(data.get("components"), dict):
        data = data["components"]
    if not isinstance(data, dict):
        return _without(f"{COMPONENTS_FILE} must be a mapping of sections (schemas, "
                        f"responses, parameters, ...), not a {type(data).__name__}")
    warnings: list[str] = []
    if data.pop(_LEFT_OUT, None) is not None:
        warnings.append(f"{COMPONENTS_FILE}: {_LEFT_OUT} left out: the gateway authenticates "
                        "callers, and the served document declares how")
    lifted = lift_property_required(data)
    if lifted:
        warnings.append(f"{COMPONENTS_FILE}: {lifted.describe()}")
    replaced = replace_in_components(data, pointer_resolver({"components": data}))
    warnings.extend(f"{COMPONENTS_FILE}: {item}" for item in replaced)
    problem = first_problem({
        "openapi": OPENAPI_VERSION, "info": {"title": COMPONENTS_FILE, "version": "0"},
        "paths": {}, "components": data,
    })
    if problem is not None:
        return _without(f"{COMPONENTS_FILE} is not a valid components object: {problem}",
                        warnings)
    return ServiceComponents(data, tuple(warnings))


def _without(problem: str, warnings: list[str] | None = None) -> ServiceComponents:
    line = f"{problem}; the service is documented without it"
    return ServiceComponents({}, (*(warnings or ()), line))
