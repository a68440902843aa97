"""``shipyard batch ...``: the progress line and bar as pure rendering, then each command
through click's CliRunner over real HTTP to the scripted control plane of
tests/unit/test_batch_sdk.py, signing as a user whose uploads its verifier checks."""

from __future__ import annotations

import importlib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from shipyard.cli import cli
from shipyard.cli.batch import JobProgress, progress_line, summary_line
from shipyard_sdk.errors import InvalidInput
from tests.unit.test_batch_sdk import (
    ACCESS_KEY,
    CSV,
    ERRORS,
    JOB_ID,
    RAN,
    RESULTS,
    SCHEDULE_ID,
    SECRET,
    SUCCEEDED,
    BatchServer,
    generation,
    job,
    schedule,
)
from tests.unit.test_batch_sdk import server as server  # the fixture, shared

RUNNING = job("running", 420, rate=35.25, seconds_left=185)


@pytest.fixture
def shipyard(server: BatchServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[BatchServer]:
    """The scripted control plane, the CLI signing as a user it knows, polling fast."""
    monkeypatch.setenv("SHIPYARD_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("SHIPYARD_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setattr(importlib.import_module("shipyard.cli.batch"), "POLL", 0.01)
    yield server


def run(server: BatchServer, *args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["--url", server.url, "batch", *map(str, args)])


@pytest.fixture
def flowers(tmp_path: Path) -> Path:
    path = tmp_path / "flowers.csv"
    path.write_bytes(CSV)
    return path


# -- rendering ------------------------------------------------------------------------------


@pytest.mark.parametrize(("shown", "line"), [
    (job("queued", rows_total=None), "queued"),
    (job("running", 1200, rows_total=None, rate=4.25),
     "running    1,200 rows  4.2 rows/s"),
    (RUNNING,
     "running    [##########..............]  420/1,000 rows  42%  35 rows/s  3m05s left"),
    (job("running", 999, rate=1234.5, seconds_left=0.2),
     "running    [#######################.]  999/1,000 rows  99%  1,234 rows/s  1s left"),
    (job("running", 10, rows_total=250_000, seconds_left=7384.0),
     "running    [........................]  10/250,000 rows  0%  2h03m left"),
    (SUCCEEDED, "succeeded  [########################]  1,000/1,000 rows  100%"),
    (job("succeeded", 0, rows_total=0), "succeeded  [########################]  0/0 rows  100%"),
    (job("failed", 10, message="model crashed", rate=3.0),
     "failed     [........................]  10/1,000 rows  1%"),
])
def test_the_progress_line(shown: dict[str, Any], line: str) -> None:
    assert progress_line(shown) == line


def test_the_summary_line_names_the_job_and_why_it_failed() -> None:
    assert summary_line(job("failed", 10, message="model crashed")) == (
        f"{JOB_ID}  iris  failed     [........................]  10/1,000 rows  1%"
        "  (model crashed)"
    )


def test_off_a_terminal_each_poll_is_a_line_and_repeats_are_left_out() -> None:
    stream = io.StringIO()
    with JobProgress(stream, live=False) as progress:
        for shown in (job("queued", rows_total=None), job("queued", rows_total=None),
                      RUNNING, SUCCEEDED):
            progress(shown)
    assert "\r" not in stream.getvalue()
    assert stream.getvalue().splitlines() == [
        "queued", progress_line(RUNNING), progress_line(SUCCEEDED)
    ]


def test_on_a_terminal_the_line_is_redrawn_in_place() -> None:
    stream = io.StringIO()
    with JobProgress(stream, live=True, columns=200) as progress:
        progress(RUNNING)
        progress(job("queued", rows_total=None))
    long, short = progress_line(RUNNING), "queued"
    assert stream.getvalue() == f"\r{long}\r{short}{' ' * (len(long) - len(short))}\n"


def test_on_a_narrow_terminal_the_line_is_cut_so_that_it_never_wraps() -> None:
    stream = io.StringIO()
    with JobProgress(stream, live=True, columns=40) as progress:
        progress(RUNNING)
    assert stream.getvalue() == f"\r{progress_line(RUNNING)[:39]}\n"


# -- the commands over HTTP -----------------------------------------------------------------


def test_score_prints_the_job_follows_it_and_downloads_each_generation(
    shipyard: BatchServer, flowers: Path
) -> None:
    shipyard.states = [job("queued"), RUNNING, SUCCEEDED]
    done = run(shipyard, "score", "iris", flowers, "--challenger", "--chunk-size", "100",
               "--passthrough", "id", "--passthrough", "name", "--association-column", "id")
    assert done.exit_code == 0, done.output
    main = flowers.with_name("flowers.predictions.csv")
    challenger = flowers.with_name("flowers.predictions.v1.csv")
    assert done.stdout.splitlines() == [JOB_ID, f"v2: {main}", f"v1: {challenger}"]
    assert done.stderr.splitlines() == [
        progress_line(job("queued")), progress_line(RUNNING), progress_line(SUCCEEDED)
    ]
    assert (main.read_bytes(), challenger.read_bytes()) == (RESULTS["v2"], RESULTS["v1"])
    (upload,) = shipyard.uploads
    assert upload.signed and upload.rejection is None
    assert upload.query == {"format": "csv", "challenger": "true", "chunk_size": "100",
                            "passthrough": "id,name", "association_column": "id"}


def test_score_with_output_options_and_failed_rows(
    shipyard: BatchServer, flowers: Path, tmp_path: Path
) -> None:
    scored = [generation("v3", "chosen", scored=998, failed=2)]
    shipyard.states = [job("succeeded", 1000, output_format="jsonl", generations=scored)]
    shipyard.results = {"v3": b'{"prediction": 1}\n'}
    done = run(shipyard, "score", "iris", flowers, "-o", tmp_path / "out.jsonl",
               "--generation", "v3", "--output-format", "jsonl", "--format", "csv")
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == [JOB_ID, f"v3: {tmp_path / 'out.jsonl'}"]
    assert f"v3: 2 rows failed; `shipyard batch download {JOB_ID} --generation v3 " \
           "--errors` tells why" in done.stderr
    assert shipyard.uploads[0].query == {"format": "csv", "generations": "v3",
                                         "output_format": "jsonl"}


def test_parquet_in_and_out_named_by_suffix_and_option(
    shipyard: BatchServer, flowers: Path, tmp_path: Path
) -> None:
    table = tmp_path / "flowers.parquet"
    table.write_bytes(b"PAR1" + bytes(range(256)) + b"PAR1")
    scored = [generation("v3", "chosen", scored=2)]
    shipyard.states = [job("succeeded", 2, output_format="parquet", generations=scored)]
    shipyard.results = {"v3": b"PAR1 results PAR1"}
    done = run(shipyard, "score", "iris", table, "--generation", "v3")
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == [JOB_ID, f"v3: {tmp_path / 'flowers.predictions.parquet'}"]
    assert (tmp_path / "flowers.predictions.parquet").read_bytes() == b"PAR1 results PAR1"
    (upload,) = shipyard.uploads
    assert upload.query == {"format": "parquet", "generations": "v3"}
    assert upload.content_type == "application/vnd.apache.parquet"
    # From CSV to Parquet, by option; downloaded with the format's suffix.
    chosen = run(shipyard, "score", "iris", flowers, "--output-format", "parquet", "--no-wait")
    assert chosen.exit_code == 0, chosen.output
    assert shipyard.uploads[1].query == {"format": "csv", "output_format": "parquet"}
    fetched = run(shipyard, "download", JOB_ID, "-o", tmp_path)
    assert fetched.stdout == f"{tmp_path / f'{JOB_ID}.v3.parquet'}\n"
    refused = run(shipyard, "score", "iris", flowers, "--output-format", "xlsx")
    assert refused.exit_code == 2
    assert "'xlsx' is not one of 'csv', 'jsonl', 'parquet'" in refused.stderr


def test_score_without_waiting_prints_only_the_job(
    shipyard: BatchServer, flowers: Path
) -> None:
    done = run(shipyard, "score", "iris", flowers, "--no-wait")
    assert (done.exit_code, done.stdout, done.stderr) == (0, f"{JOB_ID}\n", "")
    assert shipyard.paths() == ["/api/v1/services/iris/batch-jobs"]


def test_a_job_that_fails_ends_the_command_with_its_message(
    shipyard: BatchServer, flowers: Path
) -> None:
    shipyard.states = [RUNNING, job("failed", 420, message="model crashed")]
    done = run(shipyard, "score", "iris", flowers)
    assert done.exit_code == 1
    assert done.stdout == f"{JOB_ID}\n"
    assert done.stderr.splitlines()[-1] == f"Error: batch job {JOB_ID} failed: model crashed"
    assert sorted(p.name for p in flowers.parent.iterdir()) == ["flowers.csv"]


def test_a_file_of_no_known_format_is_refused_before_sending(
    shipyard: BatchServer, tmp_path: Path
) -> None:
    data = tmp_path / "flowers.txt"
    data.write_bytes(CSV)
    done = run(shipyard, "score", "iris", data)
    assert done.exit_code == 1
    assert "Error: cannot tell the format of 'flowers.txt' from its suffix '.txt'" in done.stderr
    assert shipyard.seen == []


def test_status_is_one_line_or_a_followed_bar(shipyard: BatchServer) -> None:
    shipyard.states = [RUNNING]
    once = run(shipyard, "status", JOB_ID)
    assert (once.exit_code, once.stdout) == (0, summary_line(RUNNING) + "\n")
    shipyard.states = [RUNNING, SUCCEEDED]
    followed = run(shipyard, "status", JOB_ID, "--follow")
    assert followed.exit_code == 0, followed.output
    assert followed.stdout == ""
    assert followed.stderr.splitlines() == [progress_line(RUNNING), progress_line(SUCCEEDED)]
    as_json = run(shipyard, "status", JOB_ID, "--json")
    assert json.loads(as_json.stdout) == SUCCEEDED


@pytest.mark.parametrize("follow", [[], ["--follow"]])
def test_status_of_a_cancelled_job_exits_1(shipyard: BatchServer, follow: list[str]) -> None:
    shipyard.states = [job("cancelled", 400)]
    done = run(shipyard, "status", JOB_ID, *follow)
    assert done.exit_code == 1
    assert done.stderr.splitlines()[-1] == f"Error: batch job {JOB_ID} was cancelled"


def test_list_is_a_table_or_json(shipyard: BatchServer) -> None:
    shipyard.jobs = [RUNNING, job("queued", rows_total=None, id="job-2",
                                  schedule_id=SCHEDULE_ID)]
    table = run(shipyard, "list", "iris")
    assert table.exit_code == 0, table.output
    header, first, second = table.stdout.splitlines()
    assert header.split() == ["ID", "STATE", "PROGRESS", "GENERATIONS", "CREATED_BY",
                              "CREATED_AT", "FINISHED_AT", "SCHEDULE_ID"]
    assert first.split() == [JOB_ID, "running", "420/1,000", "v2,v1", "alice",
                             "2024-05-01T10:00:00Z", "-", "-"]
    assert second.split()[:3] == ["job-2", "queued", "0"]
    assert second.split()[-1] == SCHEDULE_ID
    as_json = run(shipyard, "list", "iris", "--json")
    assert json.loads(as_json.stdout) == shipyard.jobs


def test_cancel(shipyard: BatchServer) -> None:
    done = run(shipyard, "cancel", JOB_ID)
    assert (done.exit_code, done.stdout) == (0, f"Batch job {JOB_ID} is cancelled.\n")
    assert shipyard.paths("POST") == [f"/api/v1/batch-jobs/{JOB_ID}/cancel"]


def test_download_names_the_file_by_job_and_generation(
    shipyard: BatchServer, tmp_path: Path
) -> None:
    main = run(shipyard, "download", JOB_ID, "-o", tmp_path)
    assert main.stdout == f"{tmp_path / f'{JOB_ID}.v2.csv'}\n"
    assert (tmp_path / f"{JOB_ID}.v2.csv").read_bytes() == RESULTS["v2"]
    errors = run(shipyard, "download", JOB_ID, "--errors", "-o", tmp_path)
    assert (tmp_path / f"{JOB_ID}.v2.errors.jsonl").read_bytes() == ERRORS["v2"]
    assert errors.exit_code == 0
    named = run(shipyard, "download", JOB_ID, "--generation", "v1", "-o", tmp_path / "x.csv")
    assert named.stdout == f"{tmp_path / 'x.csv'}\n"
    assert (tmp_path / "x.csv").read_bytes() == RESULTS["v1"]
    missing = run(shipyard, "download", JOB_ID, "--generation", "v9", "-o", tmp_path)
    assert missing.exit_code == 1
    assert "Error: no results for that generation" in missing.stderr


# -- schedules ------------------------------------------------------------------------------


def test_schedule_prints_its_id_and_next_run_and_sends_the_options(
    shipyard: BatchServer,
) -> None:
    done = run(shipyard, "schedule", "my iris", "0 3 * * *", "/data/exports/daily.csv",
               "--format", "csv", "--output-format", "parquet", "--chunk-size", "250",
               "--challenger", "--generation", "v2", "--generation", "v1",
               "--passthrough", "id", "--passthrough", "name", "--association-column", "id")
    assert done.exit_code == 0, done.output
    assert (done.stdout, done.stderr) == (f"{SCHEDULE_ID}\n",
                                          "Next run: 2024-05-02T03:00:00+00:00\n")
    (upload,) = shipyard.uploads
    assert shipyard.paths() == ["/api/v1/services/my%20iris/batch-schedules"]
    assert upload.signed and upload.rejection is None
    assert json.loads(upload.body) == {
        "cron": "0 3 * * *", "source": "/data/exports/daily.csv", "format": "csv",
        "output_format": "parquet", "chunk_size": 250, "challenger": True,
        "generations": ["v2", "v1"], "passthrough": ["id", "name"],
        "association_column": "id",
    }


def test_schedule_leaves_what_is_not_given_to_the_server(shipyard: BatchServer) -> None:
    done = run(shipyard, "schedule", "iris", "@daily", "https://exports.example.com/d.csv")
    assert done.exit_code == 0, done.output
    assert json.loads(shipyard.uploads[0].body) == {
        "cron": "@daily", "source": "https://exports.example.com/d.csv",
    }


def test_a_schedule_the_server_refuses_is_an_error_line(shipyard: BatchServer) -> None:
    shipyard.schedule_refusal = InvalidInput("cron 'at three' does not parse")
    done = run(shipyard, "schedule", "iris", "at three", "/data/exports/daily.csv")
    assert (done.exit_code, done.stdout) == (1, "")
    assert done.stderr.splitlines()[-1] == "Error: cron 'at three' does not parse"
    refused = run(shipyard, "schedule", "iris", "@daily", "/data/d.csv", "--format", "xlsx")
    assert refused.exit_code == 2
    assert "'xlsx' is not one of 'csv', 'jsonl', 'parquet'" in refused.stderr
    assert len(shipyard.uploads) == 1


def test_schedules_is_a_table_or_json(shipyard: BatchServer) -> None:
    failing = schedule(id="sch-2", cron="@hourly", source="https://exports.example.com/h.csv",
                       last_run_at="2024-05-01T10:00:00+00:00",
                       last_error="no file at https://exports.example.com/h.csv")
    shipyard.schedules = [RAN, failing]
    table = run(shipyard, "schedules", "iris")
    assert table.exit_code == 0, table.output
    rows = [re.split(r"\s{2,}", line.rstrip()) for line in table.stdout.splitlines()]
    assert rows == [
        ["ID", "CRON", "SOURCE", "NEXT_RUN_AT", "LAST_RUN_AT", "LAST_JOB_ID", "LAST_ERROR"],
        [SCHEDULE_ID, "0 3 * * *", "/data/exports/daily.csv", "2024-05-02T03:00:00+00:00",
         "2024-05-01T03:00:02+00:00", JOB_ID, "-"],
        ["sch-2", "@hourly", "https://exports.example.com/h.csv",
         "2024-05-02T03:00:00+00:00", "2024-05-01T10:00:00+00:00", "-",
         "no file at https://exports.example.com/h.csv"],
    ]
    as_json = run(shipyard, "schedules", "iris", "--json")
    assert json.loads(as_json.stdout) == [RAN, failing]
    assert shipyard.paths() == ["/api/v1/services/iris/batch-schedules"] * 2


def test_run_schedule_and_unschedule(shipyard: BatchServer) -> None:
    ran = run(shipyard, "run-schedule", SCHEDULE_ID)
    assert (ran.exit_code, ran.stdout) == (0, (
        f"Batch schedule {SCHEDULE_ID} runs now; `shipyard batch list iris` shows its job "
        "once it starts.\n"
    ))
    gone = run(shipyard, "unschedule", SCHEDULE_ID)
    assert (gone.exit_code, gone.stdout) == (
        0, f"Deleted batch schedule {SCHEDULE_ID}; its jobs stay.\n"
    )
    assert shipyard.seen == [("POST", f"/api/v1/batch-schedules/{SCHEDULE_ID}/run"),
                             ("DELETE", f"/api/v1/batch-schedules/{SCHEDULE_ID}")]


@pytest.mark.parametrize("command", ["run-schedule", "unschedule"])
def test_an_unknown_schedule_is_an_error_line(shipyard: BatchServer, command: str) -> None:
    done = run(shipyard, command, "sch-0")
    assert (done.exit_code, done.stdout) == (1, "")
    assert done.stderr.splitlines()[-1] == "Error: batch schedule 'sch-0' does not exist"
