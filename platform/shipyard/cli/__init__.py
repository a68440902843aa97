"""The ``shipyard`` command line.

Runs in the user's own process, a client of the API (through the SDK); ``shipyard up``
(``server``) starts the process tree of ``shipyard.up``. It may import anything of
Shipyard, and loads what a command needs when that command runs.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from shipyard.errors import ShipyardError

__all__ = ["cli", "main"]


# Each command by name, and where it is: a command's module is imported only when that
# command runs (or help lists it), so that a client command starts without loading the
# server's packages.
COMMANDS = {
    "up": "server:up", "new": "local:new", "test": "service_tests:test", "push": "local:push",
    "services": "services:services", "enable": "services:enable",
    "disable": "services:disable", "deploy": "deploying:deploy",
    "undeploy": "deploying:undeploy", "logs": "deploying:logs", "invoke": "invoking:invoke",
    "models": "models:models", "docs": "docs:docs", "tokens": "iam:tokens",
    "users": "iam:users", "projects": "iam:projects", "api-keys": "iam:api_keys",
    "images": "images:images", "generations": "traffic:generations",
    "switch-to-newest": "traffic:switch_to_newest", "rollback": "traffic:rollback",
    "mapping": "traffic:mapping", "challenger": "traffic:challenger", "stats": "stats:stats",
    "drift": "drift:drift", "actuals": "accuracy:actuals", "accuracy": "accuracy:accuracy",
    "env": "variables:env", "secrets": "secrets:secrets", "batch": "batch:batch",
}


class ShipyardGroup(click.Group):
    """Known errors become ``Error: <message>`` on stderr and exit status 1; unknown ones
    keep their traceback. Commands load lazily (``COMMANDS``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        where = COMMANDS.get(name)
        if where is None:
            return super().get_command(ctx, name)
        module, _, attribute = where.partition(":")
        command = getattr(importlib.import_module(f"shipyard.cli.{module}"), attribute)
        assert isinstance(command, click.Command)
        return command

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


def main() -> None:
    cli(prog_name="shipyard")
