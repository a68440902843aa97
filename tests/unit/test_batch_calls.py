"""One chunk scored over real HTTP against a small model server started by the test: bad
rows found by halving, failures retried, answers that stop the job."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from shipyard.supervisor.batch_calls import ChunkScorer, GenerationTarget, JobCannotGoOn


class ModelServer(ThreadingHTTPServer):
    """Predicts ``2 * a``; refuses a record whose ``a`` is not a number (400), answers 500
    while ``failures`` last, and ``status`` when set."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.calls: list[dict[str, Any]] = []
        self.failures = 0
        self.status: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/predict"


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


def scorer(*, as_csv: bool, pauses: tuple[float, ...] = (0.0, 0.0)) -> ChunkScorer:
    return ChunkScorer(requests.Session(), passthrough=["id"], as_csv=as_csv, timeout=5,
                       pauses=pauses, sleep=lambda _s: None)


def test_a_chunk_is_scored_in_one_call_with_only_the_model_columns(server: ModelServer
                                                                     ) -> None:
    target = GenerationTarget("v2", server.url, ("a",))
    records = [{"id": "1", "a": "1.5", "note": "x"}, {"id": "2", "a": "2", "note": "y"}]
    result = scorer(as_csv=True).score(target, records, [2, 3])
    assert [(r.passthrough, r.prediction, r.probabilities) for r in result.rows] == [
        ({"id": "1"}, 3.0, {"no": 0.25, "yes": 0.75}),
        ({"id": "2"}, 4.0, {"no": 0.25, "yes": 0.75})]
    assert result.errors == []
    (call,) = server.calls
    assert call["records"] == [{"a": "1.5"}, {"a": "2"}]
    assert call["headers"]["X-Shipyard-Target-Generation"] == "v2"


def test_bad_rows_are_found_by_halving_and_the_others_scored(server: ModelServer) -> None:
    target = GenerationTarget("v1", server.url, ("a",))
    records = [{"id": i, "a": "bad" if i in (3, 6) else i} for i in range(8)]
    result = scorer(as_csv=False).score(target, records, list(range(10, 18)))
    assert [r.passthrough["id"] for r in result.rows] == [0, 1, 2, 4, 5, 7]
    assert [r.prediction for r in result.rows] == [0, 2, 4, 8, 10, 14]
    assert [e.line for e in result.errors] == [13, 16]
    assert result.errors[0].message == (
        "400: record 1: feature 'a' must be a finite number, not 'bad'")
    assert len(server.calls) < 2 * len(records)


def test_a_failing_model_is_retried_then_its_rows_go_to_the_errors(server: ModelServer
                                                                   ) -> None:
    target = GenerationTarget("v1", server.url, ("a",))
    server.failures = 2
    result = scorer(as_csv=False).score(target, [{"id": 1, "a": 1}], [2])
    assert [r.prediction for r in result.rows] == [2.0]
    assert len(server.calls) == 3

    server.calls.clear()
    server.failures = 10
    result = scorer(as_csv=False).score(target, [{"id": 1, "a": 1}, {"id": 2, "a": 2}], [2, 3])
    assert result.rows == []
    assert [e.line for e in result.errors] == [2, 3]
    assert result.errors[0].message == "500: the model failed (after 3 tries)"
    assert len(server.calls) == 3


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_refusal_of_the_caller_ends_the_job(server: ModelServer, status: int) -> None:
    server.status = status
    with pytest.raises(JobCannotGoOn, match=f"generation v1 answered {status}: no"):
        scorer(as_csv=False).score(GenerationTarget("v1", server.url, ("a",)),
                                   [{"a": 1}], [2])


def test_no_answer_at_all_is_retried_then_reported(server: ModelServer) -> None:
    url = server.url
    server.shutdown()
    server.server_close()
    result = scorer(as_csv=False).score(GenerationTarget("v1", url, ("a",)), [{"a": 1}], [2])
    assert result.errors[0].message.startswith("no answer from the service")
    assert result.errors[0].message.endswith("(after 3 tries)")
