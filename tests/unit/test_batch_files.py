"""A batch job's files: inputs read in chunks with their line numbers, results in parts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from shipyard.domain.batch_files import (
    BatchInput,
    ErrorRow,
    ScoredRow,
    format_of,
    join_parts,
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
    assert chunks[0].records == [{"id": "1", "a": "0.5", "b": "x"},
                                 {"id": "2", "a": "multi\nline", "b": "y"}]
    assert chunks[0].lines == [2, 3]
    assert chunks[1].records == [{"id": "4", "a": "2.5", "b": "z"}]
    assert chunks[1].lines == [7]
    assert [(b.line, b.message) for b in chunks[1].bad] == [
        (5, "2 cells where the header has 3")]
    assert batch.count_rows() == 4
    # Reading from a later chunk gives the same chunk.
    assert next(batch.chunks(2, start=1)).records == chunks[1].records


def test_jsonl_chunks_and_lines_that_are_no_record(tmp_path: Path) -> None:
    source = write(tmp_path / "in.jsonl",
                   '{"a": 1}\n[1, 2]\n{"a": 2}\nnot json\n\n{"a": 3}\n')
    batch = BatchInput(source, "jsonl")
    assert batch.columns() == ["a"]
    (chunk,) = list(batch.chunks(10))
    assert chunk.records == [{"a": 1}, {"a": 2}, {"a": 3}]
    assert chunk.lines == [1, 3, 6]
    assert [b.line for b in chunk.bad] == [2, 4]
    assert chunk.bad[0].message == "not a JSON object"
    assert chunk.bad[1].message.startswith("not JSON")


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


def test_csv_parts_join_into_one_file_in_order(tmp_path: Path) -> None:
    first = [ScoredRow({"id": "1"}, "setosa", {"setosa": 0.9, "virginica": 0.1}),
             ScoredRow({"id": "2"}, "virginica", {"setosa": 0.2, "virginica": 0.8})]
    write_part(tmp_path / "0.part", "csv", first)
    write_part(tmp_path / "1.part", "csv", [])  # every row of this chunk failed
    write_part(tmp_path / "2.part", "csv", [ScoredRow({"id": "4"}, "setosa",
                                                      {"setosa": 1.0, "virginica": 0.0})])
    joined = tmp_path / "result.csv"
    join_parts([tmp_path / f"{i}.part" for i in range(3)], "csv", joined)
    with joined.open(newline="") as text:
        rows = list(csv.reader(text))
    assert rows == [["id", "prediction", "probability_setosa", "probability_virginica"],
                    ["1", "setosa", "0.9", "0.1"], ["2", "virginica", "0.2", "0.8"],
                    ["4", "setosa", "1.0", "0.0"]]
    assert not list(tmp_path.glob("*.partial"))


def test_jsonl_parts_and_errors(tmp_path: Path) -> None:
    write_part(tmp_path / "0.part", "jsonl", [ScoredRow({"id": 7}, 1.5)])
    write_part(tmp_path / "1.part", "jsonl", [ScoredRow({"id": 8}, "a", {"a": 1.0})])
    join_parts([tmp_path / "0.part", tmp_path / "1.part"], "jsonl", tmp_path / "r.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert lines == [{"id": 7, "prediction": 1.5},
                     {"id": 8, "prediction": "a", "probabilities": {"a": 1.0}}]
    write_errors(tmp_path / "e", [ErrorRow(3, "feature 'a' must be a finite number")])
    assert json.loads((tmp_path / "e").read_text()) == {
        "line": 3, "message": "feature 'a' must be a finite number"}
