"""``shipyard generations export`` and ``import``: a generation as a package file, and a
package file as a service's next generation."""

from __future__ import annotations

from pathlib import Path

import click

from shipyard.cli.connection import client_from

__all__ = ["export", "import_package"]


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
@click.pass_context
def import_package(ctx: click.Context, service: str, package: Path) -> None:
    """Import PACKAGE (an exported generation) as SERVICE's next generation.

    It is built, but what serves does not change until you switch to it.
    """
    generation = client_from(ctx).generations.import_package(service, package.read_bytes())
    click.echo(
        f"Imported {package} as {service} {generation['tag']} (build {generation['build_state']}"
        f"); what serves is unchanged."
    )
