"""The file where a running control plane records its URL, so the CLI can find it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["clear_run_file", "read_run_file", "run_file", "write_run_file"]


def run_file(home: Path) -> Path:
    return home / "run" / "api.json"


def read_run_file(home: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(run_file(home).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_run_file(home: Path, url: str) -> None:
    path = run_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"url": url, "pid": os.getpid()}))


def clear_run_file(home: Path) -> None:
    """Remove the run file if this process wrote it."""
    info = read_run_file(home)
    if info and info.get("pid") == os.getpid():
        run_file(home).unlink(missing_ok=True)
