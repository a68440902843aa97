"""One chunk scored over real HTTP against a small model server started by the test: bad
rows found by halving, failures retried, answers that stop the job; and answers given to
the scorer as they are, read as columns."""

from __future__ import annotations

import csv
import io
import json
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from shipyard.domain.batch_files import MISSING, BadLine, Chunk, ScoredRows, write_part
from shipyard.supervisor.batch_calls import ChunkScorer, GenerationTarget, JobCannotGoOn


class ModelServer(ThreadingHTTPServer):
    """Predicts ``2 * a``; refuses a record whose ``a`` is not a number (400), answers 500
    while ``failures`` last, and ``status`` when set."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.calls: list[dict[str, Any]] = []
        self.failures = 0
        self.status: int | None = None
        self.pause = 0.0
        self.in_flight = self.most_in_flight = 0
        self.counting = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/predict"

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a caller that gave up
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: ModelServer

    def log_message(self, *_args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        if self.headers["Content-Type"] == "text/csv":
            records = list(csv.DictReader(io.StringIO(body)))
        else:
            records = json.loads(body)
        self.server.calls.append({"records": records, "headers": dict(self.headers)})
        with self.server.counting:
            self.server.in_flight += 1
            self.server.most_in_flight = max(self.server.most_in_flight, self.server.in_flight)
        time.sleep(self.server.pause)
        with self.server.counting:
            self.server.in_flight -= 1
        if self.server.status is not None:
            return self._answer(self.server.status, {"error": {"message": "no"}})
        if self.server.failures > 0:
            self.server.failures -= 1
            return self._answer(500, {"error": {"type": "ShipyardError",
                                                "message": "the model failed"}})
        predictions = []
        for number, record in enumerate(records, 1):
            try:
                predictions.append(2 * float(record["a"]))
            except (TypeError, ValueError):
                return self._answer(400, {"error": {"message": (
                    f"record {number}: feature 'a' must be a finite number, "
                    f"not {record['a']!r}")}})
        return self._answer(200, {"predictions": predictions,
                                  "probabilities": [[0.25, 0.75]] * len(records),
                                  "classes": ["no", "yes"]})

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server() -> Iterator[ModelServer]:
    model = ModelServer()
    thread = threading.Thread(target=model.serve_forever, daemon=True)
    thread.start()
    yield model
    model.shutdown()
    model.server_close()
    thread.join()


def scorer(*, as_csv: bool, pauses: tuple[float, ...] = (0.0, 0.0),
           timeout: float = 5) -> ChunkScorer:
    return ChunkScorer(requests.Session(), job_id="j1", as_csv=as_csv, timeout=timeout,
                       pauses=pauses, sleep=lambda _s: None)


def chunk(columns: dict[str, list[Any]], lines: list[int] | None = None) -> Chunk:
    count = len(next(iter(columns.values())))
    return Chunk(0, columns, lines or list(range(2, 2 + count)))


def test_a_chunk_is_scored_in_one_call_with_only_the_model_columns(server: ModelServer
                                                                     ) -> None:
    target = GenerationTarget("v2", server.url, ("a",))
    records = chunk({"id": ["1", "2"], "a": ["1.5", "2"], "note": ["x", "y"]}, [2, 3])
    result = scorer(as_csv=True).score(target, records)
    assert (result.positions, result.predictions, result.probabilities, result.classes) == (
        [0, 1], [3.0, 4.0], [[0.25, 0.75], [0.25, 0.75]], ["no", "yes"])
    assert result.errors == []
    (call,) = server.calls
    assert call["records"] == [{"a": "1.5"}, {"a": "2"}]
    assert call["headers"]["X-Shipyard-Target-Generation"] == "v2"
    assert call["headers"]["X-Shipyard-Batch-Job"] == "j1"


def test_the_calls_of_every_job_on_a_service_share_its_bound(server: ModelServer) -> None:
    server.pause = 0.05
    target = GenerationTarget("v1", server.url, ("a",))
    service_calls = threading.Semaphore(2)
    scorers = [ChunkScorer(requests.Session(), job_id=f"j{n}", as_csv=False, timeout=5,
                           calls=service_calls) for n in range(3)]
    threads = [threading.Thread(target=lambda s=s: [s.score(target, chunk({"a": [1]}))
                                                     for _ in range(4)])
               for s in scorers for _ in range(2)]  # 3 jobs, 2 chunks in flight each
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(server.calls) == 24
    assert server.most_in_flight == 2  # 6 without the service's bound


def test_json_records_are_sent_without_the_fields_they_lack(server: ModelServer) -> None:
    target = GenerationTarget("v1", server.url, ("a", "b", "absent"))
    records = chunk({"a": [1, 2, 3], "b": [MISSING, None, "x"]})
    result = scorer(as_csv=False).score(target, records)
    assert server.calls[0]["records"] == [{"a": 1}, {"a": 2, "b": None},
                                          {"a": 3, "b": "x"}]
    assert result.predictions == [2, 4, 6]
    server.calls.clear()
    scorer(as_csv=False).score(target, chunk({"a": [1, 2]}))
    assert server.calls[0]["records"] == [{"a": 1}, {"a": 2}]


def test_a_csv_chunk_without_a_column_sends_it_empty(server: ModelServer) -> None:
    target = GenerationTarget("v1", server.url, ("a", "b"))
    scorer(as_csv=True).score(target, chunk({"a": ["1", "2"]}))
    assert server.calls[0]["records"] == [{"a": "1", "b": ""}, {"a": "2", "b": ""}]


def test_a_chunk_of_bad_lines_only_is_not_sent(server: ModelServer) -> None:
    target = GenerationTarget("v1", server.url, ("a",))
    result = scorer(as_csv=True).score(target, Chunk(0, {"a": []}, [], [BadLine(2, "no")]))
    assert (result.positions, result.errors, server.calls) == ([], [], [])


def test_bad_rows_are_found_by_halving_and_the_others_scored(server: ModelServer) -> None:
    target = GenerationTarget("v1", server.url, ("a",))
    records = chunk({"id": list(range(8)),
                     "a": ["bad" if i in (3, 6) else i for i in range(8)]},
                    list(range(10, 18)))
    result = scorer(as_csv=False).score(target, records)
    assert result.positions == [0, 1, 2, 4, 5, 7]
    assert records.values("id", result.positions) == [0, 1, 2, 4, 5, 7]
    assert result.predictions == [0, 2, 4, 8, 10, 14]
    assert result.probabilities == [[0.25, 0.75]] * 6
    assert [e.line for e in result.errors] == [13, 16]
    assert result.errors[0].message == (
        "400: record 1: feature 'a' must be a finite number, not 'bad'")
    assert len(server.calls) < 2 * records.record_count


def test_a_failing_model_is_retried_then_its_rows_go_to_the_errors(server: ModelServer
                                                                   ) -> None:
    target = GenerationTarget("v1", server.url, ("a",))
    server.failures = 2
    result = scorer(as_csv=False).score(target, chunk({"id": [1], "a": [1]}))
    assert result.predictions == [2.0]
    assert len(server.calls) == 3

    server.calls.clear()
    server.failures = 10
    result = scorer(as_csv=False).score(target, chunk({"id": [1, 2], "a": [1, 2]}, [2, 3]))
    assert (result.positions, result.predictions, result.probabilities) == ([], [], None)
    assert [e.line for e in result.errors] == [2, 3]
    assert result.errors[0].message == "500: the model failed (after 3 tries)"
    assert len(server.calls) == 3


@pytest.mark.parametrize(("status", "calls"), [(401, 1), (403, 1), (404, 3)])
def test_a_refusal_of_the_caller_ends_the_job(server: ModelServer, status: int,
                                              calls: int) -> None:
    """A 404 is tried again first (a gateway that just started may not know the routes
    yet), then ends the job as a refusal of the caller does at once."""
    server.status = status
    with pytest.raises(JobCannotGoOn, match=f"generation v1 answered {status}: no"):
        scorer(as_csv=False).score(GenerationTarget("v1", server.url, ("a",)),
                                   chunk({"a": [1]}))
    assert len(server.calls) == calls


def test_a_gateway_that_cannot_be_reached_ends_the_job_after_the_tries(
    server: ModelServer,
) -> None:
    """No row's doing: the job fails rather than put every row in the errors and say it
    succeeded."""
    url = server.url
    server.shutdown()
    server.server_close()
    with pytest.raises(JobCannotGoOn, match=r"the gateway could not be reached at .* "
                                            r"\(after 3 tries\): no answer from the service"):
        scorer(as_csv=False).score(GenerationTarget("v1", url, ("a",)), chunk({"a": [1]}))


def test_a_call_that_times_out_is_retried_then_its_rows_go_to_the_errors(
    server: ModelServer,
) -> None:
    """These rows may be what takes the model so long: the job goes on without them."""
    server.pause = 1.0
    result = scorer(as_csv=False, timeout=0.2).score(
        GenerationTarget("v1", server.url, ("a",)), chunk({"a": [1]}))
    assert result.errors[0].message.startswith("no answer from the service")
    assert result.errors[0].message.endswith("(after 3 tries)")


class CannedAnswers:
    """A session whose answers are given: one JSON payload per call, in turn."""

    def __init__(self, *payloads: Any) -> None:
        self.payloads = list(payloads)

    def post(self, _url: str, **_kwargs: Any) -> requests.Response:
        response = requests.Response()
        response.status_code = 200
        response.headers["Content-Type"] = "application/json"
        response._content = json.dumps(self.payloads.pop(0)).encode()
        return response


def canned(*payloads: Any) -> ChunkScorer:
    return ChunkScorer(CannedAnswers(*payloads), job_id="j1",  # type: ignore[arg-type]
                       as_csv=False, pauses=())


def test_an_answer_of_another_count_of_predictions_fails_the_rows() -> None:
    target = GenerationTarget("v1", "http://model", ("a",))
    result = canned({"predictions": [1]}).score(target, chunk({"a": [1, 2]}))
    assert result.positions == []
    assert [(e.line, e.message) for e in result.errors] == [
        (2, "the service answered 1 predictions for 2 records"),
        (3, "the service answered 1 predictions for 2 records")]
    result = canned(["not", "an", "object"]).score(target, chunk({"a": [1]}))
    assert result.errors[0].message == "the service answered no predictions for 1 records"


@pytest.mark.parametrize(("answer", "probabilities", "classes"), [
    # No classes, or not as many as probabilities: named by position.
    ({"probabilities": [[0.1, 0.9], [1.0, 0.0]]}, [[0.1, 0.9], [1.0, 0.0]], ["0", "1"]),
    ({"probabilities": [[0.1, 0.9], [1.0, 0.0]], "classes": ["a"]},
     [[0.1, 0.9], [1.0, 0.0]], ["0", "1"]),
    ({"probabilities": [[0.1, 0.9], [1.0, 0.0]], "classes": [0, 1]},
     [[0.1, 0.9], [1.0, 0.0]], ["0", "1"]),
    # A record's that are no list of one per class: none for that record.
    ({"probabilities": [[0.1, 0.9], None], "classes": ["a", "b"]}, [[0.1, 0.9], None],
     ["a", "b"]),
    ({"probabilities": [[0.1, 0.9], [1.0]], "classes": ["a", "b"]}, [[0.1, 0.9], None],
     ["a", "b"]),
    ({"probabilities": [None, 0.5], "classes": ["a", "b"]}, None, []),
    # Not one per record, or none.
    ({"probabilities": [[0.1, 0.9]], "classes": ["a", "b"]}, None, []),
    ({"classes": ["a", "b"]}, None, []),
])
def test_probabilities_are_kept_when_they_are_one_list_per_record(
    answer: dict[str, Any], probabilities: Any, classes: list[str]
) -> None:
    target = GenerationTarget("v1", "http://model", ("a",))
    result = canned({"predictions": ["x", "y"], **answer}).score(target, chunk({"a": [1, 2]}))
    assert (result.predictions, result.probabilities, result.classes) == (
        ["x", "y"], probabilities, classes)


def test_pieces_answered_with_and_without_probabilities_are_assembled_in_order() -> None:
    target = GenerationTarget("v1", "http://model", ("a",))

    class Halving(CannedAnswers):
        def post(self, url: str, **kwargs: Any) -> requests.Response:
            if len(json.loads(kwargs["data"])) == 4:
                response = requests.Response()
                response.status_code, response._content = 400, b"{}"
                return response
            return super().post(url, **kwargs)

    session = Halving({"predictions": [1, 2]},
                      {"predictions": [3, 4], "probabilities": [[0.5, 0.5]] * 2,
                       "classes": ["a", "b"]})
    scorer = ChunkScorer(session, job_id="j1", as_csv=False)  # type: ignore[arg-type]
    result = scorer.score(target, chunk({"a": [1, 2, 3, 4]}))
    assert (result.positions, result.predictions, result.probabilities, result.classes) == (
        [0, 1, 2, 3], [1, 2, 3, 4], [None, None, [0.5, 0.5], [0.5, 0.5]], ["a", "b"])


def test_numbers_for_a_csv_result_stay_the_text_the_model_wrote(tmp_path: Path) -> None:
    target = GenerationTarget("v1", "http://model", ("a",))
    answer = {"predictions": [1.5, 2], "probabilities": [[0.1, 0.9], [1e-05, 1.0]],
              "classes": ["no", "yes"]}
    as_text = ChunkScorer(CannedAnswers(answer), job_id="j1", as_csv=False,  # type: ignore[arg-type]
                          numbers_as_text=True).score(target, chunk({"a": [1, 2]}))
    assert (as_text.predictions, as_text.probabilities) == (
        ["1.5", 2], [["0.1", "0.9"], ["1e-05", "1.0"]])
    # The CSV holds the same text as when the numbers were parsed.
    as_numbers = canned(answer).score(target, chunk({"a": [1, 2]}))
    for name, result in (("text", as_text), ("numbers", as_numbers)):
        write_part(tmp_path / name, "csv", ScoredRows(
            {}, result.predictions, result.probabilities, result.classes))
    assert (tmp_path / "text").read_text() == (tmp_path / "numbers").read_text() == (
        "prediction,probability_no,probability_yes\n1.5,0.1,0.9\n2,1e-05,1.0\n")
    # A prediction that is an object keeps its numbers, written in it as JSON.
    structured = {"predictions": [{"low": 0.5}], "probabilities": [[0.25, 0.75]]}
    result = ChunkScorer(CannedAnswers(structured), job_id="j1", as_csv=False,  # type: ignore[arg-type]
                         numbers_as_text=True).score(target, chunk({"a": [1]}))
    assert (result.predictions, result.probabilities) == ([{"low": 0.5}], [[0.25, 0.75]])
