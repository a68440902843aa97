"""``shipyard models ...``: upload trained models and deploy them as model services."""

from __future__ import annotations

import json
from pathlib import Path

import click

from shipyard.cli.connection import client_from
from shipyard.cli.deploying import follow_deploy
from shipyard.cli.model_replacements import replace, replacements
from shipyard.cli.output import echo_json, echo_listing
from shipyard.errors import InvalidInput

__all__ = ["models", "parse_model_ref"]


def parse_model_ref(ref: str) -> tuple[str, int | None]:
    """``iris`` or ``iris:3`` → (name, version or None for the newest)."""
    name, _, version = ref.partition(":")
    if not version:
        return name, None
    if not version.isdigit():
        raise InvalidInput(f"model version must be a number, got {version!r}")
    return name, int(version)


@click.group()
def models() -> None:
    """Upload, list and deploy trained models."""


@models.command("upload")
@click.argument("name")
@click.argument("model_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--metadata", "metadata_file", required=True,
              type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="JSON: features [{name, type}], target, problem_type, packages, baseline.")
@click.option("--project", help="A new model's project (default: yours).")
@click.pass_context
def upload(ctx: click.Context, name: str, model_file: Path, metadata_file: Path,
           project: str | None) -> None:
    """Upload MODEL_FILE (joblib or pickle) as a new version of model NAME."""
    try:
        metadata = json.loads(metadata_file.read_text())
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{metadata_file} is not valid JSON: {exc}") from exc
    if not isinstance(metadata, dict):
        raise InvalidInput(f"{metadata_file} must hold a JSON object")
    if project is not None:
        metadata["project"] = project
    version = client_from(ctx).models.upload(name, model_file.read_bytes(), metadata)
    click.echo(f"Uploaded {name}:{version['version']} ({len(version['features'])} features).")


@models.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_models(ctx: click.Context, as_json: bool) -> None:
    """List models with their newest version."""
    found = client_from(ctx).models.list()
    echo_listing(found, ("name", "project_id", "latest_version", "versions"), as_json)


@models.command("versions")
@click.argument("name")
@click.pass_context
def versions(ctx: click.Context, name: str) -> None:
    """Show every version of model NAME as JSON."""
    echo_json(client_from(ctx).models.versions(name))


@models.command("deploy")
@click.argument("model")
@click.option("--service", help="The service's name (default: the model's).")
@click.option("--environment", "-e", help="Environment profile (default: small).")
@click.option("--follow/--no-follow", default=True, show_default=True)
@click.option("--wait/--no-wait", default=True, show_default=True)
@click.pass_context
def deploy(
    ctx: click.Context, model: str, service: str | None, environment: str | None,
    follow: bool, wait: bool,
) -> None:
    """Deploy MODEL (NAME or NAME:VERSION) as a model service, with no code to write."""
    name, version = parse_model_ref(model)
    client = client_from(ctx)
    answer = client.models.deploy(name, version, service=service, environment=environment)
    follow_deploy(client, answer["service"], answer["generation"], follow=follow, wait=wait)


models.add_command(replace)
models.add_command(replacements)
