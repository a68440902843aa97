"""``shipyard deploy``, ``undeploy`` and ``logs``."""

from __future__ import annotations

import time

import click

from shipyard.cli.connection import client_from
from shipyard.errors import BuildFailed, InvalidInput
from shipyard_sdk.client import Client

__all__ = ["deploy", "follow_deploy", "logs", "undeploy"]

POLL = 0.2
SERVE_TIMEOUT = 600.0


@click.command()
@click.argument("service")
@click.option("--follow/--no-follow", default=True, show_default=True,
              help="Print the build log as it happens.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Return only once the new generation serves (or failed).")
@click.pass_context
def deploy(ctx: click.Context, service: str, follow: bool, wait: bool) -> None:
    """Build SERVICE's current files as a new generation and switch to it."""
    client = client_from(ctx)
    follow_deploy(client, service, client.services.deploy(service), follow=follow, wait=wait)


def follow_deploy(
    client: Client, service: str, generation: dict, *, follow: bool, wait: bool
) -> None:
    """Print the build log of a deploy that started, then wait until it serves."""
    tag, number = generation["tag"], generation["build"]
    click.echo(f"Deploying {service} {tag}.", err=True)
    if follow:
        for line in client.services.build_log(service, number, follow=True):
            click.echo(line)
    if not wait:
        return
    client.services.wait_until_serving(service, tag, timeout=SERVE_TIMEOUT)
    click.echo(f"{service} {tag} is serving.", err=True)


@click.command()
@click.argument("service")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Return once every instance has stopped.")
@click.pass_context
def undeploy(ctx: click.Context, service: str, wait: bool) -> None:
    """Stop serving SERVICE (its generations are kept)."""
    client = client_from(ctx)
    client.services.undeploy(service)
    deadline = time.monotonic() + SERVE_TIMEOUT
    while wait and time.monotonic() < deadline:
        if client.services.get(service)["state"] == "stopped":
            break
        time.sleep(POLL)
    click.echo(f"Undeployed {service}.")


@click.command()
@click.argument("service")
@click.option("--build", "number", type=int, help="Which build (default: the newest).")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the build ends.")
@click.option("--runtime", is_flag=True, help="The instances' output instead of a build's.")
@click.option("--tail", type=int, default=200, show_default=True,
              help="With --runtime: lines per instance.")
@click.option("--queries", is_flag=True,
              help="The calls through the gateway (the query log) instead of a build's log.")
@click.option("--since", help="With --queries: from this time (ISO 8601, or back from now: "
              "30s, 15m, 1h, 2d).")
@click.option("--until", help="With --queries: before this time (same forms as --since).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl",
              show_default=True, help="With --queries: the export format.")
@click.pass_context
def logs(
    ctx: click.Context, service: str, number: int | None, follow: bool, runtime: bool, tail: int,
    queries: bool, since: str | None, until: str | None, fmt: str,
) -> None:
    """Print a build log of SERVICE, with --runtime what its instances printed, or with
    --queries its calls through the gateway."""
    if queries and (runtime or follow or number is not None):
        raise InvalidInput("--queries cannot be combined with --runtime, --build or --follow")
    if not queries and (since or until or fmt != "jsonl"):
        raise InvalidInput("--since, --until and --format go with --queries")
    client = client_from(ctx)
    if queries:
        for line in client.services.queries(service, since=since, until=until, format=fmt):
            click.echo(line)
        return
    if runtime:
        click.echo(client.services.runtime_logs(service, tail=tail), nl=False)
        return
    if number is None:
        builds = client.services.builds(service)
        if not builds:
            raise BuildFailed(f"service {service!r} has no builds yet; run `shipyard deploy`")
        number = builds[-1]["build"]
    for line in client.services.build_log(service, number, follow=follow):
        click.echo(line)
