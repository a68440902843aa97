"""How the CLI finds and talks to the control plane (it signs as
``shipyard_sdk.credentials`` finds: by default the administrator of the local one)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from shipyard.contracts.run_paths import read_run_file
from shipyard.settings import home_from
from shipyard_sdk.client import Client

__all__ = ["client_from", "local_home", "server_url"]

DEFAULT_URL = "http://127.0.0.1:8080"


def server_url(ctx: click.Context) -> str:
    """``--url``, else ``SHIPYARD_URL``, else the running control plane's, else :8080."""
    url = (ctx.find_root().obj or {}).get("url")
    if url:
        return str(url)
    running = read_run_file(local_home())
    if running and running.get("url"):
        return str(running["url"])
    return DEFAULT_URL


def local_home() -> Path:
    """This machine's Shipyard home folder, as ``shipyard up`` resolves it."""
    return home_from(os.environ)


def client_from(ctx: click.Context) -> Client:
    return Client(server_url(ctx))
