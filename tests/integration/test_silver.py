"""Silver: typing, quarantine, dedupe, merge by key, reconciliation, gate."""

from __future__ import annotations

from datetime import date

import pytest

import bronze.run as bronze_run
import silver.run as silver_run
from lakehouse.quality import DataQualityError
from tests.conftest import with_one_check_suite

HEADER = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n"
OLD_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
LINES = [
    "489434,85048,GLASS BALL,12,2009-12-01 07:45:00,6.95,13085,United Kingdom\n",
    "489434,85048,GLASS BALL,12,2009-12-01 07:45:00,6.95,13085,United Kingdom\n",  # duplicate
    "489435,22423,CAKE STAND,1,2009-12-01 08:00:00,12.75,13085.0,United Kingdom\n",
    "C489436,22423,CAKE STAND,-1,2009-12-02 09:00:00,12.75,13085,United Kingdom\n",
    "489437,22423,CAKE STAND,1,2009-12-02 09:00:00,12.75,,United Kingdom\n",  # no customer
    "489438,22423,CAKE STAND,1,not a date,12.75,13086,France\n",  # bad date
    "489439,22423,CAKE STAND,1,2009-12-02 09:00:00,0.00,13086,France\n",  # zero price
    "489440,22423,CAKE STAND,999999,2009-12-02 09:00:00,1.00,13086,France\n",  # out of range
    "489441,22423\n",  # malformed
]


def land(ctx, name, text):
    (ctx.settings.paths.landing / name).write_text(text, encoding="utf-8")


def run_both(ctx):
    bronze_run.ingest(ctx)
    return silver_run.process(ctx)


def silver_rows(ctx) -> list[tuple]:
    """Every silver row as (batch, file, row number, invoice), sorted."""
    silver = ctx.store.read(ctx.settings.tables.names.silver_transactions)
    return sorted((r._batch_id, r._source_file, r._row_number, r.invoice)
                  for r in silver.collect())


def audited(ctx) -> list[tuple]:
    """Every audit row as (batch, *COUNTS), sorted."""
    audit = ctx.store.read(ctx.settings.tables.names.silver_audit)
    return sorted((r.batch_id, *[r[k] for k in silver_run.COUNTS]) for r in audit.collect())


def test_every_bronze_row_lands_in_exactly_one_place(ctx):
    land(ctx, "a.csv", HEADER + "".join(LINES))
    report = run_both(ctx)
    (batch,) = report.batches
    assert {k: batch[k] for k in silver_run.COUNTS} == {
        "bronze_rows": 9, "inserted": 3, "matched_existing": 0, "quarantined": 5,
        "duplicates": 1}
    names = ctx.settings.tables.names
    # rows 1, 3, 4 in silver, typed; row 2 (a copy of row 1) only counted as a duplicate:
    # the kept copy is the first one (row 1)
    silver = {r._row_number: r for r in ctx.store.read(names.silver_transactions).collect()}
    assert {n: (r._batch_id, r._source_file, r.invoice, r.quantity, str(r.unit_price),
                str(r.line_amount), r.customer_id, r.is_cancellation)
            for n, r in silver.items()} == {
        1: ("batch-000001", "a.csv", "489434", 12, "6.950", "83.400", "13085", False),
        3: ("batch-000001", "a.csv", "489435", 1, "12.750", "12.750", "13085", False),
        4: ("batch-000001", "a.csv", "C489436", -1, "12.750", "-12.750", "13085", True)}
    # rows 5..9 in quarantine, each with exactly its reasons and its raw values
    quarantine = {r._row_number: r
                  for r in ctx.store.read(names.silver_quarantine).collect()}
    assert {n: r.reject_reasons for n, r in quarantine.items()} == {
        5: ["missing_customer"], 6: ["unparseable_date"], 7: ["zero_price"],
        8: ["quantity_out_of_range"], 9: ["malformed_line"]}
    assert {r._source_file for r in quarantine.values()} == {"a.csv"}
    assert (quarantine[5].raw_invoice, quarantine[5].raw_customer_id) == ("489437", None)
    assert (quarantine[6].raw_invoice_date, quarantine[6].invoice_ts) == ("not a date", None)
    assert (quarantine[7].raw_price, str(quarantine[7].unit_price)) == ("0.00", "0.000")
    assert (quarantine[8].raw_quantity, quarantine[8].quantity) == ("999999", 999999)
    assert (quarantine[9]._corrupt_record, quarantine[9].raw_invoice) == ("489441,22423", None)
    assert audited(ctx) == [("batch-000001", 9, 3, 0, 5, 1)]
    (audit,) = ctx.store.read(names.silver_audit).collect()
    assert (audit.silver_version, audit.quarantine_version) == (
        ctx.store.version(names.silver_transactions), ctx.store.version(names.silver_quarantine))


def test_rerun_is_a_no_op_and_a_new_batch_with_known_rows_is_matched(ctx):
    land(ctx, "a.csv", HEADER + "".join(LINES[:3]))
    run_both(ctx)
    names = ctx.settings.tables.names
    version = ctx.store.version(names.silver_transactions)
    noop = silver_run.process(ctx)
    assert noop.batches == () and ctx.store.version(names.silver_transactions) == version
    land(ctx, "b.csv", HEADER + LINES[0] + LINES[3])  # one row seen before, one new
    (batch,) = run_both(ctx).batches
    assert {k: batch[k] for k in silver_run.COUNTS} == {
        "bronze_rows": 2, "inserted": 1, "matched_existing": 1, "quarantined": 0,
        "duplicates": 0}
    # b.csv row 1 matched a.csv row 1: not inserted again, the silver row keeps its lineage
    assert silver_rows(ctx) == [("batch-000001", "a.csv", 1, "489434"),
                                ("batch-000001", "a.csv", 3, "489435"),
                                ("batch-000002", "b.csv", 2, "C489436")]
    assert audited(ctx) == [("batch-000001", 3, 2, 0, 0, 1), ("batch-000002", 2, 1, 1, 0, 0)]


def test_original_online_retail_format_gives_the_same_silver_rows(ctx):
    land(ctx, "old.csv", OLD_HEADER
         + "536365,85123A,WHITE HANGING HEART,6,12/1/10 8:26,2.55,17850.0,United Kingdom\n")
    run_both(ctx)
    row = ctx.store.read(ctx.settings.tables.names.silver_transactions).first()
    assert (row.invoice, row.customer_id, str(row.unit_price), str(row.line_amount)) == (
        "536365", "17850", "2.550", "15.300")
    assert row.invoice_ts.strftime("%Y-%m-%d %H:%M") == "2010-12-01 08:26"


def test_a_failed_fail_expectation_stops_silver_and_leaves_it_unchanged(ctx, tmp_path):
    land(ctx, "a.csv", HEADER + LINES[0])
    run_both(ctx)
    names = ctx.settings.tables.names
    version = ctx.store.version(names.silver_transactions)
    strict = with_one_check_suite(ctx, tmp_path, "silver", {
        "name": "tiny_quantities_only", "expectation": "expect_column_values_to_be_between",
        "kwargs": {"column": "quantity", "min_value": -1, "max_value": 1}, "severity": "fail"})
    land(strict, "b.csv", HEADER + LINES[2].replace(",1,", ",50,"))
    bronze_run.ingest(ctx)
    with pytest.raises(DataQualityError, match="tiny_quantities_only"):
        silver_run.process(strict)
    assert ctx.store.version(names.silver_transactions) == version
    assert silver_rows(ctx) == [("batch-000001", "a.csv", 1, "489434")]
    assert audited(ctx) == [("batch-000001", 1, 1, 0, 0, 0)]  # batch-000002 is not done
    # ... so a run with the project's suite takes it up: nothing was lost
    (batch,) = silver_run.process(ctx).batches
    assert (batch["batch_id"], batch["inserted"]) == ("batch-000002", 1)
    assert silver_rows(ctx) == [("batch-000001", "a.csv", 1, "489434"),
                                ("batch-000002", "b.csv", 1, "489435")]


def test_a_table_keyed_by_another_row_key_version_is_refused(ctx):
    land(ctx, "a.csv", HEADER + "".join(LINES[:3]))
    run_both(ctx)
    names = ctx.settings.tables.names
    silver = ctx.store.read(names.silver_transactions)
    # A silver write of an earlier version: no row_key version in its metadata.
    ctx.store.write(names.silver_transactions, silver.limit(1), mode="append",
                    metadata={"batches": []})
    before = ctx.store.version(names.silver_transactions)
    land(ctx, "b.csv", HEADER + LINES[3])
    bronze_run.ingest(ctx)
    with pytest.raises(silver_run.RowKeyVersionError, match="sha256-r1"):
        silver_run.process(ctx)
    assert ctx.store.version(names.silver_transactions) == before
    assert [r[0] for r in audited(ctx)] == ["batch-000001"]  # batch-000002 stays pending


def test_a_crash_before_the_audit_write_is_recovered_without_merging_twice(ctx, monkeypatch):
    land(ctx, "a.csv", HEADER + "".join(LINES[:4]))
    bronze_run.ingest(ctx)
    real = silver_run._write_audit
    monkeypatch.setattr(silver_run, "_write_audit",
                        lambda *a, **k: (_ for _ in ()).throw(SystemExit("killed")))
    with pytest.raises(SystemExit):
        silver_run.process(ctx)
    monkeypatch.setattr(silver_run, "_write_audit", real)
    assert silver_run.process(ctx).batches == ()
    names = ctx.settings.tables.names
    # the audit row rebuilt from the counts stored with the silver commit
    assert audited(ctx) == [("batch-000001", 4, 3, 0, 0, 1)]
    (audit,) = ctx.store.read(names.silver_audit).collect()
    assert audit.silver_version == ctx.store.version(names.silver_transactions)
    # rows 1, 3, 4 once each; row 2 (a copy of row 1) was the duplicate
    assert silver_rows(ctx) == [("batch-000001", "a.csv", 1, "489434"),
                                ("batch-000001", "a.csv", 3, "489435"),
                                ("batch-000001", "a.csv", 4, "C489436")]


def test_existing_keys_are_looked_up_only_on_the_new_rows_dates():
    totals = [{"first_date": date(2024, 3, 2), "last_date": date(2024, 3, 30), "undated": 0},
              {"first_date": date(2024, 2, 27), "last_date": date(2024, 3, 1), "undated": 0},
              {"first_date": None, "last_date": None, "undated": 0}]  # all rejected
    assert silver_run.match_scope(totals) == (
        "invoice_date BETWEEN DATE'2024-02-27' AND DATE'2024-03-30'")
    undated = [{"first_date": None, "last_date": None, "undated": 2}]
    assert silver_run.match_scope(totals + undated).endswith(" OR invoice_date IS NULL")
    assert silver_run.match_scope(undated) == "invoice_date IS NULL"
    assert silver_run.match_scope(totals[2:]) is None  # no valid row: nothing to look up
    assert silver_run.in_batches(["batch-000002", "o'brien"]) == (
        "_batch_id IN ('batch-000002', 'o\\'brien')")
