"""What the gateway's own code costs per call, without the network: its figures do not
move with the machine's other load, as ``bench/gateway.py``'s do (wrk, the upstream and
the gateway share the CPUs there, and a slower proxy also pays for waking the others).

    python bench/gateway_code.py [--calls 20000] [--rounds 3] [--profile CASE]

A real ``Gateway`` (routing table, connection pool, access log to /dev/null, Prometheus
counting, every call recorded in a query spool whose lines are written as the spool's
thread writes them, a real ``Authenticator`` with a warm key) serves one client
connection whose transport is an object in memory; the upstream connection is one too,
and answers each request with the minimal upstream's 5-byte answer. One call is: the
request's bytes fed to the client connection, the forwarded request taken from the
upstream's transport, the answer's bytes fed back, the answer taken from the client's
transport. What it costs is the interpreter's work alone, with no system call.

Cases: ``public`` (a public service, the request carrying only ``Host``), ``public+sig``
(the same service, the request carrying a signature's headers it does not need),
``presigned`` and ``header`` (a service that needs credentials: a presigned URL, or an
``Authorization`` header as the SDKs sign, the signature verified on every call). It
prints the best round's CPU per call for each, what the signature costs over a public
call, the check alone as measured inside the flow (``GatewayGuard.check``), and, with
``--profile CASE``, the ten functions that cost that case the most (cProfile, whose own
overhead inflates every figure: compare its rows with each other only).
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from shipyard.gateway import write_routing_table
from shipyard.gateway.access import log_to
from shipyard.gateway.authentication import GatewayGuard
from shipyard.gateway.coalescing import WriteCoalescer
from shipyard.gateway.downstream import ClientConnection
from shipyard.gateway.metrics import GatewayMetrics, MetricsSetup
from shipyard.gateway.server import Gateway
from shipyard.gateway.settings import GatewaySettings
from shipyard.gateway.spool import QuerySpool
from shipyard.gateway.upstream import UpstreamConnection
from shipyard.iam.access_keys import ResolvedKey
from shipyard.iam.authenticator import Authenticator
from shipyard.iam.principals import Caller

ACCESS_KEY = "AKIDBENCHGATEWAY01"
SECRET = "bench/Gateway+Secret=0123456789abcdef"
AUTHORITY = "127.0.0.1:8080"
UPSTREAM = ("127.0.0.1", 9)
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"
CASES = ("public", "public+sig", "presigned", "header")


class MemoryTransport:
    """A transport that keeps what is written to it."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 50000) if name == "peername" else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def close(self) -> None:
        pass


def _service(name: str, access_level: str) -> dict[str, Any]:
    return {"id": f"svc_{name}", "name": name, "enabled": True, "deployed": True,
            "state": "running", "message": "", "access_level": access_level,
            "project_id": "prj_bench", "mapping": [{"generation": "v1", "proba": 1.0}],
            "instances": {"v1": [{"instance_id": name, "host": UPSTREAM[0],
                                  "port": UPSTREAM[1]}]}}


def _requests() -> dict[str, bytes]:
    """Each case's request, signed now (within the clock skew for the whole run)."""
    credentials = Credentials(ACCESS_KEY, SECRET)
    url = f"http://{AUTHORITY}/user-services/invoke/private/"
    presigned = AWSRequest(method="GET", url=url)
    SigV4QueryAuth(credentials, "execute-api", "us-east-1", expires=3600).add_auth(presigned)
    target = str(presigned.prepare().url).split(AUTHORITY, 1)[1]
    signed = AWSRequest(method="GET", url=url)
    SigV4Auth(credentials, "execute-api", "us-east-1").add_auth(signed)
    signature = "".join(f"{name}: {value}\r\n" for name, value in signed.headers.items()
                        if name.lower() in ("authorization", "x-amz-date"))
    head = f"HTTP/1.1\r\nHost: {AUTHORITY}\r\n"
    return {
        "public": f"GET /user-services/invoke/public/ {head}\r\n".encode(),
        "public+sig": f"GET /user-services/invoke/public/ {head}{signature}\r\n".encode(),
        "presigned": f"GET {target} {head}\r\n".encode(),
        "header": f"GET /user-services/invoke/private/ {head}{signature}\r\n".encode(),
    }


class Bench:
    """One gateway, one client connection and one upstream connection, in memory."""

    def __init__(self, work: Path) -> None:
        routes = work / "routes.json"
        write_routing_table(routes, {"version": 1, "services": {
            "public": _service("public", "public"), "private": _service("private", "project"),
        }})
        admin = Caller(kind="user", id="usr_bench", name="admin", is_admin=True)
        self.authenticator = Authenticator(
            lambda key_id: ResolvedKey(SECRET, admin, None) if key_id == ACCESS_KEY else None,
            lambda _api_key: None, services=("execute-api",), cache_seconds=3600,
        )
        self.spool = QuerySpool(work / "spool", flush_interval=3600)
        self._log = log_to(open(os.devnull, "w"))  # noqa: SIM115 - closed in stop()
        logging.getLogger("shipyard.gateway.access").setLevel(logging.INFO)
        self.gateway = Gateway(
            GatewaySettings(), routes, ("127.0.0.1", 1), guard=GatewayGuard(self.authenticator),
            query_spool=self.spool, metrics=GatewayMetrics(MetricsSetup()),
        )
        self.check_seconds = 0.0
        self.checks = 0

    async def start(self) -> None:
        await self.gateway.start([])
        # The loop never turns between calls here: the end of each batch of writes is
        # called by hand (``call``), one batch a call, as a gateway with one connection has.
        self.gateway.pool.writes = WriteCoalescer(lambda _flush: None)
        self.upstream_transport = MemoryTransport()
        self.upstream = UpstreamConnection(self.gateway.pool, UPSTREAM)
        self.upstream.connection_made(self.upstream_transport)  # type: ignore[arg-type]
        self.gateway.pool.release(self.upstream)
        self.client_transport = MemoryTransport()
        self.client = ClientConnection(self.gateway)
        self.client.connection_made(self.client_transport)  # type: ignore[arg-type]
        # Looked up once, as the first call after a key ages out does off the loop.
        self.authenticator._secret_of(ACCESS_KEY)
        guard = self.gateway.guard
        check = guard.check

        def timed_check(*args: Any) -> None:
            began = time.perf_counter()
            check(*args)
            self.check_seconds += time.perf_counter() - began
            self.checks += 1

        guard.check = timed_check  # type: ignore[method-assign]

    def call(self, request: bytes) -> None:
        writes = self.gateway.writes
        self.client.data_received(request)
        writes.flush()  # the end of the loop's batch of events
        if not self.upstream_transport.written:
            raise RuntimeError(f"nothing was forwarded for {request[:80]!r}")
        self.upstream_transport.written.clear()
        self.upstream.data_received(ANSWER)
        writes.flush()
        answer = self.client_transport.written
        if not answer or not answer[-1].endswith(b"hello"):
            raise RuntimeError(f"unexpected answer {b''.join(answer)[:200]!r}")
        answer.clear()

    def round(self, request: bytes, calls: int) -> tuple[float, float]:
        """CPU seconds per call, spool lines included; the check's wall seconds per call."""
        self.check_seconds, self.checks = 0.0, 0
        began = time.process_time()
        for index in range(calls):
            self.call(request)
            if index % 1000 == 999:
                self.spool.flush()  # the spool thread's work, in this thread
        self.spool.flush()
        spent = (time.process_time() - began) / calls
        return spent, self.check_seconds / self.checks if self.checks else 0.0

    async def stop(self) -> None:
        self.client.connection_lost(None)
        await self.gateway.stop()
        self.spool.close()
        self._log.stream.close()


def _measure(bench: Bench, requests: dict[str, bytes], calls: int,
             rounds: int) -> dict[str, tuple[float, float]]:
    best: dict[str, tuple[float, float]] = {}
    for _ in range(rounds):  # alternating, as the load benchmark does
        for case in CASES:
            figures = bench.round(requests[case], calls)
            if case not in best or figures[0] < best[case][0]:
                best[case] = figures
    return best


def _profile(bench: Bench, request: bytes, calls: int) -> None:
    profiler = cProfile.Profile()
    profiler.runcall(bench.round, request, calls)
    stats = pstats.Stats(profiler)
    print(f"\nthe ten functions with the most time of their own, {calls} calls "
          "(cProfile; its overhead inflates every row):")
    stats.sort_stats("tottime").print_stats(10)


async def _run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-code-") as tmp:
        bench = Bench(Path(tmp))
        await bench.start()
        try:
            requests = _requests()
            for case in CASES:  # warm-up: every path taken, every memo filled once
                bench.round(requests[case], 2000)
            best = _measure(bench, requests, args.calls, args.rounds)
            _report(best)
            if args.profile:
                _profile(bench, requests[args.profile], args.calls)
        finally:
            await bench.stop()


def _report(best: dict[str, tuple[float, float]]) -> None:
    public = best["public"][0]
    print("case          CPU per call   over public   the check alone")
    for case in CASES:
        spent, check = best[case]
        over = f"{(spent - public) * 1e6:+9.1f} us" if case != "public" else "            -"
        alone = f"{check * 1e6:9.1f} us" if check else "        -"
        print(f"{case:<12} {spent * 1e6:9.1f} us  {over}   {alone}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20000, help="calls per round and case")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", choices=CASES, help="print a profile of this case")
    uvloop.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
