"""Waking the supervisor between ticks: through the run folder's FIFO from another
process (the API, after a change the supervisor acts on), or from its own threads."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from flask.testing import FlaskClient

from shipyard.contracts.run_paths import supervisor_wakeups_file
from shipyard.contracts.supervisor_wakeups import WakeupChannel, wake_supervisor
from shipyard.settings import Settings


def test_another_process_wakes_it_through_the_fifo(tmp_path: Path) -> None:
    # Deeper than a Unix socket's path may be (107 bytes): a FIFO's path is not capped.
    folder = tmp_path / ("deep-" * 30)
    folder.mkdir()
    channel = WakeupChannel(folder / "supervisor.wake")
    try:
        assert not channel.wait(0.01)
        subprocess.run([sys.executable, "-c", (
            "import sys; from pathlib import Path\n"
            "from shipyard.contracts.supervisor_wakeups import wake_supervisor\n"
            "wake_supervisor(Path(sys.argv[1]))"), str(folder / "supervisor.wake")],
            check=True, timeout=60)
        assert channel.wait(10.0)
        assert not channel.wait(0.01)  # every wake-up pending was taken
    finally:
        channel.close()
    assert not (folder / "supervisor.wake").exists()


def test_wake_ups_pending_are_one_and_a_full_fifo_never_blocks(tmp_path: Path) -> None:
    channel = WakeupChannel(tmp_path / "supervisor.wake")
    try:
        for _ in range(100_000):  # past a pipe's 64 KiB
            wake_supervisor(tmp_path / "supervisor.wake")
        assert channel.wait(0.0)
        assert not channel.wait(0.0)
    finally:
        channel.close()


def test_waking_nobody_is_not_an_error(tmp_path: Path) -> None:
    wake_supervisor(tmp_path / "supervisor.wake")  # no FIFO
    channel = WakeupChannel(tmp_path / "supervisor.wake")
    channel.close()
    wake_supervisor(tmp_path / "supervisor.wake")  # gone again
    channel.wake()  # a closed channel: the supervisor stopped


def test_its_own_threads_wake_it() -> None:
    channel = WakeupChannel()
    try:
        threading.Timer(0.05, channel.wake).start()
        assert channel.wait(10.0)
    finally:
        channel.close()


def test_the_api_wakes_it_after_a_change_it_acts_on_only(
    settings: Settings, client: FlaskClient
) -> None:
    fifo = supervisor_wakeups_file(settings.home)
    fifo.parent.mkdir(parents=True, exist_ok=True)
    channel = WakeupChannel(fifo)
    try:
        assert client.post("/api/v1/services", json={"name": "hello"}).status_code == 201
        assert channel.wait(0.0)
        assert client.get("/api/v1/services/hello").status_code == 200
        assert client.post("/api/v1/services", json={"name": "hello"}).status_code == 409
        assert client.post("/iam/users", json={"name": "alice"}).status_code == 201
        assert not channel.wait(0.0)  # a read, a refused change, a change it does not act on
        assert client.post("/api/v1/services/hello/enable").status_code == 200
        assert channel.wait(0.0)
    finally:
        channel.close()
