"""Files through which the supervisor tells other processes what it did."""

from __future__ import annotations

from pathlib import Path

__all__ = ["query_spool_dir", "routes_file"]


def routes_file(home: Path) -> Path:
    """Where the supervisor publishes the routing table the gateway reads."""
    return home / "run" / "routes.json"


def query_spool_dir(home: Path) -> Path:
    """Where gateways leave their query-log records for the supervisor to ingest."""
    return home / "run" / "query-spool"
