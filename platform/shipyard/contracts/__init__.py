"""What crosses a process boundary, defined once with its writer and its reader: the
run folder's files (``run_paths``, ``runfile``), the query record and its spool line
(``query_record``, ``query_entries``).

Imported by every process; it imports nothing of Shipyard but ``errors`` and
``settings``.
"""
