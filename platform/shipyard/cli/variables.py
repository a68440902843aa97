"""``shipyard env``: a service's environment variables."""

from __future__ import annotations

import click

from shipyard.cli.connection import client_from
from shipyard.errors import InvalidInput

__all__ = ["env"]


@click.group()
def env() -> None:
    """A service's environment variables. They go into the next generation deployed, as
    its files and packages do; each generation keeps its own (a rollback brings them
    back)."""


@env.command("list")
@click.argument("service")
@click.pass_context
def list_variables(ctx: click.Context, service: str) -> None:
    """Print SERVICE's variables, one NAME=value a line."""
    with client_from(ctx) as client:
        for name, value in client.services.variables(service).items():
            click.echo(f"{name}={value}")


@env.command("set")
@click.argument("service")
@click.argument("assignments", nargs=-1, required=True, metavar="NAME=VALUE...")
@click.pass_context
def set_variables(ctx: click.Context, service: str, assignments: tuple[str, ...]) -> None:
    """Set variables of SERVICE, keeping the others."""
    changes = {}
    for assignment in assignments:
        name, equals, value = assignment.partition("=")
        if not equals:
            raise InvalidInput(f"{assignment!r} is not NAME=VALUE")
        changes[name] = value
    with client_from(ctx) as client:
        stored = client.services.set_variables(
            service, {**client.services.variables(service), **changes})
    click.echo(f"{service}: {len(stored)} variable(s); they apply at its next deploy.")


@env.command("unset")
@click.argument("service")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def unset_variables(ctx: click.Context, service: str, names: tuple[str, ...]) -> None:
    """Unset variables of SERVICE."""
    with client_from(ctx) as client:
        current = client.services.variables(service)
        unknown = sorted(set(names) - set(current))
        if unknown:
            raise InvalidInput(f"{service} has no variable(s) {', '.join(unknown)}")
        stored = client.services.set_variables(
            service, {name: value for name, value in current.items() if name not in names})
    click.echo(f"{service}: {len(stored)} variable(s); they apply at its next deploy.")
