"""``shipyard actuals upload SERVICE FILE``: send a model service's actuals (the true
outcomes of its predictions) in parts, with a progress bar; ``shipyard accuracy
SERVICE``: its accuracy from them over a window, a row per generation and role, the
confusion matrix of a classification and sparklines of a metric over time; JSON for
scripts."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from shipyard.cli.connection import client_from
from shipyard.cli.output import echo_json, echo_table
from shipyard.cli.stats import iso_bucket, sparkline
from shipyard.errors import InvalidInput
from shipyard.stats.spans import ROLES
from shipyard_sdk.services_api import MAX_ACTUALS_PER_UPLOAD

__all__ = [
    "METRICS", "METRIC_COLUMNS", "NO_ACTUALS", "accuracy", "accuracy_rows", "actuals",
    "actuals_source", "confusion_lines", "joined", "over_time_lines", "significant",
    "summary_lines", "table_columns", "upload_line",
]

METRIC_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "classification": (
        ("accuracy", "accuracy"), ("bal.acc", "balanced_accuracy"),
        ("precision", "precision"), ("recall", "recall"), ("f1", "f1"), ("auc", "auc"),
        ("logloss", "log_loss"),
    ),
    "regression": (
        ("rmse", "rmse"), ("mae", "mae"), ("mape", "mape"), ("r2", "r2"),
        ("gamma dev", "gamma_deviance"),
    ),
}
"""Each problem type's columns in the table: the column and the metric it shows. The
metrics are those of ``shipyard.stats.accuracy_metrics``, which the CLI does not import
(it loads scikit-learn)."""
METRICS = tuple(metric for columns in METRIC_COLUMNS.values() for _, metric in columns)
NO_ACTUALS = ("no actuals joined to predictions in this window yet; send them with "
              "`shipyard actuals upload`")
MAX_MATRIX_LABELS = 20
"""A confusion matrix of more labels is left to ``--output json``."""
_CORNER = "actual \\ predicted"


@click.group("actuals")
def actuals() -> None:
    """A model service's actuals: the true outcomes of its predictions, joined to them by
    association id."""


@actuals.command("upload")
@click.argument("service")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--chunk-size", type=click.IntRange(1, MAX_ACTUALS_PER_UPLOAD),
              default=10_000, show_default=True,
              help=f"Actuals per upload (at most {MAX_ACTUALS_PER_UPLOAD:,}).")
@click.option("--output", "--format", "output", type=click.Choice(["table", "json"]),
              default="table", show_default=True)
@click.pass_context
def upload(ctx: click.Context, service: str, file: Path, chunk_size: int, output: str) -> None:
    """Send FILE's actuals to SERVICE: a .csv file with a header row or a .json list of
    objects, of association_id, actual_value, and optionally timestamp (ISO 8601 or
    epoch seconds) and was_acted_on. Each actual joins the prediction logged
    with its id, now or once it is logged. A resend replaces an id's actual, so sending a
    file again (after a refused upload, say) is safe."""
    source = actuals_source(file)
    client = client_from(ctx).services
    with ExitStack() as stack:
        bar: list[Any] = []

        def progress(sent: int, total: int) -> None:
            # Opened at the first report, when the total is known.
            if not bar:
                bar.append(stack.enter_context(click.progressbar(
                    length=total, label="sending actuals", file=sys.stderr)))
            bar[0].update(sent - bar[0].pos)

        answer = client.submit_actuals(service, source, chunk_size=chunk_size,
                                       progress=progress)
    if output == "json":
        echo_json(answer)
    else:
        click.echo(upload_line(answer))


@click.command("accuracy")
@click.argument("service")
@click.option("--since", default="7d", show_default=True,
              help="The window's start: back from now (24h, 7d) or ISO 8601; whole hours "
                   "of the predictions' times.")
@click.option("--until", default=None,
              help="The window's end (default: the next whole hour).")
@click.option("--generation", default=None, help="Only this generation (v2).")
@click.option("--role", type=click.Choice(list(ROLES)), default=None,
              help="Only this role: the main calls, the challenger's, or a batch job's "
                   "rows (by default each beside the others).")
@click.option("--challenger", is_flag=True, help="Only the challenger's calls: --role "
                                                 "challenger.")
@click.option("--metric", "metrics", multiple=True, type=click.Choice(METRICS),
              help="A metric to draw over time; repeat for several (default: accuracy, or "
                   "rmse for a regression).")
@click.option("--bucket", default="1d", show_default=True,
              help="Each sparkline step: whole hours (1h, 6h, 1d) or ISO 8601 (PT6H).")
@click.option("--output", "--format", "output", type=click.Choice(["table", "json"]),
              default="table", show_default=True)
@click.pass_context
def accuracy(
    ctx: click.Context, service: str, since: str, until: str | None,
    generation: str | None, role: str | None, challenger: bool, metrics: tuple[str, ...],
    bucket: str, output: str,
) -> None:
    """SERVICE's accuracy from its actuals over a window, per generation and role and for
    all its main calls: for a classification, accuracy, balanced accuracy, precision,
    recall, F1, AUC, log loss and the confusion matrix; for a regression, RMSE, MAE, MAPE,
    R² and gamma deviance; then sparklines of a metric over time."""
    if challenger:
        if role not in (None, "challenger"):
            raise InvalidInput(f"--challenger is --role challenger: it cannot go with "
                               f"--role {role}")
        role = "challenger"
    client = client_from(ctx).services
    summary = client.accuracy(service, since, until, generation=generation, role=role)
    if output == "table" and not joined(summary):
        click.echo(NO_ACTUALS)
        return
    # Over the very window the summary answered for.
    over_time = client.accuracy_over_time(service, list(metrics) or None, iso_bucket(bucket),
                                          summary["start"], summary["end"],
                                          generation=generation, role=role)
    if output == "json":
        echo_json({"accuracy": summary, "over_time": over_time})
        return
    for line in summary_lines(service, summary):
        click.echo(line)
    click.echo("")
    echo_table(accuracy_rows(summary), table_columns(summary["problem_type"]))
    matrix = confusion_lines(summary)
    if matrix:
        click.echo("")
        for line in matrix:
            click.echo(line)
    click.echo("")
    for line in over_time_lines(over_time, list(metrics) or over_time["metrics"][:1]):
        click.echo(line)


def actuals_source(path: Path) -> Path | list[Any]:
    """What ``submit_actuals`` sends of ``path``: a CSV file as it is, a JSON file's list."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return path
    if suffix != ".json":
        raise click.BadParameter(f"{path.name} is neither a .csv nor a .json file",
                                 param_hint="'FILE'")
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"{path.name} is not JSON: {exc}", param_hint="'FILE'") \
            from None
    if not isinstance(document, list):
        raise click.BadParameter(
            f'{path.name} must hold a JSON list of objects such as [{{"association_id": '
            f'"order-1", "actual_value": "setosa"}}]', param_hint="'FILE'")
    return document


def upload_line(answer: Mapping[str, Any]) -> str:
    """What an upload did, in one line."""
    return (f"{answer['received']:,} actuals: {answer['matched']:,} matched a prediction, "
            f"{answer['unmatched']:,} not yet, {answer['updated']:,} replaced earlier ones")


def joined(answer: Mapping[str, Any]) -> bool:
    """Whether any actual was joined to a prediction in the answer's window."""
    overall = answer["overall"]
    return bool(overall and overall["rows"]) or any(
        entry["rows"] for entry in answer["generations"])


def summary_lines(service: str, answer: Mapping[str, Any]) -> list[str]:
    """The lines above the table: the window and the problem type, and for a
    classification how precision, recall and F1 are averaged and how many rows AUC and
    log loss come from."""
    lines = [f"{service}: {answer['start']} to {answer['end']}, "
             f"{answer['problem_type'] or 'no actuals yet'}"]
    found = _reference(answer)
    if answer["problem_type"] != "classification" or found is None:
        return lines
    title, entry = found
    labels = len((entry.get("confusion_matrix") or {}).get("labels") or ())
    if entry.get("average") == "binary":
        averaged = f"of the positive class {_label(entry['positive_class'])}"
    elif entry.get("average"):
        averaged = f"{entry['average']} over {labels} labels"
    else:
        averaged = "unknown: a single label"
    lines.append(f"{title}: precision, recall and F1 {averaged}; AUC and log loss from "
                 f"{entry.get('scored_with_probabilities') or 0:,} of {entry['rows']:,} "
                 "rows scored with probabilities")
    return lines


def table_columns(problem_type: str | None) -> tuple[str, ...]:
    """The table's columns for a problem type's metrics."""
    columns = METRIC_COLUMNS.get(problem_type or "", ())
    return ("generation", "role", "rows", *(column for column, _ in columns))


def accuracy_rows(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row of ``table_columns`` per generation and role, in the answer's order (the
    challenger beside the main calls of its generation), then ``all`` for the main calls
    of every generation; numbers to 4 significant digits, None where unknown."""
    columns = METRIC_COLUMNS.get(answer["problem_type"] or "", ())
    entries = list(answer["generations"])
    overall = answer["overall"]
    if overall and overall["rows"]:
        entries.append({"generation": "all", "role": "main", **overall})
    return [{
        "generation": entry["generation"], "role": entry["role"],
        "rows": significant(entry["rows"]),
        **{column: significant(entry.get(metric)) for column, metric in columns},
    } for entry in entries]


def confusion_lines(
    answer: Mapping[str, Any], max_labels: int = MAX_MATRIX_LABELS
) -> list[str]:
    """A classification's confusion matrix (of all main calls, else of the first
    generation with rows): a row per actual label, a column per predicted one."""
    found = _reference(answer)
    if found is None or not found[1].get("confusion_matrix"):
        return []
    title, entry = found
    labels = [_label(label) for label in entry["confusion_matrix"]["labels"]]
    if len(labels) > max_labels:
        return [f"confusion matrix ({title}): {len(labels)} labels, too many to show here; "
                "see --output json"]
    cells = [[significant(count) or "0" for count in row]
             for row in entry["confusion_matrix"]["matrix"]]
    first = max(len(_CORNER), *(len(label) for label in labels))
    widths = [max(len(label), *(len(row[index]) for row in cells))
              for index, label in enumerate(labels)]

    def line(head: str, values: Sequence[str]) -> str:
        return "  ".join([head.ljust(first),
                          *(value.rjust(width) for value, width in zip(values, widths,
                                                                       strict=True))])

    return [f"confusion matrix ({title}): a row per actual label, a column per predicted one",
            line(_CORNER, labels),
            *(line(label, row) for label, row in zip(labels, cells, strict=True))]


def over_time_lines(answer: Mapping[str, Any], metrics: Sequence[str]) -> list[str]:
    """For each metric, a sparkline per generation and role, bucket by bucket from 0 to
    the largest (blank where no actual was joined), with its lowest and largest value."""
    step = _duration(answer["bucket_size_seconds"])
    series = answer["series"]
    names = [f"{line['generation']} {line['role']}" for line in series]
    width = max((len(name) for name in names), default=0)
    lines: list[str] = []
    for metric in metrics:
        lines.append(f"{metric} by {step} (blank: no actuals joined)")
        if not series:
            lines.append("  no buckets with actuals")
        for name, line in zip(names, series, strict=True):
            values = [bucket.get(metric) for bucket in line["buckets"]]
            present = [value for value in values if value is not None]
            spread = (f"  lowest {significant(min(present))}, largest "
                      f"{significant(max(present))}" if present else "  no values")
            lines.append(f"  {name.ljust(width)}  {sparkline(values)}{spread}")
    return lines


def significant(value: float | None) -> str | None:
    """A count with thousands separators; any other number to 4 significant digits."""
    if value is None:
        return None
    if isinstance(value, bool | int):
        return f"{value:,}"
    if math.isfinite(value) and abs(value) >= 1e4:
        return f"{float(f'{value:.4g}'):,.0f}"
    return f"{value:.4g}"


def _reference(answer: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """The entry the notes and the confusion matrix are of: all main calls when they
    have rows, else the first generation and role that does."""
    overall = answer["overall"]
    if overall and overall["rows"]:
        return "all main calls", overall
    for entry in answer["generations"]:
        if entry["rows"]:
            return f"{entry['generation']} {entry['role']}", entry
    return None


def _label(value: Any) -> str:
    """A class label as JSON writes it, strings bare."""
    return value if isinstance(value, str) else json.dumps(value)


def _duration(seconds: int) -> str:
    days, rest = divmod(seconds, 86_400)
    if not rest:
        return f"{days}d"
    return f"{seconds // 3600}h" if seconds % 3600 == 0 else f"{seconds}s"
