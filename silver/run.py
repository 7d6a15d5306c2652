"""`make silver`: type, check, dedupe and merge new bronze batches into silver.

Every bronze row of a batch ends in exactly one place: silver (inserted, or already
there: same row key), the quarantine (with reason codes), or counted as a duplicate.
The per-batch counts are checked to add up and stored in an audit table.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.cli import Stage, StageContext, run_stage, wheel_task
from lakehouse.errors import LakehouseError
from lakehouse.frames import cut_lineage, release
from lakehouse.progress import step
from lakehouse.quality import gate, load_suite, quality_reasons
from lakehouse.tables import AppTxn, TableStore
from silver.transform import (
    IS_DUPLICATE,
    LEGACY_ROW_KEY_VERSION,
    REASONS,
    ROW_KEY,
    ROW_KEY_VERSION,
    Limits,
    rejection_rules,
    select_first_copies,
    select_quarantine,
    select_silver,
    with_duplicate_flag,
    with_reject_reasons,
    with_row_key,
    with_typed_columns,
    without_raw_of_kept_rows,
)

log = logging.getLogger("silver")

APP_ID = "silver-merge"
QUARANTINE_KEYS = ("_batch_id", "_source_file", "_row_number")
AUDIT_SCHEMA = T.StructType([
    T.StructField("batch_id", T.StringType(), False),
    T.StructField("bronze_rows", T.LongType()),
    T.StructField("inserted", T.LongType()),
    T.StructField("matched_existing", T.LongType()),
    T.StructField("quarantined", T.LongType()),
    T.StructField("duplicates", T.LongType()),
    T.StructField("silver_version", T.LongType()),
    T.StructField("quarantine_version", T.LongType()),
    T.StructField("run_id", T.StringType()),
    T.StructField("processed_at", T.TimestampType()),
])
COUNTS = ("bronze_rows", "inserted", "matched_existing", "quarantined", "duplicates")


class ReconciliationError(LakehouseError):
    """The counts of a batch do not add up: a bug, never ignored."""


class RowKeyVersionError(LakehouseError):
    """silver.transactions holds rows keyed by another version of `row_key`."""


def check_row_key_version(store: TableStore, name: str) -> None:
    """Refuse to add rows to a silver table keyed by another `row_key` version: its
    keys could never match new ones, so duplicates across the versions would slip in."""
    if not store.exists(name):
        return
    for entry in store.history(name):
        if "batches" in entry.metadata:  # the latest silver write
            found = entry.metadata.get("row_key", LEGACY_ROW_KEY_VERSION)
            if found != ROW_KEY_VERSION:
                raise RowKeyVersionError(
                    f"{name} keys its rows with row_key {found!r}, this version computes "
                    f"{ROW_KEY_VERSION!r}: new rows could not be matched with the table's. "
                    "Rebuild silver and gold from bronze: delete their tables (local: the "
                    "lake's silver/ and gold/ folders; bronze is kept) and run "
                    "`make silver gold`.")
            return


@dataclass(frozen=True)
class SilverReport:
    """What one silver run did, per bronze batch."""

    batches: tuple[dict, ...]
    silver_version: int | None
    quarantine_version: int | None
    seconds: float

    def lines(self) -> list[str]:
        if not self.batches and self.silver_version is None:
            return ["silver: no bronze batches to process yet (run `make bronze` first)"]
        if not self.batches:
            return [f"silver: no new bronze batches; tables unchanged (silver version "
                    f"{self.silver_version}, quarantine version {self.quarantine_version})"]
        out = [f"silver: {b['batch_id']}: {b['bronze_rows']:,} bronze rows = "
               f"{b['inserted']:,} inserted + {b['matched_existing']:,} already in silver + "
               f"{b['quarantined']:,} quarantined + {b['duplicates']:,} duplicates"
               for b in self.batches]
        out.append(f"silver: {len(self.batches)} batch(es) -> silver version "
                   f"{self.silver_version}, quarantine version {self.quarantine_version}; "
                   f"{self.seconds:.1f} s")
        return out


def build_rows(bronze: DataFrame, ctx: StageContext) -> DataFrame:
    """Bronze rows typed, with reject reasons (rules + the suite's quarantine checks) and
    row keys. Duplicates are flagged on the kept result (`with_duplicate_flag`)."""
    cfg = ctx.settings.silver
    suite = load_suite(ctx.settings, "silver")
    typed = bronze.transform(with_typed_columns, timestamp_formats=cfg.timestamp_formats,
                             source_timezone=cfg.source_timezone,
                             cancellation_prefix=cfg.cancellation_prefix)
    limits = Limits(cfg.min_date, cfg.max_minutes_after_ingestion, cfg.max_abs_quantity,
                    cfg.max_abs_unit_price)
    rules = rejection_rules(quarantine_missing_customer=cfg.quarantine_missing_customer,
                            limits=limits)
    return typed.transform(with_reject_reasons, rules, quality_reasons(suite)) \
        .transform(with_row_key).transform(without_raw_of_kept_rows)


def batch_totals(rows: DataFrame) -> dict[str, dict[str, Any]]:
    """Per batch: bronze rows, quarantined, duplicates, and the first and last
    invoice_date of its valid first copies (`undated`: how many have none)."""
    rejected = F.size(REASONS) > 0
    first_copy = ~rejected & ~F.col(IS_DUPLICATE)
    day = F.when(first_copy, F.col("invoice_date"))
    totals = rows.groupBy("_batch_id").agg(
        F.count(F.lit(1)).alias("bronze_rows"),
        F.count_if(rejected).alias("quarantined"),
        F.count_if(F.col(IS_DUPLICATE)).alias("duplicates"),
        F.min(day).alias("first_date"),
        F.max(day).alias("last_date"),
        F.count_if(first_copy & F.col("invoice_date").isNull()).alias("undated"),
    ).collect()
    return {r["_batch_id"]: r.asDict() for r in totals}


def match_scope(totals: Iterable[Mapping[str, Any]]) -> str | None:
    """A condition every silver row that can have the row key of a new valid row
    satisfies (None: there is no valid row). A row key covers invoice_ts, so a match has
    the invoice_date of the new row. Scans filtered by it skip the silver files (Parquet
    row groups, Delta file statistics) of other dates."""
    totals = list(totals)
    firsts = [t["first_date"] for t in totals if t["first_date"] is not None]
    lasts = [t["last_date"] for t in totals if t["last_date"] is not None]
    terms = []
    if firsts:
        terms.append(f"invoice_date BETWEEN DATE'{min(firsts).isoformat()}' "
                     f"AND DATE'{max(lasts).isoformat()}'")
    if any(t["undated"] for t in totals):
        terms.append("invoice_date IS NULL")
    return " OR ".join(terms) or None


def batch_counts(totals: Mapping[str, Mapping[str, Any]],
                 matched: DataFrame | None) -> dict[str, dict[str, int]]:
    """Per batch: the totals, how many valid first copies are already in silver
    (`matched`: their row_key and _batch_id) and how many are new."""
    found = {} if matched is None else {
        r["_batch_id"]: r["count"] for r in matched.groupBy("_batch_id").count().collect()}
    counts = {}
    for batch, t in totals.items():
        c = {k: int(t[k]) for k in ("bronze_rows", "quarantined", "duplicates")}
        c["matched_existing"] = int(found.get(batch, 0))
        c["inserted"] = (c["bronze_rows"] - c["quarantined"] - c["duplicates"]
                         - c["matched_existing"])
        counts[batch] = c
    return counts


def process(ctx: StageContext) -> SilverReport:
    """Process every bronze batch not yet in the audit table.

    Silver rows are appended, not merged: the valid first copies already in silver are
    found once (one join with the silver keys of the new rows' dates), and both the
    counts and the rows to insert come from that result. The append carries the app
    transaction and the batch counts, so a retried run never inserts twice and
    `recover_audit` can rebuild the audit rows.
    """
    started = time.perf_counter()
    names, store = ctx.settings.tables.names, ctx.store
    recover_audit(ctx)
    pending = pending_batches(store, names.bronze_ingest_log, names.silver_audit)
    if not pending:
        return SilverReport((), store.version_if_exists(names.silver_transactions),
                            store.version_if_exists(names.silver_quarantine), 0.0)
    check_row_key_version(store, names.silver_transactions)
    bronze = store.read(names.bronze_transactions).where(F.col("_batch_id").isin(pending))
    keyed = firsts = matched = None
    try:
        keyed = cut_lineage(build_rows(bronze, ctx))  # computed once, read by all below
        firsts = keyed.transform(select_first_copies).persist(StorageLevel.MEMORY_AND_DISK)
        with step(f"silver: typing, checking and deduplicating {len(pending):,} batch(es)"):
            firsts.count()  # its real (small) size makes its join a broadcast
        rows = keyed.transform(with_duplicate_flag, firsts)
        valid = rows.where((F.size(REASONS) == 0) & ~F.col(IS_DUPLICATE))
        processed_at = F.lit(datetime.now(UTC)).cast("timestamp")
        silver_rows = select_silver(valid, processed_at)
        # The gate validates silver_rows (a cheap projection of the checkpointed rows)
        # before anything is written: a failed `fail` check leaves both tables unchanged.
        gate(silver_rows, "silver", settings=ctx.settings, stage="silver", store=store,
             run_id=ctx.run_id, table_name=names.silver_transactions,
             table_version=store.version_if_exists(names.silver_transactions), persist=False)
        totals = batch_totals(rows)
        matched = already_in_silver(store, names.silver_transactions, valid,
                                    match_scope(totals.values()))
        counts = batch_counts(totals, matched)
        quarantine = store.merge(
            names.silver_quarantine,
            select_quarantine(keyed.where(F.size(REASONS) > 0), processed_at),
            keys=QUARANTINE_KEYS, when_matched="ignore", metadata={"run_id": ctx.run_id},
            keys_unique=True,  # bronze lineage: one row per (batch, file, row)
            target_filter=in_batches(pending))  # a lineage key includes its batch
        seq = (store.txn_version(names.silver_transactions, APP_ID) or 0) + 1
        batches = [{"batch_id": b, **{k: int(counts.get(b, {}).get(k, 0)) for k in COUNTS},
                    "quarantine_version": quarantine.version} for b in pending]
        new_rows = silver_rows if matched is None else \
            silver_rows.join(matched.select(ROW_KEY), on=ROW_KEY, how="left_anti")
        appended = store.write(names.silver_transactions, new_rows, mode="append",
                               txn=AppTxn(APP_ID, seq),
                               metadata={"run_id": ctx.run_id, "batches": batches,
                                         "row_key": ROW_KEY_VERSION})
    finally:
        for df in (matched, firsts):
            if df is not None:
                df.unpersist()
        if keyed is not None:
            release(keyed)
    _reconcile(batches, {"inserted": appended.metrics["rows_written"]}
               if appended.committed else {})
    for b in batches:
        b["silver_version"] = appended.version
    _write_audit(ctx, batches, seq, ctx.run_id)
    return SilverReport(tuple(batches), appended.version, quarantine.version,
                        time.perf_counter() - started)


def already_in_silver(store: TableStore, silver: str, valid: DataFrame,
                      scope: str | None) -> DataFrame | None:
    """Row key and batch of the valid first copies whose key silver has (persisted: the
    counts and the rows to insert both come from it); None when nothing can match.
    Only silver rows inside `scope` (see `match_scope`) are read."""
    if scope is None or not store.exists(silver):
        return None
    existing = store.read(silver).where(scope).select(ROW_KEY)
    return (valid.select(ROW_KEY, "_batch_id").join(existing, on=ROW_KEY, how="left_semi")
            .persist(StorageLevel.MEMORY_AND_DISK))


def in_batches(batch_ids: Iterable[str]) -> str:
    """SQL condition: the rows of these bronze batches."""
    quoted = ", ".join("'" + b.replace("\\", "\\\\").replace("'", "\\'") + "'"
                       for b in batch_ids)
    return f"_batch_id IN ({quoted})"


def _reconcile(batches: list[dict], write_metrics: dict) -> None:
    for b in batches:
        placed = b["inserted"] + b["matched_existing"] + b["quarantined"] + b["duplicates"]
        if placed != b["bronze_rows"] or b["inserted"] < 0:
            raise ReconciliationError(f"silver {b['batch_id']}: counts do not add up: {b}")
    inserted = sum(b["inserted"] for b in batches)
    if write_metrics and write_metrics.get("inserted", inserted) != inserted:
        raise ReconciliationError(f"silver write inserted {write_metrics['inserted']} rows, "
                                  f"the batch counts say {inserted}")


def _write_audit(ctx: StageContext, batches: list[dict], seq: int, run_id: str) -> None:
    now = datetime.now(UTC)
    rows = [(b["batch_id"], *[b[k] for k in COUNTS], b["silver_version"],
             b["quarantine_version"], run_id, now) for b in batches]
    ctx.store.write(ctx.settings.tables.names.silver_audit,
                    ctx.spark.createDataFrame(rows, AUDIT_SCHEMA), mode="append",
                    txn=AppTxn(APP_ID, seq), metadata={"run_id": run_id})


def recover_audit(ctx: StageContext) -> None:
    """If a run died after the silver write but before the audit, write the audit rows
    from the counts stored with the silver commit (nothing is written twice)."""
    names, store = ctx.settings.tables.names, ctx.store
    done = store.txn_version(names.silver_transactions, APP_ID) or 0
    audited = store.txn_version(names.silver_audit, APP_ID) or 0
    for seq in range(audited + 1, done + 1):
        meta = store.txn_metadata(names.silver_transactions, APP_ID, seq)
        if meta is None or "batches" not in meta:
            raise LakehouseError(f"silver write {seq} is committed without its batch counts; "
                                 "cannot rebuild the audit table")
        log.warning("recovering silver audit rows of silver write %s", seq)
        batches = [{**b, "silver_version": meta["_version"]} for b in meta["batches"]]
        _write_audit(ctx, batches, seq, meta.get("run_id", "recovered"))


def pending_batches(store: TableStore, ingest_log: str, audit: str) -> list[str]:
    """Bronze batches (from the ingest log) not yet in the silver audit table."""
    if not store.exists(ingest_log):
        return []
    logged = store.distinct_values(ingest_log, "batch_id")
    done = store.distinct_values(audit, "batch_id") if store.exists(audit) else set()
    return sorted(logged - done)



def _body(ctx: StageContext, args: argparse.Namespace) -> int:
    for line in process(ctx).lines():
        print(line)
    return 0


STAGE = Stage("silver", __doc__.splitlines()[0], _body, uses_quality=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m silver`."""
    return run_stage(STAGE, argv=argv)


job = wheel_task(main)  # the console script (pyproject.toml)
