"""Which snapshots a run recomputes, from what the previous run saw (no Spark here).

Every gold write records a `Watermark` in its commit metadata: the silver version it
read, the latest silver `_processed_at` in it, and the definition of its rows (the
feature version, or the label horizon). The next run recomputes:
- every scheduled snapshot when there is no usable watermark, when the definition
  changed, when silver was rewritten rather than appended to or merged into (restore,
  overwrite, delete: rows may have vanished), or when asked to (`recompute: all`);
- otherwise the snapshots that silver rows processed since the watermark can reach
  (features at as_of >= the earliest changed invoice date; labels also the as-of dates
  up to horizon days before it), plus scheduled snapshots not in the table yet.
Snapshots already in the table but not scheduled (an explicit `--as-of` run, an older
schedule) are kept and kept up to date like scheduled ones, so a table never mixes
definitions; those the data no longer supports (label window past the data's end) go.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from gold.snapshots import as_of_dates, labelable
from lakehouse.errors import LakehouseError
from lakehouse.history import too_short
from lakehouse.settings import GoldSettings

# Table maintenance commits: they carry no watermark and change no rows.
HOUSEKEEPING = frozenset({"VACUUM START", "VACUUM END", "OPTIMIZE"})
# Silver operations that only add or upsert rows: `_processed_at` says what changed.
ADDITIVE_OPERATIONS = frozenset({
    "CREATE", "CREATE TABLE", "ERROR", "APPEND", "WRITE", "MERGE", "VACUUM START",
    "VACUUM END", "OPTIMIZE",
})


@dataclass(frozen=True)
class Watermark:
    """What one gold write was computed from (stored in its commit metadata)."""

    silver_version: int
    processed_at: datetime | None
    definition: str

    def metadata(self) -> dict[str, Any]:
        """The commit metadata entries of this watermark."""
        return {"silver_version": self.silver_version, "definition": self.definition,
                "silver_processed_at": None if self.processed_at is None
                else self.processed_at.isoformat()}

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any]) -> Watermark | None:
        """The watermark in a commit's metadata, or None if it has none."""
        if "silver_version" not in meta or "definition" not in meta:
            return None
        raw = meta.get("silver_processed_at")
        return cls(int(meta["silver_version"]),
                   None if raw is None else datetime.fromisoformat(raw), str(meta["definition"]))


@dataclass(frozen=True)
class SilverState:
    """The silver snapshot a run reads, and what changed in it since gold's watermarks."""

    version: int
    first_date: date
    last_date: date
    processed_at: datetime | None  # the latest `_processed_at`
    rows: int
    history: tuple[tuple[int, str], ...]  # (version, operation) of every commit
    # Per watermark time of a gold table: the earliest invoice date among the rows
    # processed after it (None: none). Holds every watermark a plan may ask about.
    changed_since: Mapping[datetime, date | None]


@dataclass(frozen=True)
class GoldTable:
    """A gold table as a run finds it: its last watermark and the as-of dates in it."""

    name: str
    previous: Watermark | None
    present: frozenset[date]


@dataclass(frozen=True)
class SnapshotPlan:
    """The as-of dates to compute and write, the present ones to drop, and why."""

    dates: tuple[date, ...]
    drop: tuple[date, ...]
    reason: str

    @property
    def replaced(self) -> tuple[date, ...]:
        """Every as-of date whose rows the write replaces (recomputed or dropped)."""
        return tuple(sorted({*self.dates, *self.drop}))


def rewrite_since(history: Iterable[tuple[int, str]], version: int) -> str | None:
    """The first non-additive silver operation after `version` as `'OP (version N)'`,
    from (version, operation) pairs; None when silver was only appended to or merged."""
    for number, operation in sorted(history):
        if number > version and operation.upper() not in ADDITIVE_OPERATIONS:
            return f"{operation} (version {number})"
    return None


def plan_snapshots(
    scheduled: Iterable[date],
    *,
    present: Collection[date],
    valid: Callable[[date], bool],
    previous: Watermark | None,
    definition: str,
    changed_from: date | None,
    reach_back_days: int = 0,
    full_reason: str | None = None,
) -> SnapshotPlan:
    """Choose the snapshots to recompute.

    `scheduled`: the as-of dates of the schedule; `present`: as-of dates already in the
    table (those still `valid` for the data are kept up to date like scheduled ones,
    the others are dropped); `changed_from`: the earliest invoice date among silver rows
    processed since `previous` (None: nothing changed); `reach_back_days`: how far
    before a changed date a snapshot still depends on it (0 for features, the horizon
    for labels); `full_reason`: recompute everything, for this reason.
    """
    kept = {d for d in present if valid(d)}
    drop = tuple(sorted(set(present) - kept))
    universe = tuple(sorted({d for d in scheduled if valid(d)} | kept))
    if previous is not None and previous.definition != definition:
        full_reason = f"all: definition changed ({previous.definition} -> {definition})"
    elif full_reason is None and not present:
        full_reason = "all: first run"
    elif full_reason is None and previous is None:
        full_reason = "all: no watermark from a previous run"
    if full_reason is not None:
        return SnapshotPlan(universe, drop, full_reason)
    new = {d for d in universe if d not in present}
    reach = timedelta(days=reach_back_days)
    affected = set() if changed_from is None else {d for d in universe
                                                   if d + reach >= changed_from}
    parts = [f"{len(new)} new"]
    if changed_from is not None:
        parts.append(f"{len(affected)} reached by silver rows changed from {changed_from}")
    if drop:
        parts.append(f"{len(drop)} outside the data dropped")
    return SnapshotPlan(tuple(sorted(new | affected)), drop, "affected: " + ", ".join(parts))


@dataclass(frozen=True)
class DaysPlan:
    """What a run does to the customer-day table: rebuild it (`full`), recompute the days
    from `since` on, or nothing (neither)."""

    full: bool
    since: date | None
    reason: str

    @property
    def up_to_date(self) -> bool:
        """Nothing to recompute."""
        return not self.full and self.since is None


def plan_days(previous: Watermark | None, *, definition: str, silver: SilverState,
              recompute_all: bool = False) -> DaysPlan:
    """Choose what to recompute in the customer-day table.

    Every day depends on silver lines of that day (and on earlier purchases, for new
    products), so the days from the earliest invoice date among silver rows processed
    since `previous` on are enough, unless there is no usable watermark, the definition
    changed, or silver was rewritten since the watermark (see `rewrite_since`)."""
    if recompute_all:
        return DaysPlan(True, None, "all: requested")
    if previous is None:
        return DaysPlan(True, None, "all: no watermark from a previous run")
    if previous.definition != definition:
        return DaysPlan(True, None,
                        f"all: definition changed ({previous.definition} -> {definition})")
    rewrite = rewrite_since(silver.history, previous.silver_version)
    if rewrite is not None:
        return DaysPlan(True, None, f"all: silver was rewritten by {rewrite}")
    if previous.processed_at is None:
        return DaysPlan(True, None, "all: previous run has no silver watermark")
    if previous.silver_version == silver.version:
        return DaysPlan(False, None, f"up to date with silver v{silver.version}")
    since = silver.changed_since[previous.processed_at]
    if since is None:
        return DaysPlan(False, None, f"no silver rows processed after {previous.processed_at}")
    return DaysPlan(False, since, f"days from {since}: silver rows processed after "
                                  f"{previous.processed_at} reach them")


def last_watermark(history: Iterable[Any]) -> Watermark | None:
    """The watermark of the latest data commit among a table's history entries (newest
    first, with `operation` and `metadata`); None when that commit is not a gold write
    (e.g. a restore: then everything is recomputed)."""
    for entry in history:
        if entry.operation.upper() not in HOUSEKEEPING:
            return Watermark.from_metadata(entry.metadata)
    return None


@dataclass(frozen=True)
class TablePlan:
    """The snapshots to write to one gold table, and the watermark to record with them."""

    name: str
    plan: SnapshotPlan
    watermark: Watermark | None


def plan_table(table: GoldTable, scheduled: Sequence[date], *, valid: Callable[[date], bool],
               definition: str, reach_back_days: int, silver: SilverState,
               recompute: str) -> TablePlan:
    """The snapshot plan of one gold table from its watermark and silver's state."""
    previous = table.previous
    full_reason = "all: requested" if recompute == "all" else None
    changed_from = None
    if full_reason is None and previous is not None:
        rewrite = rewrite_since(silver.history, previous.silver_version)
        if rewrite is not None:
            full_reason = f"all: silver was rewritten by {rewrite}"
        elif previous.processed_at is None:
            full_reason = "all: previous run has no silver watermark"
        elif silver.version != previous.silver_version:
            changed_from = silver.changed_since[previous.processed_at]
    plan = plan_snapshots(scheduled, present=table.present, valid=valid, previous=previous,
                          definition=definition, changed_from=changed_from,
                          reach_back_days=reach_back_days, full_reason=full_reason)
    return TablePlan(table.name, plan,
                     Watermark(silver.version, silver.processed_at, definition))


def plan_tables(features: GoldTable, labels: GoldTable, silver: SilverState, *,
                cfg: GoldSettings, recompute: str, as_of: Sequence[date],
                feature_definition: str, label_definition: str
                ) -> tuple[TablePlan, TablePlan]:
    """The plans of the features table and of the labels table.

    `as_of`: recompute exactly these dates (each inside the data). The tables then keep
    their previous watermarks: other snapshots are not brought up to date by this run,
    so the next scheduled run must still see every silver change since the last full
    or affected run. A schedule of more than `cfg.max_snapshots` dates (a stray invoice
    date far from the others) raises LakehouseError before any snapshot is computed."""
    horizon, last = cfg.horizon_days, silver.last_date
    if as_of:
        outside = sorted(d for d in set(as_of) if not silver.first_date <= d <= last)
        if outside:
            raise LakehouseError(f"--as-of {', '.join(map(str, outside))}: outside the data "
                                 f"({silver.first_date}..{last})")
        dates = sorted(set(as_of))
        return (TablePlan(features.name, SnapshotPlan(tuple(dates), (), "requested dates"),
                          features.previous),
                TablePlan(labels.name, SnapshotPlan(tuple(labelable(dates, last, horizon)), (),
                                                    "requested dates"), labels.previous))
    scheduled = as_of_dates(silver.first_date, last, schedule=cfg.schedule,
                            explicit=cfg.as_of_dates, min_history_days=cfg.min_history_days)
    if not scheduled:
        raise LakehouseError(too_short(silver.first_date, last,
                                       min_history_days=cfg.min_history_days)
                             or f"no date of the {cfg.schedule} schedule lies in "
                                f"{silver.first_date + timedelta(days=cfg.min_history_days)}.."
                                f"{last} (gold.schedule, gold.as_of_dates, "
                                "gold.min_history_days): no snapshot can be built")
    if len(scheduled) > cfg.max_snapshots:
        raise LakehouseError(
            f"silver's invoice dates span {silver.first_date}..{last} "
            f"({(last - silver.first_date).days:,} days): {len(scheduled):,} {cfg.schedule} "
            f"snapshots, more than gold.max_snapshots ({cfg.max_snapshots:,}); look for "
            "implausible invoice dates in silver (e.g. rows written before silver checked "
            "silver.min_date) or raise gold.max_snapshots")
    return (
        plan_table(features, scheduled, valid=lambda d: d <= last,
                   definition=feature_definition, reach_back_days=0, silver=silver,
                   recompute=recompute),
        plan_table(labels, labelable(scheduled, last, horizon),
                   valid=lambda d: bool(labelable([d], last, horizon)),
                   definition=label_definition, reach_back_days=horizon, silver=silver,
                   recompute=recompute),
    )
