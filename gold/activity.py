"""The customer-day table (tables.names.gold_customer_days): gold's incremental state.

Features and labels are windows over each customer's days (`gold.events.customer_days`).
Building those days reads every silver line, which is most of a gold run's work, so a
run keeps them in a Delta table and recomputes only the days silver changes can reach:
those from the earliest invoice date among silver rows processed after the table's
watermark (silver is appended to or merged into, and `_processed_at` says which rows
are new). Those days are rebuilt from the silver lines of those days, with the lines
before them for `new_products`, and replace the table's rows from that day on. The whole
table is rebuilt when there is no usable watermark, when its definition changed, when
silver was rewritten (restore, overwrite, delete), or with `recompute: all`
(decisions in `gold.plan.plan_days`).

The table is derived state, not a published table: nothing outside gold reads it, and
what gold computes from it is gated before it is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from gold.events import customer_days, usable_lines
from gold.plan import DaysPlan, Watermark, plan_days, rewrite_since
from gold.state import SilverState, last_watermark
from lakehouse.cli import StageContext

DAYS_REVISION = 1  # bump when a column of the customer-day table changes meaning
# Up to this many silver lines in the recomputed days, their (customer, product) pairs are
# broadcast to filter the earlier lines (tens of MB at most) instead of shuffling those.
BROADCAST_LINES = 1_000_000
FILE_ROWS = 1_000_000


def days_definition() -> str:
    """What the rows of the customer-day table depend on besides silver."""
    return f"customer-days-r{DAYS_REVISION}"


def day_predicate(since: date) -> str:
    """The rows of the days from `since` on (the `day` column counts days since 1970)."""
    return f"day >= {(since - date(1970, 1, 1)).days}"


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


def refresh_days(ctx: StageContext, silver: DataFrame, state: SilverState, *,
                 changed_from: Callable[[datetime], date | None],
                 recompute_all: bool = False) -> tuple[DataFrame, DaysReport]:
    """Bring the customer-day table up to date with `silver` (pinned at `state.version`)
    and return it, persisted (the caller unpersists it), with what was done."""
    store, name = ctx.store, ctx.settings.tables.names.gold_customer_days
    previous = rewrite = None
    if store.exists(name):
        previous = last_watermark(store, name)
        if previous is not None:
            history = [(h.version, h.operation) for h in
                       store.history(ctx.settings.tables.names.silver_transactions)]
            rewrite = rewrite_since(history, previous.silver_version)
    plan = plan_days(previous, definition=days_definition(), silver_version=state.version,
                     rewrite=rewrite, changed_from=changed_from, recompute_all=recompute_all)
    rows = None
    if not plan.up_to_date:
        rows = _write(ctx, name, silver, state, plan)
    version = store.version(name)
    days = store.read(name, version=version).persist(StorageLevel.MEMORY_AND_DISK)
    return days, DaysReport(name, plan, rows, version)


def _write(ctx: StageContext, name: str, silver: DataFrame, state: SilverState,
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
        # Files of up to FILE_ROWS rows, clustered by day: a later run's replacement of
        # recent days rewrites the recent files only.
        files = fresh.repartitionByRange(max(1, -(-rows // FILE_ROWS)), "day")
        ctx.store.write(name, files, mode="overwrite", replace_where=replace_where,
                        metadata=metadata)
    finally:
        for df in (fresh, recent):
            if df is not None:
                df.unpersist()
    return rows
