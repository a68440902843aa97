"""A batch job's files: inputs (CSV, JSON Lines, Parquet) read in chunks with their line
numbers, results in parts."""

from __future__ import annotations

import csv
import gc
import json
import subprocess
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipyard.domain.batch_files import (
    MISSING,
    BatchInput,
    Chunk,
    ErrorRow,
    ScoredRows,
    count_result_rows,
    format_of,
    join_parts,
    media_type,
    write_errors,
    write_part,
)
from shipyard.errors import InvalidInput


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_format_from_name_or_media_type() -> None:
    assert format_of("jsonl", "text/csv") == "jsonl"
    assert format_of(None, "text/csv; charset=utf-8") == "csv"
    assert format_of(None, "application/x-ndjson") == "jsonl"
    with pytest.raises(InvalidInput, match="Content-Type 'application/zip'"):
        format_of(None, "application/zip")
    with pytest.raises(InvalidInput, match="unknown format 'xlsx'"):
        format_of("xlsx", None)


def test_csv_chunks_keep_each_rows_line_and_set_bad_rows_apart(tmp_path: Path) -> None:
    source = write(tmp_path / "in.csv", (
        "id,a,b\n"
        "1,0.5,x\n"
        '2,"multi\nline",y\n'  # one record over two lines
        "3,1.5\n"              # a cell short
        "\n"                   # a blank line is no row
        "4,2.5,z\n"
    ))
    batch = BatchInput(source, "csv")
    assert batch.columns() == ["id", "a", "b"]
    chunks = list(batch.chunks(2))
    assert [c.index for c in chunks] == [0, 1]
    assert chunks[0].columns == {"id": ["1", "2"], "a": ["0.5", "multi\nline"],
                                 "b": ["x", "y"]}
    assert chunks[0].lines == [2, 3]
    assert chunks[1].columns == {"id": ["4"], "a": ["2.5"], "b": ["z"]}
    assert chunks[1].lines == [7]
    assert [(b.line, b.message) for b in chunks[1].bad] == [
        (5, "2 cells where the header has 3")]
    assert [(c.record_count, c.rows) for c in chunks] == [(2, 2), (1, 2)]
    assert batch.count_rows() == 4
    # Reading from a later chunk gives the same chunk.
    again = next(batch.chunks(2, start=1))
    assert (again.index, again.columns, again.lines, again.bad) == (
        1, chunks[1].columns, chunks[1].lines, chunks[1].bad)
    # Only the columns asked for, in the order asked, of those the input has.
    (first, _) = batch.chunks(2, columns=["b", "id", "nope"])
    assert first.columns == {"b": ["x", "y"], "id": ["1", "2"]}


def test_csv_rows_that_are_no_csv_are_bad_lines_and_counted(tmp_path: Path) -> None:
    cell = "x" * (1024 * 1024 + 1)  # past the field limit
    source = write(tmp_path / "in.csv", f"a,b\n1,2\n{cell},3\n\n4,5\n")
    batch = BatchInput(source, "csv")
    (chunk,) = batch.chunks(10)
    assert chunk.columns == {"a": ["1", "4"], "b": ["2", "5"]}
    assert chunk.lines == [2, 5]
    assert [b.line for b in chunk.bad] == [3]
    assert chunk.bad[0].message.startswith("not a CSV row: field larger than field limit")
    assert batch.count_rows() == 3
    assert [c.rows for c in batch.chunks(1)] == [1, 1, 1]


def test_jsonl_chunks_and_lines_that_are_no_record(tmp_path: Path) -> None:
    source = write(tmp_path / "in.jsonl",
                   '{"a": 1}\n[1, 2]\n{"a": 2}\nnot json\n\n{"a": 3}\n')
    batch = BatchInput(source, "jsonl")
    assert batch.columns() == ["a"]
    (chunk,) = list(batch.chunks(10))
    assert chunk.columns == {"a": [1, 2, 3]}
    assert chunk.lines == [1, 3, 6]
    assert [b.line for b in chunk.bad] == [2, 4]
    assert chunk.bad[0].message == "not a JSON object"
    assert chunk.bad[1].message.startswith("not JSON")
    assert batch.count_rows() == 5
    assert [(c.index, c.lines, c.columns) for c in batch.chunks(2, start=1)] == [
        (1, [3], {"a": [2]}), (2, [6], {"a": [3]})]


def test_a_json_record_that_lacks_a_column_has_it_missing(tmp_path: Path) -> None:
    source = write(tmp_path / "in.jsonl", '{"id": 1, "a": 1}\n{"id": 2, "b": {"c": 1}}\n')
    (chunk,) = BatchInput(source, "jsonl").chunks(10, columns=["a", "id"])
    assert chunk.columns == {"a": [1, MISSING], "id": [1, 2]}
    (every,) = BatchInput(source, "jsonl").chunks(10)
    assert every.columns == {"id": [1, 2], "a": [1, MISSING], "b": [MISSING, {"c": 1}]}
    # Passed through, a missing value is None.
    assert every.values("a", [0, 1]) == [1, None]
    assert every.values("b", [1]) == [{"c": 1}]
    assert every.values("nope", [0, 1]) == [None, None]


def test_a_chunk_cut_in_pieces() -> None:
    chunk = Chunk(3, {"a": [1, 2, 3, 4], "b": ["w", "x", "y", "z"]}, [2, 3, 5, 6])
    piece = chunk.slice(1, 3)
    assert (piece.index, piece.columns, piece.lines, piece.bad) == (
        3, {"a": [2, 3], "b": ["x", "y"]}, [3, 5], [])
    assert chunk.values("b", [0, 2, 3]) == ["w", "y", "z"]
    assert chunk.values("b", [0, 1, 2, 3]) == ["w", "x", "y", "z"]


@pytest.mark.parametrize(("name", "text", "message"), [
    ("empty.csv", "", "the CSV is empty"),
    ("header.csv", "a,b\n", "a header and no row"),
    ("twice.csv", "a,a\n1,2\n", "names 'a' more than once"),
    ("empty.jsonl", "\n\n", "no record to score"),
    ("list.jsonl", "[1]\n", "line 1 of the JSON Lines file is not a JSON object"),
])
def test_inputs_without_a_record_are_refused(tmp_path: Path, name: str, text: str,
                                             message: str) -> None:
    path = write(tmp_path / name, text)
    with pytest.raises(InvalidInput, match=message):
        BatchInput(path, path.suffix[1:]).columns()


CLASSES = ["setosa", "virginica"]


def test_csv_parts_join_into_one_file_in_order(tmp_path: Path) -> None:
    first = ScoredRows({"id": ["1", "2"]}, ["setosa", "virginica"],
                       [[0.9, 0.1], [0.2, 0.8]], CLASSES)
    write_part(tmp_path / "0.part", "csv", first)
    write_part(tmp_path / "1.part", "csv", ScoredRows({"id": []}, []))  # every row failed
    write_part(tmp_path / "2.part", "csv", ScoredRows({"id": ["4"]}, ["setosa"],
                                                      [[1.0, 0.0]], CLASSES))
    joined = tmp_path / "result.csv"
    join_parts([tmp_path / f"{i}.part" for i in range(3)], "csv", joined)
    with joined.open(newline="") as text:
        rows = list(csv.reader(text))
    assert rows == [["id", "prediction", "probability_setosa", "probability_virginica"],
                    ["1", "setosa", "0.9", "0.1"], ["2", "virginica", "0.2", "0.8"],
                    ["4", "setosa", "1.0", "0.0"]]
    assert not list(tmp_path.glob("*.partial"))


def test_csv_cells_of_json_values_none_and_rows_without_probabilities(tmp_path: Path
                                                                       ) -> None:
    rows = ScoredRows({"id": [1, None, "3"], "tags": [["a"], {"b": 2}, True]},
                      [{"k": 1}, None, 2.5], [[0.5, 0.5], None, [0.0, 1.0]], CLASSES)
    write_part(tmp_path / "0.part", "csv", rows)
    with (tmp_path / "0.part").open(newline="") as text:
        assert list(csv.reader(text)) == [
            ["id", "tags", "prediction", "probability_setosa", "probability_virginica"],
            ["1", '["a"]', '{"k": 1}', "0.5", "0.5"],
            ["", '{"b": 2}', "", "", ""],
            ["3", "true", "2.5", "0.0", "1.0"]]
    write_part(tmp_path / "1.part", "csv", ScoredRows({}, [1, 2]))  # a regressor
    assert (tmp_path / "1.part").read_text() == "prediction\n1\n2\n"


def test_jsonl_parts_and_errors(tmp_path: Path) -> None:
    write_part(tmp_path / "0.part", "jsonl", ScoredRows({"id": [7]}, [1.5]))
    write_part(tmp_path / "1.part", "jsonl",
               ScoredRows({"id": [8, 9]}, ["a", "b"], [[1.0], None], ["a"]))
    write_part(tmp_path / "2.part", "jsonl", ScoredRows({"id": []}, []))
    join_parts([tmp_path / f"{i}.part" for i in range(3)], "jsonl", tmp_path / "r.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert lines == [{"id": 7, "prediction": 1.5},
                     {"id": 8, "prediction": "a", "probabilities": {"a": 1.0}},
                     {"id": 9, "prediction": "b"}]
    write_errors(tmp_path / "e", [ErrorRow(3, "feature 'a' must be a finite number")])
    assert json.loads((tmp_path / "e").read_text()) == {
        "line": 3, "message": "feature 'a' must be a finite number"}


# -- Parquet ------------------------------------------------------------------------------


def write_parquet(path: Path, columns: dict[str, list[Any]], row_group_size: int | None = None
                  ) -> Path:
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)
    return path


def read_parquet(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist()


def test_parquet_media_types() -> None:
    for media in ("application/vnd.apache.parquet", "application/x-parquet",
                  "application/parquet"):
        assert format_of(None, media) == "parquet"
    assert format_of("parquet", None) == "parquet"
    assert media_type("parquet") == "application/vnd.apache.parquet"


def test_parquet_chunks_number_rows_by_their_position(tmp_path: Path) -> None:
    source = write_parquet(tmp_path / "in.parquet", {
        "id": ["a", "b", "c", "d", "e"], "x": [0.5, None, 1.5, float("nan"), 2.5],
        "n": [1, 2, 3, 4, 5]}, row_group_size=2)
    batch = BatchInput(source, "parquet")
    assert batch.columns() == ["id", "x", "n"]
    assert batch.count_rows() == 5
    chunks = list(batch.chunks(3))
    assert [(c.index, c.lines, c.bad) for c in chunks] == [(0, [1, 2, 3], []), (1, [4, 5], [])]
    # A null and a NaN are both a missing value; numbers stay numbers.
    assert chunks[0].columns == {"id": ["a", "b", "c"], "x": [0.5, None, 1.5], "n": [1, 2, 3]}
    assert chunks[1].columns == {"id": ["d", "e"], "x": [None, 2.5], "n": [4, 5]}
    # Reading from a later chunk gives the same chunk, starting inside a row group.
    (again,) = list(batch.chunks(3, start=1))
    assert (again.index, again.lines, again.columns) == (1, [4, 5], chunks[1].columns)
    assert list(batch.chunks(3, start=2)) == []
    # Only the columns asked for, of those the file has; rows counted all the same.
    assert [(c.lines, c.columns) for c in batch.chunks(3, columns=["n", "nope", "id"])] == [
        ([1, 2, 3], {"n": [1, 2, 3], "id": ["a", "b", "c"]}),
        ([4, 5], {"n": [4, 5], "id": ["d", "e"]})]
    assert [(c.lines, c.columns) for c in batch.chunks(3, columns=["nope"])] == [
        ([1, 2, 3], {}), ([4, 5], {})]


def test_parquet_values_json_cannot_carry_become_text_or_numbers(tmp_path: Path) -> None:
    source = write_parquet(tmp_path / "in.parquet", {
        "when": pa.array([datetime(2024, 5, 1, 10, 30)], pa.timestamp("ns")),
        "day": [date(2024, 5, 1)],
        "price": pa.array([Decimal("12.50")], pa.decimal128(6, 2)),
        "blob": [b"raw"], "tags": [["a", "b"]], "flag": [True],
        "small": pa.array([1.5], pa.float32()), "gap": pa.array([timedelta(seconds=3)]),
        "half": pa.array([0.5], pa.float16()),
    })
    (chunk,) = BatchInput(source, "parquet").chunks(10)
    record = {name: values for name, (values,) in chunk.columns.items()}
    assert record == {"when": "2024-05-01T10:30:00", "day": "2024-05-01", "price": 12.5,
                      "blob": "raw", "tags": ["a", "b"], "flag": True, "small": 1.5,
                      "gap": "0:00:03", "half": 0.5}
    json.dumps(record, allow_nan=False)  # what the supervisor sends


@pytest.mark.parametrize(("columns", "message"), [
    ({"a": pa.array([], pa.float64())}, "the Parquet file has no row to score"),
    ({}, "the Parquet file has no column"),
])
def test_parquet_inputs_without_a_record_are_refused(
    tmp_path: Path, columns: dict[str, Any], message: str
) -> None:
    source = write_parquet(tmp_path / "in.parquet", columns)
    with pytest.raises(InvalidInput, match=message):
        BatchInput(source, "parquet").columns()


@pytest.mark.parametrize("content", [b"", b"a,b\n1,2\n", b"PAR1 and then not Parquet PAR1"])
def test_a_file_that_is_not_parquet_is_refused_by_name(tmp_path: Path, content: bytes) -> None:
    source = tmp_path / "in.parquet"
    source.write_bytes(content)
    batch = BatchInput(source, "parquet")
    for read in (batch.columns, batch.count_rows, lambda: list(batch.chunks(10))):
        with pytest.raises(InvalidInput, match="the file is not Parquet, or is damaged"):
            read()


def test_a_large_parquet_file_is_read_a_chunk_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = 200_000
    source = write_parquet(tmp_path / "big.parquet",
                           {"n": list(range(rows)), "x": [n / 2 for n in range(rows)]},
                           row_group_size=64_000)
    asked: list[dict[str, Any]] = []
    iter_batches = pq.ParquetFile.iter_batches

    def recorded(self: pq.ParquetFile, *args: Any, **kwargs: Any) -> Any:
        asked.append(kwargs)
        yield from iter_batches(self, *args, **kwargs)

    def whole(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("the input was read whole")

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", recorded)
    for name in ("read", "read_row_group", "read_row_groups"):
        monkeypatch.setattr(pq.ParquetFile, name, whole)
    monkeypatch.setattr(pq, "read_table", whole)
    batch = BatchInput(source, "parquet")
    assert batch.count_rows() == rows
    assert asked == []  # counted from the footer
    sizes = []
    for chunk in batch.chunks(7_000):
        sizes.append(chunk.record_count)
        assert len(chunk.columns["x"]) == chunk.record_count
        assert chunk.lines[0] == chunk.index * 7_000 + 1
        assert chunk.columns["n"][0] == chunk.index * 7_000
    assert sizes == [7_000] * 28 + [4_000]
    assert asked == [{"batch_size": 7_000, "row_groups": [0, 1, 2, 3], "columns": ["n", "x"]}]
    # A resumed job skips the row groups before its first chunk, and reads only the
    # columns it needs.
    resumed = next(batch.chunks(7_000, start=20, columns=["n"]))
    assert (resumed.index, resumed.lines[0], resumed.columns["n"][0]) == (20, 140_001,
                                                                          140_000)
    assert list(resumed.columns) == ["n"]
    assert asked[-1] == {"batch_size": 7_000, "row_groups": [2, 3], "columns": ["n"]}


def test_a_parquet_file_of_one_row_group_is_not_held_whole(tmp_path: Path) -> None:
    # Arrow's own count of the bytes it holds, after each chunk: pyarrow's default reader
    # holds the row group's column chunks (21 MB here) until the group is read.
    rows = 2_000_000
    source = write_parquet(tmp_path / "one-group.parquet",
                           {"n": list(range(rows)), "x": [n / 3 for n in range(rows)]},
                           row_group_size=rows)
    gc.collect()  # Arrow buffers of other tests' garbage
    before, held = pa.total_allocated_bytes(), 0
    for chunk in BatchInput(source, "parquet").chunks(7_000):
        held = max(held, pa.total_allocated_bytes() - before)
        assert len(chunk.columns["n"]) == chunk.record_count
    assert held < 12_000_000, held


def test_parquet_parts_join_into_one_file_in_order(tmp_path: Path) -> None:
    parts = [tmp_path / f"{i}.part" for i in range(4)]
    write_part(parts[0], "parquet", ScoredRows({"id": ["1", "2"]}, ["setosa", "virginica"],
                                               [[0.9, 0.1], [0.2, 0.8]], CLASSES))
    write_part(parts[1], "parquet", ScoredRows({"id": []}, []))  # every row failed
    write_part(parts[2], "parquet", ScoredRows({"id": ["4"]}, ["setosa"], [[1.0, 0.0]],
                                               CLASSES))
    write_part(parts[3], "parquet", ScoredRows({"id": [None, "6"]}, ["virginica", "setosa"],
                                               [[0.0, 1.0], None], CLASSES))
    assert parts[1].stat().st_size == 0
    joined = tmp_path / "result.parquet"
    join_parts(parts, "parquet", joined)
    assert read_parquet(joined) == [
        {"id": "1", "prediction": "setosa", "probability_setosa": 0.9,
         "probability_virginica": 0.1},
        {"id": "2", "prediction": "virginica", "probability_setosa": 0.2,
         "probability_virginica": 0.8},
        {"id": "4", "prediction": "setosa", "probability_setosa": 1.0,
         "probability_virginica": 0.0},
        {"id": None, "prediction": "virginica", "probability_setosa": 0.0,
         "probability_virginica": 1.0},
        {"id": "6", "prediction": "setosa", "probability_setosa": None,
         "probability_virginica": None},
    ]
    assert pq.ParquetFile(joined).num_row_groups == 3  # one per part with rows
    assert count_result_rows(joined, "parquet") == 5
    assert not list(tmp_path.glob("*.partial"))


def test_parquet_parts_whose_types_differ_are_joined_in_one_type(tmp_path: Path) -> None:
    parts = [tmp_path / f"{i}.part" for i in range(4)]
    write_part(parts[0], "parquet", ScoredRows({"id": [None]}, [1]))    # int, all null
    write_part(parts[1], "parquet", ScoredRows({"id": [7]}, [2.5]))     # float
    write_part(parts[2], "parquet", ScoredRows({"id": [8]}, [None]))    # all null
    write_part(parts[3], "parquet", ScoredRows({"id": ["x", 9]}, [3, 4]))
    joined = tmp_path / "result.parquet"
    join_parts(parts, "parquet", joined)
    schema = pq.read_schema(joined)
    assert (schema.field("id").type, schema.field("prediction").type) == (pa.string(),
                                                                          pa.float64())
    assert read_parquet(joined) == [
        {"id": None, "prediction": 1.0}, {"id": "7", "prediction": 2.5},
        {"id": "8", "prediction": None}, {"id": "x", "prediction": 3.0},
        {"id": "9", "prediction": 4.0}]


def test_parquet_results_of_no_row_are_an_empty_parquet_file(tmp_path: Path) -> None:
    write_part(tmp_path / "0.part", "parquet", ScoredRows({"id": []}, []))
    join_parts([tmp_path / "0.part"], "parquet", tmp_path / "result.parquet")
    assert count_result_rows(tmp_path / "result.parquet", "parquet") == 0
    assert read_parquet(tmp_path / "result.parquet") == []


def test_csv_and_jsonl_results_are_counted_without_their_header(tmp_path: Path) -> None:
    csv_result = write(tmp_path / "r.csv", "id,prediction\n1,a\n\n2,b\n")
    assert count_result_rows(csv_result, "csv") == 2
    assert count_result_rows(write(tmp_path / "e.csv", ""), "csv") == 0
    quoted = write(tmp_path / "q.csv", 'id,prediction\n"1\n\n2",a\n\n3,"b,c"\n')
    assert count_result_rows(quoted, "csv") == 2
    assert count_result_rows(write(tmp_path / "r.jsonl", '{"a": 1}\n\n{"a": 2}\n'),
                             "jsonl") == 2


def test_pyarrow_loads_only_when_a_parquet_file_is_met() -> None:
    probe = ("import sys; import shipyard.domain.batch_jobs; "
             "print('pyarrow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert (done.returncode, done.stdout.strip()) == (0, "False"), done.stderr
