"""How much the gateway costs: the same services called directly and through it.

    python bench/gateway.py [--duration 5] [--rounds 3] [--connections 32] [--cases ...]

Starts, on loopback: a hello app with a ~10 ms "model" endpoint as a real gunicorn + Flask
instance started like the local runner starts one (gthread workers, 4 threads, keep-alive);
the same app under sync workers, which close the connection after every answer; a minimal
keep-alive upstream (a uvloop protocol that answers "hello", to see the gateway's own
cost); and the gateway
(``python -m shipyard.gateway``, one worker, access log on, written to /dev/null).

The ``signed`` cases call the minimal upstream through the gateway twice over: as a public
service, and as a service that needs credentials, with a presigned SigV4 URL that the
gateway verifies on every call (against a store holding an administrator, as the first
``shipyard up`` leaves it); their "direct" column is the public side.

For each case the same load runs directly on the instance's port and through the gateway,
alternating, ``--rounds`` times each: a fixed connection count for ``--duration`` seconds
(wrk when installed, else a small asyncio client). It prints the median requests/s, p50
and p99 of each side and their ratio, the p50 added with one connection, and the
gateway's CPU time per request (its user + system time before and after, over all its
rounds) and the CPU it adds over the direct side (for the signed cases, what checking a
signature costs over a public call). Every process it starts is stopped before it
returns; all load stays on 127.0.0.1. On a shared machine the figures move between runs:
compare within one run.

The gateway inherits this process's environment, so ``SHIPYARD_GATEWAY_*`` variables
apply to it: ``SHIPYARD_GATEWAY_METRICS=off python bench/gateway.py`` gives its figures
without the Prometheus counting, to set beside a run with it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from shipyard.gateway import write_routing_table
from shipyard.iam.access_control import AccessControl
from shipyard.settings import RESOLVED_SETTINGS_VAR, Settings
from shipyard.store import Store

HELLO_APP = '''
import time
from flask import Flask

app = Flask(__name__)


@app.get("/hello")
def hello():
    return "hello"


@app.get("/predict")
def predict():
    # About 10 ms of pure computation, like a small model.
    end = time.perf_counter() + 0.010
    total = 0
    while time.perf_counter() < end:
        total += 1
    return {"total": total}
'''

MINIMAL_UPSTREAM = '''
import asyncio, socket, sys
import uvloop

ANSWER = b"HTTP/1.1 200 OK\\r\\nContent-Length: 5\\r\\nContent-Type: text/plain\\r\\n\\r\\nhello"


class Hello(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        # One answer per request head; the benchmark sends no bodies.
        self.transport.write(ANSWER * data.count(b"\\r\\n\\r\\n"))


async def main():
    sock = socket.socket(fileno=int(sys.argv[1]))
    server = await asyncio.get_running_loop().create_server(Hello, sock=sock)
    await server.serve_forever()

uvloop.run(main())
'''

# key: (label, upstream, path on the instance, one connection)
CASES = {
    "hello": ("hello, gthread gunicorn (as the runner)", "gthread", "/hello", False),
    "hello1": ("hello, gthread gunicorn (as the runner)", "gthread", "/hello", True),
    "sync": ("hello, sync gunicorn (no keep-alive)", "sync", "/hello", False),
    "sync1": ("hello, sync gunicorn (no keep-alive)", "sync", "/hello", True),
    "minimal": ("minimal keep-alive upstream", "minimal", "/", False),
    "minimal1": ("minimal keep-alive upstream", "minimal", "/", True),
    "model": ("10 ms endpoint, gthread gunicorn (as the runner)", "gthread", "/predict", False),
    # Both sides through the gateway: a public service, and one that needs SigV4 (a
    # presigned URL, verified on every call), to see what checking a signature costs.
    "signed": ("minimal: public vs SigV4 (both gateway)", "private", "/", False),
    "signed1": ("minimal: public vs SigV4 (both gateway)", "private", "/", True),
}


@dataclasses.dataclass
class Load:
    rate: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


@dataclasses.dataclass
class Comparison:
    name: str
    connections: int
    direct: Load
    gateway: Load
    cpu_us_per_request: float
    # The gateway's CPU per request of the direct side: nothing for a truly direct side,
    # the public call's cost for the signed cases (whose two sides both cross it).
    direct_cpu_us_per_request: float


# -- processes ------------------------------------------------------------------------


def _listener() -> socket.socket:
    return socket.create_server(("127.0.0.1", 0), backlog=2048)


@contextlib.contextmanager
def _process(args: list[str], sock: socket.socket, cwd: Path | None = None,
             env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        args, pass_fds=(sock.fileno(),), cwd=cwd, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    sock.close()
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _wait_http(port: int, path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode()
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), \
                socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(request)
            if conn.recv(64).startswith(b"HTTP/1.1 200"):
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing answered 200 on port {port}{path}")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children (the gateway's workers)."""
    total = 0.0
    root = psutil.Process(pid)
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


# -- load -------------------------------------------------------------------------------


def _wrk(url: str, connections: int, duration: float) -> Load:
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency", url],
        capture_output=True, text=True, timeout=duration + 60, check=True,
    ).stdout
    done = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)\b", output)
    if done is None:
        raise SystemExit(f"cannot read wrk's output:\n{output}")
    seconds = float(done.group(2)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[done.group(3)]
    errors = 0
    for found in re.finditer(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", output):
        if found.group(1):
            errors += int(found.group(1))
        else:
            errors += sum(int(n) for n in re.findall(r"\d+", found.group(2)))
    requests = int(done.group(1))
    return Load(requests / seconds, _wrk_percentile(output, "50"),
                _wrk_percentile(output, "99"), requests, errors)


def _wrk_percentile(output: str, which: str) -> float:
    found = re.search(rf"^\s+{which}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if found is None:
        return float("nan")
    return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]


def _python_load(url: str, connections: int, duration: float) -> Load:
    """A small keep-alive HTTP/1.1 load generator, for machines without wrk; it needs
    answers with a Content-Length, and is much slower than wrk."""
    match = re.fullmatch(r"http://([^:/]+):(\d+)(/.*)", url)
    assert match is not None
    host, port, path = match.group(1), int(match.group(2)), match.group(3)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    latencies: list[float] = []
    errors = 0

    async def one_connection(deadline: float) -> None:
        nonlocal errors
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while time.perf_counter() < deadline:
            try:
                if connection is None:
                    connection = await asyncio.open_connection(host, port)
                reader, writer = connection
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                latencies.append(time.perf_counter() - started)
                if not head.startswith(b"HTTP/1.1 200"):
                    errors += 1
                if re.search(rb"(?i)\r\nconnection:\s*close", head):
                    writer.close()
                    connection = None
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                errors += 1
                connection = None
        if connection is not None:
            connection[1].close()

    async def run() -> float:
        started = time.perf_counter()
        deadline = started + duration
        await asyncio.gather(*(one_connection(deadline) for _ in range(connections)))
        return time.perf_counter() - started

    seconds = asyncio.run(run())
    latencies.sort()
    if not latencies:
        return Load(0.0, float("nan"), float("nan"), 0, errors)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return Load(len(latencies) / seconds, statistics.median(latencies) * 1000, p99 * 1000,
                len(latencies), errors)


def _load(url: str, connections: int, duration: float) -> Load:
    if shutil.which("wrk"):
        return _wrk(url, connections, duration)
    return _python_load(url, connections, duration)


def _median(loads: list[Load]) -> Load:
    return Load(
        rate=statistics.median(load.rate for load in loads),
        p50_ms=statistics.median(load.p50_ms for load in loads),
        p99_ms=statistics.median(load.p99_ms for load in loads),
        requests=sum(load.requests for load in loads),
        errors=sum(load.errors for load in loads),
    )


def _compare(name: str, direct_url: str, gateway_url: str, gateway_pid: int,
             connections: int, duration: float, rounds: int) -> Comparison:
    _load(direct_url, connections, 1.0)  # warm-up
    _load(gateway_url, connections, 1.0)
    directs, throughs = [], []
    cpu = direct_cpu = 0.0
    for _ in range(rounds):
        before = _cpu_seconds(gateway_pid)
        directs.append(_load(direct_url, connections, duration))
        middle = _cpu_seconds(gateway_pid)
        throughs.append(_load(gateway_url, connections, duration))
        cpu += _cpu_seconds(gateway_pid) - middle
        direct_cpu += middle - before
    through, direct = _median(throughs), _median(directs)
    per_request = cpu / through.requests * 1e6 if through.requests else float("nan")
    direct_per_request = (direct_cpu / direct.requests * 1e6 if direct.requests
                          else float("nan"))
    return Comparison(name, connections, direct, through, per_request, direct_per_request)


# -- report -----------------------------------------------------------------------------


def _report(results: list[Comparison], generator: str, duration: float, rounds: int) -> None:
    print(f"\nload generator: {generator}; {rounds} x {duration:g}s per side, alternating; "
          f"medians; CPUs: {os.cpu_count()}")
    header = (f"{'case':<37} {'conns':>5} {'direct r/s':>10} {'gateway r/s':>11} "
              f"{'ratio':>5} {'p50 direct':>10} {'p50 gw':>9} {'p99 direct':>10} "
              f"{'p99 gw':>9} {'gw CPU/req':>10} {'added CPU':>9} {'errors':>6}")
    print(header)
    print("-" * len(header))
    for result in results:
        direct, through = result.direct, result.gateway
        ratio = through.rate / direct.rate if direct.rate else 0.0
        print(f"{result.name:<37} {result.connections:>5} {direct.rate:>10.0f} "
              f"{through.rate:>11.0f} {ratio:>5.2f} {direct.p50_ms:>8.3f}ms "
              f"{through.p50_ms:>7.3f}ms {direct.p99_ms:>8.3f}ms {through.p99_ms:>7.3f}ms "
              f"{result.cpu_us_per_request:>8.0f}us "
              f"{result.cpu_us_per_request - result.direct_cpu_us_per_request:>7.0f}us "
              f"{direct.errors + through.errors:>6}")
    print()
    for result in results:
        if result.connections == 1:
            added = result.gateway.p50_ms - result.direct.p50_ms
            print(f"p50 added with one connection, {result.name}: {added * 1000:.0f} us")


def _control_plane_with_an_administrator(home: Path) -> tuple[Settings, dict[str, str]]:
    """A store with an administrator, as a first ``shipyard up`` leaves it, for the
    gateway to check signatures against."""
    settings = Settings(home=home, port=0)
    store = Store(settings.effective_database_url)
    try:
        store.migrate(lock_dir=home)
        path = AccessControl.build(settings, store).ensure_administrator(settings)
    finally:
        store.dispose()
    return settings, json.loads(path.read_text())


def _presigned(url: str, credentials: dict[str, str]) -> str:
    """``url`` presigned for an hour: the same signature is verified on every call."""
    request = AWSRequest(method="GET", url=url)
    SigV4QueryAuth(
        BotoCredentials(credentials["access_key_id"], credentials["secret_access_key"]),
        credentials["service"], credentials["region"], expires=3600,
    ).add_auth(request)
    return str(request.prepare().url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per side and case")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--instance-workers", type=int, default=1,
                        help="gunicorn workers per instance (the runner starts the "
                             "profile's cpu count: 1 for small)")
    parser.add_argument("--gateway-workers", type=int, default=1)
    parser.add_argument("--cases", default=",".join(CASES),
                        help=f"comma-separated, among {','.join(CASES)}")
    args = parser.parse_args()
    unknown = set(args.cases.split(",")) - set(CASES)
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}")
    generator = "wrk" if shutil.which("wrk") else "python asyncio client (no wrk found)"

    with tempfile.TemporaryDirectory(prefix="shipyard-bench-") as tmp:
        work = Path(tmp)
        (work / "app.py").write_text(HELLO_APP)
        (work / "minimal.py").write_text(MINIMAL_UPSTREAM)
        names = ("sync", "gthread", "minimal", "gateway", "api")
        sockets = {name: _listener() for name in names}
        ports = {name: sock.getsockname()[1] for name, sock in sockets.items()}
        routes = work / "routes.json"
        services = {
            name: {"id": f"svc_{name}", "name": name, "enabled": True, "deployed": True,
                   "state": "running", "message": "", "access_level": "public",
                   "mapping": [{"generation": "v1", "proba": 1.0}],
                   "instances": {"v1": [{"instance_id": name, "host": "127.0.0.1",
                                         "port": ports[name]}]}}
            for name in ("sync", "gthread", "minimal")
        }
        services["private"] = {**services["minimal"], "id": "svc_private", "name": "private",
                               "access_level": "project", "project_id": "prj_bench"}
        write_routing_table(routes, {"version": 1, "services": services})
        settings, credentials = _control_plane_with_an_administrator(work / "home")
        gunicorn = [sys.executable, "-m", "gunicorn", "--config",
                    "python:shipyard_sdk.runtime.gunicorn_conf",
                    "--workers", str(args.instance_workers)]
        gateway = [
            sys.executable, "-m", "shipyard.gateway", "--fd", str(sockets["gateway"].fileno()),
            "--routes", str(routes), "--api-upstream", f"127.0.0.1:{ports['api']}",
            "--workers", str(args.gateway_workers),
        ]
        with (
            _process([*gunicorn, "--bind", f"fd://{sockets['sync'].fileno()}", "app:app"],
                     sockets["sync"], cwd=work),
            _process([*gunicorn, "--bind", f"fd://{sockets['gthread'].fileno()}",
                      "--worker-class", "gthread", "--threads", "4", "--keep-alive", "75",
                      "app:app"], sockets["gthread"], cwd=work),
            _process([sys.executable, str(work / "minimal.py"),
                      str(sockets["minimal"].fileno())], sockets["minimal"]),
            _process(gateway, sockets["gateway"],
                     env={**os.environ, RESOLVED_SETTINGS_VAR: settings.to_json()},
                     ) as gateway_process,
        ):
            sockets["api"].close()  # nothing serves the API: the benchmark never calls it
            for name, path in (("sync", "/hello"), ("gthread", "/hello"), ("minimal", "/")):
                _wait_http(ports[name], path)
            _wait_http(ports["gateway"], "/user-services/invoke/sync/hello")
            through = f"http://127.0.0.1:{ports['gateway']}/user-services/invoke"
            results = []
            for key in args.cases.split(","):
                name, upstream, path, one = CASES[key]
                if upstream == "private":
                    base = f"{through}/minimal{path}"
                    target = _presigned(f"{through}/private{path}", credentials)
                else:
                    base = f"http://127.0.0.1:{ports[upstream]}{path}"
                    target = f"{through}/{upstream}{path}"
                result = _compare(
                    name, base, target, gateway_process.pid,
                    1 if one else args.connections, args.duration, args.rounds,
                )
                results.append(result)
                print(f"{name}, {result.connections} conn: direct {result.direct.rate:.0f} "
                      f"r/s, through the gateway {result.gateway.rate:.0f} r/s", flush=True)
    _report(results, generator, args.duration, args.rounds)


if __name__ == "__main__":
    main()
