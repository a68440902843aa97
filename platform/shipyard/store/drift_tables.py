"""The drift tables: ``drift_profiles``, what each model generation's live rows are binned
and compared by (``shipyard.stats.drift_profile.DriftProfile`` as JSON), and
``drift_rollups``, one row per (service, hour, generation, role) of binned counts laid
out as that generation's profile says."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, LargeBinary, String, Table

from shipyard.store.tables import Base

__all__ = ["DriftProfileRow", "DriftRollupRow"]


class DriftProfileRow(Base):
    __table__ = Table(
        "drift_profiles", Base.metadata,
        Column("service_id", String(32), primary_key=True),
        Column("generation", String(16), primary_key=True),
        Column("model_version", String(64), nullable=False),
        Column("profile", JSON, nullable=False),
    )


class DriftRollupRow(Base):
    """``start`` is the hour's first second (epoch); ``counts`` (int64) and ``sums``
    (float64, the values of a number's bin added up) are flat arrays, one slot per bin of
    each feature and then of the prediction; ``predicted_rows`` are the rows counted in
    the prediction's bins (a profile without them yet counts none)."""

    __table__ = Table(
        "drift_rollups", Base.metadata,
        Column("service_id", String(32), primary_key=True),
        Column("start", BigInteger, primary_key=True),
        Column("generation", String(16), primary_key=True),
        Column("role", String(16), primary_key=True),
        *(Column(name, BigInteger, nullable=False, default=0) for name in (
            "rows", "predicted_rows", "data_errors")),
        *(Column(name, LargeBinary, nullable=False, default=b"") for name in (
            "counts", "sums")),
    )
