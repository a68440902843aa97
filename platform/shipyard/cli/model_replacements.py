"""``shipyard models replace`` and ``shipyard models replacements``: swap the model
version a model service serves, with a reason, and read the history of such swaps."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import click

from shipyard.cli.connection import client_from
from shipyard.cli.output import echo_json, echo_table
from shipyard.domain.model_checks import REASONS
from shipyard.errors import ReplacementBlocked, ShipyardError
from shipyard_sdk.client import Client

__all__ = ["echo_validation", "replace", "replacements"]

POLL = 0.5
REPLACE_TIMEOUT = 600.0
HISTORY_COLUMNS = ("id", "created_at", "reason", "from", "to", "generation", "validation",
                   "state", "message")


def echo_validation(validation: Mapping[str, Any]) -> None:
    """A validation as its overall status, then one table row per check."""
    click.echo(f"Validation: {validation.get('status')}")
    echo_table(validation.get("checks", []), ("name", "status", "message"))


@click.command("replace")
@click.argument("service")
@click.argument("model")
@click.option("--version", type=int, help="The model version (default: the newest).")
@click.option("--reason", required=True, type=click.Choice(REASONS),
              help="Why the model is replaced.")
@click.option("--note", default="", help="Free text kept with the replacement.")
@click.option("--follow/--no-follow", default=True, show_default=True,
              help="Print the new generation's build log.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Return once the replacement is decided (replaced or failed).")
@click.pass_context
def replace(
    ctx: click.Context, service: str, model: str, version: int | None, reason: str,
    note: str, follow: bool, wait: bool,
) -> None:
    """Replace the model version SERVICE serves by a version of MODEL."""
    client = client_from(ctx)
    try:
        answer = client.models.replace(service, model, version, reason=reason, note=note)
    except ReplacementBlocked:
        _echo_blocked(client, service)
        raise
    click.echo(f"Replacing {answer['from_model_version']} by {answer['to_model_version']} "
               f"on {service} ({answer['id']}).", err=True)
    echo_validation(answer["validation"])
    tag = answer["generation"]
    if follow and tag:
        for line in client.services.build_log(service, int(tag.removeprefix("v")), follow=True):
            click.echo(line)
    if not wait:
        return
    final = _wait_for_decision(client, service, answer["id"])
    echo_validation(final["validation"])
    if final["state"] != "replaced":
        raise ShipyardError(f"replacement {final['id']} {final['state']}: {final['message']}")
    client.services.wait_until_serving(service, tag, timeout=REPLACE_TIMEOUT)
    click.echo(f"{service} {tag} serves {final['to_model_version']}.", err=True)


@click.command("replacements")
@click.argument("service")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def replacements(ctx: click.Context, service: str, as_json: bool) -> None:
    """List SERVICE's model replacements, newest first."""
    found = client_from(ctx).models.replacements(service)
    if as_json:
        echo_json(found)
        return
    rows = [
        {**r, "from": r["from_model_version"], "to": r["to_model_version"],
         "validation": r["validation"]["status"]}
        for r in found
    ]
    echo_table(rows, HISTORY_COLUMNS)


def _wait_for_decision(client: Client, service: str, replacement_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + REPLACE_TIMEOUT
    while True:
        found = client.models.replacement(service, replacement_id)
        if found["state"] != "validating":
            return found
        if time.monotonic() > deadline:
            raise ShipyardError(
                f"replacement {replacement_id} was still validating after {REPLACE_TIMEOUT:g}s"
            )
        time.sleep(POLL)


def _echo_blocked(client: Client, service: str) -> None:
    """Show the validation of the replacement that was just blocked."""
    try:
        newest = client.models.replacements(service)[:1]
    except ShipyardError:
        return
    if newest and newest[0]["state"] == "blocked":
        echo_validation(newest[0]["validation"])
