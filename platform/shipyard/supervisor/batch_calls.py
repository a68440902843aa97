"""One chunk of a batch job scored by one generation: a call to its predict route through
the gateway, as the job's caller, pinned to the generation.

A chunk read from CSV is sent as CSV (a header of the columns sent, the cells as they
were), so that the model converts and checks them as it does a caller's CSV; one read from
JSON Lines is sent as JSON records. Only the generation's features, and the association
id column when the job has one, are sent.

What an answer means for the chunk's rows:

- 200 with one prediction per record: each row scored.
- 400 (the model refuses the input, naming why) or 413 (too large for the gateway): the
  chunk is split in two and each half sent again, down to the one row at fault, which
  goes to the error file with the model's message; the others are scored.
- 429, 5xx, or no answer: the chunk is sent again after a pause (``RETRY_PAUSES``); after
  the last, its rows go to the error file with the last answer's message. While the
  supervisor stops, such an answer pauses the job instead (``JobPaused``).
- 401, 403, 404: the job cannot go on (its caller lost the right to call the service, or
  the generation is gone); ``JobCannotGoOn`` ends it.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from shipyard.domain.batch_files import ErrorRow, ScoredRow

__all__ = ["RETRY_PAUSES", "ChunkScorer", "GenerationTarget", "JobCannotGoOn", "JobPaused"]

RETRY_PAUSES = (0.5, 1.0, 2.0, 4.0)
"""Seconds between the tries of a chunk the service could not answer."""
_TARGET_HEADER = "X-Shipyard-Target-Generation"
_MESSAGE_CHARS = 1000


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


@dataclass(frozen=True)
class ChunkResult:
    rows: list[ScoredRow]
    errors: list[ErrorRow]


class ChunkScorer:
    def __init__(
        self, session: requests.Session, *, passthrough: Sequence[str], as_csv: bool,
        timeout: float = 120.0, pauses: Sequence[float] = RETRY_PAUSES,
        sleep: Callable[[float], None] = time.sleep,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self.session = session
        self.passthrough = tuple(passthrough)
        self.as_csv = as_csv
        self.timeout = timeout
        self.pauses = tuple(pauses)
        self.sleep = sleep
        self.stopping = stopping

    def score(self, target: GenerationTarget, records: Sequence[dict[str, Any]],
              lines: Sequence[int]) -> ChunkResult:
        """Each record scored, or its line in the errors, in input order."""
        rows: list[ScoredRow] = []
        errors: list[ErrorRow] = []
        self._score(target, list(records), list(lines), rows, errors)
        return ChunkResult(rows, errors)

    def _score(self, target: GenerationTarget, records: list[dict[str, Any]],
               lines: list[int], rows: list[ScoredRow], errors: list[ErrorRow]) -> None:
        status, answer = self._call(target, records)
        if status == 200:
            scored = _scored(answer, records, self.passthrough)
            if isinstance(scored, str):
                errors.extend(ErrorRow(line, scored) for line in lines)
            else:
                rows.extend(scored)
            return
        if status in (400, 413, 422) and len(records) > 1:
            half = len(records) // 2
            self._score(target, records[:half], lines[:half], rows, errors)
            self._score(target, records[half:], lines[half:], rows, errors)
            return
        errors.extend(ErrorRow(line, answer) for line in lines)

    def _call(self, target: GenerationTarget, records: list[dict[str, Any]]
              ) -> tuple[int, Any]:
        """The status and decoded answer of a 200, else the status and the message; a
        retryable failure is retried, and its last message returned with it."""
        body, content_type = self._body(target, records)
        headers = {"Content-Type": content_type, _TARGET_HEADER: target.generation}
        message = ""
        for pause in (*self.pauses, None):
            try:
                response = self.session.post(target.url, data=body, headers=headers,
                                             timeout=self.timeout)
            except requests.RequestException as exc:
                status, message = 0, f"no answer from the service: {exc}"
            else:
                status = response.status_code
                if status == 200:
                    try:
                        return 200, response.json()
                    except ValueError:
                        return 502, "the service's answer is not JSON"
                message = f"{status}: {_message_of(response)}"
                if status in (401, 403, 404):
                    raise JobCannotGoOn(
                        f"generation {target.generation} answered {message}")
                if status < 500 and status != 429:
                    return status, message
            if self.stopping():
                raise JobPaused
            if pause is None:
                break
            self.sleep(pause)
        tries = len(self.pauses) + 1
        return status, f"{message} (after {tries} tries)"

    def _body(self, target: GenerationTarget, records: list[dict[str, Any]]
              ) -> tuple[bytes, str]:
        columns = target.sent_columns
        if self.as_csv:
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows([record.get(c, "") for c in columns] for record in records)
            return text.getvalue().encode(), "text/csv"
        sent = [{c: record[c] for c in columns if c in record} for record in records]
        return json.dumps(sent).encode(), "application/json"


def _scored(answer: Any, records: list[dict[str, Any]], passthrough: tuple[str, ...]
            ) -> list[ScoredRow] | str:
    """The rows of a 200 answer, or why it cannot be read as one per record."""
    predictions = answer.get("predictions") if isinstance(answer, dict) else None
    if not isinstance(predictions, list) or len(predictions) != len(records):
        count = len(predictions) if isinstance(predictions, list) else "no"
        return f"the service answered {count} predictions for {len(records)} records"
    probabilities = answer.get("probabilities")
    if not isinstance(probabilities, list) or len(probabilities) != len(records):
        probabilities = None
    classes = answer.get("classes")
    rows = []
    for index, (record, prediction) in enumerate(zip(records, predictions, strict=True)):
        named = None
        if probabilities is not None and isinstance(probabilities[index], list):
            names = classes if isinstance(classes, list) and len(classes) == len(
                probabilities[index]) else range(len(probabilities[index]))
            named = {str(name): p for name, p in zip(names, probabilities[index], strict=True)}
        rows.append(ScoredRow({c: record.get(c) for c in passthrough}, prediction, named))
    return rows


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
