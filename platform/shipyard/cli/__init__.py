"""The ``shipyard`` command line.

Runs in the user's own process, a client of the API (through the SDK); ``shipyard up``
(``server``) starts the process tree of ``shipyard.up``. It may import anything of
Shipyard, and loads what a command needs when that command runs.
"""

from __future__ import annotations

from typing import Any

import click

from shipyard.cli.accuracy import accuracy, actuals
from shipyard.cli.deploying import deploy, logs, undeploy
from shipyard.cli.docs import docs
from shipyard.cli.drift import drift
from shipyard.cli.iam import api_keys, projects, tokens, users
from shipyard.cli.images import images
from shipyard.cli.invoking import invoke
from shipyard.cli.local import new, push
from shipyard.cli.models import models
from shipyard.cli.server import up
from shipyard.cli.service_tests import test
from shipyard.cli.services import disable, enable, services
from shipyard.cli.stats import stats
from shipyard.cli.traffic import challenger, generations, mapping, rollback, switch_to_newest
from shipyard.errors import ShipyardError

__all__ = ["cli", "main"]


class ShipyardGroup(click.Group):
    """Known errors become ``Error: <message>`` on stderr and exit status 1; unknown ones
    keep their traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ShipyardError as exc:
            raise click.ClickException(exc.message) from exc


@click.group(cls=ShipyardGroup)
@click.option(
    "--url",
    envvar="SHIPYARD_URL",
    help="The control plane's URL (default: the one `shipyard up` runs, else :8080).",
)
@click.pass_context
def cli(ctx: click.Context, url: str | None) -> None:
    """Shipyard: Python code in, running, documented HTTP services out."""
    ctx.obj = {"url": url}


for command in (
    up, new, test, push, services, enable, disable, deploy, undeploy, logs, invoke, models, docs,
    tokens, users, projects, api_keys,
    images, generations, switch_to_newest, rollback, mapping, challenger, stats, drift,
    actuals, accuracy,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="shipyard")
