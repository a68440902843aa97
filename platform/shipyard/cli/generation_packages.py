"""``shipyard generations export``, ``import`` and ``delete``: a generation as a package
file, a package file as a service's next generation, and a generation gone."""

from __future__ import annotations

import time
from pathlib import Path

import click

from shipyard.cli.connection import client_from
from shipyard.cli.deploying import SERVE_TIMEOUT, print_build_log
from shipyard_sdk.client import Client

__all__ = ["delete", "export", "follow_build", "import_package"]

BUILDING = ("pending", "building")


@click.command("export")
@click.argument("service")
@click.argument("tag")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False),
              help="Where to write the package (default: SERVICE-TAG.zip).")
@click.pass_context
def export(ctx: click.Context, service: str, tag: str, output: Path | None) -> None:
    """Write generation TAG (such as v2) of SERVICE as a package zip."""
    package = client_from(ctx).generations.export(service, tag)
    target = output or Path(f"{service}-{tag}.zip")
    target.write_bytes(package)
    click.echo(f"Wrote {service} {tag} to {target} ({len(package)} bytes).")


@click.command("import")
@click.argument("service")
@click.argument("package", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--wait/--no-wait", default=False, show_default=True,
              help="Print the build log and return once the generation is built (or failed).")
@click.pass_context
def import_package(ctx: click.Context, service: str, package: Path, wait: bool) -> None:
    """Import PACKAGE (an exported generation) as SERVICE's next generation.

    It is built, but what serves does not change until you switch to it.
    """
    client = client_from(ctx)
    generation = client.generations.import_package(service, package.read_bytes())
    tag = generation["tag"]
    missing = generation.get("settings_missing") or []
    if missing:
        click.echo(
            f"Warning: the package's generation ran with {', '.join(missing)}, which "
            f"{service} does not set, so {tag} runs without them; set them (shipyard env "
            "set, shipyard secrets set) and deploy to make a generation that has them.",
            err=True,
        )
    if not wait:
        click.echo(
            f"Imported {package} as {service} {tag} (build {generation['build_state']}); "
            "what serves is unchanged."
        )
        return
    click.echo(f"Imported {package} as {service} {tag}.", err=True)
    follow_build(client, service, generation)
    client.services.wait_until_built(service, tag, timeout=SERVE_TIMEOUT)
    click.echo(f"{service} {tag} is built; what serves is unchanged.", err=True)


@click.command("delete")
@click.argument("service")
@click.argument("tag")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def delete(ctx: click.Context, service: str, tag: str, yes: bool) -> None:
    """Delete generation TAG (such as v2) of SERVICE, its build and what its runner holds
    for it (its environment too, if no other generation uses it).

    Refused while it takes traffic, is the challenger or is building. Its tag is never
    given again, and its calls stay in the query log.
    """
    if not yes:
        click.confirm(f"Delete {service} {tag} and its build?", abort=True)
    client_from(ctx).generations.delete(service, tag)
    click.echo(f"Deleted {service} {tag}.", err=True)


def follow_build(client: Client, service: str, generation: dict) -> None:
    """Print the build log of ``generation`` as it comes, if it is still building."""
    if generation["build_state"] not in BUILDING:
        return
    click.echo(f"Building {service} {generation['tag']}.", err=True)
    print_build_log(client, service, generation["build"], time.monotonic() + SERVE_TIMEOUT)
