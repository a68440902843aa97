"""Commands that work on a local service folder: ``new`` and ``push``."""

from __future__ import annotations

import os
from pathlib import Path

import click

from shipyard.cli.connection import client_from
from shipyard.domain.archives import write_zip
from shipyard.domain.environments import EnvironmentCatalog
from shipyard.domain.manifest import MANIFEST_NAME, parse_manifest
from shipyard.domain.scaffold import (
    DEFAULT_PACKAGES,
    ScaffoldValues,
    read_folder,
    render_template,
    template_dir_for,
    write_files,
)
from shipyard.domain.validation import validate_package_list
from shipyard.errors import InvalidInput, NotFound
from shipyard.resources import environments_file
from shipyard_sdk.client import Client

__all__ = ["new", "push", "push_folder"]

# What `push` sets on a service that exists; kind and name are fixed.
_UPDATED_FROM_MANIFEST = (
    "environment", "packages", "description", "runner", "collect_prediction_data",
    "association_id_field", "health_thresholds", "monitoring", "min_replicas", "max_replicas",
    "target_concurrency",
)


@click.command()
@click.argument("kind", type=click.Choice(["custom", "model"]))
@click.argument("name")
@click.option("--dir", "parent", type=click.Path(path_type=Path), default=Path("."),
              help="Where to create the NAME folder (default: here).")
@click.option("--template", help="A bundled template name or the path of your own template.")
@click.option("--environment", "-e", help="Environment profile (default: small).")
@click.option("--package", "-p", "packages", multiple=True, help="A requirement; repeatable.")
@click.option("--description", "-d", default="", help="One line saying what it does.")
def new(
    kind: str,
    name: str,
    parent: Path,
    template: str | None,
    environment: str | None,
    packages: tuple[str, ...],
    description: str,
) -> None:
    """Scaffold a ready-to-edit service folder NAME from a template."""
    catalog = EnvironmentCatalog.load(_environments_path())
    values = ScaffoldValues(
        name=name,
        kind=kind,
        environment=catalog.get(environment).name,
        packages=tuple(validate_package_list(packages or DEFAULT_PACKAGES[kind])),
        description=description,
    )
    files = render_template(template_dir_for(kind, template), values)
    target = parent / name
    write_files(target, files)
    click.echo(f"Created {target}/ ({len(files)} files). Next: edit it, then "
               f"`shipyard deploy {target}`.")


@click.command()
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.pass_context
def push(ctx: click.Context, folder: Path) -> None:
    """Create or update the service described by FOLDER/shipyard.yaml with its files."""
    push_folder(client_from(ctx), folder)


def push_folder(client: Client, folder: Path) -> str:
    """Create or update the service ``folder`` holds, say which, and return its name."""
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.is_file():
        raise InvalidInput(f"{folder} has no {MANIFEST_NAME}; create one with `shipyard new`")
    manifest = parse_manifest(manifest_path.read_bytes())
    archive = write_zip(read_folder(folder))
    try:
        existing = client.services.get(manifest.name)
    except NotFound:
        created = client.services.create(manifest.to_spec(), archive=archive)
        click.echo(f"Created {created['name']} ({created['id']}), disabled and not deployed.")
        return manifest.name
    if existing["kind"] != manifest.kind:
        raise InvalidInput(
            f"service {manifest.name!r} is a {existing['kind']} service; "
            f"{MANIFEST_NAME} says {manifest.kind}"
        )
    spec = manifest.to_spec()
    client.services.update(
        manifest.name, {k: spec[k] for k in _UPDATED_FROM_MANIFEST if k in spec}
    )
    files = client.services.replace_files(manifest.name, archive)
    click.echo(f"Updated {manifest.name}: {len(files)} files.")
    return manifest.name


def _environments_path() -> Path:
    custom = os.environ.get("SHIPYARD_ENVIRONMENTS_FILE")
    return Path(custom) if custom else environments_file()
