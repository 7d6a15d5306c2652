"""`make silver`: type, check, dedupe and merge new bronze batches into silver.

Every bronze row of a batch ends in exactly one place: silver (inserted, or already
there: matched by the merge key), the quarantine (with reason codes), or counted as a
duplicate. The per-batch counts are checked to add up and stored in an audit table.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.cli import Stage, StageContext, run_stage
from lakehouse.errors import LakehouseError
from lakehouse.quality import gate, load_suite, quality_reasons
from lakehouse.tables import AppTxn, TableStore
from silver.transform import (
    IS_DUPLICATE,
    REASONS,
    ROW_KEY,
    rejection_rules,
    select_quarantine,
    select_silver,
    with_duplicate_flag,
    with_reject_reasons,
    with_row_key,
    with_typed_columns,
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
    """Bronze rows typed, with reject reasons (rules + the suite's quarantine checks),
    row keys and duplicate flags."""
    cfg = ctx.settings.silver
    suite = load_suite(ctx.settings, "silver")
    typed = bronze.transform(with_typed_columns, timestamp_formats=cfg.timestamp_formats,
                             source_timezone=cfg.source_timezone,
                             cancellation_prefix=cfg.cancellation_prefix)
    rules = rejection_rules(quarantine_missing_customer=cfg.quarantine_missing_customer)
    return (typed.transform(with_reject_reasons, rules, quality_reasons(suite))
            .transform(with_row_key).transform(with_duplicate_flag))


def batch_counts(rows: DataFrame, existing: DataFrame | None) -> dict[str, dict[str, int]]:
    """Per batch: bronze rows, quarantined, duplicates, and how many valid first copies
    are already in silver (`existing`: its row keys) or new."""
    rejected = F.size(REASONS) > 0
    totals = rows.groupBy("_batch_id").agg(
        F.count(F.lit(1)).alias("bronze_rows"),
        F.count_if(rejected).alias("quarantined"),
        F.count_if(F.col(IS_DUPLICATE)).alias("duplicates"),
    ).collect()
    counts = {r["_batch_id"]: {**r.asDict(), "matched_existing": 0} for r in totals}
    if existing is not None:
        firsts = rows.where(~rejected & ~F.col(IS_DUPLICATE)).select(ROW_KEY, "_batch_id")
        for r in firsts.join(existing, on=ROW_KEY, how="left_semi").groupBy("_batch_id") \
                .count().collect():
            counts[r["_batch_id"]]["matched_existing"] = r["count"]
    for c in counts.values():
        c["inserted"] = (c["bronze_rows"] - c["quarantined"] - c["duplicates"]
                         - c["matched_existing"])
    return counts


def process(ctx: StageContext) -> SilverReport:
    """Process every bronze batch not yet in the audit table."""
    started = time.perf_counter()
    names, store = ctx.settings.tables.names, ctx.store
    recover_audit(ctx)
    pending = pending_batches(store, names.bronze_ingest_log, names.silver_audit)
    if not pending:
        return SilverReport((), store.version_if_exists(names.silver_transactions),
                            store.version_if_exists(names.silver_quarantine), 0.0)
    bronze = store.read(names.bronze_transactions).where(F.col("_batch_id").isin(pending))
    rows = build_rows(bronze, ctx).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        existing = (store.read(names.silver_transactions).select(ROW_KEY)
                    if store.exists(names.silver_transactions) else None)
        counts = batch_counts(rows, existing)
        processed_at = F.lit(datetime.now(UTC)).cast("timestamp")
        valid = rows.where((F.size(REASONS) == 0) & ~F.col(IS_DUPLICATE))
        silver_rows = select_silver(valid, processed_at)
        # silver_rows is a cheap projection of the persisted rows: validate it as it is.
        gate(silver_rows, "silver", settings=ctx.settings, stage="silver", store=store,
             run_id=ctx.run_id, table_name=names.silver_transactions,
             table_version=store.version_if_exists(names.silver_transactions), persist=False)
        quarantine = store.merge(
            names.silver_quarantine,
            select_quarantine(rows.where(F.size(REASONS) > 0), processed_at),
            keys=QUARANTINE_KEYS, when_matched="ignore", metadata={"run_id": ctx.run_id},
            keys_unique=True)  # bronze lineage: one row per (batch, file, row)
        seq = (store.txn_version(names.silver_transactions, APP_ID) or 0) + 1
        batches = [{"batch_id": b, **{k: int(counts.get(b, {}).get(k, 0)) for k in COUNTS},
                    "quarantine_version": quarantine.version} for b in pending]
        merged = store.merge(names.silver_transactions, silver_rows, keys=[ROW_KEY],
                             when_matched="ignore", txn=AppTxn(APP_ID, seq),
                             metadata={"run_id": ctx.run_id, "batches": batches},
                             keys_unique=True)  # duplicates were flagged by row_key
    finally:
        rows.unpersist()
    _reconcile(batches, merged.metrics)
    for b in batches:
        b["silver_version"] = merged.version
    _write_audit(ctx, batches, seq, ctx.run_id)
    return SilverReport(tuple(batches), merged.version, quarantine.version,
                        time.perf_counter() - started)


def _reconcile(batches: list[dict], merge_metrics: dict) -> None:
    for b in batches:
        placed = b["inserted"] + b["matched_existing"] + b["quarantined"] + b["duplicates"]
        if placed != b["bronze_rows"] or b["inserted"] < 0:
            raise ReconciliationError(f"silver {b['batch_id']}: counts do not add up: {b}")
    inserted = sum(b["inserted"] for b in batches)
    if merge_metrics and merge_metrics.get("inserted", inserted) != inserted:
        raise ReconciliationError(f"silver merge inserted {merge_metrics['inserted']} rows, "
                                  f"the batch counts say {inserted}")


def _write_audit(ctx: StageContext, batches: list[dict], seq: int, run_id: str) -> None:
    now = datetime.now(UTC)
    rows = [(b["batch_id"], *[b[k] for k in COUNTS], b["silver_version"],
             b["quarantine_version"], run_id, now) for b in batches]
    ctx.store.write(ctx.settings.tables.names.silver_audit,
                    ctx.spark.createDataFrame(rows, AUDIT_SCHEMA), mode="append",
                    txn=AppTxn(APP_ID, seq), metadata={"run_id": run_id})


def recover_audit(ctx: StageContext) -> None:
    """If a run died after the silver merge but before the audit, write the audit rows
    from the counts stored with the merge commit (nothing is merged twice)."""
    names, store = ctx.settings.tables.names, ctx.store
    done = store.txn_version(names.silver_transactions, APP_ID) or 0
    audited = store.txn_version(names.silver_audit, APP_ID) or 0
    for seq in range(audited + 1, done + 1):
        meta = store.txn_metadata(names.silver_transactions, APP_ID, seq)
        if meta is None or "batches" not in meta:
            raise LakehouseError(f"silver merge {seq} is committed without its batch counts; "
                                 "cannot rebuild the audit table")
        log.warning("recovering silver audit rows of merge %s", seq)
        batches = [{**b, "silver_version": meta["_version"]} for b in meta["batches"]]
        _write_audit(ctx, batches, seq, meta.get("run_id", "recovered"))


def pending_batches(store: TableStore, ingest_log: str, audit: str) -> list[str]:
    """Bronze batches (from the ingest log) not yet in the silver audit table."""
    if not store.exists(ingest_log):
        return []
    logged = {r[0] for r in store.read(ingest_log).select("batch_id").distinct().collect()}
    done = set()
    if store.exists(audit):
        done = {r[0] for r in store.read(audit).select("batch_id").distinct().collect()}
    return sorted(logged - done)



def _body(ctx: StageContext, args: argparse.Namespace) -> int:
    for line in process(ctx).lines():
        print(line)
    return 0


STAGE = Stage("silver", __doc__.splitlines()[0], _body, uses_quality=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m silver`."""
    return run_stage(STAGE, argv=argv)
