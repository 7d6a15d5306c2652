"""The table store interface shared by both Delta backends, its results and errors."""

from __future__ import annotations

import json
import shutil
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from lakehouse.errors import LakehouseError

WriteMode = Literal["error", "append", "overwrite"]
WhenMatched = Literal["update", "ignore"]
# Called between writing a commit's files and committing them (see TableStore.write).
BeforeCommit = Callable[[], object]


class TableStoreError(LakehouseError, RuntimeError):
    """Base class of every table store error."""


class TableNotFoundError(TableStoreError):
    """The table (or the requested version of it) does not exist."""


class TableExistsError(TableStoreError):
    """mode='error' was asked for and the table already exists."""


class SchemaMismatchError(TableStoreError):
    """The DataFrame's schema differs from the table's; nothing was written."""


class ConcurrentCommitError(TableStoreError):
    """Another writer committed a conflicting change first. Safe to retry the operation."""

    retryable = True


class UnsupportedTableError(TableStoreError):
    """The table uses a Delta feature this backend cannot read or write correctly."""


class MergeKeyError(TableStoreError):
    """The merge source has NULL or duplicate keys; nothing was written."""


@dataclass(frozen=True)
class AppTxn:
    """An application transaction: (app_id, version) commits at most once per table."""

    app_id: str
    version: int


@dataclass(frozen=True)
class RowGroupStats:
    """What a data file's metadata says about one of its row groups: the exact number of
    rows, and per column the smallest and largest non-NULL value ((None, None) when
    every value is NULL)."""

    rows: int
    ranges: Mapping[str, tuple[Any, Any]]


@dataclass(frozen=True)
class CommitResult:
    """What one write did. `committed` is False when it was skipped (already committed)."""

    table: str
    version: int
    committed: bool
    metrics: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class HistoryEntry:
    """One version of a table, newest first in `TableStore.history`."""

    version: int
    timestamp: datetime
    operation: str
    parameters: Mapping[str, Any]
    metrics: Mapping[str, Any]
    metadata: Mapping[str, Any]


class TableStore(ABC):
    """Delta tables by logical name (`layer.table`): read, write, merge, history, restore.

    Names resolve to `<lake>/<layer>/<table>` folders, or to Unity Catalog names
    `<catalog>.<schema>.<layer>_<table>` on the native backend when a catalog is set.
    """

    backend: str

    def __init__(self, spark: SparkSession, lake_root: Path) -> None:
        self.spark = spark
        self.lake_root = Path(lake_root)

    def location(self, name: str) -> str:
        """The folder of a table."""
        layer, table = split_name(name)
        return str(self.lake_root / layer / table)

    @abstractmethod
    def exists(self, name: str) -> bool:
        """True when the table exists."""

    @abstractmethod
    def read(self, name: str, *, version: int | None = None) -> DataFrame:
        """The table at its latest version, or at `version` (time travel)."""

    @abstractmethod
    def schema(self, name: str) -> T.StructType:
        """The table's current schema."""

    def row_group_stats(self, name: str, columns: Sequence[str], *,
                        version: int | None = None) -> list[RowGroupStats] | None:
        """The statistics of every row group of the table's live data files (latest or
        `version`) for `columns`, read from file metadata without a Spark job; None when
        the backend cannot read them or a file lacks them (aggregate with Spark then)."""
        return None

    def distinct_values(self, name: str, column: str) -> set[Any]:
        """The distinct values of one column at the table's latest version: for small
        bookkeeping tables (an ingest log, an audit table), read without a Spark job
        where the backend can."""
        return {r[0] for r in self.read(name).select(column).distinct().collect()}

    @abstractmethod
    def write(
        self,
        name: str,
        df: DataFrame,
        *,
        mode: WriteMode = "error",
        replace_where: str | None = None,
        txn: AppTxn | None = None,
        metadata: Mapping[str, Any] | None = None,
        before_commit: BeforeCommit | None = None,
    ) -> CommitResult:
        """Write `df`: create (mode='error'), append, or overwrite (all rows, or with
        `replace_where` only the rows matching that SQL predicate; every new row must
        match it). Schemas must match the table's. With `txn`, a version already
        committed for that app id is skipped, so retries never duplicate.

        `before_commit` is called once the new data files are written and before the
        commit that makes them visible (a backend that writes and commits in one step
        calls it before writing): if it raises, nothing is committed, the files are
        removed and the error propagates. It lets a quality gate run beside the write."""

    @abstractmethod
    def merge(
        self,
        name: str,
        df: DataFrame,
        *,
        keys: Sequence[str],
        when_matched: WhenMatched = "update",
        txn: AppTxn | None = None,
        metadata: Mapping[str, Any] | None = None,
        keys_unique: bool = False,
        target_filter: str | None = None,
        before_commit: BeforeCommit | None = None,
    ) -> CommitResult:
        """Upsert `df` by `keys` (unique, non-NULL in `df`): rows whose keys exist are
        replaced (or left alone with when_matched='ignore'), the rest inserted.
        Metrics: source_rows, inserted, matched. Creates the table if missing.
        `before_commit`: as in `write`.
        `keys_unique=True` skips the check of the source's keys (a shuffle): for callers
        whose source is unique by construction (e.g. deduplicated by that key).

        `target_filter` (SQL over the table's columns, unqualified): a condition every
        target row that can match a source row satisfies; rows outside it are neither
        read nor touched, so the merge only scans the files (row groups) that can match.
        The caller must pass a condition implied by key equality (e.g. `day = ...` when
        the key includes the day, or a range the source's key values fall in): a target
        row outside it is never matched, so in 'ignore' mode its source row is inserted
        as new (a duplicate key), and in 'update' mode both rows stay."""

    def staging_folder(self, name: str) -> str:
        """A new, empty folder to write Parquet files into (outside Spark, e.g. with
        pyarrow) for `append_files(name, folder, ...)`. Here: `<lake>/_staging/...`;
        a backend that can adopt files in place puts it under the table."""
        layer, table = split_name(name)
        folder = self.lake_root / "_staging" / layer / table / uuid.uuid4().hex
        folder.mkdir(parents=True)
        return str(folder)

    def discard_staging(self, folder: str) -> None:
        """Remove a staging folder and its files (for files that will not be committed)."""
        shutil.rmtree(folder, ignore_errors=True)

    @abstractmethod
    def append_files(
        self,
        name: str,
        folder: str,
        *,
        schema: T.StructType,
        txn: AppTxn | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> CommitResult:
        """Append the Parquet files in `folder` (from `staging_folder(name)`; each with
        exactly the columns of `schema`) in one commit, creating the table if missing.
        Schemas must match the table's and the files' must match `schema`, else
        SchemaMismatchError. With `txn`, a version already committed is skipped.
        The staged files are removed whenever they are not committed (skip or error).
        Metrics: rows_written."""

    @abstractmethod
    def history(self, name: str, *, limit: int | None = None) -> list[HistoryEntry]:
        """Versions of the table, newest first."""

    @abstractmethod
    def version(self, name: str) -> int:
        """The table's current version number."""

    def version_if_exists(self, name: str) -> int | None:
        """The table's current version, or None when it does not exist yet."""
        return self.version(name) if self.exists(name) else None

    @abstractmethod
    def restore(self, name: str, version: int) -> CommitResult:
        """Make `version` the table's content again (as a new version)."""

    @abstractmethod
    def vacuum(
        self, name: str, *, retention_hours: int = 168, dry_run: bool = True
    ) -> list[str]:
        """Files no longer referenced and older than the retention: listed (dry run,
        the default) or deleted."""

    @abstractmethod
    def txn_version(self, name: str, app_id: str) -> int | None:
        """Latest committed application-transaction version for app_id, if any."""

    def txn_metadata(self, name: str, app_id: str, version: int) -> dict[str, Any] | None:
        """The commit metadata written with application transaction (app_id, version),
        or None if no such commit is in the table's history."""
        for entry in self.history(name):
            meta = entry.metadata
            if meta.get("app_id") == app_id and meta.get("txn_version") == version:
                return {**meta, "_timestamp": entry.timestamp, "_version": entry.version}
        return None


def split_name(name: str) -> tuple[str, str]:
    """`'silver.transactions'` -> `('silver', 'transactions')`, validated."""
    parts = name.split(".")
    if len(parts) != 2 or not all(p.replace("_", "").isalnum() for p in parts):
        raise ValueError(f"table name {name!r} must look like 'layer.table' (letters, digits, _)")
    return parts[0], parts[1]


def check_schema(name: str, table: T.StructType, incoming: T.StructType) -> list[str]:
    """Column names of `table` in order, after checking `incoming` has the same columns
    and types (nullability aside). Raises SchemaMismatchError listing every difference."""
    have = {f.name: f.dataType.simpleString() for f in incoming.fields}
    want = {f.name: f.dataType.simpleString() for f in table.fields}
    problems = [f"missing column {c!r} ({t})" for c, t in want.items() if c not in have]
    problems += [f"unexpected column {c!r} ({t})" for c, t in have.items() if c not in want]
    problems += [
        f"column {c!r} is {have[c]}, table has {t}"
        for c, t in want.items()
        if c in have and have[c] != t
    ]
    if problems:
        raise SchemaMismatchError(
            f"schema of the data does not match table {name}; nothing was written: "
            + "; ".join(problems)
        )
    return [f.name for f in table.fields]


def check_parquet_files(name: str, paths: Sequence[str], schema: T.StructType) -> None:
    """Check that every Parquet file in `paths` has the columns and types of `schema`
    (read from the footers; nullability aside, any time zone for timestamps, which Parquet
    stores as UTC anyway). Raises SchemaMismatchError naming the first file that differs."""
    want = {f.name: _comparable(f.type) for f in to_arrow_schema(schema)}
    for path in paths:
        have = {f.name: _comparable(f.type) for f in pq.read_schema(path)}
        problems = [f"missing column {c!r} ({t})" for c, t in want.items() if c not in have]
        problems += [f"unexpected column {c!r} ({t})" for c, t in have.items() if c not in want]
        problems += [f"column {c!r} is {have[c]}, expected {t}" for c, t in want.items()
                     if c in have and have[c] != t]
        if problems:
            raise SchemaMismatchError(
                f"Parquet file {path} does not match the schema of the data for table "
                f"{name}; nothing was written: " + "; ".join(problems))


def _comparable(arrow_type: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(arrow_type) and arrow_type.tz is not None:
        return pa.timestamp(arrow_type.unit, tz="UTC")
    if pa.types.is_large_string(arrow_type):
        return pa.string()
    return arrow_type


def commit_metadata(operation: str, txn: AppTxn | None, extra: Mapping[str, Any] | None) -> str:
    """The JSON stored as the commit's userMetadata on both backends."""
    payload: dict[str, Any] = {"operation": operation, **(extra or {})}
    if txn is not None:
        payload.update(app_id=txn.app_id, txn_version=txn.version)
    return json.dumps(payload, sort_keys=True, default=str)


def parse_metadata(raw: Any) -> dict[str, Any]:
    """Inverse of commit_metadata; tolerant of commits written by other tools."""
    if not raw:
        return {}
    try:
        value = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except (ValueError, TypeError):
        return {"userMetadata": raw}
    return value if isinstance(value, dict) else {"userMetadata": value}
