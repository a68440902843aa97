"""``shipyard drift SERVICE``: how far a model service's live features and predictions are
from its model's baseline over a window, a table of features most drifted first and the
prediction's line; with ``--feature``, one feature's histograms side by side and its PSI
over time; JSON for scripts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import click

from shipyard.cli.connection import client_from
from shipyard.cli.output import echo_json, echo_table
from shipyard.cli.stats import iso_bucket, sparkline
from shipyard.stats.spans import DRIFT_METRICS

__all__ = [
    "BAR_WIDTH", "DISTRIBUTION_COLUMNS", "FEATURE_COLUMNS", "bar", "distribution_rows",
    "distribution_title", "drift", "feature_rows", "over_time_lines", "summary_lines",
    "target_line",
]

FEATURE_COLUMNS = ("feature", "type", "importance", "psi", "js", "p-value", "test", "rows",
                   "drift")
DISTRIBUTION_COLUMNS = ("bin", "baseline", "current", "change")
BAR_WIDTH = 24
_EIGHTHS = " ▏▎▍▌▋▊▉"
DRIFTED = "DRIFTED"
TOO_SMALL = "too few rows"


@click.command("drift")
@click.argument("service")
@click.option("--since", default="7d", show_default=True,
              help="The window's start: back from now (24h, 7d) or ISO 8601; whole hours.")
@click.option("--until", default=None,
              help="The window's end (default: the next whole hour).")
@click.option("--generation", default=None,
              help="Only this generation (v2); by default the newest and the others on "
                   "the same model baseline.")
@click.option("--challenger", is_flag=True,
              help="The challenger's calls instead of the main ones.")
@click.option("--metric", type=click.Choice(DRIFT_METRICS), default="psi", show_default=True,
              help="What the features are sorted by, most drifted first.")
@click.option("--feature", default=None,
              help="Show this feature's (or prediction's) histograms, baseline beside "
                   "current, and its PSI over time instead.")
@click.option("--bucket", default="1d", show_default=True,
              help="With --feature, each sparkline step: whole hours (1h, 6h, 1d) or "
                   "ISO 8601 (PT6H).")
@click.option("--output", "--format", "output", type=click.Choice(["table", "json"]),
              default="table", show_default=True)
@click.pass_context
def drift(
    ctx: click.Context, service: str, since: str, until: str | None,
    generation: str | None, challenger: bool, metric: str, feature: str | None,
    bucket: str, output: str,
) -> None:
    """SERVICE's drift from its model's baseline over a window: each feature's PSI,
    Jensen-Shannon distance and test p-value, most drifted first, then the prediction's;
    with --feature, that feature's histograms and its PSI over time."""
    client = client_from(ctx).services
    role = "challenger" if challenger else None
    if feature is None:
        features = client.drift(service, since, until, generation=generation, role=role,
                                metric=metric)
        # The target over the very window the features were measured on.
        target = client.target_drift(service, features["start"], features["end"],
                                     generation=generation, role=role)
        if output == "json":
            echo_json({"features": features, "target": target})
            return
        for line in summary_lines(service, features):
            click.echo(line)
        click.echo("")
        echo_table(feature_rows(features), FEATURE_COLUMNS)
        click.echo("")
        click.echo(target_line(target))
        return
    distribution = client.drift_distribution(service, feature, since, until,
                                             generation=generation, role=role)
    bucket_size = iso_bucket(bucket)
    series = client.drift_over_time(service, feature, bucket_size, distribution["start"],
                                    distribution["end"], generation=generation, role=role)
    if output == "json":
        echo_json({"distribution": distribution,
                   "over_time": {"bucket_size": bucket_size, "series": series}})
        return
    click.echo(distribution_title(service, distribution))
    click.echo("")
    echo_table(distribution_rows(distribution), DISTRIBUTION_COLUMNS)
    click.echo("")
    for line in over_time_lines(series, bucket_size):
        click.echo(line)


def summary_lines(service: str, answer: Mapping[str, Any]) -> list[str]:
    """The lines above the features' table: the window, the rows, the thresholds and
    how many features drifted (or that there are too few rows to judge)."""
    thresholds = answer["thresholds"]
    count = len(answer["features"])
    lines = [
        f"{service}: {answer['start']} to {answer['end']}, {_scope(answer)}",
        f"{answer['rows']:,} rows scored, {answer['data_errors']:,} data errors; "
        f"baseline {answer['baseline_rows']:,} rows",
        f"drifted at {_rule(thresholds, count)}, from {thresholds['min_rows']:,} rows",
    ]
    if answer["too_small"]:
        lines.append(f"too few rows to judge: {answer['rows']:,} scored, "
                     f"{thresholds['min_rows']:,} needed")
    else:
        lines.append(f"{answer['drifted']} of {count} features drifted "
                     f"(most drifted first by {answer['metric']})")
    return lines


def feature_rows(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row of ``FEATURE_COLUMNS`` per feature, in the answer's order."""
    return [{
        "feature": entry["name"], "type": entry["type"],
        "importance": _general(entry["importance"]), "psi": _fixed(entry["psi"]),
        "js": _fixed(entry["js_distance"]), "p-value": _general(entry["p_value"], 2),
        "test": entry["test"], "rows": _rows(entry), "drift": _flag(entry),
    } for entry in answer["features"]]


def target_line(answer: Mapping[str, Any]) -> str:
    """The prediction's drift in one line, or why it is not known yet."""
    entry = answer["target"]
    if entry is None:
        return ("target drift: unknown until the model's predictions on its baseline "
                "are taken")
    verdict = (DRIFTED if entry["drifted"] else "too few rows to judge"
               if entry["too_small"] else "not drifted")
    return (f"target drift ({entry['name']}): {verdict}: PSI {_fixed(entry['psi'])}, "
            f"JS {_fixed(entry['js_distance'])}, p-value {_general(entry['p_value'], 2)} "
            f"({entry['test']}), rows {_rows(entry)}")


def distribution_title(service: str, answer: Mapping[str, Any]) -> str:
    return (f"{service} {answer['feature']} ({answer['type']}): {answer['start']} to "
            f"{answer['end']}, {_scope(answer)}; baseline "
            f"{answer['reference']['rows']:,} rows, current {answer['current']['rows']:,}")


def distribution_rows(
    answer: Mapping[str, Any], width: int = BAR_WIDTH
) -> list[dict[str, Any]]:
    """One row of ``DISTRIBUTION_COLUMNS`` per bin: each side's share as a percentage
    and a bar (both sides on one scale, the largest share ``width`` wide), and the
    change in percentage points."""
    reference = answer["reference"]["shares"]
    current = answer["current"]["shares"]
    top = max([*reference, *current], default=0.0)
    return [{
        "bin": label,
        "baseline": f"{was * 100:5.1f}% {bar(was, top, width)}",
        "current": f"{now * 100:5.1f}% {bar(now, top, width)}",
        "change": f"{(now - was) * 100:+.1f} pts",
    } for label, was, now in zip(answer["bins"], reference, current, strict=True)]


def over_time_lines(series: Sequence[Mapping[str, Any]], bucket_size: str) -> list[str]:
    """A sparkline of PSI bucket by bucket (blank where a bucket has too few rows to
    judge), and in how many buckets the feature drifted."""
    judged = [None if bucket["too_small"] else bucket["psi"] for bucket in series]
    present = [value for value in judged if value is not None]
    top = f"  (largest {max(present):.3f})" if present else ""
    small = sum(bool(bucket["too_small"]) for bucket in series)
    counts = f"drifted in {sum(bool(b['drifted']) for b in series)} of {len(series)} buckets"
    if small:
        counts += f"; {small} with too few rows to judge (blank)"
    return [f"PSI by {bucket_size}: {sparkline(judged)}{top}", counts]


def bar(share: float, top: float, width: int = BAR_WIDTH) -> str:
    """``share`` as a bar of block characters in eighths, ``top`` ``width`` wide."""
    eighths = round(share / top * width * 8) if top > 0 else 0
    full, part = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[part] if part else "")


def _scope(answer: Mapping[str, Any]) -> str:
    tags = answer["generations"]
    noun = "generation" if len(tags) == 1 else "generations"
    return f"{noun} {', '.join(tags)} ({answer['role']})"


def _rule(thresholds: Mapping[str, Any], tests: int) -> str:
    p_value = f"p-value < {thresholds['p_value']:g}"
    if tests > 1:
        p_value += f" / {tests} features"
    return f"PSI ≥ {thresholds['psi']:g}, JS ≥ {thresholds['js_distance']:g} or {p_value}"


def _flag(entry: Mapping[str, Any]) -> str:
    if entry["drifted"]:
        return DRIFTED
    return TOO_SMALL if entry["too_small"] else ""


def _rows(entry: Mapping[str, Any]) -> str:
    return f"{entry['current_rows']:,}/{entry['reference_rows']:,}"


def _fixed(value: float | None) -> str | None:
    return None if value is None else f"{value:.3f}"


def _general(value: float | None, digits: int = 3) -> str | None:
    return None if value is None else f"{value:.{digits}g}"
