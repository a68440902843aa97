"""``shipyard drift``'s pieces that need no server: the SDK's requests, the rendering of
the API's answers, and the command over a fake client (the answers themselves are
tested in tests/unit/test_drift.py)."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest
from click.testing import CliRunner

from shipyard.cli import cli
from shipyard.cli.drift import (
    DRIFTED,
    TOO_SMALL,
    bar,
    distribution_rows,
    distribution_title,
    feature_rows,
    over_time_lines,
    summary_lines,
    target_line,
)
from shipyard.cli.stats import SPARK
from shipyard.errors import NotFound
from shipyard_sdk.services_api import ServicesAPI

THRESHOLDS = {"psi": 0.2, "js_distance": 0.1, "p_value": 0.05, "min_rows": 100}
HEAD = {
    "service_id": "svc-1", "start": "2024-05-01T00:00:00Z", "end": "2024-05-08T00:00:00Z",
    "generations": ["v1", "v2"], "role": "main", "baseline_rows": 5000,
    "thresholds": THRESHOLDS,
}


def entry(name: str, **values: Any) -> dict[str, Any]:
    """A feature's drift as the API answers it; not drifted unless ``values`` say."""
    return {"name": name, "type": "number", "importance": 0.25, "psi": 0.01,
            "js_distance": 0.02, "hellinger": 0.02, "wasserstein": 0.05, "test": "ks",
            "statistic": 0.03, "p_value": 0.61, "reference_rows": 5000,
            "current_rows": 1234, "too_small": False, "drifted": False, **values}


FEATURES = {
    **HEAD, "rows": 1234, "data_errors": 3, "too_small": False, "metric": "psi",
    "drifted": 1, "features": [
        entry("petal_length", psi=0.412, js_distance=0.214, p_value=1.2e-30,
              statistic=0.31, drifted=True),
        entry("sepal_width"),
        entry("colour", type="string", importance=None, wasserstein=None, test="chi2",
              p_value=0.2),
    ],
}
TOO_FEW = {
    **HEAD, "rows": 42, "data_errors": 0, "too_small": True, "metric": "psi", "drifted": 0,
    "features": [entry("petal_length", psi=0.9, current_rows=42, too_small=True)],
}
TARGET = {**HEAD, "rows": 1234, "data_errors": 3, "too_small": False,
          "target": entry("prediction", type="string", importance=None, wasserstein=None,
                          test="chi2", psi=0.25, p_value=0.003, drifted=True)}
NO_TARGET = {**HEAD, "rows": 1234, "data_errors": 3, "too_small": False, "target": None}
DISTRIBUTION = {
    "service_id": "svc-1", "start": HEAD["start"], "end": HEAD["end"],
    "generations": ["v2"], "role": "challenger", "feature": "colour", "type": "string",
    "bins": ["blue", "red", "other", "missing"],
    "reference": {"rows": 100, "counts": [50, 50, 0, 0], "shares": [0.5, 0.5, 0.0, 0.0]},
    "current": {"rows": 200, "counts": [40, 150, 10, 0],
                "shares": [0.2, 0.75, 0.05, 0.0]},
}


def bucket(day: int, psi: float, rows: int = 500, **values: Any) -> dict[str, Any]:
    return {"start": f"2024-05-0{day}T00:00:00Z", "end": f"2024-05-0{day + 1}T00:00:00Z",
            "psi": psi, "js_distance": psi / 2, "hellinger": psi / 2, "wasserstein": None,
            "p_value": 0.5, "current_rows": rows, "drifted": False,
            "too_small": rows < 100, **values}


SERIES = [bucket(1, 0.0, rows=0), bucket(2, 0.1), bucket(3, 0.4, drifted=True),
          bucket(4, 2.0, rows=12), bucket(5, 0.2, drifted=True)]


def test_the_summary_gives_the_window_rows_thresholds_and_drifted_count() -> None:
    assert summary_lines("iris", FEATURES) == [
        "iris: 2024-05-01T00:00:00Z to 2024-05-08T00:00:00Z, generations v1, v2 (main)",
        "1,234 rows scored, 3 data errors; baseline 5,000 rows",
        "drifted at PSI ≥ 0.2, JS ≥ 0.1 or p-value < 0.05 / 3 features, from 100 rows",
        "1 of 3 features drifted (most drifted first by psi)",
    ]


def test_a_window_with_too_few_rows_says_so_instead_of_counting() -> None:
    lines = summary_lines("iris", TOO_FEW)
    assert lines[0].endswith("generations v1, v2 (main)")
    assert "p-value < 0.05," in lines[2]  # one feature: no Bonferroni to show
    assert lines[-1] == "too few rows to judge: 42 scored, 100 needed"
    assert feature_rows(TOO_FEW)[0]["drift"] == TOO_SMALL


def test_the_features_keep_the_answers_order_and_mark_the_drifted_ones() -> None:
    rows = feature_rows(FEATURES)
    assert [row["feature"] for row in rows] == ["petal_length", "sepal_width", "colour"]
    assert rows[0] == {
        "feature": "petal_length", "type": "number", "importance": "0.25", "psi": "0.412",
        "js": "0.214", "p-value": "1.2e-30", "test": "ks", "rows": "1,234/5,000",
        "drift": DRIFTED,
    }
    assert rows[1]["drift"] == ""  # shown as "-"
    # A category: no Wasserstein distance, and here no importance either.
    assert rows[2]["importance"] is None
    assert (rows[2]["test"], rows[2]["p-value"]) == ("chi2", "0.2")


def test_the_target_line_gives_its_measures_or_why_they_are_not_known() -> None:
    assert target_line(TARGET) == (
        "target drift (prediction): DRIFTED: PSI 0.250, JS 0.020, p-value 0.003 (chi2), "
        "rows 1,234/5,000")
    quiet = {**TARGET, "target": entry("prediction")}
    assert target_line(quiet).startswith("target drift (prediction): not drifted: ")
    few = {**TARGET, "target": entry("prediction", current_rows=7, too_small=True)}
    assert "too few rows to judge" in target_line(few)
    assert target_line(NO_TARGET) == (
        "target drift: unknown until the model's predictions on its baseline are taken")


def test_bars_are_scaled_to_the_largest_share_in_eighths() -> None:
    assert bar(0.75, 0.75, width=4) == "████"
    assert bar(0.375, 0.75, width=4) == "██"
    assert bar(0.05, 0.75, width=4) == "▎"  # 0.27 of a cell: two eighths
    assert bar(0.0, 0.75) == ""
    assert bar(0.0, 0.0) == ""


def test_the_distribution_puts_baseline_and_current_side_by_side_per_bin() -> None:
    assert distribution_title("iris", DISTRIBUTION) == (
        "iris colour (string): 2024-05-01T00:00:00Z to 2024-05-08T00:00:00Z, "
        "generation v2 (challenger); baseline 100 rows, current 200")
    rows = distribution_rows(DISTRIBUTION, width=8)
    assert [row["bin"] for row in rows] == ["blue", "red", "other", "missing"]
    assert rows[1] == {"bin": "red", "baseline": " 50.0% █████▍",
                       "current": " 75.0% ████████", "change": "+25.0 pts"}
    assert rows[0]["change"] == "-30.0 pts"
    assert rows[3] == {"bin": "missing", "baseline": "  0.0% ", "current": "  0.0% ",
                       "change": "+0.0 pts"}


def test_psi_over_time_leaves_buckets_with_too_few_rows_blank() -> None:
    line, counts = over_time_lines(SERIES, "P1D")
    # 0.1, 0.4 and 0.2 on a scale whose top is 0.4; the 12 rows' 2.0 is not drawn.
    assert line == f"PSI by P1D:  {SPARK[2]}{SPARK[7]} {SPARK[4]}  (largest 0.400)"
    assert counts == "drifted in 2 of 5 buckets; 2 with too few rows to judge (blank)"
    assert over_time_lines([bucket(1, 0.0, rows=0)], "PT6H") == [
        "PSI by PT6H:  ", "drifted in 0 of 1 buckets; 1 with too few rows to judge (blank)"]


class Recording:
    """A client that records each request and answers with ``answers`` by path."""

    def __init__(self, answers: dict[str, Any] | None = None) -> None:
        self.answers = answers or {}
        self.seen: list[tuple[str, str, dict[str, str]]] = []

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        self.seen.append((method, path, kwargs.get("params") or {}))
        for suffix, answer in self.answers.items():
            if path.endswith(suffix):
                return answer
        return {"series": []}


def test_the_sdk_asks_for_the_drift_with_only_the_arguments_given() -> None:
    client = Recording()
    services = ServicesAPI(client)  # type: ignore[arg-type]
    services.drift("iris model")
    services.drift("iris", "24h", "2024-05-08T00:00:00Z", generation="v2", role="challenger",
                   metric="p_value")
    services.target_drift("iris", "7d", role="main")
    assert client.seen == [
        ("GET", "/api/v1/services/iris%20model/drift/features", {}),
        ("GET", "/api/v1/services/iris/drift/features",
         {"start": "24h", "end": "2024-05-08T00:00:00Z", "generation": "v2",
          "role": "challenger", "metric": "p_value"}),
        ("GET", "/api/v1/services/iris/drift/target", {"start": "7d", "role": "main"}),
    ]


def test_the_sdk_asks_for_one_features_histograms_and_buckets() -> None:
    client = Recording({"/over-time": {**HEAD, "feature": "colour",
                                       "bucket_size_seconds": 86400, "series": SERIES},
                        "/distribution": DISTRIBUTION})
    services = ServicesAPI(client)  # type: ignore[arg-type]
    assert services.drift_over_time("iris", "colour", start="7d") == SERIES
    services.drift_over_time("iris", "prediction", "PT6H", "24h", "1h", generation="v1")
    assert services.drift_distribution("iris", "colour", "24h", role="challenger") \
        == DISTRIBUTION
    assert client.seen == [
        ("GET", "/api/v1/services/iris/drift/over-time",
         {"feature": "colour", "bucket_size": "P1D", "start": "7d"}),
        ("GET", "/api/v1/services/iris/drift/over-time",
         {"feature": "prediction", "bucket_size": "PT6H", "start": "24h", "end": "1h",
          "generation": "v1"}),
        ("GET", "/api/v1/services/iris/drift/distribution",
         {"feature": "colour", "start": "24h", "role": "challenger"}),
    ]


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> Recording:
    """The command's client: a ``Recording`` behind the real ``ServicesAPI``."""
    client = Recording({"/drift/features": FEATURES, "/drift/target": NO_TARGET,
                        "/distribution": DISTRIBUTION,
                        "/over-time": {"series": SERIES}})

    class Client:
        services = ServicesAPI(client)  # type: ignore[arg-type]

    # The module, not the ``drift`` command the package names after it.
    module = importlib.import_module("shipyard.cli.drift")
    monkeypatch.setattr(module, "client_from", lambda ctx: Client())
    return client


def test_the_command_prints_the_summary_the_table_and_the_target(
    recording: Recording,
) -> None:
    done = CliRunner().invoke(cli, ["drift", "iris", "--since", "24h", "--challenger",
                                    "--metric", "js_distance"])
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[3] == "1 of 3 features drifted (most drifted first by psi)"
    assert lines[5].split() == ["FEATURE", "TYPE", "IMPORTANCE", "PSI", "JS", "P-VALUE",
                                "TEST", "ROWS", "DRIFT"]
    assert lines[6].split()[0] == "petal_length" and lines[6].endswith(DRIFTED)
    assert lines[8].split()[2] == "-"  # colour: no importance
    assert lines[-1].startswith("target drift: unknown")
    # The target is measured over the window the features answered with.
    assert [params for _, _, params in recording.seen] == [
        {"start": "24h", "role": "challenger", "metric": "js_distance"},
        {"start": HEAD["start"], "end": HEAD["end"], "role": "challenger"},
    ]


def test_the_command_shows_one_feature_with_its_drift_over_time(
    recording: Recording,
) -> None:
    done = CliRunner().invoke(cli, ["drift", "iris", "--feature", "colour", "--bucket", "6h",
                                    "--generation", "v2"])
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[0].startswith("iris colour (string)")
    assert " 75.0% " in done.output
    assert done.output.splitlines()[-1].startswith("drifted in 2 of 5 buckets")
    assert recording.seen[1][2] == {"feature": "colour", "bucket_size": "PT6H",
                                    "start": HEAD["start"], "end": HEAD["end"],
                                    "generation": "v2"}


def test_the_command_prints_the_raw_answers_as_one_json_object(recording: Recording) -> None:
    done = CliRunner().invoke(cli, ["drift", "iris", "--output", "json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == {"features": FEATURES, "target": NO_TARGET}
    done = CliRunner().invoke(cli, ["drift", "iris", "--feature", "colour", "--format", "json"])
    assert json.loads(done.output) == {
        "distribution": DISTRIBUTION, "over_time": {"bucket_size": "P1D", "series": SERIES}}


def test_an_error_from_the_api_is_one_line_and_exit_status_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Refusing:
        def json(self, method: str, path: str, **_: Any) -> Any:
            raise NotFound("this service has no drift yet")

    class Client:
        services = ServicesAPI(Refusing())  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.import_module("shipyard.cli.drift"), "client_from",
                        lambda ctx: Client())
    done = CliRunner().invoke(cli, ["drift", "iris"])
    assert done.exit_code == 1
    assert done.output == "Error: this service has no drift yet\n"
