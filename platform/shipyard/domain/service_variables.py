"""A service's environment variables (``env``): what its instances, its import check and
its model loading find in ``os.environ``, snapshotted into each generation with its files
and packages, so that a rollback brings back the variables that generation ran with.

Names are POSIX names, and none of those Shipyard or the runtime sets or reads to start
the instance (``RESERVED``, ``RESERVED_PREFIXES``): a variable may change what the
service's code does, never how it is started. Values are text (a number or a boolean
given in YAML or JSON is written as its text), without NUL, each and all of them capped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shipyard.errors import InvalidInput

__all__ = [
    "MAX_VALUE_BYTES",
    "MAX_VARIABLES",
    "MAX_VARIABLES_BYTES",
    "RESERVED",
    "RESERVED_PREFIXES",
    "checked_name",
    "checked_variables",
]

MAX_VARIABLES = 100
MAX_VALUE_BYTES = 4096
MAX_VARIABLES_BYTES = 64 * 1024
"""Names and values together."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_NAME = 128

RESERVED: Mapping[str, str] = {
    "PATH": "the runner sets it to the service's environment",
    "HOME": "the runner sets it to the instance's private folder",
    "TMPDIR": "the runner sets it to the instance's private folder",
    "CUDA_VISIBLE_DEVICES": "the runner sets it to the GPUs the profile gives",
    "GUNICORN_CMD_ARGS": "gunicorn reads it and would start the instance otherwise",
    "WEB_CONCURRENCY": "gunicorn reads it for its worker count, which the profile sets",
}
RESERVED_PREFIXES: Mapping[str, str] = {
    "SHIPYARD_": "Shipyard's own variables (the instance's identity and credentials)",
    "PYTHON": "they change how Python starts (PYTHONPATH, PYTHONHOME, PYTHONSTARTUP...)",
    "LD_": "they change which libraries are loaded (LD_PRELOAD, LD_LIBRARY_PATH...)",
}


def checked_variables(value: Any, what: str = "env") -> dict[str, str]:
    """``value`` (a mapping of names to values; None for none) as stored, checked whole:
    the first problem raises ``InvalidInput`` and names it."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{what} must be an object of names to values, such as "
                           '{"API_URL": "https://example.com"}')
    if len(value) > MAX_VARIABLES:
        raise InvalidInput(f"{what} has {len(value)} variables; at most {MAX_VARIABLES}")
    checked: dict[str, str] = {}
    for name, raw in value.items():
        checked[checked_name(name, what)] = _checked_value(name, raw, what)
    total = sum(len(name.encode()) + len(text.encode()) for name, text in checked.items())
    if total > MAX_VARIABLES_BYTES:
        raise InvalidInput(f"{what} holds {total} bytes of names and values; at most "
                           f"{MAX_VARIABLES_BYTES}")
    return dict(sorted(checked.items()))


def checked_name(name: Any, what: str = "env") -> str:
    """``name`` as a variable or secret name, or ``InvalidInput`` saying why not."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > _MAX_NAME:
        raise InvalidInput(
            f"{what}: {name!r} is not a variable name: letters, digits and underscores, "
            f"not starting with a digit, at most {_MAX_NAME} characters"
        )
    upper = name.upper()
    if upper in RESERVED:
        raise InvalidInput(f"{what}: {name} is reserved: {RESERVED[upper]}")
    for prefix, why in RESERVED_PREFIXES.items():
        if upper.startswith(prefix):
            raise InvalidInput(f"{what}: {name} is reserved, as every name starting with "
                               f"{prefix} is: {why}")
    return name


def _checked_value(name: str, raw: Any, what: str) -> str:
    if isinstance(raw, bool):
        text = "true" if raw else "false"
    elif isinstance(raw, int | float):
        text = str(raw)
    elif isinstance(raw, str):
        text = raw
    else:
        raise InvalidInput(f"{what}: the value of {name} must be text (or a number or a "
                           f"boolean), not {type(raw).__name__}")
    if "\0" in text:
        raise InvalidInput(f"{what}: the value of {name} holds a NUL character")
    if len(text.encode()) > MAX_VALUE_BYTES:
        raise InvalidInput(f"{what}: the value of {name} is {len(text.encode())} bytes; at "
                           f"most {MAX_VALUE_BYTES}")
    return text
