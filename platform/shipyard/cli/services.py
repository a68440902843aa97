"""``shipyard services ...``, ``enable``, ``disable``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import click

from shipyard.cli.connection import client_from
from shipyard.cli.output import echo_json, echo_listing, echo_table

__all__ = ["disable", "enable", "services"]

COLUMNS = ("name", "id", "kind", "environment", "enabled", "deployed", "drift", "accuracy",
           "health")
_HEALTHS = {"health": "service_health", "drift": "drift_health",
            "accuracy": "accuracy_health"}
"""Each health column and the service's key it shows the status of."""
_LEVELS = ("warning", "failing")


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
@click.option("--runner", help="local, docker or swarm.")
@click.option("--project", help="A project's name or id.")
@click.option("--search", help="Words to find in the name or description.")
@click.option("--service-health", metavar="STATUS[,STATUS]",
              help="passing, warning, failing or unknown; several separated by commas.")
@click.option("--drift-health", metavar="STATUS[,STATUS]",
              help="The drift health to select on, as --service-health.")
@click.option("--accuracy-health", metavar="STATUS[,STATUS]",
              help="The accuracy health to select on, as --service-health.")
@click.option("--order-by", help="name, created_at, updated_at or state; a leading - reverses.")
@click.pass_context
def list_services(ctx: click.Context, as_json: bool, **filters: str | bool | None) -> None:
    """List the services you may see, or those the options select, with their health,
    drift health and accuracy health."""
    chosen = {name: value for name, value in filters.items() if value is not None}
    found = client_from(ctx).services.list(**chosen)
    if not as_json:
        found = [{**service, **{column: (service.get(key) or {}).get("status")
                                for column, key in _HEALTHS.items()}}
                 for service in found]
    echo_listing(found, COLUMNS, as_json)


@services.command("get")
@click.argument("service")
@click.pass_context
def get_service(ctx: click.Context, service: str) -> None:
    """Show one service (by name or id) as JSON."""
    echo_json(client_from(ctx).services.get(service))


@services.command("update")
@click.argument("service")
@click.option("--health-threshold", "thresholds", multiple=True, metavar="KEY=VALUE",
              help="A health threshold: server_error_rate.warning=0.02 (or 2%), "
                   "response_time_p90_ms.failing=3000, window_minutes=30, min_requests=10, "
                   "slow_request_ms=500; VALUE 'default' puts it back. Repeatable.")
@click.option("--default-health-thresholds", "defaults", is_flag=True,
              help="Put every health threshold back to its default.")
@click.option("--monitoring", "monitoring", multiple=True, metavar="KEY=VALUE",
              help="A monitoring setting: feature_drift=false, drift_thresholds.psi=0.25, "
                   "association_id_columns=order_id,customer, "
                   "required_in_prediction_requests=true, prediction_warnings.enabled=true, "
                   "prediction_warnings.upper=500, health.window_hours=48; VALUE 'default' "
                   "puts it back. Repeatable.")
@click.option("--min-replicas", type=click.IntRange(min=0),
              help="The fewest instances each of its generations runs.")
@click.option("--max-replicas", type=click.IntRange(min=1),
              help="The most instances each of its generations runs (within its "
                   "profile's ceiling).")
@click.option("--target-concurrency", type=click.FloatRange(min=0, min_open=True),
              help="Calls in flight per replica the autoscaler aims at (default 2).")
@click.pass_context
def update_service(
    ctx: click.Context, service: str, thresholds: tuple[str, ...], defaults: bool,
    monitoring: tuple[str, ...], min_replicas: int | None, max_replicas: int | None,
    target_concurrency: float | None,
) -> None:
    """Change a service's health thresholds, monitoring settings or replicas (others:
    shipyard.yaml and push). A change counts at once, without a redeploy."""
    if defaults and thresholds:
        raise click.UsageError("give --health-threshold or --default-health-thresholds, "
                               "not both")
    replicas = {key: value for key, value in (("min_replicas", min_replicas),
                                              ("max_replicas", max_replicas),
                                              ("target_concurrency", target_concurrency))
                if value is not None}
    if not defaults and not thresholds and not monitoring and not replicas:
        raise click.UsageError("nothing to change: give --health-threshold KEY=VALUE, "
                               "--default-health-thresholds, --monitoring KEY=VALUE, "
                               "--min-replicas, --max-replicas or --target-concurrency")
    changes: dict[str, Any] = dict(replicas)
    if defaults or thresholds:
        changes["health_thresholds"] = None if defaults else threshold_changes(thresholds)
    if monitoring:
        changes["monitoring"] = monitoring_changes(monitoring)
    updated = client_from(ctx).services.update(service, changes)
    if "health_thresholds" in changes:
        click.echo(f"Updated {updated['name']}'s health thresholds:")
        echo_thresholds(updated["health_thresholds"])
    if monitoring:
        click.echo(f"Updated {updated['name']}'s monitoring settings:")
        for key, value in updated["monitoring"].items():
            click.echo(f"  {key}: {json.dumps(value)}")
    if replicas:
        click.echo(f"Updated {updated['name']}'s replicas: {updated['min_replicas']} to "
                   f"{updated['max_replicas']} per generation, "
                   f"{updated['target_concurrency']:g} calls in flight each as the target.")


_LIST_SETTINGS = ("association_id_columns",)


def monitoring_changes(assignments: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` and ``SECTION.KEY=VALUE`` options as the API's ``monitoring``
    changes: true/false, numbers, a comma-separated list for the association columns,
    text for the rest, ``default`` (null) to put one back."""
    changes: dict[str, Any] = {}
    for assignment in assignments:
        key, equals, text = assignment.partition("=")
        key, text = key.strip(), text.strip()
        if not equals or not key or not text:
            raise click.BadParameter(
                f"{assignment!r} is not KEY=VALUE, such as prediction_warnings.enabled=true",
                param_hint="--monitoring")
        section, dot, name = key.partition(".")
        value: Any
        if text.lower() == "default":
            value = None
        elif key in _LIST_SETTINGS:
            value = [column.strip() for column in text.split(",") if column.strip()]
        elif text.lower() in ("true", "false"):
            value = text.lower() == "true"
        else:
            try:
                value = int(text) if text.lstrip("+-").isdigit() else float(text)
            except ValueError:
                value = text
        if dot:
            inner = changes.setdefault(section, {})
            if not isinstance(inner, dict):
                raise click.BadParameter(f"{section} is given both whole and by key",
                                         param_hint="--monitoring")
            inner[name] = value
        else:
            changes[key] = value
    return changes


@services.command("health")
@click.argument("service")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def service_health(ctx: click.Context, service: str, as_json: bool) -> None:
    """Show a service's health now, why, and the thresholds it is told by."""
    found = client_from(ctx).services.get(service)
    health = found["service_health"]
    if as_json:
        echo_json({"service_health": health, "health_thresholds": found["health_thresholds"]})
        return
    click.echo(f"{found['name']}: {health['status']} "
               f"(over the last {health['window_minutes']} minutes)")
    for reason in health["reasons"]:
        click.echo(f"  - {reason}")
    echo_thresholds(found["health_thresholds"])


def threshold_changes(assignments: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` and ``KEY.LEVEL=VALUE`` options as the API's ``health_thresholds``
    changes: numbers, ``N%`` for a rate, ``default`` (null) to put one back."""
    changes: dict[str, Any] = {}
    for assignment in assignments:
        key, equals, text = assignment.partition("=")
        if not equals or not key.strip() or not text.strip():
            raise click.BadParameter(
                f"{assignment!r} is not KEY=VALUE, such as server_error_rate.warning=0.02",
                param_hint="--health-threshold",
            )
        name, dot, level = key.strip().partition(".")
        value = _threshold_value(text.strip(), assignment)
        if dot:
            changes.setdefault(name, {})
            if not isinstance(changes[name], dict):
                raise click.BadParameter(f"{name} is given both whole and by level",
                                         param_hint="--health-threshold")
            changes[name][level] = value
        else:
            changes[name] = value
    return changes


def _threshold_value(text: str, assignment: str) -> float | int | None:
    if text.lower() == "default":
        return None
    try:
        if text.endswith("%"):
            return float(text[:-1]) / 100
        return int(text) if text.lstrip("+-").isdigit() else float(text)
    except ValueError:
        raise click.BadParameter(
            f"{assignment!r}: {text!r} is not a number, a percentage or 'default'",
            param_hint="--health-threshold",
        ) from None


def echo_thresholds(thresholds: Mapping[str, Any]) -> None:
    """The thresholds as a table, a figure's two levels on its line."""
    rows = [{"threshold": key,
             "value": (", ".join(f"{level} {value.get(level):g}" for level in _LEVELS)
                       if isinstance(value, Mapping) else f"{value:g}")}
            for key, value in thresholds.items()]
    echo_table(rows, ("threshold", "value"))


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
