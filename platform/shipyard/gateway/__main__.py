"""``python -m shipyard.gateway --fd N [--fd M] --routes PATH --api-upstream HOST:PORT``

Serves the listening sockets inherited as file descriptors ``N`` (and ``M``: the address
Docker instances reach this machine at, when the public one is loopback) with ``--workers
K`` processes: service calls go to the instances listed in the routing table at ``PATH``,
``/metrics`` to the gateway's own Prometheus endpoint, everything else to the API upstream.
With several workers, their metrics are kept in ``--metrics-dir`` (emptied at start; a
temporary folder without it); ``--fleet`` names the supervisor's fleet snapshot, whose
instances and builds ``/metrics`` shows too.
Limits and timeouts come from ``SHIPYARD_GATEWAY_*`` variables (see ``GatewaySettings``).
Credentials are checked against the store named by the control plane's resolved settings
(``SHIPYARD_RESOLVED_SETTINGS``, set by ``shipyard up``); without them only public
services answer. Stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from shipyard.errors import ShipyardError
from shipyard.gateway.access import log_to
from shipyard.gateway.activation import ReplicaDemand
from shipyard.gateway.authentication import GatewayGuard
from shipyard.gateway.metrics import MetricsSetup, use_directory, worker_exited
from shipyard.gateway.server import run_gateway
from shipyard.gateway.settings import GatewaySettings
from shipyard.gateway.workers import run_workers
from shipyard.iam.access_control import AccessControl
from shipyard.settings import RESOLVED_SETTINGS_VAR, Settings


def _address(text: str) -> tuple[str, int]:
    host, separator, port = text.rpartition(":")
    if not separator or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return int(text)


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    # Documented switches that spare every record a few system calls and lookups.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    log_to(sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shipyard.gateway", description=__doc__)
    parser.add_argument("--fd", type=int, action="append", required=True,
                        help="a listening socket to serve (repeat for several)")
    parser.add_argument("--routes", type=Path, required=True, help="routing table file")
    parser.add_argument("--api-upstream", type=_address, required=True, metavar="HOST:PORT")
    parser.add_argument("--workers", type=_positive, default=1, help="processes (default 1)")
    parser.add_argument("--query-spool", type=Path, default=None, metavar="DIR",
                        help="record every service call in DIR for the query log")
    parser.add_argument("--metrics-dir", type=Path, default=None, metavar="DIR",
                        help="where several workers keep their metrics (emptied at start)")
    parser.add_argument("--fleet", type=Path, default=None, metavar="PATH",
                        help="the supervisor's fleet snapshot, for /metrics")
    parser.add_argument("--demand", type=Path, default=None, metavar="DIR",
                        help="hold calls to services scaled to zero, asking for a replica "
                             "in DIR")
    parser.add_argument("--wake", type=Path, default=None, metavar="FIFO",
                        help="the supervisor's wake-up FIFO, written after an ask")
    args = parser.parse_args(argv)
    _configure_logging()
    scratch: Path | None = None
    try:
        settings = GatewaySettings.from_env(os.environ)
        socks = [socket.socket(fileno=fd) for fd in args.fd]
        metrics = None
        if settings.metrics:
            directory = None
            if args.workers > 1:
                directory = args.metrics_dir
                if directory is None:
                    directory = scratch = Path(tempfile.mkdtemp(prefix="shipyard-metrics-"))
                use_directory(directory)
            metrics = MetricsSetup(directory, args.fleet)
    except (ShipyardError, OSError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    try:
        return run_workers(
            args.workers,
            lambda: run_gateway(
                settings, socks, args.routes, args.api_upstream, _guard(), args.query_spool,
                metrics,
                ReplicaDemand(args.demand, args.wake) if args.demand is not None else None,
            ),
            on_stop=lambda: _close_all(socks),
            on_exit=_forget_worker(metrics),
        )
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _forget_worker(metrics: MetricsSetup | None) -> Callable[[int], None] | None:
    directory = metrics.directory if metrics is not None else None
    if directory is None:
        return None
    return lambda pid: worker_exited(directory, pid)


def _close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()


def _guard() -> GatewayGuard | None:
    """The credential checks of the control plane this gateway fronts (made in each
    worker process: a database connection must not cross a fork)."""
    resolved = os.environ.get(RESOLVED_SETTINGS_VAR)
    if not resolved:
        return None
    return GatewayGuard(AccessControl.connect(Settings.from_json(resolved)).authenticator)


if __name__ == "__main__":
    sys.exit(main())
