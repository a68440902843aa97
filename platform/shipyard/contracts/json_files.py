"""The JSON files a process publishes for another (the routing table, the fleet
snapshot): ``write_json_atomically`` (a reader sees the old file or the new one, never a
half-written one), ``read_json``, and the shape checks their readers share
(``json_object``, ``json_list``), each raising the contract's own error."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["json_list", "json_object", "read_json", "write_json_atomically"]


def write_json_atomically(path: Path | str, data: Any) -> None:
    """Write ``data`` as compact JSON at ``path`` (world-readable), through a temporary
    file in the same folder renamed over it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as sink:
            json.dump(data, sink, separators=(",", ":"))
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_json(path: Path | str, what: str, error: type[ValueError]) -> Any:
    """The JSON in ``path``; ``error`` names ``what`` when it cannot be read or parsed."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {what} {str(path)!r}: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{what} {str(path)!r} is not JSON: {exc}") from exc


def json_object(value: Any, what: str, error: type[ValueError]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise error(f"{what} must be a JSON object")
    return value


def json_list(value: Any, what: str, error: type[ValueError]) -> list[Any]:
    if not isinstance(value, list):
        raise error(f"{what} must be a JSON list")
    return value
