"""``python -m shipyard.supervisor``: the supervisor process (see ``loop.main``)."""

from shipyard.supervisor.loop import main

main()
