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


def test_every_bronze_row_lands_in_exactly_one_place(ctx):
    land(ctx, "a.csv", HEADER + "".join(LINES))
    report = run_both(ctx)
    (batch,) = report.batches
    assert {k: batch[k] for k in silver_run.COUNTS} == {
        "bronze_rows": 9, "inserted": 3, "matched_existing": 0, "quarantined": 5,
        "duplicates": 1}
    names = ctx.settings.tables.names
    silver = ctx.store.read(names.silver_transactions)
    assert sorted(r.invoice for r in silver.collect()) == ["489434", "489435", "C489436"]
    assert {r.customer_id for r in silver.collect()} == {"13085"}
    reasons = {r["_row_number"]: r.reject_reasons
               for r in ctx.store.read(names.silver_quarantine).collect()}
    assert reasons == {5: ["missing_customer"], 6: ["unparseable_date"], 7: ["zero_price"],
                       8: ["quantity_out_of_range"], 9: ["malformed_line"]}
    audit = ctx.store.read(names.silver_audit).first()
    assert (audit.batch_id, audit.bronze_rows, audit.inserted, audit.duplicates) == (
        "batch-000001", 9, 3, 1)


def test_rerun_is_a_no_op_and_a_new_batch_with_known_rows_is_matched(ctx):
    land(ctx, "a.csv", HEADER + "".join(LINES[:3]))
    run_both(ctx)
    names = ctx.settings.tables.names
    version = ctx.store.version(names.silver_transactions)
    noop = silver_run.process(ctx)
    assert noop.batches == () and ctx.store.version(names.silver_transactions) == version
    land(ctx, "b.csv", HEADER + LINES[0] + LINES[3])  # one row seen before, one new
    (batch,) = run_both(ctx).batches
    assert (batch["inserted"], batch["matched_existing"]) == (1, 1)
    assert ctx.store.read(names.silver_transactions).count() == 3


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
    assert ctx.store.read(names.silver_audit).count() == 1


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
    audit = ctx.store.read(names.silver_audit).first()
    assert (audit.bronze_rows, audit.inserted, audit.duplicates) == (4, 3, 1)
    assert ctx.store.read(names.silver_transactions).count() == 3


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
