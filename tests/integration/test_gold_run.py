"""The gold stage: plans, gates and replaces snapshots in the Delta tables."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import yaml
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

import gold.run as gold_run
from gold.events import customer_days
from gold.plan import last_watermark
from lakehouse.cli import StageContext
from lakehouse.contracts import GOLD_FEATURES, GOLD_LABELS, SILVER_TRANSACTIONS
from lakehouse.errors import LakehouseError
from lakehouse.quality import DataQualityError

START, END = date(2023, 1, 1), date(2023, 12, 31)
# test settings: month ends from START + 180 days; labels need as_of + 90 <= END
SNAPSHOTS = [date(2023, 6, 30), date(2023, 7, 31), date(2023, 8, 31), date(2023, 9, 30),
             date(2023, 10, 31), date(2023, 11, 30), date(2023, 12, 31)]
LABELLED = SNAPSHOTS[:4]


def silver_rows(customers: int = 12, processed_at: datetime | None = None,
                start: date = START, end: date = END, prefix: str = "") -> list[tuple]:
    """Customer k buys every 9 + 7k days from day 3k (a return every third purchase);
    the first and the last customer buy all year, the others stop after 200 days
    (churners); customer 0 also buys on `end`, so the data spans [start, end]."""
    rows, processed_at = [], processed_at or datetime(2024, 1, 1, tzinfo=UTC)
    for k in range(customers):
        day, n = start + timedelta(days=3 * k), 0
        stop = end if k in (0, customers - 1) else start + timedelta(days=200)
        while day <= min(stop, end):
            at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=10)
            invoice = f"{prefix}{k:02d}{n:03d}"
            for stock, qty, price in (("P1", 2, "3.500"), (f"P{k % 4 + 2}", 1, "10.000")):
                rows.append(_line(invoice, stock, qty, price, at, f"c{k:02d}", processed_at))
            if n % 3 == 2:
                rows.append(_line("C" + invoice, "P1", -1, "3.500", at + timedelta(hours=30),
                                  f"c{k:02d}", processed_at))
            day, n = day + timedelta(days=9 + 7 * k), n + 1
    last = datetime.combine(end, datetime.min.time(), UTC) + timedelta(hours=23)
    rows.append(_line(f"{prefix}99999", "P1", 1, "3.500", last, "c00", processed_at))
    if start == START:
        rows[0] = (*rows[0][:10], None, *rows[0][11:])  # a NULL country, as silver allows
    return rows


def _line(invoice, stock, qty, price, at, customer, processed_at):
    return (f"{invoice}:{stock}:{qty}", invoice, stock, None, qty, Decimal(price),
            Decimal(price) * qty, at, at.date(), customer, "United Kingdom",
            invoice.startswith("C"), "f.csv", 1, 2, "b1", processed_at, processed_at)


def write_silver(ctx: StageContext, rows: list[tuple], mode: str = "append") -> None:
    name = ctx.settings.tables.names.silver_transactions
    df = ctx.spark.createDataFrame(rows, SILVER_TRANSACTIONS.schema)
    ctx.store.write(name, df, mode=mode if ctx.store.exists(name) else "error")


def tables(ctx: StageContext) -> tuple[str, str]:
    names = ctx.settings.tables.names
    return names.gold_features, names.gold_labels


def as_of_dates(ctx: StageContext, name: str) -> list[date]:
    return sorted(r[0] for r in ctx.store.read(name).select("as_of_date").distinct().collect())


@pytest.fixture(scope="module")
def first_run(spark, tmp_path_factory):
    """A lake with silver and one complete gold run; tests work on copies of it."""
    from lakehouse.config import load_settings
    from lakehouse.tables import open_store

    root = tmp_path_factory.mktemp("gold_lake")
    settings = load_settings("test", overrides=[f"paths.{k}={root / k}" for k in
                                                ("landing", "truth", "lake", "reports",
                                                 "mlflow")])
    ctx = StageContext(settings, spark, open_store(spark, settings), "gold-first")
    write_silver(ctx, silver_rows())
    report = gold_run.build(ctx)
    return root, report


@pytest.fixture
def built(ctx, first_run):
    """This test's own copy of the lake after the first run."""
    root, report = first_run
    shutil.copytree(root / "lake", ctx.settings.paths.lake, dirs_exist_ok=True)
    return report


def test_first_run_writes_every_snapshot_and_labels_only_complete_windows(ctx, built):
    features, labels = tables(ctx)
    assert built.features.plan.dates == tuple(SNAPSHOTS)
    assert built.labels.plan.dates == tuple(LABELLED)
    assert "all: first run" in built.features.plan.reason
    assert (built.features.version, built.labels.version) == (0, 0)
    assert ctx.store.schema(features).simpleString() == GOLD_FEATURES.schema.simpleString()
    assert ctx.store.schema(labels).simpleString() == GOLD_LABELS.schema.simpleString()
    assert as_of_dates(ctx, features) == SNAPSHOTS
    assert as_of_dates(ctx, labels) == LABELLED
    # every label has a feature row, and customers 1..10 stop buying after day 200
    label_rows = ctx.store.read(labels)
    orphans = label_rows.join(ctx.store.read(features), ["customer_id", "as_of_date"],
                              how="left_anti")
    assert orphans.count() == 0
    churned = {(r.customer_id, r.as_of_date): r.churned for r in label_rows.collect()}
    assert churned[("c00", date(2023, 9, 30))] == 0
    assert churned[("c05", date(2023, 9, 30))] == 1
    assert built.features.rows == ctx.store.read(features).count() > 0
    line = built.line()
    assert "gold.customer_features v0" in line and "gold.churn_labels v0" in line
    results = ctx.store.read(ctx.settings.tables.names.quality_results)
    assert {r.suite for r in results.select("suite").distinct().collect()} == {
        "gold", "gold_labels"}


def test_replacing_one_snapshot_leaves_the_others_and_reports_a_new_version(ctx, built):
    features, labels = tables(ctx)
    before = ctx.store.read(features, version=ctx.store.version(features))
    before_labels = ctx.store.read(labels, version=ctx.store.version(labels))
    target = date(2023, 8, 31)
    watermark = last_watermark(ctx.store.history(features))

    report = gold_run.build(ctx, as_of=[target])

    assert report.features.plan.dates == (target,)
    assert report.features.version == built.features.version + 1
    assert report.labels.version == built.labels.version + 1
    after = ctx.store.read(features)
    others = F.col("as_of_date") != F.lit(target)
    assertDataFrameEqual(after.where(others), before.where(others))
    assertDataFrameEqual(after.where(~others).drop("computed_at"),
                         before.where(~others).drop("computed_at"))
    assert {r[0] for r in after.where(~others).select("computed_at").distinct().collect()} \
        != {r[0] for r in before.where(~others).select("computed_at").distinct().collect()}
    assertDataFrameEqual(ctx.store.read(labels), before_labels)
    # the other snapshots were not brought up to date: the table keeps its watermark
    assert watermark is not None
    assert last_watermark(ctx.store.history(features)) == watermark


def add_month_and_late_lines(ctx: StageContext) -> None:
    """A new month of data, and late lines dated inside October: a product c00 never
    bought (new) and one it bought before (not new)."""
    late = datetime(2024, 2, 1, tzinfo=UTC)
    write_silver(ctx, silver_rows(customers=2, processed_at=late, start=date(2024, 1, 1),
                                  end=date(2024, 1, 31), prefix="N"))
    october = datetime(2023, 10, 15, 9, tzinfo=UTC)
    write_silver(ctx, [_line("L0001", "P9", 1, "1.000", october, "c00", late),
                       _line("L0002", "P1", 3, "3.500", october, "c00", late)])


def test_incremental_run_recomputes_only_what_new_silver_rows_reach(ctx, built):
    features, labels = tables(ctx)
    before = ctx.store.read(features, version=ctx.store.version(features))
    add_month_and_late_lines(ctx)

    report = gold_run.build(ctx)

    assert report.features.plan.dates == (date(2023, 10, 31), date(2023, 11, 30),
                                          date(2023, 12, 31), date(2024, 1, 31))
    # labels: Oct 31 becomes labelable (+90 <= Jan 31); Jul 31 .. Sep 30 reach Oct 15
    assert report.labels.plan.dates == (date(2023, 7, 31), date(2023, 8, 31),
                                        date(2023, 9, 30), date(2023, 10, 31))
    assert report.features.plan.reason.startswith("affected:")
    untouched = F.col("as_of_date") < F.lit(date(2023, 10, 31))
    assertDataFrameEqual(ctx.store.read(features).where(untouched), before.where(untouched))
    assert as_of_dates(ctx, labels) == [*LABELLED, date(2023, 10, 31)]

    again = gold_run.build(ctx)  # nothing new in silver: nothing to do
    assert again.features.plan.dates == () and not again.features.committed
    assert again.features.version == report.features.version
    assert again.days.plan.up_to_date and again.days.rows is None


def test_incremental_customer_days_equal_a_rebuild_from_all_of_silver(ctx, built):
    days_table, (features, labels) = ctx.settings.tables.names.gold_customer_days, tables(ctx)
    assert built.days.plan.full and ctx.store.read(days_table).count() == built.days.rows
    add_month_and_late_lines(ctx)

    report = gold_run.build(ctx)

    assert report.days.plan.since == date(2023, 10, 15)
    assert report.days.rows < built.days.rows  # only the days from Oct 15 on
    silver = ctx.store.read(ctx.settings.tables.names.silver_transactions)
    assertDataFrameEqual(ctx.store.read(days_table), customer_days(silver))
    incremental = [ctx.store.read(t).drop("computed_at").cache() for t in (features, labels)]
    [df.count() for df in incremental]

    rebuilt = gold_run.build(ctx, recompute="all")

    assert rebuilt.days.plan.full and rebuilt.days.plan.reason == "all: requested"
    for name, df in zip((features, labels), incremental, strict=True):
        assertDataFrameEqual(ctx.store.read(name).drop("computed_at"), df)


def test_a_failing_gate_stops_the_write(ctx, built, tmp_path):
    features, labels = tables(ctx)
    suites = tmp_path / "expectations"
    shutil.copytree(ctx.settings.paths.expectations, suites)
    strict = yaml.safe_load((suites / "gold.yml").read_text())
    strict["expectations"].append({
        "name": "impossible", "expectation": "expect_column_values_to_be_between",
        "kwargs": {"column": "frequency", "min_value": 1000}, "severity": "fail"})
    (suites / "gold.yml").write_text(yaml.safe_dump(strict))
    settings = ctx.settings.model_copy(update={
        "paths": ctx.settings.paths.model_copy(update={"expectations": suites})})
    strict_ctx = StageContext(settings, ctx.spark, ctx.store, "gold-strict")
    versions = (ctx.store.version(features), ctx.store.version(labels))

    with pytest.raises(DataQualityError, match="impossible"):
        gold_run.build(strict_ctx, recompute="all")

    assert (ctx.store.version(features), ctx.store.version(labels)) == versions


def test_a_stray_date_in_silver_stops_gold_before_thousands_of_snapshots(ctx):
    # A far-future line in silver, as in a table written before silver checked dates.
    stray = datetime(2999, 1, 1, 10, tzinfo=UTC)
    processed = datetime(2024, 1, 1, tzinfo=UTC)
    write_silver(ctx, [*silver_rows(customers=2),
                       _line("77777", "P1", 1, "3.500", stray, "c00", processed)])

    with pytest.raises(LakehouseError, match=r"2023-01-01\.\.2999-01-01 .*gold\.max_snapshots"):
        gold_run.build(ctx)

    features, labels = tables(ctx)
    days = ctx.settings.tables.names.gold_customer_days
    assert not any(ctx.store.exists(t) for t in (features, labels, days))
