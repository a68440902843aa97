"""Batch prediction: rows a second of a batch job against the same rows sent straight to
the predict route, and a live caller's latency with and without a job running.

    python bench/batch.py [--rows 1000000] [--chunk-size 1000] [--calls-at-once 2]
                          [--rounds 1] [--live-seconds 15] [--direct-as json] [--json]

Starts a real ``shipyard up`` (port 0) in a temporary home with
``SHIPYARD_BATCH_CALLS_AT_ONCE`` set to ``--calls-at-once``, uploads the iris classifier
(scikit-learn's LogisticRegression, with its flowers as the baseline, as a user uploads
it) and deploys it, then writes ``--rows`` rows (an id and the 4 features, drawn with a
fixed seed) to a CSV file in the temporary folder. Then, alternating, ``--rounds`` times:

- the batch job: ``client.batch.submit`` of the file (``chunk_size`` = ``--chunk-size``,
  the id passed through to the results), then ``client.batch.wait``; the wall time from
  the submit (its SHA-256 and upload included) to the job's ``finished_at`` (the polls
  are 0.25 s apart, to cost the API little), and where it went: the upload, the queue,
  the scoring (the job's ``started_at`` to ``finished_at``: counting the rows, the
  chunks, joining the parts);
- the direct side: the same file read in chunks of the same size, each POSTed to the
  predict route through the gateway, signed as the administrator, by ``--calls-at-once``
  threads (the job's bound on chunks in flight), as JSON records (``--direct-as csv``
  sends each chunk as CSV, as the job sends a CSV input's chunks).

It prints both sides' rows a second (median of the rounds) and their ratio against the
goal of issue 21: the job at least 0.8x the direct side. Between phases it waits until
the supervisor has ingested the query log the phase left, and prints how long that took.

Live latency: a caller sends one-record predict calls one after the other on one
keep-alive connection for ``--live-seconds``, once with no job running and once while a
job scores the same file (the caller starts once the job has scored its first chunk, and
stops at the end of its time or of the job, whichever comes first; a job still running
then is cancelled). It prints the calls, p50 and p99 of each side by side, and the p99 of
the instance's and the gateway's parts of those calls from the query log (the rest is
the client's and the machine's: on a small machine the job's processes take the CPU the
caller's own process and the gateway would use).

Every process it starts is stopped before it returns, also on Ctrl-C or an error; the
temporary folder goes with them. ``--json`` prints the figures as JSON instead of the
table (the progress lines go to stderr either way). On a shared machine the figures move
between runs: compare within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import io
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shipyard.contracts.run_paths import query_spool_dir  # noqa: E402
from shipyard_sdk import Client  # noqa: E402
from shipyard_sdk.batch_api import is_final, raise_unless_succeeded  # noqa: E402
from tests.conftest import RunningShipyard, start_shipyard  # noqa: E402

SERVICE = "iris"
FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
PREDICT = f"/user-services/invoke/{SERVICE}/api/v1.0/predict/"
SEED = 21
GOAL = 0.8
FLOWER = dict(zip(FEATURES, (5.1, 3.5, 1.4, 0.2), strict=True))


# -- set-up -------------------------------------------------------------------------------


def iris_model() -> tuple[bytes, dict[str, Any]]:
    """A logistic regression on the iris data (joblib bytes) and its metadata, every
    flower with its species as the baseline (as ``tests/integration/test_monitoring``)."""
    import joblib
    import sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    iris = load_iris()
    labels = iris.target_names[iris.target]
    model = LogisticRegression(max_iter=1000).fit(iris.data, labels)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    baseline = [{**dict(zip(FEATURES, map(float, row), strict=True)), "species": str(label)}
                for row, label in zip(iris.data, labels, strict=True)]
    return buffer.getvalue(), {
        "features": [{"name": name, "type": "number"} for name in FEATURES],
        "target": "species", "problem_type": "classification",
        "packages": [f"scikit-learn=={sklearn.__version__}", "joblib", "pandas"],
        "baseline": baseline,
    }


def serve_iris(shipyard: RunningShipyard, client: Client) -> None:
    """iris:1 uploaded, deployed and served through the gateway."""
    model, metadata = iris_model()
    client.models.upload(SERVICE, model, metadata)
    tag = client.models.deploy(SERVICE, 1)["generation"]["tag"]
    client.services.wait_until_serving(SERVICE, tag, timeout=900)
    shipyard.wait_for_gateway_routes()


def write_rows(path: Path, rows: int, seed: int = SEED) -> Path:
    """``rows`` flowers with an id, their features drawn from ``seed``, as CSV."""
    draw = random.Random(seed)
    with path.open("w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["id", *FEATURES])
        for number in range(rows):
            writer.writerow([f"f{number}",
                             *(round(draw.uniform(0.1, 8.0), 1) for _ in FEATURES)])
    return path


def settle(shipyard: RunningShipyard, timeout: float = 300.0) -> float:
    """Wait until the supervisor has ingested every query record written so far (the
    spool has stayed empty past the gateway's one-second flush); the seconds it took."""
    spool = query_spool_dir(shipyard.home)
    started = time.perf_counter()
    empty_since: float | None = None
    while time.perf_counter() - started < timeout:
        now = time.perf_counter()
        if any(spool.glob("*.jsonl")):
            empty_since = None
        elif empty_since is None:
            empty_since = now
        elif now - empty_since >= 1.5:
            return empty_since - started
        time.sleep(0.1)
    progress(f"the query log was still not ingested after {timeout:g} s; going on")
    return timeout


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# -- the batch job ------------------------------------------------------------------------


@dataclass
class JobRun:
    seconds: float
    rows: int
    upload_seconds: float
    queued_seconds: float
    scoring_seconds: float
    rows_failed: int
    ingest_lag_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def _at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def run_job(client: Client, source: Path, rows: int, chunk_size: int) -> JobRun:
    """The file scored by a batch job, from the submit to its success."""
    submitted = time.time()
    job = client.batch.submit(SERVICE, source, chunk_size=chunk_size, passthrough=["id"])
    uploaded = time.time()
    # Polled slowly, so that the polls cost the API little; the job's own finished_at
    # (the same clock: the same machine) tells when it ended.
    done = raise_unless_succeeded(client.batch.wait(job["id"], poll=0.25))
    seconds = _at(done["finished_at"]) - submitted
    (main,) = done["generations"]
    if main["rows_scored"] + main["rows_failed"] != rows:
        raise SystemExit(f"the job scored {main['rows_scored']} and refused "
                         f"{main['rows_failed']} of {rows} rows")
    return JobRun(
        seconds=seconds, rows=main["rows_scored"], upload_seconds=uploaded - submitted,
        queued_seconds=_at(done["started_at"]) - _at(done["created_at"]),
        scoring_seconds=_at(done["finished_at"]) - _at(done["started_at"]),
        rows_failed=main["rows_failed"],
    )


# -- the direct side ----------------------------------------------------------------------


@dataclass
class DirectRun:
    seconds: float
    rows: int
    ingest_lag_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def chunks_of(source: Path, chunk_size: int) -> Iterator[list[list[str]]]:
    """The file's rows (their feature cells, as text), ``chunk_size`` at a time."""
    with source.open(newline="") as text:
        reader = csv.reader(text)
        header = next(reader)
        columns = [header.index(name) for name in FEATURES]
        chunk: list[list[str]] = []
        for cells in reader:
            chunk.append([cells[column] for column in columns])
            if len(chunk) == chunk_size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def body_of(chunk: list[list[str]], as_csv: bool) -> tuple[bytes, str]:
    if as_csv:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(FEATURES)
        writer.writerows(chunk)
        return text.getvalue().encode(), "text/csv"
    records = [dict(zip(FEATURES, map(float, cells), strict=True)) for cells in chunk]
    return json.dumps(records).encode(), "application/json"


def run_direct(shipyard: RunningShipyard, source: Path, chunk_size: int, threads: int,
               as_csv: bool) -> DirectRun:
    """The file's chunks POSTed to the predict route by ``threads`` threads, each on a
    signed keep-alive session of its own."""
    url = shipyard.url + PREDICT
    chunks = chunks_of(source, chunk_size)
    lock = threading.Lock()
    scored = 0
    failures: list[str] = []

    def work() -> None:
        nonlocal scored
        with shipyard.new_session() as session:
            while not failures:
                with lock:
                    chunk = next(chunks, None)
                if chunk is None:
                    return
                body, content_type = body_of(chunk, as_csv)
                try:
                    answer = session.post(url, data=body, timeout=120,
                                          headers={"Content-Type": content_type})
                except requests.RequestException as exc:
                    failures.append(f"no answer: {exc}")
                    return
                if answer.status_code != 200:
                    failures.append(f"{answer.status_code}: {answer.text[:300]}")
                    return
                if len(answer.json()["predictions"]) != len(chunk):
                    failures.append(f"{len(answer.json()['predictions'])} predictions for "
                                    f"{len(chunk)} records")
                    return
                with lock:
                    scored += len(chunk)

    workers = [threading.Thread(target=work, name=f"direct-{n}", daemon=True)
               for n in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - started
    if failures:
        raise SystemExit(f"the direct side failed: {failures[0]}")
    return DirectRun(seconds, scored)


# -- live latency -------------------------------------------------------------------------


@dataclass
class LiveRun:
    seconds: float
    calls: int
    errors: int
    p50_ms: float
    p99_ms: float
    job_rows: int = 0
    """Rows the job scored while the caller ran (0 with no job)."""
    started_at: float = 0.0
    ended_at: float = 0.0
    """Epoch seconds: when the caller ran, to find its calls in the query log."""
    instance_p99_ms: float = float("nan")
    gateway_p99_ms: float = float("nan")
    """From the query log: the p99 of the instance's part of each call (the gateway's
    ``instance_ms``) and of the gateway's own (its ``latency_ms`` less that); the rest of
    the caller's p99 is this machine's client and network."""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else float("nan")


def live_caller(session: requests.Session, url: str, seconds: float,
                stop: threading.Event) -> LiveRun:
    """One-record predict calls one after the other on one connection, for ``seconds``
    or until ``stop``."""
    body = json.dumps([FLOWER]).encode()
    headers = {"Content-Type": "application/json"}
    latencies: list[float] = []
    errors = 0
    started_at = time.time()
    started = time.perf_counter()
    while time.perf_counter() - started < seconds and not stop.is_set():
        sent = time.perf_counter()
        try:
            ok = session.post(url, data=body, headers=headers, timeout=30).status_code == 200
        except requests.RequestException:
            ok = False
        latencies.append(time.perf_counter() - sent)
        errors += not ok
    return LiveRun(time.perf_counter() - started, len(latencies), errors,
                   percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000,
                   started_at=started_at, ended_at=time.time())


def with_the_logs_split(client: Client, run: LiveRun) -> LiveRun:
    """``run`` with the p99 of the instance's and the gateway's parts of its calls, read
    from the query log (ingested: call after ``settle``)."""
    size = len(json.dumps([FLOWER]).encode())
    instance: list[float] = []
    gateway: list[float] = []
    for line in client.services.queries(SERVICE):
        call = json.loads(line)
        if (call["role"] is None and call["request_bytes"] == size
                and call["instance_ms"] is not None
                and run.started_at <= _at(call["at"]) <= run.ended_at):
            instance.append(call["instance_ms"])
            gateway.append(call["latency_ms"] - call["instance_ms"])
    return dataclasses.replace(run, instance_p99_ms=percentile(instance, 0.99),
                               gateway_p99_ms=percentile(gateway, 0.99))


def live_alone(shipyard: RunningShipyard, seconds: float) -> LiveRun:
    with shipyard.new_session() as session:
        return live_caller(session, shipyard.url + PREDICT, seconds, threading.Event())


def live_during_a_job(shipyard: RunningShipyard, client: Client, source: Path,
                      chunk_size: int, seconds: float) -> LiveRun:
    """The live caller while a job scores ``source``: from its first chunk scored to the
    end of ``seconds`` or of the job; a job still running then is cancelled."""
    job = client.batch.submit(SERVICE, source, chunk_size=chunk_size, passthrough=["id"])
    while (found := client.batch.get(job["id"]))["rows_done"] == 0:
        if is_final(found):
            raise SystemExit(f"the job ended before it scored a chunk: {found}")
        time.sleep(0.02)
    rows_before = found["rows_done"]
    stop = threading.Event()
    result: list[LiveRun] = []

    def call() -> None:
        with shipyard.new_session() as session:
            result.append(live_caller(session, shipyard.url + PREDICT, seconds, stop))

    caller = threading.Thread(target=call, name="live-caller", daemon=True)
    caller.start()
    while caller.is_alive():
        found = client.batch.get(job["id"])
        if is_final(found):
            stop.set()
        caller.join(0.25)
    found = client.batch.get(job["id"])
    if not is_final(found):
        client.batch.cancel(job["id"])
        client.batch.wait(job["id"], poll=0.25)
    elif found["state"] != "succeeded":
        raise SystemExit(f"the job {found['state']}: {found['message']}")
    if not result:
        raise SystemExit("the live caller failed")
    return dataclasses.replace(result[0], job_rows=found["rows_done"] - rows_before)


# -- report -------------------------------------------------------------------------------


@dataclass
class Figures:
    machine: dict[str, Any]
    settings: dict[str, Any]
    rounds: list[dict[str, Any]] = field(default_factory=list)
    live: dict[str, LiveRun] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        batch = statistics.median(r["batch"].rate for r in self.rounds)
        direct = statistics.median(r["direct"].rate for r in self.rounds)
        return {"batch_rows_per_second": batch, "direct_rows_per_second": direct,
                "ratio": batch / direct, "goal_ratio": GOAL}

    def as_json(self) -> dict[str, Any]:
        def side(run: JobRun | DirectRun) -> dict[str, Any]:
            return {**dataclasses.asdict(run), "rows_per_second": run.rate}

        return {
            "machine": self.machine, "settings": self.settings, **self.summary(),
            "rounds": [{name: side(run) for name, run in r.items()} for r in self.rounds],
            "live": {name: dataclasses.asdict(run) for name, run in self.live.items()},
        }


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        model = next((line.split(":", 1)[1].strip()
                      for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    return {"cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
            "cpu": model, "python": sys.version.split()[0]}


def report(figures: Figures) -> None:
    m, s = figures.machine, figures.settings
    print(f"\nmachine: {m['cores']} cores ({m['usable_cores']} usable), {m['cpu'] or 'cpu ?'}, "
          f"Python {m['python']}")
    print(f"settings: {s['rows']:,} rows ({s['input_bytes'] / 1e6:.1f} MB CSV), chunk "
          f"{s['chunk_size']}, {s['calls_at_once']} chunks in flight (batch_calls_at_once; "
          f"the direct side's threads), direct body {s['direct_as']}, {s['rounds']} round(s) "
          f"alternating, live caller {s['live_seconds']:g} s; shipyard up defaults otherwise "
          f"(gateway 1 worker, iris on the small profile)")
    print(f"\n{'side':<34} {'rows/s':>9} {'seconds':>8}  where the time went")
    print("-" * 96)
    for number, r in enumerate(figures.rounds, 1):
        job: JobRun = r["batch"]
        direct: DirectRun = r["direct"]
        print(f"{f'round {number}: batch job (submit->done)':<34} {job.rate:>9,.0f} "
              f"{job.seconds:>8.2f}  upload {job.upload_seconds:.2f} s, queued "
              f"{job.queued_seconds:.2f} s, scoring {job.scoring_seconds:.2f} s; "
              f"log ingested {job.ingest_lag_seconds:.1f} s after")
        print(f"{f'round {number}: direct predict route':<34} {direct.rate:>9,.0f} "
              f"{direct.seconds:>8.2f}  log ingested {direct.ingest_lag_seconds:.1f} s after")
    summary = figures.summary()
    verdict = "met" if summary["ratio"] >= GOAL else "NOT met"
    print(f"\nbatch job {summary['batch_rows_per_second']:,.0f} rows/s, direct "
          f"{summary['direct_rows_per_second']:,.0f} rows/s (median of {len(figures.rounds)}): "
          f"batch / direct = {summary['ratio']:.2f} (goal >= {GOAL}: {verdict})")
    print(f"\nlive caller, one record a call, one connection (p99 in the instance and in the "
          f"gateway from the query log):\n"
          f"{'':<16} {'seconds':>8} {'calls':>7} {'calls/s':>8} {'p50':>9} {'p99':>9} "
          f"{'instance':>9} {'gateway':>9} {'errors':>6} {'job rows meanwhile':>19}")
    for name, run in figures.live.items():
        print(f"{name:<16} {run.seconds:>8.1f} {run.calls:>7,} {run.calls / run.seconds:>8.1f} "
              f"{run.p50_ms:>7.2f}ms {run.p99_ms:>7.2f}ms {run.instance_p99_ms:>7.2f}ms "
              f"{run.gateway_p99_ms:>7.2f}ms {run.errors:>6} {run.job_rows:>19,}")


# -- main ---------------------------------------------------------------------------------


def bench(args: argparse.Namespace, work: Path) -> Figures:
    home = work / "home"
    progress(f"starting shipyard up in {home}")
    shipyard = start_shipyard(
        home, env={"SHIPYARD_BATCH_CALLS_AT_ONCE": str(args.calls_at_once)})
    try:
        with shipyard.sdk() as client:
            client.timeout = 600
            progress("uploading and deploying the iris model (its environment is built the "
                     "first time: a minute or two)")
            started = time.perf_counter()
            serve_iris(shipyard, client)
            progress(f"iris serving after {time.perf_counter() - started:.1f} s")
            source = write_rows(work / "flowers.csv", args.rows)
            figures = Figures(machine(), {
                "rows": args.rows, "input_bytes": source.stat().st_size,
                "chunk_size": args.chunk_size, "calls_at_once": args.calls_at_once,
                "direct_as": args.direct_as, "rounds": args.rounds,
                "live_seconds": args.live_seconds, "seed": SEED,
            })
            as_csv = args.direct_as == "csv"

            # Warm-up: a small job and a few direct chunks (first keys, connections).
            warm = write_rows(work / "warm.csv", 4 * args.chunk_size, seed=SEED + 1)
            run_job(client, warm, 4 * args.chunk_size, args.chunk_size)
            run_direct(shipyard, warm, args.chunk_size, args.calls_at_once, as_csv)
            settle(shipyard)

            for number in range(1, args.rounds + 1):
                job = run_job(client, source, args.rows, args.chunk_size)
                job.ingest_lag_seconds = settle(shipyard)
                progress(f"round {number}: batch job {job.rate:,.0f} rows/s "
                         f"({job.seconds:.2f} s; log ingested {job.ingest_lag_seconds:.1f} s "
                         f"after)")
                direct = run_direct(shipyard, source, args.chunk_size, args.calls_at_once,
                                    as_csv)
                direct.ingest_lag_seconds = settle(shipyard)
                progress(f"round {number}: direct {direct.rate:,.0f} rows/s "
                         f"({direct.seconds:.2f} s; log ingested "
                         f"{direct.ingest_lag_seconds:.1f} s after)")
                figures.rounds.append({"batch": job, "direct": direct})

            alone = live_alone(shipyard, args.live_seconds)
            settle(shipyard)
            alone = with_the_logs_split(client, alone)
            progress(f"live caller, no job: p99 {alone.p99_ms:.2f} ms over {alone.calls} calls")
            during = live_during_a_job(shipyard, client, source, args.chunk_size,
                                       args.live_seconds)
            settle(shipyard)
            during = with_the_logs_split(client, during)
            progress(f"live caller, during a job: p99 {during.p99_ms:.2f} ms over "
                     f"{during.calls} calls")
            figures.live = {"no job": alone, "during a job": during}
            return figures
    finally:
        progress("stopping shipyard up")
        shipyard.stop()


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=_positive, default=1_000_000)
    parser.add_argument("--chunk-size", type=_positive, default=1000,
                        help="rows per chunk, for the job and the direct side")
    parser.add_argument("--calls-at-once", type=_positive, default=2,
                        help="the job's chunks in flight (SHIPYARD_BATCH_CALLS_AT_ONCE) and "
                             "the direct side's threads")
    parser.add_argument("--rounds", type=_positive, default=1,
                        help="rounds of batch then direct")
    parser.add_argument("--live-seconds", type=float, default=15.0,
                        help="how long the live caller runs, per side")
    parser.add_argument("--direct-as", choices=("json", "csv"), default="json",
                        help="the direct side's body: JSON records, or CSV as the job sends")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as scratch:
        figures = bench(args, Path(scratch))
    if args.json:
        print(json.dumps(figures.as_json(), indent=2))
    else:
        report(figures)


if __name__ == "__main__":
    main()
