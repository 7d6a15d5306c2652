"""Bronze parsing inside a task: a landing file as Arrow batches of the table schema (no Spark)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

import bronze.stage as stage
from bronze.parse import FileFormatError, parse_lines, parse_records

ALIASES = {"invoice": ["Invoice"], "quantity": ["Quantity"], "price": ["Price"],
           "customer_id": ["Customer ID"]}
REQUIRED = ["invoice", "quantity", "price"]
NOW = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
SCHEMA = pa.schema(
    [(c, pa.string()) for c in ALIASES]
    + [("_corrupt_record", pa.string()), ("_rescued", pa.string()),
       ("_source_file", pa.string()), ("_row_number", pa.int64()),
       ("_line_number", pa.int64()), ("_batch_id", pa.string()),
       ("_ingested_at", pa.timestamp("us", tz="UTC"))])
CONSTANTS = {"_batch_id": "batch-000007", "_ingested_at": NOW}
# Quoted comma and newline, empty fields, a short and a long line, a blank line, an
# extra column (rescued) and no Customer ID column (NULL).
AWKWARD = ('Invoice,Quantity,Price,Channel\r\n"1,2","a\nb",3,web\r\n4,,6,\r\n7,8\r\n\r\n'
           '9,1,2,x,y\r\nC10, 5 ,1.0,shop\r\n')


def parse(path: Path, encoding: str = "utf-8") -> list[pa.RecordBatch]:
    return list(stage.parse_batches("f.csv", str(path), schema=SCHEMA, constants=CONSTANTS,
                                    aliases=ALIASES, required=REQUIRED, delimiter=",",
                                    encoding=encoding))


def test_arrow_batches_hold_exactly_what_parse_lines_gives():
    lines = io.StringIO(AWKWARD, newline="")
    (raw,) = parse_records(lines, source="f.csv", aliases=ALIASES, required=REQUIRED)
    got = stage.record_batch(raw, SCHEMA, CONSTANTS).to_pylist()
    (columns,) = parse_lines(io.StringIO(AWKWARD, newline=""), source="f.csv",
                             aliases=ALIASES, required=REQUIRED)
    expected = [{**{k: v[i] for k, v in columns.items()}, "_batch_id": "batch-000007",
                 "_ingested_at": NOW} for i in range(len(columns["invoice"]))]
    assert got == expected
    assert [(r["invoice"], r["quantity"], r["_corrupt_record"], r["_rescued"]) for r in got] == [
        ("1,2", "a\nb", None, '{"Channel": "web"}'), ("4", None, None, '{"Channel": ""}'),
        (None, None, "7,8", None), (None, None, "9,1,2,x,y", None),
        ("C10", " 5 ", None, '{"Channel": "shop"}')]
    assert [r["_line_number"] for r in got] == [2, 4, 5, 7, 8]
    assert {r["customer_id"] for r in got} == {None}


def test_a_landing_file_becomes_batches_with_the_table_schema(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"\xef\xbb\xbf" + AWKWARD.encode())  # a byte-order mark is dropped
    batches = parse(path)
    assert all(b.schema == SCHEMA for b in batches)
    rows = pa.Table.from_batches(batches).to_pylist()
    assert [r["invoice"] for r in rows] == ["1,2", "4", None, None, "C10"]
    assert [r["_row_number"] for r in rows] == [1, 2, 3, 4, 5]
    assert {r["_batch_id"] for r in rows} == {"batch-000007"}


def test_files_without_records_give_no_batch(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("Invoice,Quantity,Price\n", encoding="utf-8")
    assert parse(path) == []


def test_big_files_come_in_bounded_batches(tmp_path, monkeypatch):
    monkeypatch.setattr(stage, "BATCH_ROWS", 4)
    path = tmp_path / "f.csv"
    path.write_text("Invoice,Quantity,Price\n" + "".join(f"{i},1,1\n" for i in range(10)),
                    encoding="utf-8")
    assert [b.num_rows for b in parse(path)] == [4, 4, 2]


def test_invalid_encoding_names_the_file_and_byte(tmp_path):
    path = tmp_path / "f.csv"
    good = "".join(f"{i},1,1\n" for i in range(5000)).encode()  # beyond the first read
    path.write_bytes(b"Invoice,Quantity,Price\n" + good + b"1,CAF\xc9,2\n")
    with pytest.raises(FileFormatError, match=r"f\.csv: not valid utf-8 at byte \d+"):
        parse(path)
