"""How much the gateway costs: the same services called directly, through the gateway and,
with ``--nginx``, through nginx.

    python bench/gateway.py [--duration 5] [--rounds 3] [--connections 32] [--cases ...]
                            [--nginx] [--workers 1,2,4]

Starts, on loopback: a hello app with a ~10 ms "model" endpoint as a real gunicorn + Flask
instance started like the local runner starts one (gthread workers, 4 threads, keep-alive);
the same app under sync workers, which close the connection after every answer; a minimal
keep-alive upstream (a uvloop protocol that answers "hello", to see the gateway's own
cost); and the gateway (``python -m shipyard.gateway``, one worker) as ``shipyard up``
runs it: access log on (written to /dev/null), Prometheus counting on, and every call
recorded in a query spool, whose files a thread of the benchmark deletes as the
supervisor's ingest would take them, so what recording costs the gateway is in its figures.

The ``signed`` cases call the minimal upstream through the gateway twice over: as a public
service, and as a service that needs credentials, with a presigned SigV4 URL that the
gateway verifies on every call (against a store holding an administrator, as the first
``shipyard up`` leaves it); their "direct" column is the public side. The ``signedh``
cases do the same with the signature in the ``Authorization`` header, as the SDKs sign,
signed when the case starts (within the clock skew the gateway allows for its whole run).

``--nginx`` adds a third side where Debian's nginx is installed: nginx in front of the
same upstreams (as many worker processes as the gateway has, keep-alive upstream
connections, access log on and buffered, as the gateway's is), to set the gateway's CPU
per call beside a C proxy's. ``--workers 1,2,4`` runs everything once per gateway worker
count and prints how throughput grows with workers on the machine at hand.

For each case the sides run alternately, ``--rounds`` times each: a fixed connection count
for ``--duration`` seconds (wrk when installed, else a small asyncio client). It prints the
median requests/s, p50 and p99 of each side and their ratio, the p50 added with one
connection, and each proxy's CPU time per request (its user + system time, workers
included, before and after each of its own rounds) and the CPU it adds over the direct
side (for the signed cases, what checking a signature costs over a public call). Every
process it starts is stopped before it returns; all load stays on 127.0.0.1. On a shared
machine the figures move between runs: compare within one run.

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
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
from botocore.auth import SigV4Auth, SigV4QueryAuth
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
    # The same with the signature in the Authorization header, as the SDKs send it.
    "signedh": ("minimal: public vs SigV4 header (gw)", "private-header", "/", False),
    "signedh1": ("minimal: public vs SigV4 header (gw)", "private-header", "/", True),
}


@dataclasses.dataclass
class Load:
    rate: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


@dataclasses.dataclass
class Side:
    """One side's load, and the CPU per request of the proxy it crossed (nothing for a
    direct side; the gateway's public call for the signed cases' direct side)."""

    load: Load
    cpu_us_per_request: float


@dataclasses.dataclass
class Comparison:
    name: str
    connections: int
    workers: int
    direct: Side
    gateway: Side
    nginx: Side | None


# -- processes ------------------------------------------------------------------------


def _listener() -> socket.socket:
    return socket.create_server(("127.0.0.1", 0), backlog=2048)


@contextlib.contextmanager
def _process(args: list[str], sock: socket.socket | None, cwd: Path | None = None,
             env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        args, pass_fds=(sock.fileno(),) if sock is not None else (), cwd=cwd, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    if sock is not None:
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


def _wrk(url: str, connections: int, duration: float, headers: dict[str, str]) -> Load:
    extra = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency", *extra, url],
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


def _python_load(url: str, connections: int, duration: float,
                 headers: dict[str, str]) -> Load:
    """A small keep-alive HTTP/1.1 load generator, for machines without wrk; it needs
    answers with a Content-Length, and is much slower than wrk."""
    match = re.fullmatch(r"http://([^:/]+):(\d+)(/.*)", url)
    assert match is not None
    host, port, path = match.group(1), int(match.group(2)), match.group(3)
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items()
                    if name.lower() != "host")
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}\r\n".encode()
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


def _load(url: str, connections: int, duration: float,
          headers: dict[str, str] | None = None) -> Load:
    if shutil.which("wrk"):
        return _wrk(url, connections, duration, headers or {})
    return _python_load(url, connections, duration, headers or {})


def _median(loads: list[Load]) -> Load:
    return Load(
        rate=statistics.median(load.rate for load in loads),
        p50_ms=statistics.median(load.p50_ms for load in loads),
        p99_ms=statistics.median(load.p99_ms for load in loads),
        requests=sum(load.requests for load in loads),
        errors=sum(load.errors for load in loads),
    )


@dataclasses.dataclass
class Target:
    """Where one side of a case sends its load, and the proxy (if any) whose CPU it costs."""

    url: str
    pid: int | None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


def _side(target: Target, connections: int, duration: float) -> tuple[Load, float]:
    before = _cpu_seconds(target.pid) if target.pid is not None else 0.0
    load = _load(target.url, connections, duration, target.headers)
    after = _cpu_seconds(target.pid) if target.pid is not None else 0.0
    return load, after - before


def _compare(name: str, direct: Target, gateway: Target, nginx: Target | None,
             connections: int, workers: int, duration: float, rounds: int) -> Comparison:
    targets = {"direct": direct, "nginx": nginx, "gateway": gateway}
    sides = {key: target for key, target in targets.items() if target is not None}
    for target in sides.values():
        _load(target.url, connections, 1.0, target.headers)  # warm-up
    loads: dict[str, list[Load]] = {key: [] for key in sides}
    cpu = dict.fromkeys(sides, 0.0)
    for _ in range(rounds):
        for key, target in sides.items():
            load, seconds = _side(target, connections, duration)
            loads[key].append(load)
            cpu[key] += seconds

    def summary(key: str) -> Side:
        load = _median(loads[key])
        total = sum(found.requests for found in loads[key])
        return Side(load, cpu[key] / total * 1e6 if total else float("nan"))

    return Comparison(name, connections, workers, summary("direct"), summary("gateway"),
                      summary("nginx") if nginx is not None else None)


# -- report -----------------------------------------------------------------------------


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}us"


def _report(results: list[Comparison], generator: str, duration: float, rounds: int) -> None:
    print(f"\nload generator: {generator}; {rounds} x {duration:g}s per side, alternating; "
          f"medians; CPUs: {os.cpu_count()}")
    with_nginx = any(result.nginx is not None for result in results)
    header = (f"{'case':<37} {'conns':>5} {'wk':>2} {'direct r/s':>10} {'gateway r/s':>11} "
              f"{'ratio':>5} {'p50 direct':>10} {'p50 gw':>9} {'p99 gw':>9} "
              f"{'gw CPU/req':>10} {'added CPU':>9}")
    if with_nginx:
        header += f" {'nginx r/s':>9} {'p50 nginx':>9} {'nginx CPU':>9} {'gw/nginx':>8}"
    header += f" {'errors d/g/n' if with_nginx else 'errors d/g':>12}"
    print(header)
    print("-" * len(header))
    for result in results:
        direct, through = result.direct.load, result.gateway.load
        ratio = through.rate / direct.rate if direct.rate else 0.0
        gateway_cpu = result.gateway.cpu_us_per_request
        line = (f"{result.name:<37} {result.connections:>5} {result.workers:>2} "
                f"{direct.rate:>10.0f} {through.rate:>11.0f} {ratio:>5.2f} "
                f"{direct.p50_ms:>8.3f}ms {through.p50_ms:>7.3f}ms {through.p99_ms:>7.3f}ms "
                f"{_us(gateway_cpu):>10} "
                f"{_us(gateway_cpu - result.direct.cpu_us_per_request):>9}")
        errors = f"{direct.errors}/{through.errors}"
        if with_nginx:
            nginx = result.nginx
            if nginx is None:
                line += f" {'-':>9} {'-':>9} {'-':>9} {'-':>8}"
                errors += "/-"
            else:
                errors += f"/{nginx.load.errors}"
                times = gateway_cpu / nginx.cpu_us_per_request
                line += (f" {nginx.load.rate:>9.0f} {nginx.load.p50_ms:>7.3f}ms "
                         f"{_us(nginx.cpu_us_per_request):>9} {times:>7.2f}x")
        print(f"{line} {errors:>12}")
    print()
    for result in results:
        if result.connections == 1:
            added = (result.gateway.load.p50_ms - result.direct.load.p50_ms) * 1000
            also = ""
            if result.nginx is not None:
                by_nginx = (result.nginx.load.p50_ms - result.direct.load.p50_ms) * 1000
                also = f" (nginx: {by_nginx:.0f} us)"
            print(f"p50 added with one connection, {result.name}, {result.workers} "
                  f"worker(s): {added:.0f} us{also}")
    _report_growth(results)


def _report_growth(results: list[Comparison]) -> None:
    """Throughput by gateway worker count, as a multiple of one worker's, per case."""
    counts = sorted({result.workers for result in results})
    if len(counts) < 2:
        return
    print(f"\ngateway throughput by worker count ({', '.join(map(str, counts))}):")
    by_case: dict[tuple[str, int], dict[int, float]] = {}
    for result in results:
        by_case.setdefault((result.name, result.connections), {})[result.workers] = (
            result.gateway.load.rate
        )
    for (name, connections), rates in by_case.items():
        first = rates.get(counts[0])
        cells = []
        for count in counts:
            rate = rates.get(count)
            if rate is None:
                cells.append("-")
            elif first:
                cells.append(f"{rate:.0f} r/s ({rate / first:.2f}x)")
            else:
                cells.append(f"{rate:.0f} r/s")
        print(f"  {name}, {connections} conn: {' | '.join(cells)}")


@contextlib.contextmanager
def _spool_taken(spool: Path) -> Iterator[None]:
    """Delete the gateway's completed spool files as they come, as the ingest would."""
    stop = threading.Event()

    def take() -> None:
        while not stop.wait(0.5):
            for path in spool.glob("*.jsonl"):
                path.unlink(missing_ok=True)

    taker = threading.Thread(target=take, name="spool-taker", daemon=True)
    taker.start()
    try:
        yield
    finally:
        stop.set()
        taker.join()


# -- nginx ------------------------------------------------------------------------------


NGINX_CONFIG = """
worker_processes {workers};
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
{user}
events {{ worker_connections 4096; }}
http {{
    access_log /dev/null combined buffer=64k flush=1s;
    client_body_temp_path {work}/nginx-body;
    proxy_temp_path {work}/nginx-proxy;
    fastcgi_temp_path {work}/nginx-fastcgi;
    uwsgi_temp_path {work}/nginx-uwsgi;
    scgi_temp_path {work}/nginx-scgi;
{upstreams}
    server {{
        listen 127.0.0.1:{port} backlog=2048;
{locations}
    }}
}}
"""


def _nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx",) if os.access(path, os.X_OK)), None
    )


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


def _nginx_config(work: Path, port: int, upstreams: dict[str, int], workers: int) -> Path:
    """nginx in front of ``upstreams`` (name -> port) as the gateway is: the service's
    prefix ``/user-services/invoke/<name>/`` taken off, HTTP/1.1 keep-alive upstreams."""
    blocks = "".join(
        f"    upstream up_{name} {{ server 127.0.0.1:{upstream}; keepalive 64; }}\n"
        for name, upstream in upstreams.items()
    )
    locations = "".join(
        f"        location /user-services/invoke/{name}/ {{\n"
        f"            proxy_pass http://up_{name}/;\n"
        f"            proxy_http_version 1.1;\n"
        f"            proxy_set_header Connection \"\";\n"
        f"        }}\n"
        for name in upstreams
    )
    path = work / "nginx.conf"
    path.write_text(NGINX_CONFIG.format(
        workers=workers, work=work, port=port, upstreams=blocks, locations=locations,
        # As root, nginx's workers would run as nobody, who cannot reach these folders.
        user="user root;" if os.geteuid() == 0 else "",
    ))
    return path


@contextlib.contextmanager
def _nginx(binary: str, work: Path, upstreams: dict[str, int],
           workers: int) -> Iterator[tuple[int, int]]:
    """nginx running in the foreground; yields its port and its master's pid."""
    port = _free_port()
    config = _nginx_config(work, port, upstreams, workers)
    args = [binary, "-p", str(work), "-c", str(config), "-e", str(work / "nginx-error.log"),
            "-g", "daemon off;"]
    with _process(args, None) as process:
        try:
            _wait_http(port, "/user-services/invoke/minimal/")
        except SystemExit:
            log = work / "nginx-error.log"
            why = log.read_text() if log.exists() else ""
            raise SystemExit(f"nginx did not start: {why}") from None
        yield port, process.pid


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


def _signed_headers(url: str, credentials: dict[str, str]) -> dict[str, str]:
    """The headers that sign a GET of ``url`` now (valid within the clock skew)."""
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(
        BotoCredentials(credentials["access_key_id"], credentials["secret_access_key"]),
        credentials["service"], credentials["region"],
    ).add_auth(request)
    return {name: value for name, value in request.headers.items()
            if name.lower() in ("authorization", "x-amz-date")}


def _presigned(url: str, credentials: dict[str, str]) -> str:
    """``url`` presigned for an hour: the same signature is verified on every call."""
    request = AWSRequest(method="GET", url=url)
    SigV4QueryAuth(
        BotoCredentials(credentials["access_key_id"], credentials["secret_access_key"]),
        credentials["service"], credentials["region"], expires=3600,
    ).add_auth(request)
    return str(request.prepare().url)


def _worker_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of worker counts: {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"worker counts are whole numbers from 1: {text!r}")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per side and case")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--instance-workers", type=int, default=1,
                        help="gunicorn workers per instance (the runner starts the "
                             "profile's cpu count: 1 for small)")
    parser.add_argument("--workers", type=_worker_counts, default=[1],
                        help="gateway (and nginx) worker counts, comma-separated: 1,2,4 "
                             "runs every case once per count")
    parser.add_argument("--nginx", action="store_true",
                        help="add nginx in front of the same upstreams as a third side")
    parser.add_argument("--cases", default=",".join(CASES),
                        help=f"comma-separated, among {','.join(CASES)}")
    args = parser.parse_args()
    cases = args.cases.split(",")
    unknown = set(cases) - set(CASES)
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}")
    nginx = _nginx_binary() if args.nginx else None
    if args.nginx and nginx is None:
        parser.error("--nginx needs nginx installed (apt-get install nginx-light)")
    generator = "wrk" if shutil.which("wrk") else "python asyncio client (no wrk found)"

    with tempfile.TemporaryDirectory(prefix="shipyard-bench-") as tmp:
        work = Path(tmp)
        (work / "app.py").write_text(HELLO_APP)
        (work / "minimal.py").write_text(MINIMAL_UPSTREAM)
        upstream_names = ("sync", "gthread", "minimal")
        sockets = {name: _listener() for name in upstream_names}
        ports = {name: sock.getsockname()[1] for name, sock in sockets.items()}
        routes = work / "routes.json"
        services = {
            name: {"id": f"svc_{name}", "name": name, "enabled": True, "deployed": True,
                   "state": "running", "message": "", "access_level": "public",
                   "mapping": [{"generation": "v1", "proba": 1.0}],
                   "instances": {"v1": [{"instance_id": name, "host": "127.0.0.1",
                                         "port": ports[name]}]}}
            for name in upstream_names
        }
        services["private"] = {**services["minimal"], "id": "svc_private", "name": "private",
                               "access_level": "project", "project_id": "prj_bench"}
        write_routing_table(routes, {"version": 1, "services": services})
        settings, credentials = _control_plane_with_an_administrator(work / "home")
        gunicorn = [sys.executable, "-m", "gunicorn", "--config",
                    "python:shipyard_sdk.runtime.gunicorn_conf",
                    "--workers", str(args.instance_workers)]
        with (
            _process([*gunicorn, "--bind", f"fd://{sockets['sync'].fileno()}", "app:app"],
                     sockets["sync"], cwd=work),
            _process([*gunicorn, "--bind", f"fd://{sockets['gthread'].fileno()}",
                      "--worker-class", "gthread", "--threads", "4", "--keep-alive", "75",
                      "app:app"], sockets["gthread"], cwd=work),
            _process([sys.executable, str(work / "minimal.py"),
                      str(sockets["minimal"].fileno())], sockets["minimal"]),
        ):
            for name, path in (("sync", "/hello"), ("gthread", "/hello"), ("minimal", "/")):
                _wait_http(ports[name], path)
            results = []
            for workers in args.workers:
                results += _run_cases(
                    args, cases, workers, work, routes, ports, settings, credentials, nginx,
                )
    _report(results, generator, args.duration, args.rounds)


def _run_cases(
    args: argparse.Namespace, cases: list[str], workers: int, work: Path, routes: Path,
    ports: dict[str, int], settings: Settings, credentials: dict[str, str],
    nginx: str | None,
) -> list[Comparison]:
    """Every case against a gateway (and an nginx) with ``workers`` workers."""
    gateway_socket, api_socket = _listener(), _listener()
    gateway_port = gateway_socket.getsockname()[1]
    spool = work / f"spool-{workers}"
    gateway = [
        sys.executable, "-m", "shipyard.gateway", "--fd", str(gateway_socket.fileno()),
        "--routes", str(routes), "--api-upstream", f"127.0.0.1:{api_socket.getsockname()[1]}",
        "--workers", str(workers), "--query-spool", str(spool),
    ]
    api_socket.close()  # nothing serves the API: the benchmark never calls it
    upstreams = {name: ports[name] for name in ("sync", "gthread", "minimal")}
    with contextlib.ExitStack() as stack:
        stack.enter_context(_spool_taken(spool))
        gateway_process = stack.enter_context(_process(
            gateway, gateway_socket,
            env={**os.environ, RESOLVED_SETTINGS_VAR: settings.to_json()},
        ))
        nginx_port = nginx_pid = None
        if nginx is not None:
            nginx_port, nginx_pid = stack.enter_context(
                _nginx(nginx, work, upstreams, workers)
            )
        _wait_http(gateway_port, "/user-services/invoke/sync/hello")
        through = f"http://127.0.0.1:{gateway_port}/user-services/invoke"
        results = []
        for key in cases:
            name, upstream, path, one = CASES[key]
            nginx_side = None
            if upstream == "private":
                direct = Target(f"{through}/minimal{path}", gateway_process.pid)
                proxied = Target(_presigned(f"{through}/private{path}", credentials),
                                gateway_process.pid)
            elif upstream == "private-header":
                direct = Target(f"{through}/minimal{path}", gateway_process.pid)
                url = f"{through}/private{path}"
                proxied = Target(url, gateway_process.pid, _signed_headers(url, credentials))
            else:
                direct = Target(f"http://127.0.0.1:{ports[upstream]}{path}", None)
                proxied = Target(f"{through}/{upstream}{path}", gateway_process.pid)
                if nginx_port is not None:
                    nginx_side = Target(
                        f"http://127.0.0.1:{nginx_port}/user-services/invoke/{upstream}{path}",
                        nginx_pid,
                    )
            result = _compare(
                name, direct, proxied, nginx_side,
                1 if one else args.connections, workers, args.duration, args.rounds,
            )
            results.append(result)
            also = (f", through nginx {result.nginx.load.rate:.0f} r/s"
                    if result.nginx is not None else "")
            print(f"{name}, {result.connections} conn, {workers} worker(s): direct "
                  f"{result.direct.load.rate:.0f} r/s, through the gateway "
                  f"{result.gateway.load.rate:.0f} r/s{also}", flush=True)
        return results


if __name__ == "__main__":
    main()
