"""What crosses a process boundary, each defined once with its version, its writer and
its reader: the run folder's files (``run_paths``), the routing table the supervisor
writes for the gateway (``routing_table``), the query record the gateway spools and the
supervisor ingests (``query_record``, ``query_entries``), and the fleet's figures the
supervisor writes for the gateway's ``/metrics`` (``fleet_snapshot``).

Imported by every process; it imports nothing of Shipyard but ``errors`` and the access
levels of ``iam.principals``.
"""
