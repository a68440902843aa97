"""One chunk of a batch job scored by one generation: a call to its predict route through
the gateway, as the job's caller, pinned to the generation and naming its job
(``BATCH_JOB_HEADER``), so that the gateway counts it in the ``batch`` role and copies it
to no challenger.

A chunk read from CSV is sent as CSV (a header of the columns sent, the cells as they
were), so that the model converts and checks them as it does a caller's CSV; one read from
JSON Lines or Parquet is sent as JSON records (without the fields a record lacks, so that
the model names them). Only the generation's features, and the association id column when
the job has one, are sent. The body is written and the answer read a column at a time: the
scorer's result is columns (the positions of the records scored, their predictions and
probabilities), never an object per record. For a CSV result, the answer's numbers are
kept as the text the instance wrote (``numbers_as_text``): that text is what the CSV holds,
and parsing the numbers only to write them back cost more than all else the supervisor
does a row.

What an answer means for the chunk's rows:

- 200 with one prediction per record: each row scored.
- 400 (the model refuses the input, naming why) or 413 (too large for the gateway): the
  chunk is split in two and each half sent again, down to the one row at fault, which
  goes to the error file with the model's message; the others are scored.
- 429, 5xx, or no answer: the chunk is sent again after a pause (``RETRY_PAUSES``); after
  the last, its rows go to the error file with the last answer's message. While the
  supervisor stops, such an answer pauses the job instead (``JobPaused``).
- 401, 403, or a 404 that lasts through the pauses: the job cannot go on (its caller lost
  the right to call the service, or the generation is gone); ``JobCannotGoOn`` ends it. A
  404 is tried again first: a gateway that just started may not have loaded its routes.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from shipyard.contracts.query_record import BATCH_JOB_HEADER
from shipyard.domain.batch_files import MISSING, Chunk, ErrorRow

__all__ = ["RETRY_PAUSES", "ChunkResult", "ChunkScorer", "GenerationTarget", "JobCannotGoOn",
           "JobPaused"]

RETRY_PAUSES = (0.5, 1.0, 2.0, 4.0)
"""Seconds between the tries of a chunk the service could not answer."""
_TARGET_HEADER = "X-Shipyard-Target-Generation"
_MESSAGE_CHARS = 1000
_SCALARS = frozenset({str, int, float, bool, type(None)})


class JobCannotGoOn(Exception):
    """An answer that no other chunk would get differently: the job fails with it."""


class JobPaused(Exception):
    """The supervisor is stopping: the chunk is left unscored, to be scored when the job
    resumes (its instances may be stopping too, and their refusals are no answer)."""


@dataclass(frozen=True)
class GenerationTarget:
    """Where and how one generation scores: its predict route through the gateway."""

    generation: str
    url: str
    sent_columns: tuple[str, ...]
    """Its features, then the association id column when the job has one."""


@dataclass
class ChunkResult:
    """What a chunk's records got, as columns: the positions of those scored (in the chunk,
    in order), their predictions and probabilities (each in ``classes`` order; None for a
    record the model gave none, ``probabilities`` None when it gave none at all), and the
    lines of those refused, with why. With ``numbers_as_text``, a number is its text."""

    positions: list[int] = field(default_factory=list)
    predictions: list[Any] = field(default_factory=list)
    probabilities: list[list[Any] | None] | None = None
    classes: list[str] = field(default_factory=list)
    errors: list[ErrorRow] = field(default_factory=list)

    def add(self, first: int, answer: _Answer) -> None:
        """A piece's answer, its records from position ``first`` on (after those added)."""
        count = len(answer.predictions)
        probabilities = answer.probabilities
        if probabilities is not None and self.probabilities is None:
            self.probabilities = [None] * len(self.positions)
            self.classes = answer.classes
        elif answer.classes != self.classes:
            probabilities = None  # not of the classes of the records before
        self.positions.extend(range(first, first + count))
        self.predictions.extend(answer.predictions)
        if self.probabilities is not None:
            self.probabilities.extend(probabilities or [None] * count)


@dataclass(frozen=True)
class _Answer:
    predictions: list[Any]
    probabilities: list[list[Any] | None] | None
    classes: list[str]


class ChunkScorer:
    def __init__(
        self, session: requests.Session, *, job_id: str, as_csv: bool,
        numbers_as_text: bool = False, timeout: float = 120.0,
        pauses: Sequence[float] = RETRY_PAUSES,
        sleep: Callable[[float], None] = time.sleep,
        stopping: Callable[[], bool] = lambda: False,
        calls: threading.Semaphore | None = None,
    ) -> None:
        self.session = session
        # Held for each call: the service's calls of every job running on it.
        self.calls: contextlib.AbstractContextManager[Any] = (
            calls if calls is not None else contextlib.nullcontext())
        self.job_id = job_id
        self.as_csv = as_csv
        self.numbers_as_text = numbers_as_text
        self.timeout = timeout
        self.pauses = tuple(pauses)
        self.sleep = sleep
        self.stopping = stopping

    def score(self, target: GenerationTarget, chunk: Chunk) -> ChunkResult:
        """Each record of ``chunk`` scored, or its line in the errors, in input order (its
        bad lines are not the scorer's)."""
        result = ChunkResult()
        self._score(target, chunk, 0, result)
        return result

    def _score(self, target: GenerationTarget, piece: Chunk, first: int,
               result: ChunkResult) -> None:
        """``piece``, the chunk's records from position ``first`` on, into ``result``."""
        if not piece.record_count:
            return
        status, answer = self._call(target, piece)
        if status == 200:
            scored = _answer_of(answer, piece.record_count)
            if isinstance(scored, str):
                result.errors.extend(ErrorRow(line, scored) for line in piece.lines)
            else:
                result.add(first, scored)
            return
        if status in (400, 413, 422) and piece.record_count > 1:
            half = piece.record_count // 2
            self._score(target, piece.slice(0, half), first, result)
            self._score(target, piece.slice(half, piece.record_count), first + half, result)
            return
        result.errors.extend(ErrorRow(line, answer) for line in piece.lines)

    def _call(self, target: GenerationTarget, piece: Chunk) -> tuple[int, Any]:
        """The status and decoded answer of a 200, else the status and the message; a
        retryable failure is retried, and its last message returned with it."""
        body, content_type = self._body(target, piece)
        headers = {"Content-Type": content_type, _TARGET_HEADER: target.generation,
                   BATCH_JOB_HEADER: self.job_id}
        message = ""
        unreachable = False
        for pause in (*self.pauses, None):
            try:
                with self.calls:
                    response = self.session.post(target.url, data=body, headers=headers,
                                                 timeout=self.timeout)
            except requests.RequestException as exc:
                status, message = 0, f"no answer from the service: {exc}"
                # The gateway was not there (refused, unknown host, no connection in time);
                # a ReadTimeout, which these rows may cause, is not a ConnectionError.
                unreachable = isinstance(exc, requests.ConnectionError)
            else:
                unreachable = False
                status = response.status_code
                if status == 200:
                    try:
                        return 200, self._decoded(response)
                    except ValueError:
                        return 502, "the service's answer is not JSON"
                message = f"{status}: {_message_of(response)}"
                if status in (401, 403):
                    raise JobCannotGoOn(
                        f"generation {target.generation} answered {message}")
                if status < 500 and status not in (404, 429):
                    return status, message
            if self.stopping():
                raise JobPaused
            if pause is None:
                break
            self.sleep(pause)
        tries = len(self.pauses) + 1
        if unreachable:
            # No row's doing: every chunk after it would fail alike, and a job whose rows
            # all went to the errors must not say it succeeded.
            raise JobCannotGoOn(f"the gateway could not be reached at {target.url} "
                                f"(after {tries} tries): {message}")
        if status == 404:
            # Still unknown after the pauses: not a gateway that has yet to load the routes
            # of a Shipyard that just started, but a generation (or service) that is gone.
            raise JobCannotGoOn(f"generation {target.generation} answered {message} "
                                f"(after {tries} tries)")
        return status, f"{message} (after {tries} tries)"

    def _decoded(self, response: requests.Response) -> Any:
        if not self.numbers_as_text:
            return response.json()
        answer = response.json(parse_float=str)
        predictions = answer.get("predictions") if isinstance(answer, dict) else None
        if isinstance(predictions, list) and not _SCALARS.issuperset(map(type, predictions)):
            return response.json()  # a prediction that is an object or a list holds numbers
        return answer

    def _body(self, target: GenerationTarget, piece: Chunk) -> tuple[bytes, str]:
        names = target.sent_columns
        if self.as_csv:
            blank = [""] * piece.record_count
            columns = [piece.columns.get(name, blank) for name in names]
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\n")
            writer.writerow(names)
            writer.writerows(zip(*columns, strict=True))
            return text.getvalue().encode(), "text/csv"
        present = [name for name in names if name in piece.columns]
        columns = [piece.columns[name] for name in present]
        if not columns:
            records: list[dict[str, Any]] = [{} for _ in range(piece.record_count)]
        elif any(MISSING in column for column in columns):
            records = [{name: value for name, value in zip(present, values, strict=True)
                        if value is not MISSING} for values in zip(*columns, strict=True)]
        else:
            records = [dict(zip(present, values, strict=True))
                       for values in zip(*columns, strict=True)]
        return json.dumps(records).encode(), "application/json"


def _answer_of(answer: Any, count: int) -> _Answer | str:
    """The columns of a 200 answer for ``count`` records, or why it cannot be read as one
    prediction per record. Probabilities are kept when there is a list of them per record:
    a record's that are not a list of one per class are None."""
    predictions = answer.get("predictions") if isinstance(answer, dict) else None
    if not isinstance(predictions, list) or len(predictions) != count:
        given = len(predictions) if isinstance(predictions, list) else "no"
        return f"the service answered {given} predictions for {count} records"
    probabilities = answer.get("probabilities")
    if not isinstance(probabilities, list) or len(probabilities) != count:
        return _Answer(predictions, None, [])
    classes = answer.get("classes")
    if {list} == set(map(type, probabilities)) and len(set(map(len, probabilities))) == 1:
        width = len(probabilities[0])
    else:  # some record has none, or another number: the classes say how many, else the first
        lists = [row for row in probabilities if isinstance(row, list)]
        if not lists:
            return _Answer(predictions, None, [])
        width = len(classes) if isinstance(classes, list) else len(lists[0])
        probabilities = [row if isinstance(row, list) and len(row) == width else None
                         for row in probabilities]
    if not isinstance(classes, list) or len(classes) != width:
        classes = range(width)
    return _Answer(predictions, probabilities, [str(name) for name in classes])


def _message_of(response: requests.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        message = str(payload["error"].get("message", ""))
    else:
        message = response.text.strip() or response.reason or ""
    return message[:_MESSAGE_CHARS]
