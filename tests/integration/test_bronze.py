"""Bronze ingestion: incremental, exactly once, nothing lost."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyspark.sql import types as T

import bronze.run as bronze_run
from bronze import ingest_log
from bronze.landing import ChangedFileError
from bronze.unreadable import UnreadableFileError
from lakehouse.cli import StageContext
from lakehouse.quality import DataQualityError
from tests.conftest import settings_for, with_one_check_suite

HEADER = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n"
LINE = "{inv},85048,GLASS BALL,12,2023-01-0{day} 07:45:00,6.95,13085,United Kingdom\n"
RAW = ("invoice", "stock_code", "description", "quantity", "invoice_date", "price",
       "customer_id", "country")


def write(ctx, name: str, content: str | bytes) -> None:
    path = ctx.settings.paths.landing / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")


def month(n_lines: int, day: int = 1, start: int = 1) -> str:
    return HEADER + "".join(LINE.format(inv=start + i, day=day) for i in range(n_lines))


def tables(ctx):
    names = ctx.settings.tables.names
    return names.bronze_transactions, names.bronze_ingest_log


def landed(ctx, *columns: str) -> list[tuple]:
    """Every bronze row as (batch, file, row number, invoice, *columns), sorted."""
    data, _ = tables(ctx)
    keys = ("_batch_id", "_source_file", "_row_number", "invoice", *columns)
    return sorted(tuple(r[c] for c in keys) for r in ctx.store.read(data).collect())


def sha256(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def test_incremental_runs_read_only_new_files_and_a_rerun_is_a_no_op(ctx):
    data, log = tables(ctx)
    write(ctx, "2023_01.csv", month(3))
    first = bronze_run.ingest(ctx)
    assert (first.batch_id, first.files, first.records) == ("batch-000001", 1, 3)
    write(ctx, "2023_02.csv", month(2, day=2, start=100))
    second = bronze_run.ingest(ctx)
    assert (second.batch_id, second.files, second.records) == ("batch-000002", 1, 2)
    jan, feb = "2023-01-01 07:45:00", "2023-01-02 07:45:00"
    assert landed(ctx, "invoice_date") == [
        ("batch-000001", "2023_01.csv", 1, "1", jan), ("batch-000001", "2023_01.csv", 2, "2", jan),
        ("batch-000001", "2023_01.csv", 3, "3", jan),
        ("batch-000002", "2023_02.csv", 1, "100", feb),
        ("batch-000002", "2023_02.csv", 2, "101", feb)]
    assert sorted((r.path, r.batch_id, r.batch_seq, r.records, r.status)
                  for r in ctx.store.read(log).collect()) == [
        ("2023_01.csv", "batch-000001", 1, 3, "ingested"),
        ("2023_02.csv", "batch-000002", 2, 2, "ingested")]
    versions = (ctx.store.version(data), ctx.store.version(log))
    noop = bronze_run.ingest(ctx)
    assert noop.batch_id is None and "no new files" in noop.line()
    assert (ctx.store.version(data), ctx.store.version(log)) == versions


def test_bom_crlf_quoted_newlines_empty_and_header_only_files(ctx):
    data, log = tables(ctx)
    crlf = month(2).replace("\n", "\r\n")
    write(ctx, "bom.csv", b"\xef\xbb\xbf" + crlf.encode())
    write(ctx, "quoted.csv", HEADER + '7,1,"A, ""B""\r\nC",1,2023-01-01 00:00:00,1,2,UK\n')
    write(ctx, "empty.csv", "")
    write(ctx, "header_only.csv", HEADER)
    report = bronze_run.ingest(ctx)
    assert (report.files, report.empty_files, report.records, report.corrupt_records) == (
        4, 2, 3, 0)
    rows = {(r._source_file, r._row_number): r for r in ctx.store.read(data).collect()}
    assert {k: (r._line_number, r._corrupt_record, r._rescued) for k, r in rows.items()} == {
        ("bom.csv", 1): (2, None, None), ("bom.csv", 2): (3, None, None),
        ("quoted.csv", 1): (2, None, None)}
    # the byte-order mark is not part of the first header name, no field keeps a \r
    for n in (1, 2):
        assert tuple(rows["bom.csv", n][c] for c in RAW) == (
            str(n), "85048", "GLASS BALL", "12", "2023-01-01 07:45:00", "6.95", "13085",
            "United Kingdom")
    assert tuple(rows["quoted.csv", 1][c] for c in RAW) == (
        "7", "1", 'A, "B"\r\nC', "1", "2023-01-01 00:00:00", "1", "2", "UK")
    logged = {r.path: (r.records, r.corrupt_records, r.rescued_records, r.status)
              for r in ctx.store.read(log).collect()}
    assert logged == {"bom.csv": (2, 0, 0, "ingested"), "quoted.csv": (1, 0, 0, "ingested"),
                      "empty.csv": (0, 0, 0, "empty"), "header_only.csv": (0, 0, 0, "empty")}


def test_schema_drift_and_malformed_lines_are_kept(ctx):
    data, log = tables(ctx)
    write(ctx, "drift.csv", HEADER.strip() + ",Channel\n"
          "1,S,D,1,2023-01-01 00:00:00,1.0,5,UK,web\n1,2\n")
    report = bronze_run.ingest(ctx)
    assert (report.records, report.corrupt_records, report.rescued_records) == (2, 1, 1)
    rows = {r["_row_number"]: r for r in ctx.store.read(data).collect()}
    assert sorted(rows) == [1, 2]
    assert tuple(rows[1][c] for c in RAW) == (
        "1", "S", "D", "1", "2023-01-01 00:00:00", "1.0", "5", "UK")
    assert (rows[1]["_rescued"], rows[1]["_corrupt_record"], rows[1]["_line_number"]) == (
        '{"Channel": "web"}', None, 2)
    # the short line keeps its raw text; none of its fields is guessed
    assert (rows[2]["_corrupt_record"], rows[2]["_rescued"], rows[2]["_line_number"]) == (
        "1,2", None, 3)
    assert [rows[2][c] for c in RAW] == [None] * len(RAW)
    (entry,) = ctx.store.read(log).collect()
    assert (entry.path, entry.records, entry.corrupt_records, entry.rescued_records) == (
        "drift.csv", 2, 1, 1)


def test_original_online_retail_format_is_read_through_the_header_mapping(ctx):
    data, _ = tables(ctx)
    write(ctx, "old.csv", "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,"
          "CustomerID,Country\n536365,85123A,WHITE HANGING HEART,6,12/1/10 8:26,2.55,17850.0,"
          "United Kingdom\n")
    bronze_run.ingest(ctx)
    (row,) = ctx.store.read(data).collect()
    assert tuple(row[c] for c in RAW) == (
        "536365", "85123A", "WHITE HANGING HEART", "6", "12/1/10 8:26", "2.55", "17850.0",
        "United Kingdom")  # raw text as received: silver types and normalises it


def test_a_changed_file_stops_the_run_unless_reingest_is_asked(ctx):
    data, log = tables(ctx)
    write(ctx, "a.csv", month(2))
    bronze_run.ingest(ctx)
    write(ctx, "a.csv", month(3))
    with pytest.raises(ChangedFileError, match=r"a\.csv"):
        bronze_run.ingest(ctx)
    assert ctx.store.version(data) == 0
    again = bronze_run.ingest(ctx, reingest_changed=True)
    assert (again.batch_id, again.records) == ("batch-000002", 3)
    # the new content is a new batch next to the old one (bronze appends, silver dedupes)
    assert landed(ctx) == [("batch-000001", "a.csv", 1, "1"), ("batch-000001", "a.csv", 2, "2"),
                           ("batch-000002", "a.csv", 1, "1"), ("batch-000002", "a.csv", 2, "2"),
                           ("batch-000002", "a.csv", 3, "3")]
    assert sorted((r.batch_id, r.path, r.records, r.sha256)
                  for r in ctx.store.read(log).collect()) == [
        ("batch-000001", "a.csv", 2, sha256(month(2))),
        ("batch-000002", "a.csv", 3, sha256(month(3)))]


def test_a_crash_between_data_commit_and_log_update_does_not_duplicate(ctx, monkeypatch):
    _, log = tables(ctx)
    write(ctx, "a.csv", month(4))
    real_write_log = bronze_run._write_log

    def die(*args, **kwargs):
        raise SystemExit("killed after the data commit")

    monkeypatch.setattr(bronze_run, "_write_log", die)
    with pytest.raises(SystemExit):
        bronze_run.ingest(ctx)
    rows = [("batch-000001", "a.csv", n, str(n)) for n in range(1, 5)]
    assert landed(ctx) == rows and not ctx.store.exists(log)
    monkeypatch.setattr(bronze_run, "_write_log", real_write_log)
    report = bronze_run.ingest(ctx)
    assert report.batch_id is None  # recovered the log, nothing new to ingest
    assert landed(ctx) == rows
    (entry,) = ctx.store.read(log).collect()  # rebuilt from the manifest of the data commit
    assert (entry.path, entry.records, entry.corrupt_records, entry.batch_id, entry.batch_seq,
            entry.status, entry.sha256) == (
        "a.csv", 4, 0, "batch-000001", 1, "ingested", sha256(month(4)))


def with_settings(ctx, tmp_path, *overrides: str) -> StageContext:
    """`ctx` (same lake and landing folder) with settings overridden."""
    return StageContext(settings_for(tmp_path, *overrides), ctx.spark, ctx.store, ctx.run_id)


LATIN = HEADER.encode() + "1,S,CAFÉ,1,2023-01-01 00:00:00,1,2,UK\n".encode("latin-1")


def test_a_file_not_in_the_encoding_stops_the_run_until_an_override_reads_it(ctx, tmp_path):
    data, log = tables(ctx)
    write(ctx, "legacy/2009.csv", LATIN)
    write(ctx, "a.csv", month(1))
    byte = len(HEADER) + 7  # the É
    with pytest.raises(UnreadableFileError, match=(
            rf"^legacy/2009\.csv: not valid utf-8 at byte {byte} \(line 2\): invalid "
            r"continuation byte; .* --set 'bronze\.encodings=\{\"legacy/2009\.csv\": cp1252\}'"
            r"; nothing was ingested")) as raised:
        bronze_run.ingest(ctx)
    assert "\n" not in str(raised.value)  # one line
    assert not ctx.store.exists(data) and not ctx.store.exists(log)
    report = bronze_run.ingest(with_settings(ctx, tmp_path,
                                             'bronze.encodings={"legacy/*": latin-1}'))
    assert (report.files, report.records, report.rejected) == (2, 2, 0)
    assert landed(ctx, "description") == [("batch-000001", "a.csv", 1, "1", "GLASS BALL"),
                                          ("batch-000001", "legacy/2009.csv", 1, "1", "CAFÉ")]


def test_gzip_files_are_read_like_their_plain_twin_with_control_characters_kept(ctx):
    data, log = tables(ctx)
    # NUL, BEL, ESC and a vertical tab inside fields, NUL alone in a field
    text = month(2) + '9,"A\x00B",\x07\x1b\x0bC,1,2023-01-01 00:00:00,1,\x00,UK\n'
    write(ctx, "plain.csv", text)
    write(ctx, "packed.csv.gz", gzip.compress(text.encode()))
    write(ctx, "named.csv", gzip.compress(text.encode()))  # gzip, named .csv
    report = bronze_run.ingest(ctx)
    assert (report.files, report.records, report.corrupt_records) == (3, 9, 0)
    rows = {}
    for r in ctx.store.read(data).collect():
        rows.setdefault(r._source_file, []).append(
            tuple(r[c] for c in (*RAW, "_row_number", "_line_number", "_corrupt_record")))
    assert sorted(rows) == ["named.csv", "packed.csv.gz", "plain.csv"]
    assert sorted(rows["plain.csv"]) == sorted(rows["packed.csv.gz"]) == sorted(
        rows["named.csv"])
    (odd,) = [r for r in rows["plain.csv"] if r[0] == "9"]
    assert odd[:8] == ("9", "A\x00B", "\x07\x1b\x0bC", "1", "2023-01-01 00:00:00", "1", "\x00",
                       "UK")
    assert sorted((r.path, r.records, r.sha256) for r in ctx.store.read(log).collect()) == [
        (name, 3, hashlib.sha256(ctx.settings.paths.landing.joinpath(name).read_bytes())
         .hexdigest()) for name in ("named.csv", "packed.csv.gz", "plain.csv")]


def test_an_archive_named_csv_is_refused_with_what_it_is(ctx):
    data, log = tables(ctx)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("2023_01.csv", month(1))
    write(ctx, "2023_01.csv", buffer.getvalue())
    write(ctx, "2023_02.csv.bz2", bz2.compress(month(1).encode()))
    write(ctx, "b.csv", month(1))
    with pytest.raises(UnreadableFileError, match=(
            r"^2 landing files cannot be read; nothing was ingested .*:\n"
            r"  2023_01\.csv: is a zip archive, not CSV text; unpack it into the landing "
            r"folder\n  2023_02\.csv\.bz2: is bzip2-compressed, not CSV text; decompress")):
        bronze_run.ingest(ctx)
    assert not ctx.store.exists(data) and not ctx.store.exists(log)


def test_quarantine_file_ingests_the_good_files_and_logs_the_bad_one(ctx, tmp_path):
    data, log = tables(ctx)
    ctx = with_settings(ctx, tmp_path, "bronze.on_unreadable_file=quarantine_file")
    write(ctx, "a.csv", month(1))
    # more records than a parse batch (stage.BATCH_ROWS): some of them leave the Spark
    # task before the bad byte is read, and must not reach bronze
    bad = month(100_050, start=1000).encode() + LATIN[len(HEADER):]
    write(ctx, "bad.csv", bad)
    write(ctx, "c.csv", month(2, day=2, start=100))
    first = bronze_run.ingest(ctx)
    assert (first.batch_id, first.files, first.records, first.rejected) == (
        "batch-000001", 2, 3, 1)
    assert "1 file rejected (see bronze.ingest_log)" in first.line()
    assert landed(ctx) == [("batch-000001", "a.csv", 1, "1"), ("batch-000001", "c.csv", 1, "100"),
                           ("batch-000001", "c.csv", 2, "101")]
    byte = len(bad) - len(LATIN) + len(HEADER) + 7
    (entry,) = [r for r in ctx.store.read(log).collect() if r.path == "bad.csv"]
    assert (entry.batch_id, entry.status, entry.records, entry.sha256) == (
        "batch-000001", "rejected", 0, hashlib.sha256(bad).hexdigest())
    assert entry.reason.startswith(f"not valid utf-8 at byte {byte} (line 100052)")
    versions = (ctx.store.version(data), ctx.store.version(log))
    again = bronze_run.ingest(ctx)  # read again, rejected for the same reason: not logged
    assert (again.batch_id, again.rejected, again.still_rejected) == (None, 0, 1)
    assert "1 file still rejected (see bronze.ingest_log)" in again.line()
    assert (ctx.store.version(data), ctx.store.version(log)) == versions
    write(ctx, "bad.csv", month(2, day=3, start=200))  # fixed
    fixed = bronze_run.ingest(ctx)
    assert (fixed.batch_id, fixed.files, fixed.records, fixed.rejected) == (
        "batch-000002", 1, 2, 0)
    assert bronze_run.ingest(ctx).batch_id is None
    assert [r for r in landed(ctx) if r[1] == "bad.csv"] == [
        ("batch-000002", "bad.csv", 1, "200"), ("batch-000002", "bad.csv", 2, "201")]
    assert sorted((r.batch_id, r.path, r.status, r.records)
                  for r in ctx.store.read(log).collect()) == [
        ("batch-000001", "a.csv", "ingested", 1), ("batch-000001", "bad.csv", "rejected", 0),
        ("batch-000001", "c.csv", "ingested", 2), ("batch-000002", "bad.csv", "ingested", 2)]


def test_a_quarantined_file_is_ingested_once_a_setting_reads_it(ctx, tmp_path):
    _, log = tables(ctx)
    quarantine = "bronze.on_unreadable_file=quarantine_file"
    write(ctx, "latin.csv", LATIN)
    only = bronze_run.ingest(with_settings(ctx, tmp_path, quarantine))
    assert (only.batch_id, only.files, only.rejected) == ("batch-000001", 0, 1)
    report = bronze_run.ingest(with_settings(ctx, tmp_path, quarantine,
                                             'bronze.encodings={"latin.csv": cp1252}'))
    assert (report.batch_id, report.files, report.records) == ("batch-000002", 1, 1)
    assert landed(ctx, "description") == [("batch-000002", "latin.csv", 1, "1", "CAFÉ")]
    assert sorted((r.batch_id, r.status) for r in ctx.store.read(log).collect()) == [
        ("batch-000001", "rejected"), ("batch-000002", "ingested")]


def test_a_log_written_before_the_reason_column_gets_it(ctx):
    _, log = tables(ctx)
    old = T.StructType([f for f in ingest_log.SCHEMA.fields if f.name != "reason"])
    write(ctx, "a.csv", month(1))
    row = ("a.csv", 1, datetime(2024, 1, 1, tzinfo=UTC), sha256(month(1)), 1, 0, 0,
           "batch-000000", 0, "ingested", datetime(2024, 1, 1, tzinfo=UTC), "old-run")
    ctx.store.write(log, ctx.spark.createDataFrame([row], old))
    write(ctx, "b.csv", month(2, start=10))
    report = bronze_run.ingest(ctx)
    assert (report.batch_id, report.files) == ("batch-000001", 1)  # a.csv is known
    assert sorted((r.path, r.batch_id, r.reason) for r in ctx.store.read(log).collect()) == [
        ("a.csv", "batch-000000", None), ("b.csv", "batch-000001", None)]


def test_files_that_do_not_match_the_pattern_are_reported_not_ingested(ctx, caplog):
    _, log = tables(ctx)
    write(ctx, "a.csv", month(1))
    write(ctx, "sales.xlsx", b"PK binary")
    write(ctx, ".partial.csv", month(1, start=50))  # hidden: an upload in progress
    report = bronze_run.ingest(ctx)
    assert report.files == 1
    assert landed(ctx) == [("batch-000001", "a.csv", 1, "1")]
    assert [r.path for r in ctx.store.read(log).collect()] == ["a.csv"]
    assert "do not match bronze.file_pattern" in caplog.text and "sales.xlsx" in caplog.text
    assert ".partial.csv" not in caplog.text


def files_under(root) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_a_failed_gate_leaves_bronze_and_its_folder_unchanged(ctx, tmp_path):
    data, log = tables(ctx)
    write(ctx, "a.csv", month(2))
    bronze_run.ingest(ctx)
    strict = with_one_check_suite(ctx, tmp_path, "bronze", {
        "name": "two_lines_at_most", "expectation": "expect_column_values_to_be_between",
        "kwargs": {"column": "_row_number", "max_value": 2}, "severity": "fail"})
    write(ctx, "b.csv", month(3, day=2, start=100))
    folder = Path(ctx.store.location(data))
    before = files_under(folder)
    with pytest.raises(DataQualityError, match="two_lines_at_most"):
        bronze_run.ingest(strict)
    assert files_under(folder) == before  # the staged Parquet files are gone
    assert (ctx.store.version(data), ctx.store.version(log)) == (0, 0)
    again = bronze_run.ingest(ctx)
    assert (again.batch_id, again.records) == ("batch-000002", 3)
    assert landed(ctx) == [
        ("batch-000001", "a.csv", 1, "1"), ("batch-000001", "a.csv", 2, "2"),
        ("batch-000002", "b.csv", 1, "100"), ("batch-000002", "b.csv", 2, "101"),
        ("batch-000002", "b.csv", 3, "102")]
    assert sorted((r.batch_id, r.path) for r in ctx.store.read(log).collect()) == [
        ("batch-000001", "a.csv"), ("batch-000002", "b.csv")]


def test_a_batch_of_only_empty_files_is_committed_and_logged(ctx):
    data, log = tables(ctx)
    write(ctx, "empty.csv", "")
    write(ctx, "header_only.csv", HEADER)
    report = bronze_run.ingest(ctx)
    assert (report.batch_id, report.files, report.empty_files, report.records) == (
        "batch-000001", 2, 2, 0)
    assert ctx.store.read(data).count() == 0 and ctx.store.txn_version(data, bronze_run.APP_ID) == 1
    assert sorted((r.path, r.status) for r in ctx.store.read(log).collect()) == [
        ("empty.csv", "empty"), ("header_only.csv", "empty")]
