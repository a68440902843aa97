"""``write_json_atomically``: how a process publishes a JSON file another one reads (the
routing table, the fleet snapshot): a reader sees the old file or the new one, never a
half-written one."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["write_json_atomically"]


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
