"""``shipyard up``."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from shipyard.settings import Settings
from shipyard.supervisor.runner_choice import make_runner
from shipyard_runners import LocalRunner

__all__ = ["up"]


@click.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on; 0 picks a free one (default 8080).")
@click.option("--home", type=click.Path(path_type=Path), help="Data directory (~/.shipyard).")
@click.option("--config", type=click.Path(path_type=Path), help="A YAML settings file.")
@click.option("--database-url",
              help="The store: a postgresql+psycopg:// URL that several nodes may share "
                   "(default SQLite in the home).")
@click.option("--runner",
              help="What builds and runs services: local (default), docker or swarm.")
@click.option("--swarm-registry",
              help="The swarm runner's registry, host:port, that every node pulls from.")
def up(host: str | None, port: int | None, home: Path | None, config: Path | None,
       database_url: str | None, runner: str | None, swarm_registry: str | None) -> None:
    """Start Shipyard and keep it running until Ctrl-C or SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from shipyard.up.process_tree import ProcessTree  # the server stack, only when serving

    flags = {"host": host, "port": port, "home": home, "config": config,
             "database_url": database_url, "runner": runner, "swarm_registry": swarm_registry}
    settings = Settings.resolve(flags, os.environ)
    chosen = make_runner(settings)  # an unknown runner fails here, before anything starts
    tree = ProcessTree(settings)
    tree.install_signal_handlers()
    url = tree.start()
    click.echo(f"Shipyard is running at {url} (data in {settings.home})")
    click.echo(f"Administrator credentials: {tree.credentials_file} (the CLI signs with them)")
    if isinstance(chosen, LocalRunner):
        click.echo(_sandbox_line(chosen))
    status = tree.wait()
    tree.stop()
    if status:
        raise SystemExit(status)


def _sandbox_line(runner: LocalRunner) -> str:
    sandbox = runner.sandbox
    if sandbox is None:
        return ("Warning: sandbox is none: service code runs with Shipyard's own rights and "
                "can read its home")
    who = f"as uid {sandbox.user}" if sandbox.user is not None else "as this user"
    return f"Service code runs in a bubblewrap sandbox ({sandbox.bwrap}), {who}"
