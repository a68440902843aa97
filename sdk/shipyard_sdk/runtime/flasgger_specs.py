"""The operation a view declares for flasgger apart from its docstring, found as flasgger
finds it, for the route list (see ``routes``).

flasgger's ``swag_from`` marks the view: with a file, ``swag_path`` (or ``swag_paths``, keyed
``<endpoint>_<method>``, ``<endpoint>`` or ``<method>``, when it was given ``endpoint=`` or
``methods=``) holds the file's absolute path; with a dict, ``specs_dict`` holds the dict. A
docstring that is ``file: specs/x.yml`` names a file too, relative to the folder of the
view's module (or the view's ``root_path``), as flasgger resolves it. These attributes are
plain data: flasgger need not be importable here, and nothing of it is called.

What is found is handed on as text: a file as it is (it must be in the service's folder,
the working directory, and at most ``MAX_SPEC_BYTES``), a dict as JSON; YAML is parsed by
the control plane. A spec that cannot be read is handed on as an ``error`` with the reason,
so the build log says it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["MAX_SPEC_BYTES", "flasgger_spec"]

MAX_SPEC_BYTES = 256 * 1024
_FILE_PREFIX = "file:"


def flasgger_spec(view: Any, endpoint: str, method: str, docstring: str
                  ) -> dict[str, str] | None:
    """``{"kind", "source", "text"}`` for the flasgger spec of ``view`` (the function that
    answers ``method``), or None when it declares none."""
    if view is None:
        return None
    path = _marked_path(view, endpoint, method)
    if path is not None:
        return _file(path)
    specs = getattr(view, "specs_dict", None)
    if isinstance(specs, dict):
        try:
            text = json.dumps(specs, allow_nan=False)
        except (TypeError, ValueError) as exc:
            return _error("swag_from", f"the swag_from dict cannot be a document: {exc}")
        return {"kind": "dict", "source": "swag_from", "text": text}
    if docstring.startswith(_FILE_PREFIX):
        # flasgger reads the whole docstring as the path.
        named = docstring.removeprefix(_FILE_PREFIX).strip()
        return _file(os.path.join(_root_path(view), named), named)
    return None


def _marked_path(view: Any, endpoint: str, method: str) -> str | None:
    paths = getattr(view, "swag_paths", None)
    if isinstance(paths, dict):
        verb = method.lower()
        for key in (f"{endpoint}_{verb}", endpoint, verb):
            if isinstance(paths.get(key), str):
                return str(paths[key])
        return None
    path = getattr(view, "swag_path", None)
    return path if isinstance(path, str) else None


def _root_path(view: Any) -> str:
    root = getattr(view, "root_path", None)
    if isinstance(root, str):
        return root
    module_file = getattr(view, "__globals__", {}).get("__file__")
    return os.path.dirname(os.path.abspath(module_file)) if module_file else os.getcwd()


def _file(path: str, named: str | None = None) -> dict[str, str]:
    folder = Path.cwd().resolve()
    shown = named or path
    try:
        resolved = Path(path).resolve()
        relative = resolved.relative_to(folder)
    except (OSError, ValueError):
        return _error(shown, f"the spec file {shown} is outside the service's folder")
    source = relative.as_posix()
    if resolved.suffix not in (".yml", ".yaml"):
        return _error(source, f"the spec file {source} is not a .yml or .yaml file")
    try:
        with open(resolved, "rb") as handle:
            data = handle.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        return _error(source, f"the spec file {source} cannot be read: {exc.strerror}")
    if len(data) > MAX_SPEC_BYTES:
        return _error(source, f"the spec file {source} is over {MAX_SPEC_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return _error(source, f"the spec file {source} is not UTF-8 text")
    return {"kind": "file", "source": source, "text": text}


def _error(source: str, problem: str) -> dict[str, str]:
    return {"kind": "error", "source": source, "text": problem}
