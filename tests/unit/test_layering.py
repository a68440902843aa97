"""The layering between the packages, as the import-linter contracts in pyproject.toml
state it: they hold, and a module that breaks one on purpose is caught."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO

PROBE = REPO / "platform" / "shipyard" / "domain" / "_layering_probe.py"


def lint_imports() -> subprocess.CompletedProcess[str]:
    # In a process of its own: import-linter reads the modules as they are on disk now.
    return subprocess.run(
        [sys.executable, "-c",
         "import sys; from importlinter.cli import lint_imports; "
         "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True))"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


def test_the_layering_contracts_hold() -> None:
    done = lint_imports()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_a_domain_module_importing_the_gateway_breaks_a_contract() -> None:
    PROBE.write_text('"""Breaks the layering on purpose (a test writes and removes it)."""\n\n'
                     "import shipyard.gateway.server  # noqa: F401\n")
    try:
        done = lint_imports()
    finally:
        PROBE.unlink()
    assert done.returncode != 0
    assert "The domain never imports the supervisor, the API or the gateway BROKEN" in (
        done.stdout
    )
    assert "shipyard.domain._layering_probe -> shipyard.gateway.server" in done.stdout
