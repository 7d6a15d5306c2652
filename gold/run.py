"""`make gold`: point-in-time customer features and leakage-free churn labels.

A run reads silver at its current version (pinned for the run), finds each gold table's
watermark, plans what to recompute (gold/plan.py), brings the customer-day table up to
date, computes the planned feature and label snapshots, gates both, and replaces those
snapshots in their tables.

The customer-day table (tables.names.gold_customer_days, `gold.events.customer_days`) is
gold's incremental state: building the days reads every silver line, most of a run's
work, so a run keeps them in a Delta table and recomputes only the days silver changes
can reach (from the earliest invoice date among silver rows processed after the table's
watermark). It is derived state: nothing outside gold reads it, and what gold computes
from it is gated before it is written.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from gold.events import (
    check_silver_contract,
    customer_days,
    day_predicate,
    days_definition,
    usable_lines,
)
from gold.features import customer_features, feature_version
from gold.labels import churn_labels, label_definition
from gold.plan import (
    DaysPlan,
    GoldTable,
    SilverState,
    SnapshotPlan,
    TablePlan,
    Watermark,
    last_watermark,
    plan_days,
    plan_tables,
)
from gold.snapshots import in_predicate
from lakehouse.cli import Stage, StageContext, run_stage, wheel_task
from lakehouse.errors import LakehouseError
from lakehouse.progress import step
from lakehouse.quality import gate
from lakehouse.tables import TableStore

# Up to this many silver lines in the recomputed days, their (customer, product) pairs are
# broadcast to filter the earlier lines (tens of MB at most) instead of shuffling those.
BROADCAST_LINES = 1_000_000
DAY_FILE_ROWS = 1_000_000
FEATURES_SUITE, LABELS_SUITE = "gold", "gold_labels"


@dataclass(frozen=True)
class TableReport:
    """What a run did to one gold table."""

    table: str
    plan: SnapshotPlan
    rows: int
    version: int | None  # the table's version after the run (None: still missing)
    committed: bool

    def line(self) -> str:
        dates = self.plan.dates
        span = f"{dates[0]}..{dates[-1]}" if len(dates) > 1 else (str(dates[0]) if dates else "")
        plural = "" if len(dates) == 1 else "s"
        what = (f"{len(dates)} snapshot{plural} {span}, {self.rows:,} rows" if dates
                else "no snapshot to recompute")
        dropped = f", {len(self.plan.drop)} dropped" if self.plan.drop else ""
        state = "->" if self.committed else "unchanged at"
        return f"{what}{dropped} ({self.plan.reason}) {state} {self.table} v{self.version}"


@dataclass(frozen=True)
class DaysReport:
    """What a run did to the customer-day table."""

    table: str
    plan: DaysPlan
    rows: int | None  # rows written (None: nothing written)
    version: int

    def line(self) -> str:
        done = (f"{self.rows:,} rows -> {self.table} v{self.version}" if self.rows is not None
                else f"unchanged at {self.table} v{self.version}")
        return f"days: {self.plan.reason}, {done}"


@dataclass(frozen=True)
class GoldReport:
    """What one gold run did; `line()` is the summary printed by `make gold`."""

    silver_version: int
    days: DaysReport
    features: TableReport
    labels: TableReport
    churn_rate: float | None
    seconds: float

    def line(self) -> str:
        rate = "" if self.churn_rate is None else f", churn rate {self.churn_rate:.3f}"
        return (f"gold: silver v{self.silver_version}; {self.days.line()}; "
                f"features: {self.features.line()}; "
                f"labels: {self.labels.line()}{rate}; {self.seconds:.1f} s")


def build(ctx: StageContext, *, recompute: str | None = None,
          as_of: Sequence[date] = ()) -> GoldReport:
    """Recompute the planned snapshots of gold.customer_features and gold.churn_labels
    from silver, validate both (nothing is written if a `fail` check fails), and
    replace those snapshots in the tables.

    `recompute`: 'affected' or 'all' (default: gold.recompute); `as_of`: recompute
    exactly these as-of dates instead (each must lie inside the data)."""
    started, settings = time.perf_counter(), ctx.settings
    names, recompute = settings.tables.names, recompute or settings.gold.recompute
    silver, version, stats = _read_silver(ctx.store, names.silver_transactions)
    features_table = _gold_table(ctx.store, names.gold_features)
    labels_table = _gold_table(ctx.store, names.gold_labels)
    days_table = _gold_table(ctx.store, names.gold_customer_days, snapshots=False)
    watermarks = [t.previous for t in (features_table, labels_table, days_table)]
    # Rows processed since each watermark that is behind silver: one aggregate per time.
    changed = {w.processed_at: earliest_change(silver, w.processed_at) for w in watermarks
               if w is not None and w.processed_at is not None and w.silver_version != version}
    state = SilverState(version, *stats, changed_since=changed, history=tuple(
        (h.version, h.operation) for h in ctx.store.history(names.silver_transactions)))
    horizon = settings.gold.horizon_days
    feature_plan, label_plan = plan_tables(
        features_table, labels_table, state, cfg=settings.gold, recompute=recompute,
        as_of=as_of, feature_definition=feature_version(),
        label_definition=label_definition(horizon))
    days_plan = plan_days(days_table.previous, definition=days_definition(), silver=state,
                          recompute_all=recompute == "all")
    with step("gold: customer activity per day"):
        days, days_report = _refresh_days(ctx, days_table.name, silver, state, days_plan)
    features = customer_features(days, feature_plan.plan.dates, computed_at=datetime.now(UTC))
    labels = churn_labels(days, label_plan.plan.dates, horizon_days=horizon,
                          data_end=state.last_date)
    frames = [df.persist(StorageLevel.MEMORY_AND_DISK) for df in (features, labels)]
    try:
        # Both frames are validated before either table is written: a failed `fail`
        # check leaves both tables unchanged. Each frame is computed once (cached) for
        # its count, its gate and its write.
        rows = []
        for planned, df, suite in ((feature_plan, features, FEATURES_SUITE),
                                   (label_plan, labels, LABELS_SUITE)):
            with step(f"gold: {len(planned.plan.dates):,} snapshot(s) of {planned.name}"):
                rows.append(df.count())
            if planned.plan.dates:
                gate(df, suite, settings=settings, stage="gold", store=ctx.store,
                     run_id=ctx.run_id, table_name=planned.name,
                     table_version=ctx.store.version_if_exists(planned.name))
        feature_rows, label_rows = rows
        churn_rate = None
        if label_plan.plan.dates:
            churn_rate = labels.agg(F.avg("churned")).first()[0]
        base = {"run_id": ctx.run_id,
                "silver_table": settings.tables.names.silver_transactions,
                "silver_version_read": state.version}
        feature_report = _write(ctx.store, feature_plan, features, feature_rows, base)
        label_report = _write(ctx.store, label_plan, labels, label_rows,
                              {**base, "horizon_days": horizon})
    finally:
        for df in (*frames, days):
            df.unpersist()
    return GoldReport(state.version, days_report, feature_report, label_report, churn_rate,
                      time.perf_counter() - started)


def _read_silver(store: TableStore, name: str) -> tuple[DataFrame, int, tuple]:
    """Silver at its current version (pinned for the run), and its first and last invoice
    dates, latest `_processed_at` and row count (one aggregate: Delta answers it from the
    files' statistics)."""
    if not store.exists(name):
        raise LakehouseError(f"{name} does not exist yet: run `make silver` first")
    version = store.version(name)
    silver = store.read(name, version=version)
    check_silver_contract(silver)
    first, last, processed_at, rows = silver.agg(
        F.min("invoice_date"), F.max("invoice_date"), F.max("_processed_at"),
        F.count(F.lit(1))).first()
    if not rows:
        raise LakehouseError(f"{name} (version {version}) is empty: nothing to build gold from")
    return silver, version, (first, last, _local(processed_at), rows)


def _local(moment: datetime | None) -> datetime | None:
    """A timestamp as Spark hands it to Python: naive, in the process's local time."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone().replace(tzinfo=None)


def earliest_change(silver: DataFrame, after: datetime) -> date | None:
    """The earliest invoice date of silver rows processed after `after` (Delta skips the
    files written before it by their statistics)."""
    return silver.where(F.col("_processed_at") > F.lit(after)).agg(
        F.min("invoice_date")).first()[0]


def _gold_table(store: TableStore, name: str, *, snapshots: bool = True) -> GoldTable:
    """The table's last watermark and (with `snapshots`) its as-of dates."""
    if not store.exists(name):
        return GoldTable(name, None, frozenset())
    present = store.distinct_values(name, "as_of_date") if snapshots else ()
    return GoldTable(name, last_watermark(store.history(name)), frozenset(present))


def _refresh_days(ctx: StageContext, name: str, silver: DataFrame, state: SilverState,
                  plan: DaysPlan) -> tuple[DataFrame, DaysReport]:
    """Bring the customer-day table up to date with `silver` and return it, persisted
    (the caller unpersists it), with what was done."""
    rows = None if plan.up_to_date else _write_days(ctx, name, silver, state, plan)
    version = ctx.store.version(name)
    days = ctx.store.read(name, version=version).persist(StorageLevel.MEMORY_AND_DISK)
    return days, DaysReport(name, plan, rows, version)


def _write_days(ctx: StageContext, name: str, silver: DataFrame, state: SilverState,
                plan: DaysPlan) -> int:
    """Compute the planned days and commit them (all, or those from plan.since on)."""
    recent = None
    if plan.full:
        fresh, replace_where = customer_days(silver), None
    else:
        assert plan.since is not None
        since = F.lit(plan.since)
        # The slice is read three times (its count, its days, its products): kept after
        # the first read instead of filtering every silver file again each time.
        recent = (usable_lines(silver.where(F.col("invoice_date") >= since))
                  .persist(StorageLevel.MEMORY_AND_DISK))
        fresh = customer_days(recent, seen_before=silver.where(F.col("invoice_date") < since),
                              few_lines=recent.count() <= BROADCAST_LINES)
        replace_where = day_predicate(plan.since)
    fresh = fresh.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        rows = fresh.count()
        metadata = {**Watermark(state.version, state.processed_at, days_definition()).metadata(),
                    "run_id": ctx.run_id, "reason": plan.reason}
        # Files of up to DAY_FILE_ROWS rows, clustered by day: a later run's replacement
        # of recent days rewrites the recent files only.
        files = fresh.repartitionByRange(max(1, -(-rows // DAY_FILE_ROWS)), "day")
        ctx.store.write(name, files, mode="overwrite", replace_where=replace_where,
                        metadata=metadata)
    finally:
        for df in (fresh, recent):
            if df is not None:
                df.unpersist()
    return rows


def _write(store: TableStore, planned: TablePlan, df: DataFrame, rows: int,
           metadata: dict) -> TableReport:
    """Replace the plan's snapshots in the table (created on first use) in one commit.
    Each as-of date goes to one file, so a later replacement of it rewrites few files."""
    name, plan = planned.name, planned.plan
    if not plan.replaced:
        version = store.version_if_exists(name)
        return TableReport(name, plan, 0, version, committed=False)
    mark = planned.watermark.metadata() if planned.watermark is not None else {}
    result = store.write(name, df.repartition("as_of_date"), mode="overwrite",
                         replace_where=in_predicate(plan.replaced),
                         metadata={**metadata, **mark, "reason": plan.reason,
                                   "as_of_dates": [d.isoformat() for d in plan.dates],
                                   "dropped": [d.isoformat() for d in plan.drop]})
    return TableReport(name, plan, rows, result.version, committed=True)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--all", action="store_true",
                        help="recompute every snapshot (default: gold.recompute)")
    choice.add_argument("--as-of", dest="as_of", action="append", default=[],
                        type=date.fromisoformat, metavar="YYYY-MM-DD",
                        help="recompute only this as-of date (repeatable)")


def _body(ctx: StageContext, args: argparse.Namespace) -> int:
    report = build(ctx, recompute="all" if args.all else None, as_of=args.as_of)
    print(report.line())
    return 0


STAGE = Stage("gold", __doc__.splitlines()[0], _body,
              add_arguments=_add_arguments, uses_quality=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m gold`."""
    return run_stage(STAGE, argv=argv)


job = wheel_task(main)  # the console script (pyproject.toml)
