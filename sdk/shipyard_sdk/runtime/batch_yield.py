"""Batch calls give way to live ones inside an instance's worker process.

A worker is one Python process: its threads share one interpreter lock, so a chunk of a
batch job scored in a worker slows every live call the worker answers meanwhile, and two
chunks at once slow it most. Measured on the iris model, a worker kept busy by batch
calls: a live call's p99 went from 4 ms alone to about 80 ms beside two 1,000-row chunks,
22 ms beside one. The gateway marks a job's calls with ``X-Shipyard-Batch-Job`` (only once
it has checked that the call carries that job's own key), so here:

- a worker scores one batch call at a time; the others wait for their turn without
  taking the interpreter lock (a job keeps its next chunk queued here, so the worker never
  waits for the job between chunks);
- where the worker has a batch lane (``batch_lane``), the call is scored there, in a
  process of its own at a lower CPU priority, and live calls no longer share the
  interpreter lock with it (p99 7 ms beside two chunks in flight, in the same
  measurement); otherwise the worker scores it itself.

Live calls never wait for a batch call.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from shipyard_sdk.runtime.batch_lane import BatchLane, LaneGone

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["BATCH_JOB_ENVIRON", "BatchYield"]

BATCH_JOB_ENVIRON = "HTTP_X_SHIPYARD_BATCH_JOB"
"""How WSGI names the header the gateway forwards on a batch job's calls."""


class BatchYield:
    """WSGI middleware: a worker's batch calls one at a time, in its lane if it has one."""

    def __init__(self, app: WSGIApplication, lane: BatchLane | None = None) -> None:
        self.app = app
        self.lane = lane
        self._batch_turn = threading.Lock()

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        if not environ.get(BATCH_JOB_ENVIRON):
            return self.app(environ, start_response)
        with self._batch_turn:
            if self.lane is not None and self.lane.alive:
                with contextlib.suppress(LaneGone):
                    return self.lane.call(environ, start_response)
            return self.app(environ, start_response)
