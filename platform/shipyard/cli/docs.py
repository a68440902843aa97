"""``shipyard docs``: where a service's Swagger page is, or its OpenAPI document."""

from __future__ import annotations

from urllib.parse import quote

import click

from shipyard.cli.connection import client_from
from shipyard.cli.output import echo_json

__all__ = ["docs"]


@click.command()
@click.argument("service")
@click.option("--generation", "-g", help="A generation's tag, such as v2 (default: the live one).")
@click.option("--json", "as_json", is_flag=True, help="Print the OpenAPI document instead.")
@click.pass_context
def docs(ctx: click.Context, service: str, generation: str | None, as_json: bool) -> None:
    """Print the URL of SERVICE's Swagger page, or with --json its OpenAPI document."""
    client = client_from(ctx)
    # Fetching the document first makes a service with none an error here, not on the page.
    document = client.services.openapi(service, generation)
    if as_json:
        echo_json(document)
        return
    url = f"{client.url}/services/{quote(service, safe='')}/docs"
    click.echo(url + (f"?generation={quote(generation, safe='')}" if generation else ""))
