"""Checking and repairing a damaged local table: `make audit ARGS='check|repair TABLE'`.

Detection is lakehouse/tables/damage.py (the log, before every access) and the table
store's reads; here the two commands that go further: `check` reads every row once, and
`repair` recovers what `check` reports, keeping what it takes out of the table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lakehouse.tables.damage import (
    DamagedTableError,
    LogCache,
    inspect_log,
    missing_files_error,
    move_aside,
)
from lakehouse.tables.model import TableStoreError
from lakehouse.tables.store import TableStore, missing_files, session_confs

# Read what can be read: a repair rewrites the table without the files that cannot be.
_SKIP_BAD_FILES = {"spark.sql.files.ignoreMissingFiles": "true",
                   "spark.sql.files.ignoreCorruptFiles": "true"}


def check(store: TableStore, name: str) -> None:
    """DamagedTableError when the table's log is damaged or a file of its current version
    is missing or unreadable (every row is read once, like FSCK's `VERIFY ALL FILES`);
    TableNotFoundError when there is no such table."""
    df = store.read(name)  # checks the log first
    if not store.in_catalog:
        missing = missing_files(store.spark, df)
        if missing:
            raise missing_files_error(name, Path(store.location(name)), missing)
    try:
        df.write.format("noop").mode("overwrite").save()
    except Exception as err:
        damaged = store.explain(err)
        if damaged is None:
            raise
        raise damaged from None


def repair(store: TableStore, name: str, *, dry_run: bool = True) -> dict[str, Any]:
    """Recover a damaged local table (what `check` reports), or say what would be done.

    A damaged commit file or checkpoint: moved (with the commits after it) into the
    table's `_damaged/` folder, so Delta reads the table as of the last sound version
    (nothing is deleted). Data files that are missing or unreadable: the table is
    rewritten without them in one commit (delta-spark's counterpart of Databricks'
    `FSCK REPAIR TABLE`; their rows are lost). Returns what was (or would be) done:
    `action` ('none', 'move_log_files', 'drop_data_files') and its details."""
    if store.in_catalog:
        raise TableStoreError(f"{name}: repair works on local tables; on Databricks use "
                              f"FSCK REPAIR TABLE {store.identifier(name)}")
    folder = Path(store.location(name))
    problem = inspect_log(name, folder, LogCache())
    if problem is not None:
        if not problem.move:
            raise DamagedTableError(f"table {name} is damaged: {problem.what}. "
                                    f"{problem.recovery}", table=name, problem=problem)
        result = {"action": "move_log_files", "problem": problem.what,
                  "files": [str(p) for p in problem.move]}
        if not dry_run:
            result["moved_to"] = str(move_aside(folder, problem.move))
            _forget_logs(store)
            result["version"] = store.version(name)
        return result
    try:
        check(store, name)
        return {"action": "none"}
    except DamagedTableError as err:
        files = list(err.missing_files)
    result = {"action": "drop_data_files", "files": files}
    if dry_run:
        return result
    rows_before = store.read(name).count()  # from the log's statistics: no file read
    with session_confs(store.spark, _SKIP_BAD_FILES):
        commit = store.write(name, store.read(name), mode="overwrite",
                             metadata={"repair": "drop_data_files", "files": files})
    return {**result, "version": commit.version,
            "rows_lost": rows_before - commit.metrics.get("rows_written", 0)}


def _forget_logs(store: TableStore) -> None:
    """Drop delta-spark's cached table states (after log files were moved)."""
    jvm = getattr(store.spark, "_jvm", None)
    if jvm is not None:
        jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
