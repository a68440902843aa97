"""``shipyard stats SERVICE``: a service's stats over a window, a table per generation with
a sparkline of each figure over time, or JSON and CSV for scripts."""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click

from shipyard.cli.connection import client_from
from shipyard.cli.output import echo_json, echo_table
from shipyard.stats.spans import ROLES
from shipyard.stats.windows import parse_bucket_size

__all__ = ["SPARK", "sparkline", "stats"]

SPARK = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 48
_SHORT_BUCKET = re.compile(r"(\d{1,6})([smhdw])")
_ISO_UNITS = {"s": "PT{}S", "m": "PT{}M", "h": "PT{}H", "d": "P{}D", "w": "P{}W"}


@dataclass(frozen=True)
class Figure:
    """One line of a table: its label, its value over the window (from the stats), and
    the over-time metric its sparkline draws."""

    label: str
    value: Callable[[Mapping[str, Any]], Any]
    metric: str


def _quantile(name: str, label: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda figures: figures[name][label]


FIGURES = (
    Figure("requests", lambda f: f["total_requests"], "total_requests"),
    Figure("predictions", lambda f: f["total_predictions"], "total_predictions"),
    Figure("response p50 ms", _quantile("response_time", "p50"), "response_time_p50"),
    Figure("response p90 ms", _quantile("response_time", "p90"), "response_time_p90"),
    Figure("response p99 ms", _quantile("response_time", "p99"), "response_time_p99"),
    Figure("execution p50 ms", _quantile("execution_time", "p50"), "execution_time_p50"),
    Figure("overhead p50 ms", _quantile("overhead_time", "p50"), "overhead_time_p50"),
    Figure("slow requests", lambda f: f["slow_requests"], "slow_requests"),
    Figure("user errors", lambda f: _percent(f["user_error_rate"]), "user_error_rate"),
    Figure("server errors", lambda f: _percent(f["server_error_rate"]), "server_error_rate"),
    Figure("timeouts", lambda f: f["timeouts"], "timeouts"),
    Figure("consumers", lambda f: f["num_consumers"], "num_consumers"),
    Figure("peak load /min", lambda f: f["peak_load"], "peak_load"),
    Figure("median load /min", lambda f: f["median_load"], "median_load"),
    Figure("cpu % (mean)", lambda f: f["cpu_percent"]["mean"], "cpu_percent_mean"),
    Figure("memory MiB (mean)", lambda f: _mebibytes(f["memory_bytes"]["mean"]),
           "memory_bytes_mean"),
)


@click.command("stats")
@click.argument("service")
@click.option("--since", default="7d", show_default=True,
              help="The window's start: back from now (30m, 24h, 7d) or ISO 8601.")
@click.option("--until", default=None,
              help="The window's end (default: the next whole hour).")
@click.option("--bucket", default="1h", show_default=True,
              help="Each sparkline step: 1m, 15m, 1h, 1d, or ISO 8601 (PT15M).")
@click.option("--generation", default=None, help="Only this generation (v2).")
@click.option("--role", type=click.Choice(list(ROLES)), default=None,
              help="Only the generations in this role.")
@click.option("--format", "output", type=click.Choice(["table", "json", "csv"]),
              default="table", show_default=True)
@click.pass_context
def stats(
    ctx: click.Context, service: str, since: str, until: str | None, bucket: str,
    generation: str | None, role: str | None, output: str,
) -> None:
    """SERVICE's stats over a window: requests, predictions, latency (response, execution
    in the instance, the gateway's overhead), errors, consumers, load and usage, for the
    service and per generation, the challenger's beside the main ones."""
    client = client_from(ctx).services
    bucket_size = iso_bucket(bucket)
    seconds = parse_bucket_size(bucket_size)
    summary = client.stats(service, since, until, generation=generation, role=role)
    # The sparklines start on a whole bucket, so that they read whole rollups.
    start = datetime.fromisoformat(summary["start"]).timestamp() // seconds * seconds
    series = client.stats_over_time(
        service, [figure.metric for figure in FIGURES], bucket_size,
        datetime.fromtimestamp(start, UTC).isoformat(), summary["end"],
        generation=generation, role=role,
    )
    if output == "json":
        echo_json({**summary, "bucket_size": bucket_size, "series": series})
    elif output == "csv":
        _write_csv(series)
    else:
        _print_tables(service, summary, series, bucket_size)


def iso_bucket(text: str) -> str:
    """``15m``, ``1h``, ``1d`` as ISO 8601 (``PT15M``...); anything else as it is: the API
    takes it or says why not."""
    short = _SHORT_BUCKET.fullmatch(text.strip().lower())
    if short is None:
        return text.strip()
    return _ISO_UNITS[short.group(2)].format(short.group(1))


def sparkline(values: Sequence[float | None], width: int = SPARK_WIDTH) -> str:
    """One character per value (the mean of neighbours when there are more than
    ``width``), scaled from 0 to the largest; a blank where there is no value."""
    groups = _grouped(values, width)
    present = [value for value in groups if value is not None]
    top = max(present, default=0.0)
    line = []
    for value in groups:
        if value is None:
            line.append(" ")
        elif top <= 0:
            line.append(SPARK[0])
        else:
            line.append(SPARK[min(len(SPARK) - 1, int(value / top * (len(SPARK) - 1) + 0.5))])
    return "".join(line)


def _grouped(values: Sequence[float | None], width: int) -> list[float | None]:
    if len(values) <= width:
        return list(values)
    grouped: list[float | None] = []
    for index in range(width):
        part = values[index * len(values) // width:(index + 1) * len(values) // width]
        present = [value for value in part if value is not None]
        grouped.append(sum(present) / len(present) if present else None)
    return grouped


def _print_tables(
    service: str, summary: Mapping[str, Any], series: list[dict[str, Any]], bucket: str
) -> None:
    click.echo(f"{service}: {summary['start']} to {summary['end']}, sparklines by {bucket}")
    overall = {"generation": None, "role": "main", **summary["overall"]}
    figures = {(g["generation"], g["role"]): g for g in [overall, *summary["generations"]]}
    for line in series:
        key = (line["generation"], line["role"])
        if key not in figures:
            continue
        title = f"{line['generation']} ({line['role']})" if line["generation"] else "service"
        click.echo(f"\n{title}")
        rows = [{"figure": figure.label, "value": _shown(figure.value(figures[key])),
                 "over time": sparkline([bucket[figure.metric] for bucket in line["buckets"]])}
                for figure in FIGURES]
        echo_table(rows, ("figure", "value", "over time"))


def _write_csv(series: list[dict[str, Any]]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    metrics = [figure.metric for figure in FIGURES]
    writer.writerow(["generation", "role", "start", "end", *metrics])
    for line in series:
        for bucket in line["buckets"]:
            writer.writerow([line["generation"] or "", line["role"], bucket["start"],
                             bucket["end"], *("" if bucket[m] is None else bucket[m]
                                              for m in metrics)])


def _shown(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    return value


def _percent(rate: float | None) -> str | None:
    return None if rate is None else f"{rate * 100:.2f}%"


def _mebibytes(value: float | None) -> float | None:
    return None if value is None else value / 2**20
