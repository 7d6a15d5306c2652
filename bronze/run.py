"""`make bronze`: ingest new landing files into bronze, exactly once, nothing lost.

A batch: Spark tasks parse the new files (`bronze.read`) into a cached DataFrame; its
per-file counts (which also find the files that cannot be read, `bronze.unreadable`)
and the quality gate read the cache; one Delta commit appends it (with the batch's file
manifest and an application transaction id, so a retry never appends twice); then the
ingest log records the files, rejected ones with their reason.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark import StorageLevel

from bronze.ingest_log import SCHEMA as LOG_SCHEMA
from bronze.ingest_log import file_manifest, log_rows, logged_files
from bronze.landing import Plan, discover, plan_ingestion, unmatched
from bronze.read import parse_landing_files
from bronze.unreadable import (
    per_file_counts,
    readable_rows,
    still_rejected,
    unreadable_error,
)
from lakehouse.cli import Stage, StageContext, run_stage, wheel_task
from lakehouse.errors import LakehouseError
from lakehouse.progress import step
from lakehouse.quality import gate
from lakehouse.tables import AppTxn, TableStore

log = logging.getLogger("bronze")

APP_ID = "bronze-ingest"  # application transaction id on both tables: batch_seq commits once


class ReconciliationError(LakehouseError):
    """Rows written to bronze differ from the records parsed: a bug, never ignored."""


@dataclass(frozen=True)
class BatchReport:
    """What one bronze run did."""

    batch_id: str | None
    files: int
    empty_files: int
    records: int
    corrupt_records: int
    rescued_records: int
    bronze_version: int | None
    log_version: int | None
    seconds: float
    rejected: int = 0  # files that cannot be read, logged as rejected by this run
    still_rejected: int = 0  # rejected before, read again, rejected for the same reason
    log_table: str = "bronze.ingest_log"

    def line(self) -> str:
        notes = "".join(
            f"; {n} file{'s' * (n > 1)} {what} (see {self.log_table})"
            for n, what in ((self.rejected, "rejected"), (self.still_rejected,
                                                         "still rejected")) if n)
        if self.batch_id is None:
            return (f"bronze: no new files; tables unchanged (bronze version "
                    f"{self.bronze_version}, log version {self.log_version}){notes}")
        return (f"bronze: {self.batch_id}: {self.files} files ({self.empty_files} empty), "
                f"{self.records:,} records ({self.corrupt_records:,} corrupt, "
                f"{self.rescued_records:,} with rescued columns) -> bronze version "
                f"{self.bronze_version}, log version {self.log_version}{notes}; "
                f"{self.seconds:.1f} s")


def ingest(ctx: StageContext, *, reingest_changed: bool = False) -> BatchReport:
    """Ingest every landing file not yet in the log as one batch."""
    started = time.perf_counter()
    cfg, names, store = ctx.settings.bronze, ctx.settings.tables.names, ctx.store
    data_table, log_table = names.bronze_transactions, names.bronze_ingest_log
    recover_log(store, data_table, log_table, ctx)
    log_df = store.read(log_table) if store.exists(log_table) else None
    plan = plan_ingestion(
        discover(ctx.settings.paths.landing, cfg.file_pattern),
        logged_files(log_df, table=log_table),
        on_changed_file="reingest" if reingest_changed else cfg.on_changed_file,
        on_duplicate_content=cfg.on_duplicate_content,
    )
    for note in plan.notes:
        log.warning(note)
    ignored = unmatched(ctx.settings.paths.landing, cfg.file_pattern)
    if ignored:
        log.warning("ignoring %d file(s) in %s that do not match bronze.file_pattern %r: %s",
                    len(ignored), ctx.settings.paths.landing, cfg.file_pattern,
                    ", ".join(ignored[:5]) + (" ..." if len(ignored) > 5 else ""))
    if not plan.ingest:
        return BatchReport(None, 0, 0, 0, 0, 0, store.version_if_exists(data_table),
                           store.version_if_exists(log_table), time.perf_counter() - started,
                           log_table=log_table)
    seq = _last_seq(store, data_table) + 1
    batch_id, now = f"batch-{seq:06d}", datetime.now(UTC)
    return _write_batch(ctx, plan, seq, batch_id, now, started)


def _write_batch(ctx: StageContext, plan: Plan, seq: int, batch_id: str,
                 now: datetime, started: float) -> BatchReport:
    cfg, store, names = ctx.settings.bronze, ctx.store, ctx.settings.tables.names
    table = names.bronze_transactions
    parsed = parse_landing_files(ctx.spark, plan.ingest, batch_id=batch_id, ingested_at=now,
                                 aliases=cfg.header_aliases, required=cfg.required_columns,
                                 delimiter=cfg.delimiter, encoding=cfg.encoding,
                                 encodings=cfg.encodings)
    parsed = parsed.persist(StorageLevel.MEMORY_AND_DISK)  # parsed once: counts, gate, write
    try:
        with step(f"bronze: parsing {len(plan.ingest):,} new file(s)"):
            counts, rejected = per_file_counts(parsed)  # the first action: runs the parse
        if rejected and cfg.on_unreadable_file == "stop":
            raise unreadable_error(rejected)
        again = still_rejected(rejected, plan.retried)
        for path, reason in sorted(rejected.items()):
            log.warning("%s %s: %s", path, "still rejected" if path in again else
                        "rejected", reason)
        files = [f for f in plan.ingest if f.path not in again]
        if not files:  # only files rejected before, for the same reasons: nothing to log
            return BatchReport(None, 0, 0, 0, 0, 0, store.version_if_exists(table),
                               store.version_if_exists(names.bronze_ingest_log),
                               time.perf_counter() - started, still_rejected=len(again),
                               log_table=names.bronze_ingest_log)
        batch = readable_rows(parsed, rejected)
        manifest = file_manifest(files, counts, rejected)
        gate(batch, "bronze", settings=ctx.settings, stage="bronze", store=store,
             run_id=ctx.run_id, table_name=table, table_version=store.version_if_exists(table),
             persist=False)
        records = sum(m["records"] for m in manifest)
        meta = {"batch_id": batch_id, "run_id": ctx.run_id, "files": manifest}
        result = store.write(table, batch, mode="append", txn=AppTxn(APP_ID, seq),
                             metadata=meta)
    finally:
        parsed.unpersist()
    written = result.metrics.get("rows_written", records)
    if written != records:
        raise ReconciliationError(f"{batch_id}: parsed {records} records but wrote "
                                  f"{written} rows to bronze")
    log_version = _write_log(ctx, manifest, seq, batch_id, now)
    ingested = [m for m in manifest if m["path"] not in rejected]
    return BatchReport(batch_id, len(ingested), sum(1 for m in ingested if not m["records"]),
                       records, sum(m["corrupt_records"] for m in manifest),
                       sum(m["rescued_records"] for m in manifest), result.version,
                       log_version, time.perf_counter() - started,
                       rejected=len(rejected) - len(again), still_rejected=len(again),
                       log_table=names.bronze_ingest_log)


def _write_log(ctx: StageContext, manifest: list[dict], seq: int, batch_id: str,
               ingested_at: datetime, run_id: str | None = None) -> int:
    rows = log_rows(ctx.spark, manifest, batch_id=batch_id, batch_seq=seq,
                    ingested_at=ingested_at, run_id=run_id or ctx.run_id)
    table = ctx.settings.tables.names.bronze_ingest_log
    # A log written before `reason` existed gets the column (NULL in its rows), once.
    ctx.store.add_columns(table, [LOG_SCHEMA["reason"]])
    result = ctx.store.write(table, rows, mode="append", txn=AppTxn(APP_ID, seq),
                             metadata={"batch_id": batch_id})
    return result.version


def recover_log(store: TableStore, data_table: str, log_table: str, ctx: StageContext) -> None:
    """If a run died after committing a bronze batch but before logging it, log it now
    from the manifest stored with that commit (the data is never written twice)."""
    data_seq = store.txn_version(data_table, APP_ID) or 0
    log_seq = store.txn_version(log_table, APP_ID) or 0
    for seq in range(log_seq + 1, data_seq + 1):
        meta = store.txn_metadata(data_table, APP_ID, seq)
        if meta is None or "files" not in meta:
            raise LakehouseError(f"bronze batch {seq} is committed but its file manifest is "
                                 "missing from the table history; cannot rebuild the log")
        log.warning("recovering ingest log for %s (the previous run stopped before "
                    "logging it)", meta["batch_id"])
        _write_log(ctx, meta["files"], seq, meta["batch_id"], meta["_timestamp"],
                   run_id=meta.get("run_id"))


def _last_seq(store: TableStore, table: str) -> int:
    return store.txn_version(table, APP_ID) or 0


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reingest-changed", action="store_true",
                        help="ingest files whose content changed since they were logged "
                             "as a new batch (default: stop with an error)")


def _body(ctx: StageContext, args: argparse.Namespace) -> int:
    print(ingest(ctx, reingest_changed=args.reingest_changed).line())
    return 0


STAGE = Stage("bronze", __doc__.splitlines()[0], _body,
              add_arguments=_add_arguments, uses_quality=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m bronze`."""
    return run_stage(STAGE, argv=argv)


job = wheel_task(main)  # the console script (pyproject.toml)
