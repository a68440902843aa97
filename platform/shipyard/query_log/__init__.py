"""The query log's reader: every call through the gateway, as the API exports it.

    gateway (event loop)              supervisor (each tick)            api
    gateway.spool.QuerySpool          supervisor.query_ingest           QueryLog(store).export
      .submit(QueryRecord)              .ingest_spool(store, dir)         -> JSONL or CSV
      -> <spool dir>/*.jsonl            -> rows in ``query_log``

The record and its spool line are contracts (``shipyard.contracts.query_record``,
``query_entries``); the spool directory is ``shipyard.contracts.run_paths
.query_spool_dir(home)``. The supervisor also prunes calls older than
``Settings.query_log_retention_days`` (``supervisor.query_retention``). This package is
the API's half: run by the api process, imported by the domain. Its modules are imported
by name (``query_log.export``, ``query_log.time_range``), so that the CLI can read a time
range without loading the export and the store.
"""
