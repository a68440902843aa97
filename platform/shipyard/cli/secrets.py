"""``shipyard secrets``: a service's secrets. A value is read from standard input, or
typed at a hidden prompt; never taken from the command line, where the shell's history
and the process list would show it."""

from __future__ import annotations

import sys

import click

from shipyard.cli.connection import client_from
from shipyard.errors import InvalidInput

__all__ = ["secrets"]


@click.group()
def secrets() -> None:
    """A service's secrets: given to its code as environment variables from its next
    deploy on, sealed at rest, never shown again."""


@secrets.command("list")
@click.argument("service")
@click.pass_context
def list_secrets(ctx: click.Context, service: str) -> None:
    """Print SERVICE's secrets: names and when each was set, never values."""
    with client_from(ctx) as client:
        listed = client.services.secrets(service)
    waiting = set(listed["waiting"])
    for secret in listed["secrets"]:
        note = "  (waiting for the next deploy)" if secret["name"] in waiting else ""
        click.echo(f"{secret['name']}  set {secret['updated_at']}{note}")
    for name in sorted(waiting - {secret["name"] for secret in listed["secrets"]}):
        click.echo(f"{name}  unset  (waiting for the next deploy)")


@secrets.command("set")
@click.argument("service")
@click.argument("name")
@click.option("--redeploy", is_flag=True, help="Deploy a new generation with it now.")
@click.pass_context
def set_secret(ctx: click.Context, service: str, name: str, redeploy: bool) -> None:
    """Set secret NAME of SERVICE, its value read from standard input (one line, or all of
    it when piped) or typed at a hidden prompt."""
    if sys.stdin.isatty():
        value = click.prompt(f"Value of {name}", hide_input=True, confirmation_prompt=True,
                             err=True)
    else:
        value = sys.stdin.read()
        if value.endswith("\n") and value.count("\n") == 1:
            value = value[:-1]  # the newline echo or a here-string adds
    if not value:
        raise InvalidInput(f"no value for {name}: pipe it in, or type it at the prompt")
    with client_from(ctx) as client:
        answer = client.services.set_secret(service, name, value, redeploy=redeploy)
    _say(service, f"secret {name} set", answer)


@secrets.command("unset")
@click.argument("service")
@click.argument("name")
@click.option("--redeploy", is_flag=True, help="Deploy a new generation without it now.")
@click.pass_context
def unset_secret(ctx: click.Context, service: str, name: str, redeploy: bool) -> None:
    """Unset secret NAME of SERVICE."""
    with client_from(ctx) as client:
        answer = client.services.unset_secret(service, name, redeploy=redeploy)
    _say(service, f"secret {name} unset", answer)


def _say(service: str, what: str, answer: dict) -> None:
    generation = answer.get("generation")
    if generation:
        click.echo(f"{service}: {what}; deploying {generation['tag']} with it.")
    else:
        click.echo(f"{service}: {what}; it takes effect at the next deploy.")
