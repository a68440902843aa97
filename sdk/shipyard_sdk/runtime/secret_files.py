"""Secrets a runner gives as files, made environment variables of the service's process.

A runner that can (the docker runner) mounts a service's secrets read-only in the folder
``$SHIPYARD_SECRETS_DIR``, one file per secret named as the secret, and keeps their values
out of what its engine shows. Before the service's code is imported, each file's content
becomes the variable of its name, so code that reads ``os.environ`` runs the same on every
runner, and code that reads the files can do that instead.
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping

__all__ = ["SECRETS_DIR_VAR", "export_secret_files"]

SECRETS_DIR_VAR = "SHIPYARD_SECRETS_DIR"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def export_secret_files(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Set each secret file of ``$SHIPYARD_SECRETS_DIR`` as a variable of ``environ``
    (this process's environment by default); the names set, sorted.

    A folder that is named but cannot be read raises ``RuntimeError``: the service would
    otherwise start without its secrets and fail later, far from the cause."""
    target = os.environ if environ is None else environ
    folder = target.get(SECRETS_DIR_VAR)
    if not folder:
        return []
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        values = {
            entry.name: _read(entry.path)
            for entry in entries
            if _NAME.match(entry.name) and entry.is_file()
        }
    except OSError as exc:
        raise RuntimeError(
            f"cannot read the service's secrets in {folder}: {exc.strerror or exc}"
        ) from exc
    target.update(values)
    return sorted(values)


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()
