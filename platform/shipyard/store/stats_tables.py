"""The ``stats_rollups`` table: one row per (service, span, start, generation, role), the
stored form of ``shipyard.stats.rollup.Rollup``."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Integer, LargeBinary, String, Table

from shipyard.store.tables import Base

__all__ = ["StatsRollupRow"]


class StatsRollupRow(Base):
    """``generation`` "" holds every call to the service in the span, those refused before
    any generation answered included; ``start`` is epoch seconds, a multiple of
    ``span``. Services may be deleted; their stats stay until their retention ends."""

    __table__ = Table(
        "stats_rollups", Base.metadata,
        Column("service_id", String(32), primary_key=True),
        Column("span", Integer, primary_key=True),
        Column("start", BigInteger, primary_key=True),
        Column("generation", String(16), primary_key=True),
        Column("role", String(16), primary_key=True),
        *(Column(name, BigInteger, nullable=False, default=0) for name in (
            "calls", "predictions", "warnings", "ok", "user_errors", "server_errors", "timeouts",
            "bytes_in", "bytes_out", "usage_samples", "peak_load", "memory_max",
            "gpu_memory_max", "replica_samples", "replicas_sum", "replicas_max")),
        *(Column(name, Float, nullable=False, default=0.0) for name in (
            "cpu_sum", "memory_sum", "gpu_memory_sum", "cpu_max")),
        *(Column(name, LargeBinary, nullable=False, default=b"") for name in (
            "latency", "instance_time", "overhead", "load", "callers")),
    )
