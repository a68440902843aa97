"""The query log: every call through the gateway, recorded for comparing generations.

    gateway (event loop)            supervisor (each tick)          api
    QuerySpool.submit(QueryRecord)  ingest_spool(store, directory)  QueryLog(store).export
      -> spool thread writes          -> rows in ``query_log``        -> JSONL or CSV
         <spool dir>/*.jsonl

The spool directory is ``shipyard.supervisor_paths.query_spool_dir(home)``. The supervisor
also prunes calls older than ``Settings.query_log_retention_days`` (``prune_query_log``).
"""

from shipyard.query_log.export import (
    COLUMNS,
    FORMATS,
    QueryExport,
    QueryLog,
    csv_chunks,
    jsonl_chunks,
)
from shipyard.query_log.ingest import ingest_spool
from shipyard.query_log.record import ASSOCIATION_ID_HEADER, QueryRecord
from shipyard.query_log.retention import prune_query_log
from shipyard.query_log.spool import QuerySpool
from shipyard.query_log.time_range import TimeRange, parse_instant

__all__ = [
    "ASSOCIATION_ID_HEADER",
    "COLUMNS",
    "FORMATS",
    "QueryExport",
    "QueryLog",
    "QueryRecord",
    "QuerySpool",
    "TimeRange",
    "csv_chunks",
    "ingest_spool",
    "jsonl_chunks",
    "parse_instant",
    "prune_query_log",
]
