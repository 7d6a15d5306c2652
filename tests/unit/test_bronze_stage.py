"""Bronze staging: a landing file parsed straight into Parquet with pyarrow (no Spark)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
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


def parse(path: Path, prefix: Path, encoding: str = "utf-8") -> stage.ParsedFile:
    return stage.parse_to_parquet("f.csv", str(path), prefix=str(prefix), schema=SCHEMA,
                                  constants=CONSTANTS, aliases=ALIASES, required=REQUIRED,
                                  delimiter=",", encoding=encoding)


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


def test_a_landing_file_becomes_parquet_with_the_table_schema_and_counts(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"\xef\xbb\xbf" + AWKWARD.encode())
    parsed = parse(path, tmp_path / "out" / "part-00000")
    assert parsed == stage.ParsedFile("f.csv", (str(tmp_path / "out/part-00000-000.parquet"),),
                                      records=5, corrupt_records=2, rescued_records=3)
    table = pq.read_table(parsed.parquet[0])
    assert table.schema == SCHEMA
    assert table.column("invoice").to_pylist() == ["1,2", "4", None, None, "C10"]
    assert set(table.column("_ingested_at").to_pylist()) == {NOW}


def test_files_without_records_write_no_parquet(tmp_path):
    for name, text in (("empty.csv", ""), ("header.csv", "Invoice,Quantity,Price\n")):
        (tmp_path / name).write_text(text)
        parsed = parse(tmp_path / name, tmp_path / "out" / name)
        assert (parsed.parquet, parsed.records, parsed.corrupt_records) == ((), 0, 0)
    assert not (tmp_path / "out").exists()


def test_big_files_roll_over_to_several_parquet_files(tmp_path, monkeypatch):
    monkeypatch.setattr(stage, "ROW_GROUP_ROWS", 4)
    monkeypatch.setattr(stage, "FILE_ROWS", 8)
    path = tmp_path / "f.csv"
    path.write_text("Invoice,Quantity,Price\n" + "".join(f"{i},1,1\n" for i in range(1, 20)))
    parsed = parse(path, tmp_path / "p")
    assert [pq.read_metadata(p).num_rows for p in parsed.parquet] == [8, 8, 3]
    assert [pq.read_metadata(p).num_row_groups for p in parsed.parquet] == [2, 2, 1]
    rows = pa.concat_tables(pq.read_table(p) for p in parsed.parquet)
    assert rows.column("_row_number").to_pylist() == list(range(1, 20))


def test_invalid_encoding_names_the_file_and_byte(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"Invoice,Quantity,Price\n1,CAF\xc9,2\n")
    with pytest.raises(FileFormatError, match=r"f\.csv: not valid utf-8 at byte 28"):
        parse(path, tmp_path / "p")
    assert parse(path, tmp_path / "p", encoding="latin-1").records == 1


def test_a_file_failing_halfway_leaves_no_parquet_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(stage, "ROW_GROUP_ROWS", 2)  # row groups written before the error
    path = tmp_path / "f.csv"
    good = "".join(f"{i},1,1\n" for i in range(5000)).encode()  # beyond the first read
    path.write_bytes(b"Invoice,Quantity,Price\n" + good + b"1,CAF\xc9,2\n")
    with pytest.raises(FileFormatError, match=r"f\.csv: not valid utf-8"):
        parse(path, tmp_path / "out" / "part-00000")
    assert list((tmp_path / "out").iterdir()) == []
