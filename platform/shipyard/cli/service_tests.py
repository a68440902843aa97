"""``shipyard test``: run a service folder's tests in an environment like the one it is
deployed with.

The environment is made as the local runner makes a service's (``EnvironmentStore``: the
same Python, the runtime, the service's packages, the ``shipyard_sdk`` runtime), plus
pytest, under the home folder's ``test-environments/``, its bytecode from the store the
local runner's environments share; it is reused until the package list changes. So the
tests need nothing installed beside Shipyard, and see exactly the packages the service
will have.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import click

from shipyard.domain.manifest import MANIFEST_NAME, parse_manifest
from shipyard.errors import InvalidInput
from shipyard.settings import Settings
from shipyard_runners import BuildSpec, EnvironmentStore

__all__ = ["TEST_PACKAGES", "test"]

TEST_PACKAGES = ("pytest>=8",)
SERVICE_PYTHON = BuildSpec.python
"""The Python a service is built with."""


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False),
                default=Path("."))
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def test(ctx: click.Context, folder: Path, pytest_args: tuple[str, ...]) -> None:
    """Run the tests of the service FOLDER (default: here) with pytest, in an environment
    with the service's packages. Arguments after FOLDER go to pytest."""
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.is_file():
        raise InvalidInput(f"{folder} has no {MANIFEST_NAME}; create one with `shipyard new`")
    manifest = parse_manifest(manifest_path.read_bytes())
    settings = Settings.from_env(os.environ)
    environments = EnvironmentStore(settings.home / "test-environments",
                                    bytecode_store=settings.effective_bytecode_store)
    key = environments.ensure(SERVICE_PYTHON, (*manifest.packages, *TEST_PACKAGES), _to_stderr)
    done = subprocess.run(
        [str(environments.python(key)), "-m", "pytest", *pytest_args], cwd=folder, check=False
    )
    ctx.exit(done.returncode)


def _to_stderr(line: str) -> None:
    click.echo(line, err=True)
