"""The spans service stats are kept at, the roles a call counts under, and the measures
drift can be sorted by: the names the rollups, the questions and the CLI share, in a
module that loads nothing (the CLI reads them without the rollups' arithmetic)."""

from __future__ import annotations

__all__ = ["DAY", "DRIFT_METRICS", "HOUR", "MINUTE", "ROLES", "SPANS"]

MINUTE, HOUR, DAY = 60, 3600, 86400
SPANS = (MINUTE, HOUR, DAY)
"""The spans rollups are kept at, in seconds; each a whole number of the one before."""

ROLES = ("main", "challenger", "batch")
"""Live calls (``main``), the challenger's copies of them, and batch jobs' calls, counted
apart so that a batch job never moves the live figures; ``batch`` is
``shipyard.contracts.query_record.BATCH_ROLE``."""

DRIFT_METRICS = ("psi", "js_distance", "hellinger", "wasserstein", "p_value")
"""What features may be sorted by (``p_value`` ascending, the others descending)."""
