"""``shipyard services ...``, ``enable``, ``disable``."""

from __future__ import annotations

import click

from shipyard.cli.connection import client_from
from shipyard.cli.output import echo_json, echo_listing

__all__ = ["disable", "enable", "services"]

COLUMNS = ("name", "id", "kind", "environment", "enabled", "deployed")


@click.group()
def services() -> None:
    """List, show, create and delete services."""


@services.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--kind", help="custom or model.")
@click.option("--state", help="stopped, building, starting, running, switching, stopping, failed.")
@click.option("--enabled/--disabled", default=None, help="Only switched on (or off) ones.")
@click.option("--deployed/--undeployed", default=None, help="Only deployed (or not) ones.")
@click.option("--environment", "-e", help="A profile's name.")
@click.option("--runner", help="local or docker.")
@click.option("--project", help="A project's name or id.")
@click.option("--search", help="Words to find in the name or description.")
@click.option("--order-by", help="name, created_at, updated_at or state; a leading - reverses.")
@click.pass_context
def list_services(ctx: click.Context, as_json: bool, **filters: str | bool | None) -> None:
    """List the services you may see, or those the options select."""
    chosen = {name: value for name, value in filters.items() if value is not None}
    echo_listing(client_from(ctx).services.list(**chosen), COLUMNS, as_json)


@services.command("get")
@click.argument("service")
@click.pass_context
def get_service(ctx: click.Context, service: str) -> None:
    """Show one service (by name or id) as JSON."""
    echo_json(client_from(ctx).services.get(service))


@services.command("create")
@click.argument("name")
@click.option("--kind", type=click.Choice(["custom", "model"]), default="custom", show_default=True)
@click.option("--template", help="Template name (default: the kind's bundled template).")
@click.option("--environment", "-e", help="Environment profile (default: small).")
@click.option("--package", "-p", "packages", multiple=True, help="A requirement; repeatable.")
@click.option("--description", "-d", default="")
@click.pass_context
def create_service(
    ctx: click.Context,
    name: str,
    kind: str,
    template: str | None,
    environment: str | None,
    packages: tuple[str, ...],
    description: str,
) -> None:
    """Create a service on the server from a template."""
    spec = {
        "name": name, "kind": kind, "template": template, "environment": environment,
        "packages": list(packages), "description": description,
    }
    created = client_from(ctx).services.create({k: v for k, v in spec.items() if v is not None})
    click.echo(f"Created {created['name']} ({created['id']}), disabled and not deployed.")


@services.command("delete")
@click.argument("service")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def delete_service(ctx: click.Context, service: str, yes: bool) -> None:
    """Delete a service and its files."""
    if not yes:
        click.confirm(f"Delete service {service!r} and all its files?", abort=True)
    client_from(ctx).services.delete(service)
    click.echo(f"Deleted {service}.")


@click.command()
@click.argument("service")
@click.pass_context
def enable(ctx: click.Context, service: str) -> None:
    """Switch a service on (it can then be deployed)."""
    client_from(ctx).services.enable(service)
    click.echo(f"Enabled {service}.")


@click.command()
@click.argument("service")
@click.pass_context
def disable(ctx: click.Context, service: str) -> None:
    """Switch a service off."""
    client_from(ctx).services.disable(service)
    click.echo(f"Disabled {service}.")
