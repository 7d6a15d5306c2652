"""What the lake says before a gold run: silver's state, the gold tables' watermarks and
snapshots, and the plan of each table derived from them (decisions in gold.plan)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from gold.events import check_silver_contract
from gold.features import feature_version
from gold.plan import SnapshotPlan, Watermark, plan_snapshots, rewrite_since
from gold.snapshots import as_of_dates, labelable
from lakehouse.cli import StageContext
from lakehouse.errors import LakehouseError
from lakehouse.tables import TableStore

LABELS_REVISION = 1  # bump when the label definition changes
_HOUSEKEEPING = frozenset({"VACUUM START", "VACUUM END"})


@dataclass(frozen=True)
class SilverState:
    """The silver snapshot a run reads: its version, date range and processing watermark."""

    version: int
    first_date: date
    last_date: date
    processed_at: datetime | None
    rows: int


def label_definition(horizon_days: int) -> str:
    """What label rows depend on besides the data: recorded with each labels write."""
    return f"labels-r{LABELS_REVISION}-h{horizon_days}"


def read_silver(ctx: StageContext) -> tuple[DataFrame, SilverState]:
    """Silver at its current version (pinned for the whole run), its date range and
    processing watermark (one aggregate: Delta answers it from the files' statistics)."""
    name = ctx.settings.tables.names.silver_transactions
    if not ctx.store.exists(name):
        raise LakehouseError(f"{name} does not exist yet: run `make silver` first")
    version = ctx.store.version(name)
    silver = ctx.store.read(name, version=version)
    check_silver_contract(silver)
    first, last, processed_at, rows = silver.agg(
        F.min("invoice_date"), F.max("invoice_date"), F.max("_processed_at"),
        F.count(F.lit(1))).first()
    if not rows:
        raise LakehouseError(f"{name} (version {version}) is empty: nothing to build gold from")
    return silver, SilverState(version, first, last, _local(processed_at), rows)


def _local(moment: datetime | None) -> datetime | None:
    """A timestamp as Spark hands it to Python: naive, in the process's local time."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone().replace(tzinfo=None)


def last_watermark(store: TableStore, name: str) -> Watermark | None:
    """The watermark of the table's latest data commit (None: missing, or not a gold
    write, e.g. a restore: then everything is recomputed)."""
    for entry in store.history(name):
        if entry.operation.upper() not in _HOUSEKEEPING:
            return Watermark.from_metadata(entry.metadata)
    return None


def present_dates(store: TableStore, name: str) -> set[date]:
    """The as-of dates in a gold table (empty if it does not exist)."""
    if not store.exists(name):
        return set()
    return store.distinct_values(name, "as_of_date")


class ChangedFrom:
    """Earliest invoice date of silver rows processed after a watermark, memoised (one
    aggregate per watermark; Delta skips the files written before it by their
    statistics)."""

    def __init__(self, silver: DataFrame) -> None:
        self.silver, self.cache = silver, {}

    def __call__(self, after: datetime) -> date | None:
        if after not in self.cache:
            self.cache[after] = (self.silver.where(F.col("_processed_at") > F.lit(after))
                                 .agg(F.min("invoice_date")).first()[0])
        return self.cache[after]


@dataclass(frozen=True)
class TablePlan:
    """The snapshots to write to one gold table, and the watermark to record with them."""

    name: str
    plan: SnapshotPlan
    watermark: Watermark | None


def plan_table(ctx: StageContext, name: str, scheduled: Sequence[date], *,
               valid: Callable[[date], bool], definition: str, reach_back_days: int,
               state: SilverState, changed: ChangedFrom, recompute: str) -> TablePlan:
    """The snapshot plan of one gold table from its history and silver's."""
    previous = last_watermark(ctx.store, name) if ctx.store.exists(name) else None
    full_reason = "all: requested" if recompute == "all" else None
    changed_from = None
    if full_reason is None and previous is not None:
        silver_history = [(h.version, h.operation) for h in
                          ctx.store.history(ctx.settings.tables.names.silver_transactions)]
        rewrite = rewrite_since(silver_history, previous.silver_version)
        if rewrite is not None:
            full_reason = f"all: silver was rewritten by {rewrite}"
        elif previous.processed_at is None:
            full_reason = "all: previous run has no silver watermark"
        elif state.version != previous.silver_version:
            changed_from = changed(previous.processed_at)
    plan = plan_snapshots(scheduled, present=present_dates(ctx.store, name), valid=valid,
                          previous=previous, definition=definition, changed_from=changed_from,
                          reach_back_days=reach_back_days, full_reason=full_reason)
    return TablePlan(name, plan, Watermark(state.version, state.processed_at, definition))


def plan_requested(ctx: StageContext, name: str, dates: Sequence[date]) -> TablePlan:
    """Recompute exactly `dates`. The table keeps its previous watermark: other
    snapshots are not brought up to date by this run, so the next scheduled run must
    still see every silver change since the last full or affected run."""
    previous = last_watermark(ctx.store, name) if ctx.store.exists(name) else None
    return TablePlan(name, SnapshotPlan(tuple(dates), (), "requested dates"), previous)


def plan_tables(ctx: StageContext, silver: DataFrame, state: SilverState, *,
                recompute: str, as_of: Sequence[date],
                changed: ChangedFrom | None = None) -> tuple[TablePlan, TablePlan]:
    """The plans of the features table and of the labels table (`changed`: a
    ChangedFrom of `silver` to share with other planners)."""
    cfg, names = ctx.settings.gold, ctx.settings.tables.names
    horizon = cfg.horizon_days
    if as_of:
        outside = sorted(d for d in set(as_of)
                         if not state.first_date <= d <= state.last_date)
        if outside:
            raise LakehouseError(f"--as-of {', '.join(map(str, outside))}: outside the data "
                                 f"({state.first_date}..{state.last_date})")
        dates = sorted(set(as_of))
        return (plan_requested(ctx, names.gold_features, dates),
                plan_requested(ctx, names.gold_labels,
                               labelable(dates, state.last_date, horizon)))
    scheduled = as_of_dates(state.first_date, state.last_date, schedule=cfg.schedule,
                            explicit=cfg.as_of_dates, min_history_days=cfg.min_history_days)
    changed = changed or ChangedFrom(silver)
    features = plan_table(
        ctx, names.gold_features, scheduled, valid=lambda d: d <= state.last_date,
        definition=feature_version(), reach_back_days=0, state=state, changed=changed,
        recompute=recompute)
    labels = plan_table(
        ctx, names.gold_labels, labelable(scheduled, state.last_date, horizon),
        valid=lambda d: bool(labelable([d], state.last_date, horizon)),
        definition=label_definition(horizon), reach_back_days=horizon, state=state,
        changed=changed, recompute=recompute)
    return features, labels
