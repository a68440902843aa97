"""What every node's supervisor does, leading or standing by (see ``leadership``).

Each node runs its own API and gateway; the gateway reads a routing table from a file on
its node and spools the calls it serves on its node. So every supervisor, every second:

- tells the others it is alive (``control_plane_nodes``);
- and while it stands by:
  - copies the routing table the leader published in the store to its gateway's file,
    when its serial is new (a version poll);
  - hands the replicas its gateway asks for (a service scaled to zero, ``gateway.activation``)
    to the leader through the store (``replica_demands``), and wakes it;
  - moves its gateway's spooled calls into the query log (the leader does that for its
    own node as part of its housekeeping). Each spool file is claimed by a rename on
    its node, so each is ingested exactly once, whichever node leads.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError

from shipyard.contracts.routing_table import RoutingTable, RoutingTableError, write_routing_table
from shipyard.contracts.run_paths import demand_dir, query_spool_dir, routes_file
from shipyard.contracts.supervisor_wakeups import notify_supervisor
from shipyard.errors import ShipyardError
from shipyard.store import NodeRow, PublishedRoutesRow, ReplicaDemandRow, Store
from shipyard.supervisor.leadership import database_now
from shipyard.supervisor.query_ingest import ingest_spool

__all__ = ["ALIVE_WITHIN", "NodeDuties", "asked_replicas", "other_nodes_alive"]

log = logging.getLogger(__name__)

ALIVE_WITHIN = 5.0
"""A node seen within this many seconds is alive."""


@dataclass
class NodeDuties:
    store: Store
    home: Path
    name: str
    url: str = ""
    _routes_serial: int | None = None
    _started_at: float | None = None
    _problem_logged: bool = field(default=False, repr=False)

    def run(self, *, leading: bool) -> None:
        """One round of the node's duties; a store that cannot be reached is logged once
        and tried again next round."""
        try:
            self._beat()
            if not leading:
                self._mirror_routes()
                self._forward_demand()
                ingest_spool(self.store, query_spool_dir(self.home))
        except (SQLAlchemyError, ShipyardError) as exc:
            if not self._problem_logged:
                log.warning("node %s cannot reach the store: %s; trying again", self.name,
                            str(getattr(exc, "orig", None) or exc).splitlines()[0])
                self._problem_logged = True
            return
        self._problem_logged = False

    def leave(self) -> None:
        """Forget this node (a clean stop)."""
        try:
            with self.store.writing() as session:
                session.execute(delete(NodeRow).where(NodeRow.name == self.name))
        except (SQLAlchemyError, ShipyardError) as exc:
            log.warning("could not take node %s off the list: %s", self.name, exc)

    def _beat(self) -> None:
        with self.store.writing() as session:
            now = database_now(session)
            row = session.get(NodeRow, self.name)
            if row is None:
                self._started_at = now
                session.add(NodeRow(name=self.name, url=self.url, started_at=now, seen_at=now))
            else:
                row.url = self.url
                row.seen_at = now
                if self._started_at is None:
                    self._started_at = row.started_at = now

    def _mirror_routes(self) -> None:
        with self.store.reading() as session:
            serial = session.scalar(select(PublishedRoutesRow.serial))
            if serial is None or serial == self._routes_serial:
                return
            body = session.scalar(select(PublishedRoutesRow.body))
        try:
            table = RoutingTable.from_dict(json.loads(body or ""))
        except (ValueError, RoutingTableError) as exc:
            log.error("the routing table in the store (serial %s) is unusable: %s", serial, exc)
            return
        write_routing_table(routes_file(self.home), table)
        self._routes_serial = serial

    def _forward_demand(self) -> None:
        folder = demand_dir(self.home)
        try:
            asks = [path for path in folder.iterdir() if path.is_file()]
        except OSError:
            return
        if not asks:
            return
        with self.store.writing() as session:
            now = database_now(session)
            for path in asks:
                row = session.get(ReplicaDemandRow, path.name)
                if row is None:
                    session.add(ReplicaDemandRow(service_id=path.name, asked_at=now))
                else:
                    row.asked_at = now
        for path in asks:
            path.unlink(missing_ok=True)
        notify_supervisor(self.store.engine)


def asked_replicas(store: Store) -> list[str]:
    """The services other nodes' gateways asked a replica for, taken off the list (read
    first: the write lock only when there are some)."""
    with store.reading() as session:
        if session.scalar(select(ReplicaDemandRow.service_id).limit(1)) is None:
            return []
    with store.writing() as session:
        asked = list(session.scalars(select(ReplicaDemandRow.service_id)))
        if asked:
            session.execute(delete(ReplicaDemandRow).where(
                ReplicaDemandRow.service_id.in_(asked)))
    return asked


def other_nodes_alive(store: Store, name: str) -> list[str] | None:
    """The other nodes seen alive lately; None when the store cannot tell."""
    try:
        with store.reading() as session:
            now = database_now(session)
            return list(session.scalars(select(NodeRow.name).where(
                NodeRow.name != name, NodeRow.seen_at >= now - ALIVE_WITHIN)))
    except (SQLAlchemyError, ShipyardError):
        return None
