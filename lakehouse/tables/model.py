"""What the table store takes and returns: names, schema checks, commit metadata, results
and errors (no Spark session here)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pyspark.sql import types as T

from lakehouse.errors import LakehouseError


class TableStoreError(LakehouseError, RuntimeError):
    """Base class of every table store error."""


class TableNotFoundError(TableStoreError):
    """The table (or the requested version of it) does not exist."""


class TableExistsError(TableStoreError):
    """mode='error' was asked for and the table already exists."""


class SchemaMismatchError(TableStoreError):
    """The DataFrame's schema differs from the table's; nothing was written."""


def require_columns(df_columns, table: str, required) -> None:
    """SchemaMismatchError unless every `required` column is among `df_columns`: a table
    of another shape under a configured name is named as such, not met later as an
    unresolved column deep in a job."""
    missing = [c for c in required if c not in df_columns]
    if missing:
        raise SchemaMismatchError(
            f"table {table} has no column {', '.join(missing)} (its columns: "
            f"{', '.join(df_columns)}): it is not the table this pipeline writes there; "
            "move it away or point tables.names at another name, and run again")


class ConcurrentCommitError(TableStoreError):
    """Another writer committed a conflicting change first. Safe to retry the operation."""

    retryable = True


class MergeKeyError(TableStoreError):
    """The merge source has NULL or duplicate keys; nothing was written."""


@dataclass(frozen=True)
class AppTxn:
    """An application transaction: (app_id, version) commits at most once per table."""

    app_id: str
    version: int


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
    problems += [f"column {c!r} is {have[c]}, table has {t}"
                 for c, t in want.items() if c in have and have[c] != t]
    if problems:
        raise SchemaMismatchError(f"schema of the data does not match table {name}; nothing "
                                  "was written: " + "; ".join(problems))
    return [f.name for f in table.fields]


def commit_metadata(operation: str, txn: AppTxn | None, extra: Mapping[str, Any] | None) -> str:
    """The JSON stored as a commit's userMetadata."""
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


def num(value: Any) -> Any:
    """A history metric as a number when it is one (DESCRIBE HISTORY gives strings)."""
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value
