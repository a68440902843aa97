"""``shipyard up``: the process that starts the api, the supervisor and the gateway on
the sockets it holds, restarts one that dies, and stops them all (``process_tree``), and
opens the gateway to Docker instances when they need it (``container_gateway``).

It may import anything of Shipyard to check its settings before it starts; the
processes it starts import nothing of it.
"""
