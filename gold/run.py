"""`make gold`: point-in-time customer features and leakage-free churn labels."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from gold.activity import DaysReport, refresh_days
from gold.features import customer_features
from gold.labels import churn_labels
from gold.plan import SnapshotPlan
from gold.snapshots import in_predicate
from gold.state import ChangedFrom, TablePlan, plan_tables, read_silver
from lakehouse.cli import Stage, StageContext, run_stage
from lakehouse.quality import gate
from lakehouse.tables import TableStore

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
    silver, state = read_silver(ctx)
    recompute = recompute or settings.gold.recompute
    changed = ChangedFrom(silver)
    feature_plan, label_plan = plan_tables(ctx, silver, state, recompute=recompute,
                                           as_of=as_of, changed=changed)
    horizon = settings.gold.horizon_days
    days, days_report = refresh_days(ctx, silver, state, changed_from=changed,
                                     recompute_all=recompute == "all")
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
