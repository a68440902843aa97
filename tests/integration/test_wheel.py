"""A built wheel, installed in a fresh virtualenv away from the checkout, finds its
templates and environments and scaffolds a service."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def run(*args: str | Path, cwd: Path | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "PYTHON"))}
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_wheel_installed_elsewhere_scaffolds(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--wheel", "--outdir", dist, REPO)
    (wheel,) = dist.glob("shipyard-*.whl")

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "uv", "venv", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "uv", "pip", "install", "--python", python, wheel)

    where = run(python, "-c", "import shipyard.resources as r; print(r.templates_root())")
    assert Path(where.strip()).is_relative_to(venv)
    work = tmp_path / "work"
    work.mkdir()
    run(venv / "bin" / "shipyard", "new", "custom", "add-numbers", "-e", "large", cwd=work)
    manifest = (work / "add-numbers" / "shipyard.yaml").read_text()
    assert "name: add-numbers" in manifest
    assert "environment: large" in manifest
    assert "/add-numbers" in (work / "add-numbers" / "app.py").read_text()
    run(venv / "bin" / "shipyard", "new", "model", "iris-model", cwd=work)
    assert (work / "iris-model" / "app.py").exists()

    # The console's own files travel in the wheel: its scripts, styles and vendored
    # libraries with their licences (it loads nothing from outside).
    static = Path(run(python, "-c", "import shipyard.console as c, pathlib; "
                      "print(pathlib.Path(c.__file__).parent / 'static')").strip())
    assert static.is_relative_to(venv)
    for name in ("js/main.js", "js/api.js", "js/pages/services.js",
                 "js/pages/monitoring/charts.js", "console.css", "favicon.svg",
                 "vendor/codemirror.js", "vendor/uplot.js", "vendor/uplot.css",
                 "vendor/VENDORED.md", "vendor/licenses/codemirror.txt",
                 "vendor/licenses/uplot.txt"):
        assert (static / name).is_file(), name
