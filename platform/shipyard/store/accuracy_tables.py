"""The accuracy tables: ``scored_rows`` (each row a monitored model service scored, by its
association id: the query log's one id per row), ``batch_scored_rows`` (the same for the
rows of batch jobs, by id and generation), ``actuals`` (the true outcomes sent for them),
and ``accuracy_rollups`` (one row per (service, hour, generation, role) of the joined
pairs, ``shipyard.stats.accuracy_rollup`` in bytes)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    LargeBinary,
    String,
    Table,
    Text,
)

from shipyard.store.tables import Base

__all__ = ["AccuracyRollupRow", "ActualRow", "BatchScoredRowRow", "ScoredRowRow"]


class ScoredRowRow(Base):
    """A row scored again under the same association id replaces the first. ``at`` is
    epoch seconds; predictions are JSON text, ``scores`` the class probabilities as
    JSON ``{"classes": [...], "probabilities": [...]}``."""

    __table__ = Table(
        "scored_rows", Base.metadata,
        Column("service_id", String(32), primary_key=True),
        Column("association_id", String(255), primary_key=True),
        Column("at", Float, nullable=False),
        Column("generation", String(16), nullable=True),
        Column("prediction", Text, nullable=True),
        Column("scores", Text, nullable=True),
        Column("challenger_generation", String(16), nullable=True),
        Column("challenger_prediction", Text, nullable=True),
        Column("challenger_scores", Text, nullable=True),
        Index("scored_rows_by_time", "service_id", "at"),
    )


class BatchScoredRowRow(Base):
    """A row a batch job scored under an association id, one per generation it scored
    with (a job scores with the main and the challenger one after the other, each call
    its own): kept apart from live calls' rows, so that an id scored by a job never
    replaces a live prediction, and the job's accuracy is its own role (``batch``). A
    row scored again under the same id by the same generation replaces the first."""

    __table__ = Table(
        "batch_scored_rows", Base.metadata,
        Column("service_id", String(32), primary_key=True),
        Column("association_id", String(255), primary_key=True),
        Column("generation", String(16), primary_key=True),
        Column("at", Float, nullable=False),
        Column("prediction", Text, nullable=True),
        Column("scores", Text, nullable=True),
        Index("batch_scored_rows_by_time", "service_id", "at"),
    )


class ActualRow(Base):
    """``actual_value`` is JSON text; a resend replaces it. ``received_at`` (epoch
    seconds) is the same for every row of one upload, and later than any before it."""

    __table__ = Table(
        "actuals", Base.metadata,
        Column("service_id", String(32), primary_key=True),
        Column("association_id", String(255), primary_key=True),
        Column("actual_value", Text, nullable=False),
        Column("timestamp", Float, nullable=True),
        Column("was_acted_on", Boolean, nullable=True),
        Column("received_at", Float, nullable=False),
        Index("actuals_by_upload", "service_id", "received_at"),
    )


class AccuracyRollupRow(Base):
    __table__ = Table(
        "accuracy_rollups", Base.metadata,
        Column("service_id", String(32), primary_key=True),
        Column("start", BigInteger, primary_key=True),
        Column("generation", String(16), primary_key=True),
        Column("role", String(16), primary_key=True),
        Column("problem_type", String(16), nullable=False),
        Column("rows", BigInteger, nullable=False),
        Column("rollup", LargeBinary, nullable=False),
    )
