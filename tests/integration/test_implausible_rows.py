"""Implausible rows through bronze -> silver -> gold: quarantined, counted, and never
part of gold's snapshot calendar."""

from __future__ import annotations

from datetime import date

import bronze.run as bronze_run
import gold.run as gold_run
import silver.run as silver_run

HEADER = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n"
# Three customers buying on the 15th of every month of 2010 (the last on 2010-12-15).
NORMAL = [f"5{m:02d}{c},2042{c},MUG,{c + 1},2010-{m:02d}-15 10:00:00,2.50,1308{c},France\n"
          for m in range(1, 13) for c in range(3)]
FAR_FUTURE = "599990,20421,MUG,1,2999-01-01 10:00:00,2.50,13080,France\n"
FAR_PAST = "599991,20421,MUG,1,1900-01-01 10:00:00,2.50,13080,France\n"


def test_one_far_future_and_one_far_past_row_are_quarantined_and_gold_ignores_them(ctx):
    lines = [*NORMAL[:20], FAR_FUTURE, *NORMAL[20:30], FAR_PAST, *NORMAL[30:]]
    (ctx.settings.paths.landing / "a.csv").write_text(HEADER + "".join(lines),
                                                      encoding="utf-8")
    bronze_run.ingest(ctx)
    (batch,) = silver_run.process(ctx).batches

    assert {k: batch[k] for k in silver_run.COUNTS} == {
        "bronze_rows": 38, "inserted": 36, "matched_existing": 0, "quarantined": 2,
        "duplicates": 0}
    names = ctx.settings.tables.names
    quarantine = {r._row_number: (r.raw_invoice_date, r.reject_reasons)
                  for r in ctx.store.read(names.silver_quarantine).collect()}
    assert quarantine == {21: ("2999-01-01 10:00:00", ["date_after_ingestion"]),
                          32: ("1900-01-01 10:00:00", ["date_before_min_date"])}
    span = ctx.store.read(names.silver_transactions).selectExpr(
        "min(invoice_date)", "max(invoice_date)").first()
    assert tuple(span) == (date(2010, 1, 15), date(2010, 12, 15))

    report = gold_run.build(ctx)
    # month ends from 2010-01-15 + 180 days to the last invoice date; labels need
    # as_of + 90 days <= 2010-12-15
    months = (date(2010, 7, 31), date(2010, 8, 31), date(2010, 9, 30), date(2010, 10, 31),
              date(2010, 11, 30))
    assert report.features.plan.dates == months
    assert report.labels.plan.dates == months[:2]
    stored = ctx.store.read(names.gold_features).select("as_of_date").distinct().collect()
    assert sorted(r[0] for r in stored) == list(months)
