"""``shipyard actuals upload`` and ``shipyard accuracy``'s pieces that need no server: the
SDK's requests (actuals sent in parts), the rendering of the API's answers, and the
commands over a fake client (the answers themselves are tested in
tests/unit/test_accuracy.py)."""

from __future__ import annotations

import csv
import importlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy
import pytest
from click.testing import CliRunner

from shipyard.cli import cli
from shipyard.cli.accuracy import (
    METRIC_COLUMNS,
    NO_ACTUALS,
    accuracy_rows,
    confusion_lines,
    joined,
    over_time_lines,
    significant,
    summary_lines,
    table_columns,
    upload_line,
)
from shipyard.cli.stats import SPARK
from shipyard.errors import InvalidInput, NotFound
from shipyard_sdk.services_api import ServicesAPI

WINDOW = {"service_id": "svc-1", "start": "2024-05-01T00:00:00Z",
          "end": "2024-05-08T00:00:00Z"}
IRIS = ["setosa", "versicolor", "virginica"]


def classification(rows: int, **values: Any) -> dict[str, Any]:
    """A classification's metrics as the API answers them: three labels, weighted."""
    return {"rows": rows, "scored_with_probabilities": rows - 54, "accuracy": 0.9513,
            "balanced_accuracy": 0.948712, "precision": 0.95211, "recall": 0.9513,
            "f1": 0.95104, "average": "weighted", "positive_class": None,
            "auc": 0.991234, "log_loss": 0.1523456,
            "confusion_matrix": {"labels": IRIS,
                                 "matrix": [[410, 0, 0], [0, 390, 22], [0, 38, 374]]},
            **values}


def regression(rows: int, **values: Any) -> dict[str, Any]:
    return {"rows": rows, "rmse": 12345.678, "mae": 0.1234567, "mape": None,
            "r2": 0.876543, "gamma_deviance": None, **values}


CLASSIFICATION = {
    **WINDOW, "problem_type": "classification", "overall": classification(1234),
    "generations": [
        {"generation": "v1", "role": "main", **classification(300, accuracy=0.9)},
        {"generation": "v2", "role": "main", **classification(934)},
        {"generation": "v2", "role": "challenger",
         **classification(934, auc=None, log_loss=None, scored_with_probabilities=0)},
    ],
}
REGRESSION = {
    **WINDOW, "problem_type": "regression", "overall": regression(20_000),
    "generations": [{"generation": "v3", "role": "main", **regression(20_000)}],
}
EMPTY = {**WINDOW, "problem_type": None, "overall": None, "generations": []}


def bucket(day: int, rows: int, value: float | None) -> dict[str, Any]:
    return {"start": f"2024-05-0{day}T00:00:00Z", "end": f"2024-05-0{day + 1}T00:00:00Z",
            "rows": rows, "accuracy": value, "f1": None if value is None else value / 2}


OVER_TIME = {
    **WINDOW, "problem_type": "classification", "bucket_size_seconds": 86_400,
    "metrics": ["accuracy", "f1"],
    "series": [
        {"generation": "v2", "role": "main",
         "buckets": [bucket(1, 0, None), bucket(2, 10, 0.5), bucket(3, 20, 1.0)]},
        {"generation": "v2", "role": "challenger",
         "buckets": [bucket(1, 0, None), bucket(2, 0, None), bucket(3, 5, 0.25)]},
    ],
}


def test_numbers_have_4_significant_digits_and_counts_separators() -> None:
    assert [significant(v) for v in (0.951234, 0.1, 12.3456, 1234.5, 12345.678, 0.00012345,
                                     1_234_567, 0, None)] == [
        "0.9512", "0.1", "12.35", "1234", "12,350", "0.0001234", "1,234,567", "0", None]


def test_the_metrics_shown_are_the_apis() -> None:
    # The CLI does not import the metrics' module (scikit-learn); this keeps them in step.
    from shipyard.stats.accuracy_metrics import METRIC_NAMES

    assert {kind: tuple(metric for _, metric in columns)
            for kind, columns in METRIC_COLUMNS.items()} == METRIC_NAMES


def test_a_classification_has_a_row_per_generation_and_role_then_all() -> None:
    assert table_columns("classification") == (
        "generation", "role", "rows", "accuracy", "bal.acc", "precision", "recall", "f1",
        "auc", "logloss")
    rows = accuracy_rows(CLASSIFICATION)
    assert [(row["generation"], row["role"]) for row in rows] == [
        ("v1", "main"), ("v2", "main"), ("v2", "challenger"), ("all", "main")]
    assert rows[-1] == {"generation": "all", "role": "main", "rows": "1,234",
                        "accuracy": "0.9513", "bal.acc": "0.9487", "precision": "0.9521",
                        "recall": "0.9513", "f1": "0.951", "auc": "0.9912",
                        "logloss": "0.1523"}
    assert rows[0]["accuracy"] == "0.9"
    assert (rows[2]["auc"], rows[2]["logloss"]) == (None, None)  # shown as "-"


def test_the_summary_says_how_the_classification_is_averaged() -> None:
    assert summary_lines("iris", CLASSIFICATION) == [
        "iris: 2024-05-01T00:00:00Z to 2024-05-08T00:00:00Z, classification",
        "all main calls: precision, recall and F1 weighted over 3 labels; AUC and log loss "
        "from 1,180 of 1,234 rows scored with probabilities",
    ]
    binary = {**CLASSIFICATION, "overall": classification(
        10, average="binary", positive_class=True, scored_with_probabilities=10,
        confusion_matrix={"labels": [False, True], "matrix": [[4, 1], [0, 5]]})}
    assert "F1 of the positive class true;" in summary_lines("churn", binary)[1]
    single = {**CLASSIFICATION, "overall": None, "generations": [
        {"generation": "v1", "role": "challenger", **classification(
            5, average=None, scored_with_probabilities=0,
            confusion_matrix={"labels": ["spam"], "matrix": [[5]]})}]}
    assert summary_lines("mail", single)[1] == (
        "v1 challenger: precision, recall and F1 unknown: a single label; AUC and log loss "
        "from 0 of 5 rows scored with probabilities")
    assert summary_lines("house", REGRESSION) == [
        "house: 2024-05-01T00:00:00Z to 2024-05-08T00:00:00Z, regression"]


def test_the_confusion_matrix_has_the_labels_as_heads() -> None:
    assert confusion_lines(CLASSIFICATION) == [
        "confusion matrix (all main calls): a row per actual label, a column per predicted "
        "one",
        "actual \\ predicted  setosa  versicolor  virginica",
        "setosa                 410           0          0",
        "versicolor               0         390         22",
        "virginica                0          38        374",
    ]
    assert confusion_lines(CLASSIFICATION, max_labels=2) == [
        "confusion matrix (all main calls): 3 labels, too many to show here; "
        "see --output json"]
    assert confusion_lines(REGRESSION) == []
    assert confusion_lines(EMPTY) == []


def test_a_regression_shows_its_metrics_and_unknown_ones_as_none() -> None:
    assert table_columns("regression")[3:] == ("rmse", "mae", "mape", "r2", "gamma dev")
    assert accuracy_rows(REGRESSION)[0] == {
        "generation": "v3", "role": "main", "rows": "20,000", "rmse": "12,350",
        "mae": "0.1235", "mape": None, "r2": "0.8765", "gamma dev": None}


def test_an_answer_without_actuals_is_not_joined() -> None:
    assert not joined(EMPTY)
    assert accuracy_rows(EMPTY) == []
    assert table_columns(None) == ("generation", "role", "rows")
    assert joined(CLASSIFICATION) and joined(REGRESSION)
    # The challenger alone: no main rows, so no "all" row either.
    alone = {**CLASSIFICATION, "overall": classification(0),
             "generations": CLASSIFICATION["generations"][2:]}
    assert joined(alone)
    assert [row["generation"] for row in accuracy_rows(alone)] == ["v2"]
    assert confusion_lines(alone)[0].startswith("confusion matrix (v2 challenger)")


def test_sparklines_over_time_leave_buckets_without_actuals_blank() -> None:
    assert over_time_lines(OVER_TIME, ["accuracy"]) == [
        "accuracy by 1d (blank: no actuals joined)",
        f"  v2 main         {SPARK[4]}{SPARK[7]}  lowest 0.5, largest 1",
        f"  v2 challenger    {SPARK[7]}  lowest 0.25, largest 0.25",
    ]
    lines = over_time_lines({**OVER_TIME, "bucket_size_seconds": 6 * 3600}, ["accuracy", "f1"])
    assert lines[0] == "accuracy by 6h (blank: no actuals joined)"
    assert lines[3] == "f1 by 6h (blank: no actuals joined)"
    none = {**OVER_TIME, "series": [{"generation": "v1", "role": "main",
                                     "buckets": [bucket(1, 0, None)]}]}
    assert over_time_lines(none, ["accuracy"])[1] == "  v1 main     no values"
    assert over_time_lines({**OVER_TIME, "series": []}, ["accuracy"])[1] == (
        "  no buckets with actuals")


def test_an_upload_is_told_in_one_line() -> None:
    assert upload_line({"received": 25_000, "matched": 24_000, "unmatched": 1000,
                        "updated": 3, "uploads": 3}) == (
        "25,000 actuals: 24,000 matched a prediction, 1,000 not yet, 3 replaced earlier ones")


class Recording:
    """A client that records each request; an upload of actuals is answered with its
    counts (each id ending in 0 not yet matched, each id in ``stored`` replaced), anything
    else by path as ``answers`` say."""

    def __init__(self, answers: dict[str, Any] | None = None,
                 refuse: Callable[[int], Exception | None] | None = None) -> None:
        self.answers = answers or {}
        self.refuse = refuse
        self.stored: set[str] = set()
        self.seen: list[tuple[str, str, dict[str, Any]]] = []

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        self.seen.append((method, path, kwargs))
        if path.endswith("/actuals"):
            refused = self.refuse(len(self.seen)) if self.refuse else None
            if refused is not None:
                raise refused
            return self._actuals(kwargs)
        for suffix, answer in self.answers.items():
            if path.endswith(suffix):
                return answer
        return {}

    def _actuals(self, kwargs: dict[str, Any]) -> dict[str, int]:
        if "json" in kwargs:
            ids = [row["association_id"] for row in kwargs["json"]]
        else:
            ids = [row["association_id"]
                   for row in csv.DictReader(io.StringIO(kwargs["data"].decode()))]
        updated = len(self.stored.intersection(map(str, ids)))
        self.stored.update(map(str, ids))
        unmatched = sum(str(i).endswith("0") for i in ids)
        return {"received": len(ids), "matched": len(ids) - unmatched,
                "unmatched": unmatched, "updated": updated}

    def uploads(self) -> list[dict[str, Any]]:
        return [kwargs for _, path, kwargs in self.seen if path.endswith("/actuals")]


def services_of(client: Recording) -> ServicesAPI:
    return ServicesAPI(client)  # type: ignore[arg-type]


def test_the_sdk_asks_for_the_accuracy_with_only_the_arguments_given() -> None:
    client = Recording({"/accuracy": CLASSIFICATION, "/over-time": OVER_TIME})
    services = services_of(client)
    assert services.accuracy("iris model") == CLASSIFICATION
    services.accuracy("iris", "24h", "2024-05-08T00:00:00Z", generation="v2",
                      role="challenger")
    assert services.accuracy_over_time("iris", start="7d") == OVER_TIME
    services.accuracy_over_time("iris", ["accuracy", "f1"], "PT6H", "24h", "1h",
                                generation="v1", role="main")
    services.accuracy_over_time("iris", "rmse")
    assert [(method, path, kwargs["params"]) for method, path, kwargs in client.seen] == [
        ("GET", "/api/v1/services/iris%20model/accuracy", {}),
        ("GET", "/api/v1/services/iris/accuracy",
         {"start": "24h", "end": "2024-05-08T00:00:00Z", "generation": "v2",
          "role": "challenger"}),
        ("GET", "/api/v1/services/iris/accuracy/over-time", {"bucket_size": "P1D",
                                                              "start": "7d"}),
        ("GET", "/api/v1/services/iris/accuracy/over-time",
         {"metric": "accuracy,f1", "bucket_size": "PT6H", "start": "24h", "end": "1h",
          "generation": "v1", "role": "main"}),
        ("GET", "/api/v1/services/iris/accuracy/over-time",
         {"metric": "rmse", "bucket_size": "P1D"}),
    ]


def actual_records(count: int) -> list[dict[str, Any]]:
    return [{"association_id": f"order-{n}", "actual_value": IRIS[n % 3]}
            for n in range(1, count + 1)]


def test_a_list_goes_in_uploads_of_chunk_size_with_the_answers_summed() -> None:
    client = Recording()
    calls: list[tuple[int, int]] = []
    answer = services_of(client).submit_actuals(
        "iris", actual_records(25), chunk_size=10, progress=lambda *a: calls.append(a))
    uploads = client.uploads()
    assert [len(body["json"]) for body in uploads] == [10, 10, 5]
    assert {path for method, path, _ in client.seen} == {"/api/v1/services/iris/actuals"}
    assert {method for method, _, _ in client.seen} == {"POST"}
    assert uploads[2]["json"][-1] == {"association_id": "order-25",
                                     "actual_value": "versicolor"}
    assert answer == {"received": 25, "matched": 23, "unmatched": 2, "updated": 0,
                      "uploads": 3}
    assert calls == [(10, 25), (20, 25), (25, 25)]
    # A resend replaces: nothing counts twice.
    again = services_of(client).submit_actuals("iris", actual_records(25))
    assert again == {"received": 25, "matched": 23, "unmatched": 2, "updated": 25,
                     "uploads": 1}


def test_numpy_values_become_json_and_missing_optional_ones_are_left_out() -> None:
    client = Recording()
    services_of(client).submit_actuals("house", [
        {"association_id": numpy.int64(7), "actual_value": numpy.float64(1.5),
         "timestamp": numpy.nan, "was_acted_on": numpy.bool_(True)},
        {"association_id": "b", "actual_value": None, "timestamp": None,
         "was_acted_on": None},
    ])
    body = client.uploads()[0]["json"]
    assert body == [{"association_id": 7, "actual_value": 1.5, "was_acted_on": True},
                    {"association_id": "b", "actual_value": None}]
    assert [type(value) for value in body[0].values()] == [int, float, bool]


def test_a_dataframe_goes_in_uploads_of_its_records() -> None:
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({
        "association_id": [f"order-{n}" for n in range(1, 6)],
        "actual_value": [1.0, 0.0, 1.0, 1.0, 0.0],
        "timestamp": pandas.to_datetime(["2024-05-01 10:00", None, "2024-05-02", None,
                                         "2024-05-03 12:30:00+00:00"], utc=True,
                                        format="ISO8601"),
        "was_acted_on": pandas.array([True, None, False, None, True], dtype="boolean"),
    })
    client = Recording()
    calls: list[tuple[int, int]] = []
    answer = services_of(client).submit_actuals("churn", frame, chunk_size=2,
                                                progress=lambda *a: calls.append(a))
    bodies = [body["json"] for body in client.uploads()]
    assert [len(body) for body in bodies] == [2, 2, 1]
    assert bodies[0] == [
        {"association_id": "order-1", "actual_value": 1.0,
         "timestamp": "2024-05-01T10:00:00+00:00", "was_acted_on": True},
        {"association_id": "order-2", "actual_value": 0.0},
    ]
    assert bodies[2] == [{"association_id": "order-5", "actual_value": 0.0,
                          "timestamp": "2024-05-03T12:30:00+00:00", "was_acted_on": True}]
    json.dumps(bodies)  # plain JSON: no numpy or pandas value is left
    assert answer["received"] == 5 and answer["uploads"] == 3
    assert calls == [(2, 5), (4, 5), (5, 5)]


CSV_TEXT = ('\ufeffassociation_id,actual_value,timestamp\n'
            'order-1,setosa,2024-05-01T10:00:00Z\n'
            'order-2,"virginica, probably",\n'
            '\n'
            'order-3,versicolor,2024-05-01T12:00:00+02:00\n'
            'order-10,setosa,\n'
            'order-5,"a ""quoted""\nlabel",\n')


def test_a_csv_file_goes_in_parts_each_with_its_header(tmp_path: Path) -> None:
    path = tmp_path / "actuals.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    client = Recording()
    calls: list[tuple[int, int]] = []
    answer = services_of(client).submit_actuals("iris", path, chunk_size=2,
                                                progress=lambda *a: calls.append(a))
    uploads = client.uploads()
    assert [body["headers"] for body in uploads] == [
        {"Content-Type": "text/csv; charset=utf-8"}] * 3
    texts = [body["data"].decode("utf-8") for body in uploads]
    assert texts[0] == ('association_id,actual_value,timestamp\n'
                        'order-1,setosa,2024-05-01T10:00:00Z\n'
                        'order-2,"virginica, probably",\n')
    assert texts[1] == ('association_id,actual_value,timestamp\n'
                        'order-3,versicolor,2024-05-01T12:00:00+02:00\norder-10,setosa,\n')
    rows = list(csv.DictReader(io.StringIO(texts[2])))
    assert rows == [{"association_id": "order-5", "actual_value": 'a "quoted"\nlabel',
                     "timestamp": ""}]
    assert answer == {"received": 5, "matched": 4, "unmatched": 1, "updated": 0,
                      "uploads": 3}
    assert calls == [(2, 5), (4, 5), (5, 5)]
    # A path as text works the same, and the whole file fits one upload by default.
    services_of(client).submit_actuals("iris", str(path))
    assert client.uploads()[-1]["data"].decode().count("order-") == 5


def test_no_actuals_is_no_upload(tmp_path: Path) -> None:
    client = Recording()
    header_only = tmp_path / "empty.csv"
    header_only.write_text("association_id,actual_value\n")
    for nothing in ([], header_only, tmp_path / "blank.csv"):
        if isinstance(nothing, Path) and not nothing.exists():
            nothing.write_text("")
        assert services_of(client).submit_actuals("iris", nothing) == {
            "received": 0, "matched": 0, "unmatched": 0, "updated": 0, "uploads": 0}
    assert client.seen == []


def test_chunks_never_pass_what_the_api_takes_in_one_call() -> None:
    client = Recording()
    answer = services_of(client).submit_actuals("iris", actual_records(100_001),
                                                chunk_size=1_000_000)
    assert [len(body["json"]) for body in client.uploads()] == [100_000, 1]
    assert answer["uploads"] == 2


def test_a_refused_upload_names_its_rows_after_the_earlier_ones_were_stored() -> None:
    refused = InvalidInput("row 3: actual_value must be a class label")
    client = Recording(refuse=lambda call: refused if call == 2 else None)
    with pytest.raises(InvalidInput) as caught:
        services_of(client).submit_actuals("iris", actual_records(25), chunk_size=10)
    assert caught.value.message == (
        "upload 2 (actuals 11 to 20) was refused: row 3: actual_value must be a class "
        "label; the 10 actuals before it were stored, and sending them all again is safe")
    assert caught.value.__cause__ is refused
    assert len(client.uploads()) == 2
    # The first of several: nothing was stored before it.
    client = Recording(refuse=lambda call: refused)
    with pytest.raises(InvalidInput, match=r"^upload 1 \(actuals 1 to 10\) was refused: "
                                           r"row 3: actual_value must be a class label$"):
        services_of(client).submit_actuals("iris", actual_records(25), chunk_size=10)
    # A single upload's error is the API's own.
    with pytest.raises(InvalidInput) as caught:
        services_of(client).submit_actuals("iris", actual_records(5))
    assert caught.value is refused


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> Recording:
    """The commands' client: a ``Recording`` behind the real ``ServicesAPI``."""
    client = Recording({"/accuracy": CLASSIFICATION, "/over-time": OVER_TIME})

    class Client:
        services = services_of(client)

    # The module, not the ``accuracy`` command the package names after it.
    module = importlib.import_module("shipyard.cli.accuracy")
    monkeypatch.setattr(module, "client_from", lambda ctx: Client())
    return client


def test_upload_sends_a_csv_file_with_a_progress_bar(
    recording: Recording, tmp_path: Path,
) -> None:
    path = tmp_path / "actuals.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    done = CliRunner().invoke(cli, ["actuals", "upload", "iris", str(path),
                                    "--chunk-size", "2"])
    assert done.exit_code == 0, done.output
    assert done.stdout == ("5 actuals: 4 matched a prediction, 1 not yet, "
                           "0 replaced earlier ones\n")
    assert "sending actuals" in done.stderr
    assert len(recording.uploads()) == 3


def test_upload_sends_a_json_list_and_prints_the_answer_as_json(
    recording: Recording, tmp_path: Path,
) -> None:
    path = tmp_path / "actuals.json"
    path.write_text(json.dumps(actual_records(3)))
    done = CliRunner().invoke(cli, ["actuals", "upload", "iris", str(path),
                                    "--output", "json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {"received": 3, "matched": 3, "unmatched": 0,
                                       "updated": 0, "uploads": 1}
    assert recording.uploads()[0]["json"] == actual_records(3)


def test_upload_takes_only_csv_or_a_json_list(recording: Recording, tmp_path: Path) -> None:
    for name, text, reason in (
        ("actuals.txt", "association_id,actual_value\n", "neither a .csv nor a .json file"),
        ("actuals.json", '{"association_id": "a"}', "must hold a JSON list of objects"),
        ("broken.json", "[{", "broken.json is not JSON"),
    ):
        path = tmp_path / name
        path.write_text(text)
        done = CliRunner().invoke(cli, ["actuals", "upload", "iris", str(path)])
        assert done.exit_code == 2, done.output
        assert reason in done.output
    assert recording.seen == []


def test_accuracy_prints_the_table_the_matrix_and_the_sparklines(
    recording: Recording,
) -> None:
    done = CliRunner().invoke(cli, ["accuracy", "iris", "--since", "24h", "--bucket", "6h",
                                    "--generation", "v2"])
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0] == "iris: 2024-05-01T00:00:00Z to 2024-05-08T00:00:00Z, classification"
    assert lines[3].split() == ["GENERATION", "ROLE", "ROWS", "ACCURACY", "BAL.ACC",
                                "PRECISION", "RECALL", "F1", "AUC", "LOGLOSS"]
    assert lines[4].split()[:4] == ["v1", "main", "300", "0.9"]
    assert lines[6].split()[-2:] == ["-", "-"]  # the challenger gave no probabilities
    assert lines[7].split()[:3] == ["all", "main", "1,234"]
    assert lines[9].startswith("confusion matrix (all main calls)")
    assert lines[11].split() == ["setosa", "410", "0", "0"]
    assert lines[-3] == "accuracy by 1d (blank: no actuals joined)"
    assert lines[-2].startswith("  v2 main ")
    # Over the window the summary answered with, by the bucket asked for.
    assert [kwargs["params"] for _, _, kwargs in recording.seen] == [
        {"start": "24h", "generation": "v2"},
        {"bucket_size": "PT6H", "start": WINDOW["start"], "end": WINDOW["end"],
         "generation": "v2"},
    ]


def test_accuracy_draws_each_metric_asked_for(recording: Recording) -> None:
    done = CliRunner().invoke(cli, ["accuracy", "iris", "--challenger", "--metric", "f1",
                                    "--metric", "accuracy"])
    assert done.exit_code == 0, done.output
    assert "f1 by 1d (blank: no actuals joined)" in done.output
    assert done.output.splitlines()[-3] == "accuracy by 1d (blank: no actuals joined)"
    assert recording.seen[0][2]["params"] == {"start": "7d", "role": "challenger"}
    assert recording.seen[1][2]["params"]["metric"] == "f1,accuracy"


def test_accuracy_asks_for_one_role(recording: Recording) -> None:
    done = CliRunner().invoke(cli, ["accuracy", "iris", "--role", "batch"])
    assert done.exit_code == 0, done.output
    assert [kwargs["params"]["role"] for _, _, kwargs in recording.seen] == ["batch"] * 2
    # --challenger is a shorter --role challenger, and goes with no other role.
    done = CliRunner().invoke(cli, ["accuracy", "iris", "--challenger", "--role", "challenger"])
    assert done.exit_code == 0, done.output
    assert recording.seen[-1][2]["params"]["role"] == "challenger"
    asked = len(recording.seen)
    done = CliRunner().invoke(cli, ["accuracy", "iris", "--challenger", "--role", "main"])
    assert (done.exit_code, done.output) == (
        1, "Error: --challenger is --role challenger: it cannot go with --role main\n")
    done = CliRunner().invoke(cli, ["accuracy", "iris", "--role", "shadow"])
    assert done.exit_code == 2 and "'shadow' is not one of" in done.output
    assert len(recording.seen) == asked


def test_accuracy_without_actuals_says_so_in_one_line(recording: Recording) -> None:
    recording.answers["/accuracy"] = EMPTY
    done = CliRunner().invoke(cli, ["accuracy", "iris"])
    assert done.exit_code == 0, done.output
    assert done.output == NO_ACTUALS + "\n"
    assert len(recording.seen) == 1


def test_accuracy_prints_both_answers_as_one_json_object(recording: Recording) -> None:
    done = CliRunner().invoke(cli, ["accuracy", "iris", "--output", "json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == {"accuracy": CLASSIFICATION, "over_time": OVER_TIME}
    recording.answers["/accuracy"] = EMPTY
    done = CliRunner().invoke(cli, ["accuracy", "iris", "--format", "json"])
    assert json.loads(done.output)["accuracy"] == EMPTY


def test_a_regression_has_no_confusion_matrix(recording: Recording) -> None:
    recording.answers["/accuracy"] = REGRESSION
    done = CliRunner().invoke(cli, ["accuracy", "house"])
    assert done.exit_code == 0, done.output
    assert "GAMMA DEV" in done.output and "confusion" not in done.output
    assert "12,350" in done.output


@pytest.mark.parametrize("command", [["accuracy", "iris"],
                                     ["actuals", "upload", "iris", "actuals.json"]])
def test_an_error_from_the_api_is_one_line_and_exit_status_1(
    monkeypatch: pytest.MonkeyPatch, command: list[str],
) -> None:
    class Refusing:
        def json(self, method: str, path: str, **_: Any) -> Any:
            raise NotFound("service 'iris' not found")

    class Client:
        services = ServicesAPI(Refusing())  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.import_module("shipyard.cli.accuracy"), "client_from",
                        lambda ctx: Client())
    runner = CliRunner()
    with runner.isolated_filesystem():
        Path("actuals.json").write_text(json.dumps(actual_records(2)))
        done = runner.invoke(cli, command)
    assert done.exit_code == 1
    assert done.output == "Error: service 'iris' not found\n"
