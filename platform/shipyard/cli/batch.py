"""``shipyard batch ...``: score a CSV, JSON Lines or Parquet file with a model service in
the background, follow the job with a progress bar, and fetch its results; or score a file
the control plane reads itself on a cron schedule."""

from __future__ import annotations

import math
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import click

from shipyard.cli.connection import client_from
from shipyard.cli.output import echo_json, echo_listing, echo_table
from shipyard_sdk.batch_api import (
    FORMATS,
    SUFFIXES,
    main_generation,
    predictions_path,
    raise_unless_succeeded,
)
from shipyard_sdk.client import Client

__all__ = ["JobProgress", "batch", "follow_job", "progress_line", "summary_line"]

POLL = 1.0
"""Seconds between two looks at a followed job."""
BAR_WIDTH = 24
JOB_COLUMNS = ("id", "state", "progress", "generations", "created_by", "created_at",
               "finished_at", "schedule_id")
SCHEDULE_COLUMNS = ("id", "cron", "source", "next_run_at", "last_run_at", "last_job_id",
                    "last_error")


@click.group()
def batch() -> None:
    """Batch prediction jobs: score a whole file with a model service, in the background,
    or on a schedule."""


@batch.command("score")
@click.argument("service")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where the results go (default: FILE's name with .predictions); other "
                   "generations' go beside it, named with their tag.")
@click.option("--challenger", is_flag=True, help="Score with the service's challenger too.")
@click.option("--chunk-size", type=click.IntRange(min=1),
              help="Rows scored per call (default: the control plane's).")
@click.option("--passthrough", multiple=True, metavar="COLUMN",
              help="An input column copied to the results; repeat for several.")
@click.option("--association-column", metavar="COLUMN",
              help="The input column that identifies each prediction (to join actuals).")
@click.option("--generation", "generations", multiple=True, metavar="TAG",
              help="Score with this generation (v2) instead of the serving one; repeat for "
                   "several.")
@click.option("--format", "input_format", type=click.Choice(FORMATS),
              help="FILE's format (default: from its suffix).")
@click.option("--output-format", type=click.Choice(FORMATS),
              help="The results' format (default: FILE's).")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Follow the job and download its results; --no-wait only starts it.")
@click.pass_context
def score(
    ctx: click.Context, service: str, file: Path, output: Path | None, challenger: bool,
    chunk_size: int | None, passthrough: tuple[str, ...], association_column: str | None,
    generations: tuple[str, ...], input_format: str | None, output_format: str | None,
    wait: bool,
) -> None:
    """Score FILE (.csv, .jsonl or .parquet) with SERVICE: print the job's id, then follow
    it with a progress bar and download each generation's results."""
    client = client_from(ctx)
    job = client.batch.submit(
        service, file, format=input_format, output_format=output_format,
        chunk_size=chunk_size, challenger=challenger, generations=generations or None,
        passthrough=passthrough, association_column=association_column,
    )
    click.echo(job["id"])
    if not wait:
        return
    job = raise_unless_succeeded(follow_job(client, job["id"]))
    files = client.batch.download_results(
        job, output or predictions_path(file, job["output_format"])
    )
    for generation, path in files.items():
        click.echo(f"{generation}: {path}")
    for entry in job["generations"]:
        if entry.get("rows_failed"):
            click.echo(f"{entry['generation']}: {entry['rows_failed']:,} rows failed; "
                       f"`shipyard batch download {job['id']} --generation "
                       f"{entry['generation']} --errors` tells why", err=True)


@batch.command("status")
@click.argument("job_id", metavar="JOB")
@click.option("--follow/--no-follow", default=False, show_default=True,
              help="Show a progress bar until the job ends.")
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")
@click.pass_context
def status(ctx: click.Context, job_id: str, follow: bool, as_json: bool) -> None:
    """Where batch job JOB stands. A job that failed or was cancelled ends the command with
    its message and exit status 1."""
    client = client_from(ctx)
    job = follow_job(client, job_id) if follow else client.batch.get(job_id)
    if as_json:
        echo_json(job)
    elif not follow:
        click.echo(summary_line(job))
    raise_unless_succeeded(job)


@batch.command("list")
@click.argument("service")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def list_jobs(ctx: click.Context, service: str, as_json: bool) -> None:
    """SERVICE's batch jobs, newest first."""
    jobs = client_from(ctx).batch.list(service)
    if as_json:
        echo_json(jobs)
        return
    echo_table([{**job, "progress": _rows_cell(job),
                 "generations": [entry["generation"] for entry in job.get("generations", [])]}
                for job in jobs], JOB_COLUMNS)


@batch.command("cancel")
@click.argument("job_id", metavar="JOB")
@click.pass_context
def cancel(ctx: click.Context, job_id: str) -> None:
    """Stop batch job JOB: a queued one at once, a running one once the chunks it is
    scoring are done."""
    job = client_from(ctx).batch.cancel(job_id)
    click.echo(f"Batch job {job['id']} is {job['state']}.")


@batch.command("download")
@click.argument("job_id", metavar="JOB")
@click.option("--generation", metavar="TAG",
              help="Whose results (default: the main generation's).")
@click.option("--errors", is_flag=True,
              help="The rows that failed (JSON Lines of line and message) instead.")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="The file to write, or a folder to write it in (default: "
                   "JOB.TAG.csv, .jsonl, .parquet or .errors.jsonl here).")
@click.pass_context
def download(
    ctx: click.Context, job_id: str, generation: str | None, errors: bool, output: Path | None,
) -> None:
    """Download batch job JOB's results, or with --errors its failed rows."""
    client = client_from(ctx)
    job = client.batch.get(job_id)
    tag = generation or main_generation(job)["generation"]
    suffix = ".errors.jsonl" if errors else SUFFIXES[job["output_format"]]
    destination = Path(f"{job['id']}.{tag}{suffix}")
    if output is not None:
        destination = output / destination if output.is_dir() else output
    click.echo(str(client.batch.download(job["id"], tag, destination, errors=errors)))


@batch.command("schedule")
@click.argument("service")
@click.argument("cron")
@click.argument("source")
@click.option("--format", "input_format", type=click.Choice(FORMATS),
              help="SOURCE's format (default: told at each run, from its suffix).")
@click.option("--output-format", type=click.Choice(FORMATS),
              help="The results' format (default: SOURCE's).")
@click.option("--chunk-size", type=click.IntRange(min=1),
              help="Rows scored per call (default: the control plane's).")
@click.option("--challenger", is_flag=True, help="Score with the service's challenger too.")
@click.option("--generation", "generations", multiple=True, metavar="TAG",
              help="Score with this generation (v2) instead of the serving one; repeat for "
                   "several.")
@click.option("--passthrough", multiple=True, metavar="COLUMN",
              help="An input column copied to the results; repeat for several.")
@click.option("--association-column", metavar="COLUMN",
              help="The input column that identifies each prediction (to join actuals).")
@click.pass_context
def schedule(
    ctx: click.Context, service: str, cron: str, source: str, input_format: str | None,
    output_format: str | None, chunk_size: int | None, challenger: bool,
    generations: tuple[str, ...], passthrough: tuple[str, ...],
    association_column: str | None,
) -> None:
    """Score SOURCE with SERVICE each time CRON fires: print the schedule's id, and when it
    runs next.

    CRON is five fields in UTC, quoted ('0 3 * * *': at 03:00 each day), or a name such as
    @daily. SOURCE is read by the control plane at each run, never uploaded: a path on its
    machine or an https:// URL, under a folder or prefix its administrator allows. Each run
    is a batch job of its own (`shipyard batch list SERVICE`)."""
    made = client_from(ctx).batch.schedule(
        service, cron, source, format=input_format, output_format=output_format,
        chunk_size=chunk_size, challenger=challenger, generations=generations or None,
        passthrough=passthrough, association_column=association_column,
    )
    click.echo(made["id"])
    click.echo(f"Next run: {made['next_run_at']}", err=True)


@batch.command("schedules")
@click.argument("service")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def list_schedules(ctx: click.Context, service: str, as_json: bool) -> None:
    """SERVICE's batch schedules, oldest first."""
    echo_listing(client_from(ctx).batch.schedules(service), SCHEDULE_COLUMNS, as_json)


@batch.command("run-schedule")
@click.argument("schedule_id", metavar="ID")
@click.pass_context
def run_schedule(ctx: click.Context, schedule_id: str) -> None:
    """Make batch schedule ID due now: the control plane starts its job within a tick;
    later runs keep to its cron."""
    due = client_from(ctx).batch.run_schedule(schedule_id)
    click.echo(f"Batch schedule {due['id']} runs now; `shipyard batch list "
               f"{due['service']}` shows its job once it starts.")


@batch.command("unschedule")
@click.argument("schedule_id", metavar="ID")
@click.pass_context
def unschedule(ctx: click.Context, schedule_id: str) -> None:
    """Delete batch schedule ID: it runs no more; the jobs it started stay."""
    client_from(ctx).batch.unschedule(schedule_id)
    click.echo(f"Deleted batch schedule {schedule_id}; its jobs stay.")


def follow_job(client: Client, job_id: str) -> dict[str, Any]:
    """Wait for the job to end, with its progress on stderr; the job then."""
    with JobProgress() as progress:
        return client.batch.wait(job_id, progress=progress, poll=POLL)


class JobProgress:
    """Shows a job's ``progress_line`` at each poll: redrawn in place on a terminal, else
    (a log, a pipe) a line per poll whose line changed."""

    def __init__(
        self, stream: TextIO | None = None, *, live: bool | None = None,
        columns: int | None = None,
    ) -> None:
        self._stream = stream or sys.stderr
        self._live = self._stream.isatty() if live is None else live
        self._columns = columns or shutil.get_terminal_size().columns
        self._shown = ""

    def __call__(self, job: Mapping[str, Any]) -> None:
        line = progress_line(job)
        if self._live:
            # A line that wraps could not be drawn over by the next one.
            line = line[:max(self._columns - 1, 1)]
            # Spaces wipe what a longer line before left.
            padding = " " * max(len(self._shown) - len(line), 0)
            click.echo(f"\r{line}{padding}", nl=False, file=self._stream)
        elif line != self._shown:
            click.echo(line, file=self._stream)
        self._shown = line

    def __enter__(self) -> JobProgress:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._live and self._shown:
            click.echo(file=self._stream)


def progress_line(job: Mapping[str, Any], width: int = BAR_WIDTH) -> str:
    """A job's progress in one line: state, bar, rows done / total, percent, and while it
    runs the rate and time left (each where known)."""
    state, done, total = job["state"], job.get("rows_done") or 0, job.get("rows_total")
    parts = [f"{state:<9}"]
    if total is not None:
        fraction = min(done / total, 1.0) if total else 1.0
        filled = int(fraction * width)
        parts += [f"[{'#' * filled}{'.' * (width - filled)}]", f"{done:,}/{total:,} rows",
                  f"{math.floor(fraction * 100)}%"]
    elif done or state != "queued":
        parts.append(f"{done:,} rows")
    if state == "running":
        if job.get("rate") is not None:
            parts.append(f"{_rate(job['rate'])} rows/s")
        if job.get("seconds_left") is not None:
            parts.append(f"{_duration(job['seconds_left'])} left")
    return "  ".join(parts).rstrip()


def summary_line(job: Mapping[str, Any]) -> str:
    """The job, its service and its ``progress_line``, and why it failed if it did."""
    line = f"{job['id']}  {job['service']}  {progress_line(job)}"
    return f"{line}  ({job['message']})" if job.get("message") else line


def _rows_cell(job: Mapping[str, Any]) -> str:
    done, total = job.get("rows_done") or 0, job.get("rows_total")
    if total is None:
        return f"{done:,}"
    return f"{done:,}/{total:,}"


def _rate(rows_per_second: float) -> str:
    return f"{rows_per_second:,.0f}" if rows_per_second >= 10 else f"{rows_per_second:.1f}"


def _duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``: rounded up, so that 0s shows only at the end."""
    whole = max(math.ceil(seconds), 0)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
