"""The domain: services, their generations and traffic, models and their replacements,
environment profiles, archives and validation, and ``ControlPlane``, which holds them.

Run by the api process (its views call one domain method each) and by the supervisor
(which reads and settles what the domain stored). It may import the store, iam, openapi,
the query log's reader, the contracts and the runners' protocol and values; never the
supervisor, the API or the gateway.
"""
