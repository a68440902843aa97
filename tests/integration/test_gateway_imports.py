"""The gateway process loads neither docker-py nor jinja2: what it imports is on the path
of every call. A real gateway is started (one worker, in the probing process itself) and,
once it answers, its ``sys.modules`` is read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.settings import RESOLVED_SETTINGS_VAR, Settings

pytestmark = pytest.mark.slow

PROBE = """\
import json, os, socket, sys, threading, time, urllib.error, urllib.request

listener = socket.create_server(("127.0.0.1", 0))
port = listener.getsockname()[1]


def report_once_serving():
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
        except urllib.error.HTTPError:
            pass  # an answer all the same (no API behind it)
        except OSError:
            time.sleep(0.05)
            continue
        heavy = sorted(name for name in sys.modules
                       if name.split(".")[0] in ("docker", "jinja2", "flask"))
        print(json.dumps({"heavy": heavy, "shipyard_runners": sorted(
            name for name in sys.modules if name.startswith("shipyard_runners"))}),
              flush=True)
        os._exit(0)


threading.Thread(target=report_once_serving, daemon=True).start()
from shipyard.gateway.__main__ import main

main(["--fd", str(listener.fileno()), "--routes", sys.argv[1],
      "--api-upstream", "127.0.0.1:9", "--query-spool", sys.argv[2]])
"""


def test_the_gateway_serves_without_docker_py_or_jinja2(tmp_path: Path) -> None:
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps({"version": 1, "services": {}}))
    settings = Settings(home=tmp_path / "home")
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(routes), str(tmp_path / "spool")],
        capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", RESOLVED_SETTINGS_VAR: settings.to_json()},
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["heavy"] == []
    assert all(name in ("shipyard_runners", "shipyard_runners.protocol")
               for name in loaded["shipyard_runners"]), loaded
