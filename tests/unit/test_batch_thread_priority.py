"""A batch job's threads give way to live calls: each takes the lowest CPU priority, and
only that thread does (the supervisor's loop, in the same process, keeps its own)."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from shipyard.supervisor.batch_scoring import JOB_THREAD_NICENESS, give_way_to_live_calls

pytestmark = pytest.mark.skipif(sys.platform != "linux",
                                reason="only Linux gives each thread a niceness of its own")


def _niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def _in_a_thread() -> int:
    seen: list[int] = []

    def job() -> None:
        give_way_to_live_calls()
        seen.append(_niceness())

    thread = threading.Thread(target=job)
    thread.start()
    thread.join()
    return seen[0]


def test_a_job_thread_takes_the_lowest_priority_and_no_other_thread_does() -> None:
    ours = _niceness()
    assert _in_a_thread() == JOB_THREAD_NICENESS == 19
    assert _niceness() == ours
