"""``shipyard invoke``: call a deployed service through the gateway."""

from __future__ import annotations

import json
from typing import Any

import click

from shipyard.cli.connection import client_from
from shipyard.cli.output import echo_json
from shipyard.errors import InvalidInput

__all__ = ["invoke"]


@click.command()
@click.argument("service")
@click.argument("method")
@click.argument("path")
@click.argument("payload", required=False)
@click.pass_context
def invoke(ctx: click.Context, service: str, method: str, path: str, payload: str | None) -> None:
    """Call METHOD PATH on SERVICE, with an optional JSON PAYLOAD ('-' reads stdin)."""
    body: Any = None
    if payload is not None:
        text = click.get_text_stream("stdin").read() if payload == "-" else payload
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"the payload is not valid JSON: {exc}") from exc
    answer = client_from(ctx).user_services.invoke(method, path, service, body)
    if isinstance(answer, str):
        click.echo(answer)
    else:
        echo_json(answer)
