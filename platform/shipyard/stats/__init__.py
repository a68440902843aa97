"""Service stats: per-minute rollups of the calls and the usage of each generation, and
the questions answered by merging them.

Run by the supervisor (``rollups.fold_calls`` as it ingests the query log,
``rollups.fold_usage`` as it samples its instances) and by the API (``queries``). Every
figure comes from rollups, never from the raw calls, so a question costs the same however
much traffic a service has had.
"""
