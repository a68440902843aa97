"""``shipyard generations list``, ``switch-to-newest``, ``rollback``, ``mapping`` and
``challenger``: which generations take a service's traffic."""

from __future__ import annotations

import json
import sys

import click

from shipyard.cli.connection import client_from
from shipyard.cli.deploying import SERVE_TIMEOUT
from shipyard.cli.generation_packages import delete, export, follow_build, import_package
from shipyard.cli.output import echo_json, echo_listing, echo_table
from shipyard.errors import InvalidInput
from shipyard_sdk.client import Client

__all__ = ["challenger", "generations", "mapping", "rollback", "switch_to_newest"]

GENERATION_COLUMNS = (
    "tag", "created_at", "build_state", "mounted", "mapped", "challenger", "model_version",
)


@click.group()
def generations() -> None:
    """A service's generations: list them, export, import or delete one."""


generations.add_command(export)
generations.add_command(import_package)
generations.add_command(delete)


@generations.command("list")
@click.argument("service")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def list_generations(ctx: click.Context, service: str, as_json: bool) -> None:
    """Each generation of SERVICE: its build, whether it is mounted, its share of live
    traffic, and whether it is the challenger."""
    rows = client_from(ctx).traffic.generations(service)
    for row in rows:
        row["mapped"] = f"{row['mapped_percent']:g}%"
        if row["desired_percent"] != row["mapped_percent"]:
            row["mapped"] += f" (to {row['desired_percent']:g}%)"
    echo_listing(rows, GENERATION_COLUMNS, as_json)


@generations.command("replicas")
@click.argument("service")
@click.argument("generation")
@click.option("--min-replicas", type=click.IntRange(min=0), help="Its own minimum.")
@click.option("--max-replicas", type=click.IntRange(min=1), help="Its own maximum.")
@click.option("--service-bounds", is_flag=True,
              help="Follow the service's min_replicas and max_replicas again.")
@click.pass_context
def generation_replicas(ctx: click.Context, service: str, generation: str,
                        min_replicas: int | None, max_replicas: int | None,
                        service_bounds: bool) -> None:
    """Give GENERATION of SERVICE replica bounds of its own (SageMaker's instance count per
    variant), over the service's."""
    if service_bounds == (min_replicas is not None or max_replicas is not None):
        raise click.UsageError("give --min-replicas and/or --max-replicas, or "
                               "--service-bounds")
    answer = client_from(ctx).traffic.set_replicas(
        service, generation, min_replicas=min_replicas, max_replicas=max_replicas,
        service_bounds=service_bounds)
    own = ("its service's" if answer["min_replicas"] is None and answer["max_replicas"] is None
           else f"min {_bound(answer['min_replicas'])}, max {_bound(answer['max_replicas'])}")
    click.echo(f"{service} {answer['tag']}: replica bounds {own}; runs "
               f"{answer['replicas'] if answer['replicas'] is not None else 'none yet'}.")


def _bound(value: int | None) -> str:
    return "the service's" if value is None else str(value)


@click.command("switch-to-newest")
@click.argument("service")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Return only once the generation serves.")
@click.pass_context
def switch_to_newest(ctx: click.Context, service: str, wait: bool) -> None:
    """Put all of SERVICE's traffic on its newest generation.

    One still building (just imported or deployed) takes it once built: with --wait, its
    build log is printed as it comes, and a failed build is an error (what served before
    keeps serving).
    """
    client = client_from(ctx)
    generation = client.traffic.switch_to_newest(service)
    if wait:
        follow_build(client, service, generation)
    _finish(client, service, generation["tag"], wait)


@click.command()
@click.argument("service")
@click.argument("generation")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Return only once the generation serves.")
@click.pass_context
def rollback(ctx: click.Context, service: str, generation: str, wait: bool) -> None:
    """Put all of SERVICE's traffic back on GENERATION (v1, ...)."""
    client = client_from(ctx)
    tag = client.traffic.rollback(service, generation)["tag"]
    _finish(client, service, tag, wait)


def _finish(client: Client, service: str, tag: str, wait: bool) -> None:
    if wait:
        client.services.wait_until_serving(service, tag, timeout=SERVE_TIMEOUT)
        click.echo(f"{service} {tag} takes all traffic.", err=True)
    else:
        click.echo(f"{service} {tag} is to take all traffic.", err=True)


@click.group()
def mapping() -> None:
    """How SERVICE's live traffic is split between its generations."""


@mapping.command("show")
@click.argument("service")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def show_mapping(ctx: click.Context, service: str, as_json: bool) -> None:
    """The mapping in force (and the one asked for, while it is being put in force)."""
    _echo_mapping(client_from(ctx).traffic.mapping(service), as_json)


@mapping.command("set")
@click.argument("service")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Return only once the mapping is in force.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def set_mapping(ctx: click.Context, service: str, wait: bool, as_json: bool) -> None:
    """Read a mapping as JSON from standard input and ask for it:
    {"entries": [{"generation": "v1", "proba": 0.5}, ...]} or {"weights": {"v1": 25, ...}}.
    """
    text = sys.stdin.read()
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the mapping on standard input is not JSON: {exc}") from exc
    client = client_from(ctx)
    answer = client.traffic.set_mapping(service, body)
    if wait:
        answer = client.traffic.wait_for_mapping(service, timeout=SERVE_TIMEOUT)
    _echo_mapping(answer, as_json)


@click.group()
def challenger() -> None:
    """The generation that gets a copy of each call, logged and never returned."""


@challenger.command("set")
@click.argument("service")
@click.argument("generation")
@click.pass_context
def set_challenger(ctx: click.Context, service: str, generation: str) -> None:
    """Copy every call of SERVICE to GENERATION."""
    client_from(ctx).traffic.set_challenger(service, generation)
    click.echo(f"{service} {generation} is the challenger.", err=True)


@challenger.command("unset")
@click.argument("service")
@click.pass_context
def unset_challenger(ctx: click.Context, service: str) -> None:
    """Stop copying SERVICE's calls."""
    client_from(ctx).traffic.set_challenger(service, None)
    click.echo(f"{service} has no challenger.", err=True)


def _echo_mapping(answer: dict, as_json: bool) -> None:
    if as_json:
        echo_json(answer)
        return
    desired = {entry["generation"]: entry["proba"] for entry in answer["desired"]}
    live = {entry["generation"]: entry["proba"] for entry in answer["live"]}
    tags = {*live, *desired} | ({answer["challenger"]} if answer["challenger"] else set())
    rows = [
        {"generation": tag, "live": f"{live.get(tag, 0.0) * 100:g}%",
         "asked": f"{desired.get(tag, 0.0) * 100:g}%",
         "challenger": tag == answer["challenger"]}
        for tag in sorted(tags, key=lambda tag: int(tag.removeprefix("v")))
    ]
    echo_table(rows, ("generation", "live", "asked", "challenger"))
