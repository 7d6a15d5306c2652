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
    good = b"Invoice,Quantity,Price\n" + "".join(f"{i},1,1\n" for i in range(5000)).encode()
    path.write_bytes(good + b"1,CAF\xc9,2\n")  # beyond the first read of the file
    with pytest.raises(FileFormatError, match=rf"f\.csv: not valid utf-8 at byte "
                                              rf"{len(good) + 5} \(line 5002\)"):
        parse(path)
    assert [b.num_rows for b in parse(path, "latin-1")] == [5001]


def test_control_characters_and_nul_are_kept_byte_exact(tmp_path):
    path = tmp_path / "f.csv"
    fields = ["A\x00B", "\x07", '"q\x00\x1b\x0b\x0c\x1c\x85\u2028"']
    path.write_bytes(("Invoice,Quantity,Price\n" + ",".join(fields) + "\n\x00,1,2\n")
                     .encode())
    rows = pa.Table.from_batches(parse(path)).to_pylist()
    assert [(r["invoice"], r["quantity"], r["price"]) for r in rows] == [
        ("A\x00B", "\x07", "q\x00\x1b\x0b\x0c\x1c\x85\u2028"), ("\x00", "1", "2")]
    assert [(r["_line_number"], r["_corrupt_record"]) for r in rows] == [(2, None), (3, None)]


def file_batches(path: Path, encoding: str = "utf-8") -> list[dict]:
    batches = stage.file_batches("f.csv", str(path), schema=SCHEMA, constants=CONSTANTS,
                                 aliases=ALIASES, required=REQUIRED, delimiter=",",
                                 encoding=encoding)
    return pa.Table.from_batches(list(batches), SCHEMA).to_pylist()


def test_a_file_that_cannot_be_read_ends_with_a_marker_row(tmp_path, monkeypatch):
    monkeypatch.setattr(stage, "BATCH_ROWS", 100)
    path = tmp_path / "f.csv"
    good = b"Invoice,Quantity,Price\n" + b"1,1,1\n" * 3000  # beyond the first 8 KiB read
    path.write_bytes(good + b"3,CAF\xc9,3\n")
    rows = file_batches(path)
    # the batches read before the error went out: the driver drops the whole file
    assert [r["_row_number"] for r in rows] == [*range(1, len(rows)), stage.REJECTED_ROW]
    assert len(rows) > 100
    marker = rows[-1]
    assert marker["_corrupt_record"].startswith(
        f"not valid utf-8 at byte {len(good) + 5} (line 3002)")
    assert (marker["_source_file"], marker["_batch_id"], marker["_ingested_at"]) == (
        "f.csv", "batch-000007", NOW)
    assert [marker[c] for c in ALIASES] == [None] * len(ALIASES)
    path.write_bytes(b"Invoice,Amount\n1,2\n")
    (marker,) = file_batches(path)
    assert "lacks required column" in marker["_corrupt_record"]
    path.write_bytes(b"Invoice,Quantity,Price\n1,1,1\n")
    assert [r["_row_number"] for r in file_batches(path)] == [1]
