"""Where the files bundled with Shipyard (templates, environment profiles) live.

A built wheel carries them inside the package under ``shipyard/_resources/``; a source
checkout or an editable install finds them at the repository root.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_IN_PACKAGE = _PACKAGE_DIR / "_resources"
_REPO_ROOT = _PACKAGE_DIR.parents[1]


def _locate(name: str) -> Path:
    bundled = _IN_PACKAGE / name
    return bundled if bundled.exists() else _REPO_ROOT / name


def templates_root() -> Path:
    """The folder holding the bundled templates (``custom-service/``, ``model-service/``)."""
    return _locate("templates")


def environments_file() -> Path:
    """The bundled ``environments.yaml`` that defines the environment profiles."""
    return _locate("environments.yaml")
