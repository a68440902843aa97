"""``shipyard deploy``, ``undeploy`` and ``logs``."""

from __future__ import annotations

import time
from pathlib import Path

import click

from shipyard.cli.call_lines import echo_call_lines
from shipyard.cli.connection import client_from
from shipyard.errors import BuildFailed, InvalidInput, RunnerError, Unavailable
from shipyard_sdk.client import Client

__all__ = ["deploy", "follow_deploy", "logs", "print_build_log", "undeploy"]

POLL = 0.2
SERVE_TIMEOUT = 600.0


@click.command()
@click.argument("target", metavar="NAME|FOLDER")
@click.option("--follow/--no-follow", default=True, show_default=True,
              help="Print the build log as it happens.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Return only once the new generation serves (or failed).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
              help="Seconds to wait for it to serve (default: the control plane's own "
                   "limits for a build and a start, and a margin).")
@click.pass_context
def deploy(
    ctx: click.Context, target: str, follow: bool, wait: bool, timeout: float | None
) -> None:
    """Build a service's current files as a new generation and switch to it.

    NAME is a registered service. FOLDER, a folder with a shipyard.yaml, is pushed first
    (the service is created if needed) and enabled; the command then ends with the
    service's URL and ready commands that call it.
    """
    client = client_from(ctx)
    folder = service_folder(target)
    service = target
    if folder is not None:
        # Pushing a folder reads its manifest and packs it: loaded only to push one.
        from shipyard.cli.local import push_folder

        service = push_folder(client, folder)
        client.services.enable(service)
    generation = client.services.deploy(service)
    follow_deploy(client, service, generation, follow=follow, wait=wait, timeout=timeout)
    if folder is not None and wait:
        echo_call_lines(client, service)


def service_folder(target: str) -> Path | None:
    """``target`` as a service folder, or None when it is not a folder (then: a name)."""
    folder = Path(target)
    if not folder.is_dir():
        return None
    from shipyard.domain.manifest import MANIFEST_NAME  # with its YAML and checks

    if not (folder / MANIFEST_NAME).is_file():
        raise InvalidInput(
            f"{target} is a folder without {MANIFEST_NAME}: give a service folder "
            "(`shipyard new` makes one) or a service's name"
        )
    return folder


def follow_deploy(
    client: Client, service: str, generation: dict, *, follow: bool, wait: bool,
    timeout: float | None = None,
) -> None:
    """Print the build log of a deploy that started, then wait until it serves; give up
    after ``timeout`` seconds (default: the ``settles_within`` the control plane answered
    the deploy with)."""
    tag, number = generation["tag"], generation["build"]
    limit = timeout or generation.get("settles_within")
    if not limit:  # a control plane from before ``settles_within``
        from shipyard.domain.deploy_limits import settle_limit

        limit = settle_limit()
    limit = float(limit)
    deadline = time.monotonic() + limit
    click.echo(f"Deploying {service} {tag}.", err=True)
    if follow:
        print_build_log(client, service, number, deadline)
    if not wait:
        return
    try:
        client.services.wait_until_serving(
            service, tag, timeout=max(deadline - time.monotonic(), 0.0)
        )
    except RunnerError:
        if time.monotonic() < deadline:
            raise  # given up by the control plane, and the message says why
        raise RunnerError(f"{service} {tag} was not serving after {limit:g}s: "
                          f"{client.services.waiting_for(service, tag)}") from None
    click.echo(f"{service} {tag} is serving.", err=True)



def print_build_log(client: Client, service: str, number: int, deadline: float) -> None:
    """Print build ``number``'s log as it comes, until the build ends or ``deadline``
    (``time.monotonic()``); a stream that stalls or breaks is one warning line."""
    try:
        lines = client.services.build_log(
            service, number, follow=True, timeout=max(deadline - time.monotonic(), 1.0)
        )
        for line in lines:
            click.echo(line)
            if time.monotonic() > deadline:
                break
    except Unavailable as exc:
        if time.monotonic() < deadline:
            click.echo(f"warning: {exc.message}; waiting for the build without it", err=True)

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
