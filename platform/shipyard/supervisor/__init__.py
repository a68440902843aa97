"""The supervisor process: the loop that brings what runs to what the domain stored.

It builds generations (``builder``, ``build_log``), starts, checks and stops instances,
rolls generations out and gates them (``rollout``, ``gatekeeper``, ``replacement_gate``),
publishes the routing table and the fleet's figures (``routing``, ``fleet_snapshot``),
moves the gateways' spooled calls into the query log and the service stats and prunes them
(``query_ingest``, ``query_retention``, ``housekeeping``), samples the instances' usage
into the stats (``usage_history``), and holds the
installation's runners (``runner_set``, ``runner_choice``). ``python -m shipyard.supervisor``
runs it; only ``shipyard up`` starts it. It may import the domain, the store, iam, the
contracts and the runners; nothing imports it but its entry point and ``shipyard up``'s
checks of a runner.
"""
