"""The query record: what the gateway knows about one call (``QueryRecord``, filled on its
event loop), and the columns of the query log it becomes (``QUERY_COLUMNS``).

``QUERY_COLUMNS`` is the one list the others derive from: the spool line the gateway
writes (``query_entries.entry_of``), the checks the supervisor's ingest makes, the
``query_log`` table (``shipyard.store``), and the API's JSONL and CSV export. Adding a
column is an edit here, a field of ``QueryRecord`` of the same name, and a migration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "ASSOCIATION_COLUMNS_HEADER",
    "ASSOCIATION_ID_HEADER",
    "ASSOCIATION_REQUIRED_HEADER",
    "BATCH_JOB_HEADER",
    "BATCH_ROLE",
    "BODY_COLUMNS",
    "PREDICTIONS_HEADER",
    "QUERY_COLUMNS",
    "QUERY_COLUMN_NAMES",
    "WARNINGS_HEADER",
    "WARNING_BOUNDARIES_HEADER",
    "QueryColumn",
    "QueryRecord",
]

ColumnKind = Literal["time", "text", "integer", "number", "body", "encoding"]


@dataclass(frozen=True)
class QueryColumn:
    """One column of the query log: ``time`` (epoch seconds in a spool line, a UTC
    timestamp in the table, ISO 8601 in an export), ``text`` (cut at ``length`` when it
    has one), ``integer``, ``number`` (finite), ``body`` (text, or base64 as
    ``body_encoding`` says) or ``encoding`` (how the bodies are written)."""

    name: str
    kind: ColumnKind
    required: bool
    length: int | None = None
    default: Any = None
    """What a spool line without it stands for (a required column only)."""
    indexed: bool = False
    """Looked up alone (the ingest's check for a row stored already)."""


QUERY_COLUMNS: tuple[QueryColumn, ...] = (
    QueryColumn("at", "time", required=True),
    QueryColumn("request_id", "text", required=True, length=128, indexed=True),
    QueryColumn("service_id", "text", required=True, length=32),
    QueryColumn("generation", "text", required=False, length=16),
    QueryColumn("method", "text", required=True, length=16),
    QueryColumn("path", "text", required=True),
    QueryColumn("status", "integer", required=True),
    QueryColumn("latency_ms", "number", required=True),
    QueryColumn("instance_ms", "number", required=False),
    QueryColumn("request_bytes", "integer", required=True, default=0),
    QueryColumn("response_bytes", "integer", required=True, default=0),
    QueryColumn("caller", "text", required=True, length=255, default=""),
    QueryColumn("role", "text", required=False, length=16),
    QueryColumn("predictions", "integer", required=False),
    QueryColumn("warnings", "integer", required=False),
    QueryColumn("association_id", "text", required=False, length=255),
    QueryColumn("challenger_generation", "text", required=False, length=16),
    QueryColumn("challenger_status", "integer", required=False),
    QueryColumn("challenger_latency_ms", "number", required=False),
    QueryColumn("request_body", "body", required=False),
    QueryColumn("response_body", "body", required=False),
    QueryColumn("challenger_body", "body", required=False),
    QueryColumn("body_encoding", "encoding", required=False, length=8),
)
QUERY_COLUMN_NAMES = tuple(column.name for column in QUERY_COLUMNS)
BODY_COLUMNS = tuple(column.name for column in QUERY_COLUMNS if column.kind == "body")

ASSOCIATION_ID_HEADER = "X-Shipyard-Association-Id"
"""The request header that names a call's association id (it wins over a JSON field)."""
PREDICTIONS_HEADER = "X-Shipyard-Predictions"
"""The answer header in which an instance says how many rows it scored."""
WARNINGS_HEADER = "X-Shipyard-Prediction-Warnings"
"""The answer header in which an instance says how many of the rows it scored it flagged
(prediction warnings); the reasons are in ``X-Shipyard-Prediction-Warning``."""
WARNING_BOUNDARIES_HEADER = "X-Shipyard-Warning-Boundaries"
"""The request header in which the gateway tells a model service's instance to flag
predictions, and by what boundaries (``key=value`` pairs separated by ``;``)."""
ASSOCIATION_COLUMNS_HEADER = "X-Shipyard-Association-Columns"
"""The request header in which the gateway tells a model service's instance the columns of
each record that identify it (comma-separated): not features, dropped before scoring."""
BATCH_ROLE = "batch"
"""The ``role`` of a batch job's call in the query log and the stats."""
BATCH_JOB_HEADER = "X-Shipyard-Batch-Job"
"""The request header in which a batch job's call names its job: the gateway then checks
the call's credentials (whatever the service's access level) and takes it only with that
job's own access key, and records the call in the ``batch`` role."""
ASSOCIATION_REQUIRED_HEADER = "X-Shipyard-Association-Required"
"""The request header (``true``) in which the gateway tells the instance to refuse a record
without its association columns."""


@dataclass(slots=True)
class QueryRecord:
    """One call through the gateway, as the gateway saw it.

    Built and filled on the gateway's event loop, so it holds raw values only; everything
    that costs (JSON, text decoding, dropping bodies) happens later, in the spool's
    thread. ``request_body`` must be set (capped) whenever ``keep_bodies`` or
    ``monitored`` is true *or* ``association_field`` is set: the spool reads the
    association id from it and drops it unless ``keep_bodies`` or ``monitored``.
    """

    at: float
    """Epoch seconds when the call started."""
    request_id: str
    service_id: str
    generation: str | None
    method: str
    path: str
    """The path the caller sent, query included, decoded as Latin-1."""
    status: int
    latency_ms: float
    """From the start of the call to the end of the answer (or the error)."""
    instance_ms: float | None = None
    """From forwarding the request to the end of the instance's answer; None when it was
    never forwarded. ``latency_ms - instance_ms`` is the gateway's own overhead."""
    request_bytes: int = 0
    response_bytes: int = 0
    caller: str = ""
    """A label for who called; "" for anonymous."""
    role: str | None = None
    """``BATCH_ROLE`` for a call of a batch job (its own role in the stats); None for a
    live call."""
    predictions: int | None = None
    """Rows the instance scored, as its ``X-Shipyard-Predictions`` answer header says;
    None when it did not say."""
    warnings: int | None = None
    """Rows it flagged, as its ``X-Shipyard-Prediction-Warnings`` answer header says."""
    association_id: str | None = None
    """From the ``X-Shipyard-Association-Id`` header; None to look in the body."""
    association_field: str = ""
    """The service's top-level JSON field holding an association id; "" for none."""
    keep_bodies: bool = False
    """The service's ``collect_prediction_data``."""
    monitored: bool = False
    """The service's drift is tracked: the bodies go to the supervisor, which reads the
    scored rows from them, and are stored only if ``keep_bodies``."""
    request_body: bytes | None = None
    response_body: bytes | None = None
    challenger_body: bytes | None = None
    challenger_generation: str | None = None
    challenger_status: int | None = None
    challenger_latency_ms: float | None = None
