"""Batch jobs end to end on a real ``shipyard up``: the iris model serving as v1 with v2 as
its challenger scores a 100,000-row CSV, a JSON Lines and a Parquet file through the
gateway, as the caller; the results match calling the predict route directly, row for row;
bad rows go to the error file with their line (a Parquet row's position); a Shipyard
killed mid-job (shipyard up and its children at once) resumes the job once started again,
and every row is in the output exactly once; meanwhile the job's threads in the supervisor
and the instances' batch lanes run at the lowest CPU priority, and nothing else does; the
jobs' calls count in the ``batch`` role; schedules on a file in an allowed folder and at an
allowed URL; cancels, refusals and bad input; all with a public URL that names a proxy
this machine cannot reach (the jobs call this node's gateway)."""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from shipyard.supervisor.batch_scoring import JOB_THREAD_NICENESS
from shipyard_sdk import Client
from shipyard_sdk.runtime.batch_lane import AUTOGROUP_NICENESS, LANE_NICENESS
from tests.conftest import RunningShipyard, start_shipyard
from tests.integration.test_deploy import wait_for
from tests.integration.test_monitoring import FEATURES, serve_with_a_challenger

pytestmark = pytest.mark.slow

ROWS = 100_000


def flowers(count: int, seed: int = 5) -> list[dict[str, Any]]:
    draw = random.Random(seed)
    return [{"id": f"f{n}", **{name: round(draw.uniform(0.1, 8.0), 1) for name in FEATURES}}
            for n in range(count)]


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, ["id", *FEATURES, "note"], lineterminator="\n")
        writer.writeheader()
        writer.writerows({**row, "note": "n"} for row in rows)
    return path


def submit(shipyard: RunningShipyard, path: Path, media: str, **query: str
           ) -> requests.Response:
    """The raw upload a client makes: the file as the body, signed with its SHA-256."""
    return shipyard.http.post(f"{shipyard.url}/api/v1/services/iris/batch-jobs",
                              params=query, data=path.read_bytes(),
                              headers={"Content-Type": media}, timeout=120)


def finished(client: Client, job_id: str, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.json("GET", f"/api/v1/batch-jobs/{job_id}")
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"batch job {job_id} did not finish: {job}")


def direct_predictions(shipyard: RunningShipyard, rows: list[dict[str, Any]],
                       generation: str) -> list[str]:
    """What the predict route answers the same rows, called directly in chunks."""
    url = f"{shipyard.url}/user-services/invoke/iris/api/v1.0/predict/"
    found: list[str] = []
    for start in range(0, len(rows), 5000):
        records = [{name: row[name] for name in FEATURES} for row in rows[start:start + 5000]]
        answer = shipyard.http.post(url, json=records, timeout=60,
                                    headers={"X-Shipyard-Target-Generation": generation})
        assert answer.status_code == 200, answer.text
        found.extend(answer.json()["predictions"])
    return found


def result_rows(shipyard: RunningShipyard, job: dict[str, Any], generation: str
                ) -> list[dict[str, str]]:
    (entry,) = [g for g in job["generations"] if g["generation"] == generation]
    answer = shipyard.http.get(shipyard.url + entry["result_url"], timeout=60)
    assert answer.status_code == 200, answer.text
    return list(csv.DictReader(answer.text.splitlines()))


@pytest.fixture
def exports(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder, and the URL of a file server on loopback serving another: the places
    scheduled jobs may read (``batch_sources``)."""
    folder, served = tmp_path / "exports", tmp_path / "served"
    folder.mkdir()
    served.mkdir()
    handler = functools.partial(QuietFiles, directory=str(served))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}/files/"
    server.shutdown()
    server.server_close()
    thread.join()


class QuietFiles(SimpleHTTPRequestHandler):
    def translate_path(self, path: str) -> str:
        return super().translate_path(path.removeprefix("/files"))

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def shipyard(tmp_path: Path, exports: tuple[Path, str], database_url: str
             ) -> Iterator[RunningShipyard]:
    folder, url = exports
    # A public URL this machine cannot reach, as a proxy in front may be: the jobs call the
    # gateway on this node all the same.
    running = start_shipyard(tmp_path / "home", env={
        "SHIPYARD_BATCH_SOURCES": f"{folder} {url}",
        "SHIPYARD_PUBLIC_URL": "http://shipyard-front.invalid:9",
    }, database_url=database_url)
    yield running
    running.stop()


def next_job(client: Client, schedule_id: str, seen: list[str], timeout: float = 120) -> str:
    """The job a schedule's run started, once it started one not in ``seen``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        schedule = client.batch.get_schedule(schedule_id)
        assert not schedule["last_error"], schedule
        if schedule["last_job_id"] not in (None, *seen):
            return schedule["last_job_id"]
        time.sleep(0.1)
    raise AssertionError(f"schedule {schedule_id} started no job: {schedule}")


@pytest.mark.timeout(1800)
def test_a_csv_scored_by_main_and_challenger_resumes_after_a_kill(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    pytest.importorskip("sklearn")
    with shipyard.sdk() as client:
        client.timeout = 600
        serve_with_a_challenger(shipyard, client)
        rows = flowers(ROWS)
        source = write_csv(tmp_path / "flowers.csv", rows)
        # Two rows the model refuses, and one with a cell short.
        lines = source.read_text().splitlines(keepends=True)
        lines[10] = lines[10].replace(",n\n", "x,n\n").replace(
            f",{rows[9]['petal_width']}", ",wide", 1)
        lines[20_001] = "f20000,1.0,2.0,3.0\n"
        source.write_text("".join(lines))

        answer = submit(shipyard, source, "text/csv", challenger="true", chunk_size="500",
                        passthrough="id")
        assert answer.status_code == 202, answer.text
        job = answer.json()
        assert job["state"] == "queued"
        assert [(g["generation"], g["role"]) for g in job["generations"]] == [
            ("v1", "main"), ("v2", "challenger")]

        # Kill Shipyard mid-job (shipyard up and its children, at once), start it again on
        # the same home: the job resumes from its first unfinished chunk.
        wait_for(lambda: client.json("GET", f"/api/v1/batch-jobs/{job['id']}")["rows_done"]
                 >= 20_000, timeout=600, what="the job to score 20,000 rows")
        running = client.json("GET", f"/api/v1/batch-jobs/{job['id']}")
        assert running["state"] == "running" and running["rows_total"] == ROWS
        assert running["rate"] and running["seconds_left"] is not None
        children = psutil.Process(shipyard.process.pid).children()
        check_batch_work_gives_way(children)
        os.kill(shipyard.process.pid, signal.SIGKILL)
        shipyard.process.wait(timeout=10)
        assert psutil.wait_procs(children, timeout=60)[1] == []
    again = start_shipyard(shipyard.home, database_url=shipyard.database_url)
    try:
        check_the_resumed_job(again, job["id"], rows)
    finally:
        again.stop()


def check_batch_work_gives_way(children: list[psutil.Process]) -> None:
    """The running job's threads (its own and its two callers') and the batch lanes of
    both generations' instances run at the lowest CPU priority; the supervisor's other
    threads, the control plane's other processes and the instances' workers keep theirs."""
    ours = os.getpriority(os.PRIO_PROCESS, 0)  # what shipyard up and its children inherit
    assert ours < JOB_THREAD_NICENESS, "the tests run at the lowest priority already"
    supervisor = next(child for child in children
                      if "shipyard.supervisor" in child.cmdline())
    threads = {thread.id: os.getpriority(os.PRIO_PROCESS, thread.id)
               for thread in supervisor.threads()}
    assert threads[supervisor.pid] == ours
    assert sorted(threads.values()).count(JOB_THREAD_NICENESS) == 3, threads
    assert all(niceness in (ours, JOB_THREAD_NICENESS) for niceness in threads.values())
    assert [child.nice() for child in children] == [ours] * len(children)
    lanes = [process for process in supervisor.children(recursive=True)
             if process.nice() == min(19, ours + LANE_NICENESS)]
    assert len(lanes) == 2, [process.cmdline() for process in lanes]
    assert {lane.parent().nice() for lane in lanes} == {ours}
    # Each lane leads a session of its own; where the kernel groups sessions, that
    # group is at the lowest priority too, while its worker's keeps the default.
    for lane in lanes:
        assert os.getsid(lane.pid) == lane.pid != os.getsid(lane.parent().pid)
        group = Path(f"/proc/{lane.pid}/autogroup")
        if group.exists():
            assert group.read_text().split()[-2:] == ["nice", str(AUTOGROUP_NICENESS)]
            # An empty line: the worker shares the root group, at the default priority.
            worker_group = Path(f"/proc/{lane.parent().pid}/autogroup").read_text()
            assert worker_group.split()[-2:] in ([], ["nice", "0"]), worker_group


def check_the_resumed_job(shipyard: RunningShipyard, job_id: str,
                          rows: list[dict[str, Any]]) -> None:
    with shipyard.sdk() as client:
        client.timeout = 600
        done = finished(client, job_id)
        assert done["state"] == "succeeded", done
        assert done["rows_done"] == ROWS
        for generation in ("v1", "v2"):
            (entry,) = [g for g in done["generations"] if g["generation"] == generation]
            assert (entry["rows_scored"], entry["rows_failed"]) == (ROWS - 2, 2)
            scored = result_rows(shipyard, done, generation)
            kept = [row for n, row in enumerate(rows) if n not in (9, 20_000)]
            assert [row["id"] for row in scored] == [row["id"] for row in kept]
            assert [row["prediction"] for row in scored] == direct_predictions(
                shipyard, kept, generation)
            assert set(scored[0]) == {"id", "prediction", "probability_setosa",
                                      "probability_versicolor", "probability_virginica"}
            errors = shipyard.http.get(shipyard.url + entry["errors_url"], timeout=60)
            assert errors.status_code == 200, errors.text
            failed = [json.loads(line) for line in errors.text.splitlines()]
            assert [e["line"] for e in failed] == [11, 20_002]
            assert "petal_width" in failed[0]["message"]
            assert failed[1]["message"] == "4 cells where the header has 6"

        listed = client.json("GET", "/api/v1/services/iris/batch-jobs")["jobs"]
        assert [j["id"] for j in listed] == [job_id]


@pytest.mark.timeout(1500)
def test_json_lines_parquet_schedules_refusals_and_cancel(
    shipyard: RunningShipyard, tmp_path: Path, exports: tuple[Path, str]
) -> None:
    pytest.importorskip("sklearn")
    with shipyard.sdk() as client:
        client.timeout = 600
        serve_with_a_challenger(shipyard, client)
        rows = flowers(300, seed=8)
        source = tmp_path / "flowers.jsonl"
        source.write_text("".join(json.dumps(row) + "\n" for row in rows))

        # The SDK: upload streamed and signed with the file's hash, wait, download.
        seen: list[dict[str, Any]] = []
        done = client.batch.score("iris", source, tmp_path / "scored.jsonl", chunk_size=64,
                                  passthrough=["id"], progress=seen.append, poll=0.1)
        assert done["state"] == "succeeded", done
        assert seen[-1]["state"] == "succeeded"
        (main,) = done["generations"]
        assert main["generation"] == "v1" and main["role"] == "main"
        assert done["files"] == {"v1": tmp_path / "scored.jsonl"}
        scored = [json.loads(line) for line in done["files"]["v1"].read_text().splitlines()]
        assert [r["id"] for r in scored] == [r["id"] for r in rows]
        assert [r["prediction"] for r in scored] == direct_predictions(shipyard, rows, "v1")
        assert set(scored[0]["probabilities"]) == {"setosa", "versicolor", "virginica"}

        # Parquet in and out, through the SDK, with the main and the challenger: a NaN is a
        # missing value the model refuses, named in each error file by the row's position.
        table = tmp_path / "flowers.parquet"
        pq.write_table(pa.Table.from_pylist(
            [{**row, "petal_width": float("nan")} if n == 99 else row
             for n, row in enumerate(rows)]), table, row_group_size=100)
        from_parquet = client.batch.score("iris", table, chunk_size=64, passthrough=["id"],
                                          output_format="parquet", challenger=True, poll=0.1)
        assert from_parquet["state"] == "succeeded", from_parquet
        assert from_parquet["input"]["format"] == "parquet"
        assert from_parquet["output_format"] == "parquet"
        assert [(g["generation"], g["role"]) for g in from_parquet["generations"]] == [
            ("v1", "main"), ("v2", "challenger")]
        assert from_parquet["files"] == {"v1": tmp_path / "flowers.predictions.parquet",
                                         "v2": tmp_path / "flowers.predictions.v2.parquet"}
        kept = [row for n, row in enumerate(rows) if n != 99]
        for entry in from_parquet["generations"]:
            generation = entry["generation"]
            assert (entry["rows_scored"], entry["rows_failed"]) == (299, 1), entry
            scored = pq.read_table(from_parquet["files"][generation]).to_pylist()
            assert [r["id"] for r in scored] == [r["id"] for r in kept]
            assert [r["prediction"] for r in scored] == direct_predictions(
                shipyard, kept, generation)
            assert set(scored[0]) == {"id", "prediction", "probability_setosa",
                                      "probability_versicolor", "probability_virginica"}
            errors = shipyard.http.get(shipyard.url + entry["errors_url"], timeout=60)
            (failed,) = [json.loads(line) for line in errors.text.splitlines()]
            assert failed["line"] == 100 and "petal_width" in failed["message"], failed

        # The CLI: main and challenger, a progress line per poll, the files it wrote.
        small = write_csv(tmp_path / "small.csv", rows[:50])
        scored_by_cli = shipyard.cli("batch", "score", "iris", str(small), "--challenger",
                                     "--passthrough", "id")
        assert scored_by_cli.returncode == 0, scored_by_cli.stderr
        job_id = scored_by_cli.stdout.splitlines()[0]
        assert f"v1: {tmp_path / 'small.predictions.csv'}" in scored_by_cli.stdout
        assert f"v2: {tmp_path / 'small.predictions.v2.csv'}" in scored_by_cli.stdout
        assert "50/50 rows" in scored_by_cli.stderr
        with (tmp_path / "small.predictions.v2.csv").open(newline="") as text:
            assert len(list(csv.DictReader(text))) == 50
        status = shipyard.cli("batch", "status", job_id)
        assert status.returncode == 0 and "succeeded" in status.stdout, status.stderr
        listed = shipyard.cli("batch", "list", "iris")
        assert job_id in listed.stdout and done["id"] in listed.stdout

        # The same input again, with the generations named, from the earlier job.
        again = client.json("POST", "/api/v1/services/iris/batch-jobs",
                            json={"input_job": done["id"], "generations": ["v2"]})
        assert again["input"] == {"format": "jsonl", "bytes": done["input"]["bytes"],
                                  "job": done["id"]}
        assert finished(client, again["id"])["generations"][0]["rows_scored"] == 300

        # Refused, nothing started.
        refusals = {
            "the input lacks the feature(s) 'petal_width'": (
                "id,sepal_length,sepal_width,petal_length\nf,1,2,3\n", "text/csv", {}),
            "cannot tell the input's format": ("x", "application/zip", {}),
            "the file is not Parquet": ("a,b\n1,2\n", "application/vnd.apache.parquet", {}),
            "a header and no row": (",".join(FEATURES) + "\n", "text/csv", {}),
            "passthrough column(s) 'nope'": (
                ",".join(FEATURES) + "\n1,2,3,4\n", "text/csv", {"passthrough": "nope"}),
            "chunk_size must be": (",".join(FEATURES) + "\n1,2,3,4\n", "text/csv",
                                   {"chunk_size": "0"}),
            "unknown options ['colour']": (",".join(FEATURES) + "\n1,2,3,4\n", "text/csv",
                                           {"colour": "red"}),
        }
        for message, (text, media, query) in refusals.items():
            bad = tmp_path / "bad"
            bad.write_text(text)
            refused = submit(shipyard, bad, media, **query)
            assert refused.status_code == 400, (message, refused.text)
            assert message in refused.json()["error"]["message"], refused.text
        before = {p.name for p in (shipyard.home / "batch").iterdir()}
        assert len(before) == 4  # the jobs that ran, no folder of a refused one

        # A body that is not the one whose hash was signed.
        body = source.read_bytes()
        signed = requests.Request(
            "POST", f"{shipyard.url}/api/v1/services/iris/batch-jobs", data=body,
            headers={"Content-Type": "application/x-ndjson"}).prepare()
        shipyard.http.auth(signed)
        assert signed.headers["x-amz-content-sha256"] == hashlib.sha256(body).hexdigest()
        signed.body = body.replace(b"f1", b"f9")
        swapped = shipyard.http.send(signed, timeout=60)
        assert swapped.status_code == 403, swapped.text
        assert "not what was signed" in swapped.json()["error"]["message"]
        assert {p.name for p in (shipyard.home / "batch").iterdir()} == before

        # The jobs' calls count in their own role: the live figures never see them, and
        # no call of theirs was copied to the challenger (v2).
        def rows_by_role() -> tuple[dict[str | None, int], dict[str, int]]:
            """Rows scored by role in the query log, and in the stats."""
            logged: dict[str | None, int] = {}
            for line in client.services.queries("iris"):
                call = json.loads(line)
                logged[call["role"]] = logged.get(call["role"], 0) + (call["predictions"] or 0)
            stats = client.services.stats("iris")
            counted = {"main": stats["overall"]["total_predictions"], "batch": sum(
                g["total_predictions"] for g in stats["generations"] if g["role"] == "batch")}
            return logged, counted

        wait_for(lambda: (lambda got: got[0].get("batch") == got[1]["batch"] > 0 and got[0][
            None] == got[1]["main"])(rows_by_role()), timeout=60, what="the stats by role")
        calls = [json.loads(line) for line in client.services.queries("iris")]
        batch_calls = [c for c in calls if c["role"] == "batch"]
        assert all(c["challenger_generation"] is None for c in batch_calls)
        assert {c["caller"] for c in batch_calls} == {"user:admin"}
        # Only a batch job's own key may say a call is the job's.
        claimed = shipyard.http.post(
            f"{shipyard.url}/user-services/invoke/iris/api/v1.0/predict/", json=[rows[0]],
            headers={"X-Shipyard-Batch-Job": done["id"]}, timeout=30)
        assert claimed.status_code == 403, claimed.text

        # On a schedule: a file in an allowed folder, and one at an allowed URL; each run
        # is a job of its own and keeps its results.
        folder, url = exports
        write_csv(folder / "daily.csv", rows[:120])
        write_csv(tmp_path / "served" / "daily.csv", rows[120:200])
        for source, scored in ((str(folder / "daily.csv"), 120), (url + "daily.csv", 80)):
            schedule = client.batch.schedule("iris", "0 0 1 1 *", source, passthrough=["id"])
            jobs: list[str] = []
            for _run in range(2):
                client.batch.run_schedule(schedule["id"])
                jobs.append(next_job(client, schedule["id"], jobs))
            for job_id in jobs:
                ran = finished(client, job_id)
                assert ran["state"] == "succeeded" and ran["schedule_id"] == schedule["id"]
                assert ran["generations"][0]["rows_scored"] == scored
            client.batch.unschedule(schedule["id"])
        refused = shipyard.http.post(
            f"{shipyard.url}/api/v1/services/iris/batch-schedules",
            json={"cron": "@daily", "source": str(tmp_path / "flowers.jsonl")}, timeout=30)
        assert refused.status_code == 400
        assert "not in a folder the administrator allows" in refused.json()["error"]["message"]

        # A cancel stops a running job; its results are not kept. A call a row keeps the
        # job running for many seconds, so the cancel lands on a fast machine too (chunks
        # of 50 ended before it there).
        big = write_csv(tmp_path / "big.csv", flowers(20_000, seed=9))
        started = submit(shipyard, big, "text/csv", chunk_size="1").json()
        wait_for(lambda: client.json("GET", f"/api/v1/batch-jobs/{started['id']}")[
            "rows_done"] > 0, timeout=300, what="the job to start scoring")
        client.json("POST", f"/api/v1/batch-jobs/{started['id']}/cancel")
        cancelled = finished(client, started["id"])
        assert cancelled["state"] == "cancelled"
        assert 0 < cancelled["rows_done"] < 20_000
        gone = shipyard.http.get(
            f"{shipyard.url}/api/v1/batch-jobs/{started['id']}/results/v1", timeout=60)
        assert gone.status_code == 409

        # The association id column: a job sends it with each row, so actuals sent later
        # join the job's rows as they join live calls, for each generation it scored with.
        client.services.update("iris", {"monitoring": {"association_id_columns": ["id"]}})
        wait_for(lambda: route_of_iris(shipyard).get("association_columns") == ["id"],
                 timeout=60, what="the supervisor to publish the association column")
        shipyard.wait_for_gateway_routes()
        tagged = [{**row, "id": f"joined-{n}"} for n, row in enumerate(flowers(40, seed=12))]
        joined = client.batch.score("iris", write_csv(tmp_path / "joined.csv", tagged),
                                    association_column="id", passthrough=["id"],
                                    challenger=True, poll=0.1)
        assert joined["state"] == "succeeded", joined
        predicted = {generation: [row["prediction"] for row in csv.DictReader(
            path.read_text().splitlines())] for generation, path in joined["files"].items()}
        # Actuals: v1's prediction for the first 30 rows, another species for the last 10.
        species = ("setosa", "versicolor", "virginica")
        actual = [kind if n < 30 else next(s for s in species if s != kind)
                  for n, kind in enumerate(predicted["v1"])]
        sent = client.services.submit_actuals("iris", [
            {"association_id": row["id"], "actual_value": kind}
            for row, kind in zip(tagged, actual, strict=True)])
        # The job's calls may not be ingested yet: an actual waits for its prediction.
        assert sent["matched"] + sent["unmatched"] == 40, sent

        def batch_accuracy() -> dict[str, dict[str, Any]]:
            accuracy = client.services.accuracy("iris", "1h", role="batch")
            return {g["generation"]: g for g in accuracy["generations"]}

        wait_for(lambda: [batch_accuracy().get(g, {}).get("rows") for g in ("v1", "v2")]
                 == [40, 40], timeout=120, what="the actuals to join the job's rows")
        by_generation = batch_accuracy()
        for generation in ("v1", "v2"):
            entry = by_generation[generation]
            agreed = sum(p == a for p, a in zip(predicted[generation], actual, strict=True))
            assert (entry["role"], entry["rows"]) == ("batch", 40), entry
            assert entry["accuracy"] == agreed / 40, (generation, entry)
        assert by_generation["v1"]["accuracy"] == 0.75
        shown = shipyard.cli("accuracy", "iris", "--since", "1h")
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert any(line.split()[:3] == ["v1", "batch", "40"] for line in shown.stdout.splitlines()
                   ), shown.stdout
        # The job's rows alone: both generations', and no live row.
        shown = shipyard.cli("accuracy", "iris", "--since", "1h", "--role", "batch")
        assert shown.returncode == 0, shown.stdout + shown.stderr
        rows = [words[:3] for words in map(str.split, shown.stdout.splitlines())
                if len(words) > 2 and words[1] in ("main", "challenger", "batch")
                and words[2].replace(",", "").isdigit()]  # the table's, not the sparklines'
        assert sorted(rows) == [["v1", "batch", "40"], ["v2", "batch", "40"]], shown.stdout


def route_of_iris(shipyard: RunningShipyard) -> dict[str, Any]:
    """The iris service's entry in the routing table the gateway reads."""
    services = json.loads((shipyard.home / "run" / "routes.json").read_text())["services"]
    return next(entry for entry in services.values() if entry["name"] == "iris")
