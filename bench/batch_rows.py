"""The supervisor's work per row of a batch job, without HTTP: microseconds a row for
each step the supervisor takes between the input file and the result file.

    python bench/batch_rows.py [--rows 200000] [--chunk-size 1000] [--rounds 3]
                               [--before CHECKOUT] [--json]

Writes ``--rows`` rows (an id and the 4 iris features, drawn with a fixed seed, as
``bench/batch.py`` does) as CSV, JSON Lines and Parquet in a temporary folder. For each
input, as a job scores it with one generation (the features sent, the id passed through,
the result in the input's format):

- count: ``BatchInput.count_rows``;
- read: every chunk of ``--chunk-size`` rows, only the columns the job needs;
- body, decode, results: ``ChunkScorer.score`` of each chunk against a session that
  answers at once, with the bytes an instance sends (Flask's ``jsonify`` of predictions,
  probabilities and classes, 3 classes), made before the clock runs. The steps are told
  apart by the time the session is called (the body is built) and the time the answer's
  ``json()`` takes (decode); results is what follows, up to the scorer's result;
- write: each chunk's error part and part (``write_errors``, ``write_part``), with what
  the job does to make them (the passthrough values picked); the input has no bad row,
  so the code of now writes no error part, where the code before wrote an empty one;
- join: ``join_parts`` of the results and of the errors, and ``count_result_rows``.

It prints CPU time a row (``time.process_time``, user and system: pyarrow's threads and
each part's fsync count too) and wall time a row, for each step and in total, the best of
``--rounds``. With ``--before``, the path of a checkout of the code as it was (for
instance ``git worktree add /tmp/batch-before HEAD``), it measures that code too, in a
subprocess with the checkout's source roots first on ``PYTHONPATH``, and prints both side
by side; the code before columnar chunks (a dict per record, a ``ScoredRow`` per result)
is driven through the same steps by ``_RecordSteps``. ``--json`` prints the figures as
JSON instead of the table.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import requests

from shipyard.domain import batch_files
from shipyard.domain.batch_files import (
    BatchInput,
    count_result_rows,
    join_parts,
    write_errors,
    write_part,
)
from shipyard.supervisor.batch_calls import ChunkScorer, GenerationTarget

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
CLASSES = ("setosa", "versicolor", "virginica")
PASSTHROUGH = ["id"]
FORMATS = ("csv", "jsonl", "parquet")
STEPS = ("count", "read", "body", "decode", "results", "write", "join")
SEED = 21


# -- inputs and answers -------------------------------------------------------------------


def write_inputs(folder: Path, rows: int, seed: int = SEED) -> dict[str, Path]:
    """``rows`` flowers with an id, drawn from ``seed``, in each input format."""
    draw = random.Random(seed)
    ids = [f"f{number}" for number in range(rows)]
    features = {name: [round(draw.uniform(0.1, 8.0), 1) for _ in range(rows)]
                for name in FEATURES}
    paths = {fmt: folder / f"input.{fmt}" for fmt in FORMATS}
    with paths["csv"].open("w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["id", *FEATURES])
        writer.writerows(zip(ids, *features.values(), strict=True))
    with paths["jsonl"].open("w") as out:
        names = ["id", *FEATURES]
        out.writelines(json.dumps(dict(zip(names, values, strict=True))) + "\n"
                       for values in zip(ids, *features.values(), strict=True))
    pq.write_table(pa.table({"id": ids, **features}), paths["parquet"])
    return paths


def model_answer(count: int, seed: int = SEED) -> bytes:
    """What an instance of the model template answers for ``count`` records, as Flask's
    ``jsonify`` writes it (sorted keys, no spaces)."""
    draw = random.Random(seed + count)
    probabilities = []
    for _ in range(count):
        weights = [draw.random() for _ in CLASSES]
        probabilities.append([weight / sum(weights) for weight in weights])
    answer = {"predictions": [CLASSES[row.index(max(row))] for row in probabilities],
              "probabilities": probabilities, "classes": list(CLASSES),
              "model": {"name": "iris", "version": "1"}, "generation": "v1"}
    return json.dumps(answer, separators=(",", ":"), sort_keys=True).encode()


class _Clock:
    """Where a chunk's scoring spends its time: marks taken by the session."""

    def __init__(self) -> None:
        self.body = self.decode = self.results = 0.0
        self.called = self.decoded = 0.0

    def time(self, score: Callable[[], Any], now: Callable[[], float]) -> Any:
        started = now()
        result = score()
        ended = now()
        self.body += self.called - started
        self.results += ended - self.decoded
        return result


class _TimedAnswer(requests.Response):
    clock: _Clock
    now: Callable[[], float]

    def json(self, **kwargs: Any) -> Any:
        started = self.now()
        decoded = super().json(**kwargs)
        self.clock.decoded = self.now()
        self.clock.decode += self.clock.decoded - started
        return decoded


class InstantModel:
    """A session whose every call gets the model's answer for as many records as the
    chunk being scored holds, made beforehand."""

    def __init__(self, clock: _Clock, now: Callable[[], float]) -> None:
        self.clock = clock
        self.now = now
        self.answers: dict[int, bytes] = {}
        self.count = 0

    def expect(self, count: int) -> None:
        self.count = count
        if count not in self.answers:
            self.answers[count] = model_answer(count)

    def post(self, _url: str, **_kwargs: Any) -> requests.Response:
        self.clock.called = self.now()
        response = _TimedAnswer()
        response.clock, response.now = self.clock, self.now
        response.status_code = 200
        response.headers["Content-Type"] = "application/json"
        response._content = self.answers[self.count]
        return response


# -- the steps, for the code of now and the code before ---------------------------------


class _ColumnSteps:
    """The steps as the supervisor takes them now: chunks of columns."""

    def scorer(self, session: Any, fmt: str) -> Any:
        return ChunkScorer(session, job_id="bench", as_csv=fmt == "csv",
                           numbers_as_text=fmt == "csv", pauses=())

    def chunks(self, source: BatchInput, size: int, columns: list[str]) -> Iterator[Any]:
        return source.chunks(size, 0, columns)

    def records(self, chunk: Any) -> int:
        return int(chunk.record_count)

    def score(self, scorer: Any, target: GenerationTarget, chunk: Any) -> Any:
        return scorer.score(target, chunk)

    def write(self, part: Path, errors: Path, fmt: str, chunk: Any, result: Any) -> None:
        failed = sorted([*result.errors, *(batch_files.ErrorRow(bad.line, bad.message)
                                           for bad in chunk.bad)], key=lambda e: e.line)
        if failed:  # as the job does: no error part for a chunk without an error
            write_errors(errors, failed)
        rows = batch_files.ScoredRows(
            {name: chunk.values(name, result.positions) for name in PASSTHROUGH},
            result.predictions, result.probabilities, result.classes)
        write_part(part, fmt, rows)


class _RecordSteps(_ColumnSteps):
    """The steps as the supervisor took them before columnar chunks: a dict per record,
    a ``ScoredRow`` per result."""

    def scorer(self, session: Any, fmt: str) -> Any:
        return ChunkScorer(session, job_id="bench", passthrough=PASSTHROUGH,  # type: ignore[call-arg]
                           as_csv=fmt == "csv", pauses=())

    def chunks(self, source: BatchInput, size: int, columns: list[str]) -> Iterator[Any]:
        return source.chunks(size)

    def records(self, chunk: Any) -> int:
        return len(chunk.records)

    def score(self, scorer: Any, target: GenerationTarget, chunk: Any) -> Any:
        return scorer.score(target, chunk.records, chunk.lines)

    def write(self, part: Path, errors: Path, fmt: str, chunk: Any, result: Any) -> None:
        failed = sorted([*result.errors, *(batch_files.ErrorRow(bad.line, bad.message)
                                           for bad in chunk.bad)], key=lambda e: e.line)
        write_errors(errors, failed)
        write_part(part, fmt, result.rows)


def _steps() -> _ColumnSteps:
    return _ColumnSteps() if hasattr(batch_files, "ScoredRows") else _RecordSteps()


# -- measuring ----------------------------------------------------------------------------


def measure_once(source: BatchInput, folder: Path, chunk_size: int,
                 now: Callable[[], float]) -> dict[str, float]:
    """Seconds (by ``now``) each step took over the whole input."""
    steps = _steps()
    clock = _Clock()
    session = InstantModel(clock, now)
    scorer = steps.scorer(session, source.format)
    target = GenerationTarget("v1", "http://instance/predict", FEATURES)
    parts = folder / "parts"
    parts.mkdir()
    spent = dict.fromkeys(STEPS, 0.0)

    started = now()
    rows = source.count_rows()
    spent["count"] = now() - started

    started = now()
    chunks = list(steps.chunks(source, chunk_size, [*FEATURES, *PASSTHROUGH]))
    spent["read"] = now() - started
    if sum(chunk.rows for chunk in chunks) != rows:
        raise AssertionError("the chunks do not hold every row")

    results = []
    for chunk in chunks:
        session.expect(steps.records(chunk))
        results.append(clock.time(lambda c=chunk: steps.score(scorer, target, c), now))
    spent["body"], spent["decode"], spent["results"] = clock.body, clock.decode, clock.results

    started = now()
    for chunk, result in zip(chunks, results, strict=True):
        steps.write(parts / f"{chunk.index:09d}.part", parts / f"{chunk.index:09d}.errors",
                    source.format, chunk, result)
    spent["write"] = now() - started

    started = now()
    joined = folder / f"result.{source.format}"
    join_parts(sorted(parts.glob("*.part")), source.format, joined)
    join_parts(sorted(parts.glob("*.errors")), "jsonl", folder / "errors.jsonl")
    scored = count_result_rows(joined, source.format)
    count_result_rows(folder / "errors.jsonl", "jsonl")
    spent["join"] = now() - started
    if scored != rows:
        raise AssertionError(f"{scored} rows scored of {rows}")
    return spent


def measure(inputs: dict[str, Path], chunk_size: int, rounds: int, rows: int
            ) -> dict[str, dict[str, dict[str, float]]]:
    """Per format, per step: the best CPU and wall microseconds a row over ``rounds``."""
    figures: dict[str, dict[str, dict[str, float]]] = {}
    for fmt, path in inputs.items():
        best: dict[str, dict[str, float]] = {"cpu": {}, "wall": {}}
        for clock_name, now in (("cpu", time.process_time), ("wall", time.perf_counter)):
            for _ in range(rounds):
                with tempfile.TemporaryDirectory(prefix="batch-rows-", dir=path.parent) as run:
                    spent = measure_once(BatchInput(path, fmt), Path(run), chunk_size, now)
                for step, seconds in spent.items():
                    micros = seconds / rows * 1e6
                    best[clock_name][step] = min(best[clock_name].get(step, micros), micros)
            best[clock_name]["total"] = sum(best[clock_name][step] for step in STEPS)
        figures[fmt] = best
        print(f"measured {fmt}", file=sys.stderr)
    return figures


def measure_before(checkout: Path, args: argparse.Namespace
                   ) -> dict[str, dict[str, dict[str, float]]]:
    roots = [str(checkout / root) for root in ("platform", "runners", "sdk")]
    environment = {**os.environ,
                   "PYTHONPATH": os.pathsep.join([*roots, os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, str(Path(__file__).resolve()), "--json", "--rows",
               str(args.rows), "--chunk-size", str(args.chunk_size), "--rounds",
               str(args.rounds)]
    done = subprocess.run(command, env=environment, cwd=tempfile.gettempdir(),
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the run against {checkout} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def table(after: dict[str, Any], before: dict[str, Any] | None) -> str:
    lines = []
    for fmt in after:
        if before is None:
            lines.append(f"{fmt:8} {'us/row cpu':>11} {'wall':>8}")
        else:
            lines.append(f"{fmt:8} {'cpu before':>11} {'after':>8} {'wall before':>12} "
                         f"{'after':>8}")
        for step in (*STEPS, "total"):
            now_cpu, now_wall = after[fmt]["cpu"][step], after[fmt]["wall"][step]
            if before is None:
                lines.append(f"  {step:7} {now_cpu:10.2f} {now_wall:8.2f}")
            else:
                was_cpu, was_wall = before[fmt]["cpu"][step], before[fmt]["wall"][step]
                lines.append(f"  {step:7} {was_cpu:10.2f} {now_cpu:8.2f} {was_wall:12.2f} "
                             f"{now_wall:8.2f}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, default=None,
                        help="a checkout of the code before, measured too")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    before = measure_before(args.before, args) if args.before else None
    with tempfile.TemporaryDirectory(prefix="batch-rows-") as folder:
        inputs = write_inputs(Path(folder), args.rows)
        after = measure(inputs, args.chunk_size, args.rounds, args.rows)
    if args.json:
        print(json.dumps(after))
    else:
        print(f"{args.rows} rows, chunks of {args.chunk_size}, best of {args.rounds} rounds; "
              "microseconds a row")
        print(table(after, before))
    return 0


if __name__ == "__main__":
    sys.exit(main())
