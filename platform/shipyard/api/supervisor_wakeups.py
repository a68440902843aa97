"""The API wakes the supervisor after a change the supervisor acts on, so that a deploy,
a mapping or a switch starts at once rather than at the supervisor's next tick: through
the run folder's FIFO, and on a PostgreSQL store with a NOTIFY too."""

from __future__ import annotations

from flask import Response, request

from shipyard.api.context import control_plane
from shipyard.contracts.run_paths import supervisor_wakeups_file
from shipyard.contracts.supervisor_wakeups import notify_supervisor, wake_supervisor

__all__ = ["wake_after_change"]

_ACTED_ON = frozenset({"services", "deployments", "traffic", "models", "model_replacements",
                       "service_batch_jobs", "batch_jobs", "batch_schedules"})
"""The blueprints whose changes the supervisor acts on: what serves and how, and the batch
jobs it runs."""
_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def wake_after_change(response: Response) -> Response:
    if (request.method in _CHANGES and response.status_code < 400
            and request.blueprint in _ACTED_ON):
        plane = control_plane()
        wake_supervisor(supervisor_wakeups_file(plane.settings.home))
        notify_supervisor(plane.store.engine)
    return response
