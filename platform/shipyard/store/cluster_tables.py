"""The tables several control-plane nodes share a store through: the supervisor's lease
(one leader at a time, fenced by its epoch), the nodes that take part, the routing table
the leader publishes for every node's gateway, and the calls a node's gateway holds for a
generation scaled to zero."""

from __future__ import annotations

from sqlalchemy import Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.store.tables import Base

__all__ = ["LeaseRow", "NodeRow", "PublishedRoutesRow", "ReplicaDemandRow"]


class LeaseRow(Base):
    """The supervisor's lease: one row. ``epoch`` grows by one each time another node
    takes it, and every write the leader makes checks it first (see
    ``shipyard.supervisor.leadership``)."""

    __tablename__ = "supervisor_lease"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    epoch: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Float)
    """Seconds since the epoch on the database's clock, so nodes' clocks never matter."""


class NodeRow(Base):
    """A control-plane node (one ``shipyard up``), seen alive at ``seen_at`` (the
    database's clock)."""

    __tablename__ = "control_plane_nodes"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    url: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[float] = mapped_column(Float)
    seen_at: Mapped[float] = mapped_column(Float)


class PublishedRoutesRow(Base):
    """The routing table the leading supervisor published last (one row), which every
    node copies to its own gateway's file."""

    __tablename__ = "published_routes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)


class ReplicaDemandRow(Base):
    """A node's gateway holds calls for a service scaled to zero: the leader starts a
    replica for it."""

    __tablename__ = "replica_demands"

    service_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    asked_at: Mapped[float] = mapped_column(Float)
