"""Batch calls give way to live ones in an instance's worker: one batch call at a time
(``BatchYield``), scored in a lane of its own where the worker has one (``BatchLane``: a
real forked process), with real threads and processes."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

import shipyard_sdk
from shipyard_sdk.runtime.batch_lane import (
    AUTOGROUP_NICENESS,
    BATCH_LANE_VAR,
    LANE_NICENESS,
    BatchLane,
    LaneGone,
    lane_for,
)
from shipyard_sdk.runtime.batch_yield import BATCH_JOB_ENVIRON, BatchYield

SDK = str(Path(shipyard_sdk.__file__).resolve().parents[1])


class GatedApp:
    """A WSGI app whose calls wait until the test opens their gate (by path)."""

    def __init__(self) -> None:
        self.gates: dict[str, threading.Event] = {}
        self.entered: set[str] = set()
        self.inside: set[str] = set()
        self.most_batch_inside = 0
        self._lock = threading.Lock()

    def gate(self, path: str) -> threading.Event:
        with self._lock:
            return self.gates.setdefault(path, threading.Event())

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        with self._lock:
            self.entered.add(path)
            self.inside.add(path)
            batch_inside = sum(1 for name in self.inside if name.startswith("/batch"))
            self.most_batch_inside = max(self.most_batch_inside, batch_inside)
        assert self.gate(path).wait(10), f"{path} was never let go"
        with self._lock:
            self.inside.discard(path)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [path.encode()]


def request(path: str, batch: bool, body: bytes = b"", chunked: bool = False) -> dict[str, Any]:
    environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": "POST",
                               "wsgi.input": io.BytesIO(body)}
    if not chunked:
        environ["CONTENT_LENGTH"] = str(len(body))
    if batch:
        environ[BATCH_JOB_ENVIRON] = "bj_1"
    return environ


def answer(app: Any, environ: dict[str, Any]) -> tuple[str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], body


def start_call(app: Any, path: str, batch: bool) -> threading.Thread:
    thread = threading.Thread(target=answer, args=(app, request(path, batch)), daemon=True)
    thread.start()
    return thread


def wait_until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def echo_app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
    """Says which process answered, at what CPU priority, and what it was sent."""
    if environ["PATH_INFO"] == "/fail":
        raise RuntimeError("the model failed")
    if environ["PATH_INFO"] == "/slow":
        time.sleep(30)
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("201 Created", [("Content-Type", "application/json"), ("X-Seen", "yes")])
    yield json.dumps({"pid": os.getpid(), "nice": os.getpriority(os.PRIO_PROCESS, 0),
                      "session": os.getsid(0), "autogroup": session_group(),
                      "body": body.decode(), "path": environ["PATH_INFO"]}).encode()


def session_group() -> str | None:
    """This process's session group as the kernel tells it ("/autogroup-7 nice 19"), None
    where the kernel has no such groups. A process in no session group of its own (in the
    session it booted in, as under a CI runner's init) reads an empty line: it shares the
    root group, said here as "/ nice 0"."""
    try:
        return Path("/proc/self/autogroup").read_text().strip() or "/ nice 0"
    except OSError:
        return None


# -- one batch call at a time --------------------------------------------------------------

def test_a_worker_scores_one_batch_call_at_a_time_and_live_calls_never_wait() -> None:
    inner = GatedApp()
    app = BatchYield(inner)
    batches = [start_call(app, f"/batch{n}", True) for n in range(2)]
    wait_until(lambda: len(inner.entered) == 1)
    first = next(iter(inner.entered))
    lives = [start_call(app, f"/live{n}", False) for n in range(3)]
    wait_until(lambda: {f"/live{n}" for n in range(3)} <= inner.entered)
    assert inner.entered & {"/batch0", "/batch1"} == {first}  # the other waits its turn
    for n in range(3):
        inner.gate(f"/live{n}").set()
    inner.gate(first).set()
    other = "/batch1" if first == "/batch0" else "/batch0"
    wait_until(lambda: other in inner.entered)
    inner.gate(other).set()
    for thread in [*batches, *lives]:
        thread.join(5)
        assert not thread.is_alive()
    assert inner.most_batch_inside == 1


def test_a_failing_batch_call_gives_its_turn_back() -> None:
    app = BatchYield(echo_app)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="the model failed"):
            answer(app, request("/fail", batch=True))
    assert answer(app, request("/p", batch=True))[0] == "201 Created"


# -- the lane --------------------------------------------------------------------------------

@pytest.fixture
def lane() -> Iterator[BatchLane]:
    made = BatchLane.fork(echo_app, answer_timeout=5)
    yield made
    made.end()


def test_a_lane_scores_batch_calls_in_a_process_of_its_own_at_a_lower_priority(
        lane: BatchLane) -> None:
    app = BatchYield(echo_app, lane=lane)
    status, headers, body = answer(app, request("/batch", True, b"sepal_length\n5.1\n"))
    seen = json.loads(body)
    assert (status, headers["X-Seen"]) == ("201 Created", "yes")
    assert seen["pid"] == lane.pid != os.getpid()
    # Niceness stops at 19: a worker already nice gets a lane at the lowest priority.
    assert seen["nice"] == min(19, os.getpriority(os.PRIO_PROCESS, 0) + LANE_NICENESS)
    # A session of its own, whose group (where the kernel groups sessions) is at the
    # lowest priority too: the worker's session keeps its own group and priority.
    assert seen["session"] == lane.pid != os.getsid(0)
    ours = session_group()
    if ours is not None:
        assert seen["autogroup"].endswith(f" nice {AUTOGROUP_NICENESS}"), seen["autogroup"]
        assert seen["autogroup"].split()[0] != ours.split()[0]
        assert (seen["body"], seen["path"]) == ("sepal_length\n5.1\n", "/batch")
    # A chunked body (no Content-Length) arrives whole too.
    chunked = json.loads(answer(app, request("/batch", True, b"a,b\n1,2\n", chunked=True))[2])
    assert chunked["body"] == "a,b\n1,2\n" and chunked["pid"] == lane.pid
    # Live calls stay in the worker.
    assert json.loads(answer(app, request("/live", False))[2])["pid"] == os.getpid()


def test_an_app_failing_in_the_lane_answers_500_and_the_lane_goes_on(lane: BatchLane) -> None:
    app = BatchYield(echo_app, lane=lane)
    status, _, body = answer(app, request("/fail", True))
    assert status.startswith("500") and b"failed" in body
    assert json.loads(answer(app, request("/batch", True))[2])["pid"] == lane.pid


def test_a_lane_gone_leaves_the_worker_scoring_batch_calls_itself(lane: BatchLane) -> None:
    app = BatchYield(echo_app, lane=lane)
    os.kill(lane.pid, signal.SIGKILL)
    status, _, body = answer(app, request("/batch", True, b"kept"))
    seen = json.loads(body)
    assert status == "201 Created"
    assert (seen["pid"], seen["body"]) == (os.getpid(), "kept")  # the body read again
    assert not lane.alive
    with pytest.raises(LaneGone):
        lane.call(request("/batch", True), lambda status, headers: None)


def test_a_lane_that_does_not_answer_is_ended() -> None:
    lane = BatchLane.fork(echo_app, answer_timeout=0.5)
    app = BatchYield(echo_app, lane=lane)
    started = time.monotonic()
    with pytest.raises(LaneGone, match="no answer"):
        lane.call(request("/slow", True), lambda status, headers: None)
    assert time.monotonic() - started < 5
    assert not lane.alive
    with pytest.raises(ProcessLookupError):
        os.kill(lane.pid, 0)
    assert json.loads(answer(app, request("/p", True))[2])["pid"] == os.getpid()


def test_a_lane_ends_with_its_worker() -> None:
    worker = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        from shipyard_sdk.runtime.batch_lane import BatchLane
        def app(environ, start_response):
            start_response("200 OK", [])
            return [b""]
        print(BatchLane.fork(app).pid, flush=True)
    """)], capture_output=True, text=True, timeout=30, env={**os.environ, "PYTHONPATH": SDK},
        check=True)
    pid = int(worker.stdout)  # run() returned: the lane let go of the worker's stdout
    deadline = time.monotonic() + 10
    while lives(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not lives(pid), "the lane outlived its worker"


def lives(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            return not any(line.startswith("State:") and "Z" in line for line in status)
    except FileNotFoundError:
        return False


def test_a_lane_is_made_where_the_supervisor_allows_it_and_no_thread_runs() -> None:
    model = {BATCH_LANE_VAR: "1"}
    for environ in ({BATCH_LANE_VAR: "0"}, {}):
        assert lane_for(echo_app, environ) is None, environ
    started = threading.Event()
    running = threading.Thread(target=started.wait, daemon=True)
    running.start()
    try:
        assert lane_for(echo_app, model) is None  # a thread the copy would lack
    finally:
        started.set()
        running.join(5)
    if threading.active_count() == 1:
        made = lane_for(echo_app, model)
        assert made is not None
        made.end()
