"""The Delta transaction log through delta-rs: open, check, commit staged files.

No Spark here: the embedded backend's Spark side writes Parquet files, this module
records them (and any files they replace) in one atomic commit.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pyarrow.parquet as pq
from deltalake import DeltaTable, Schema
from deltalake import exceptions as dlx
from deltalake.transaction import (
    AddAction,
    CommitProperties,
    RemoveAction,
    Transaction,
    create_table_with_add_actions,
)
from pyspark.sql import types as T

from lakehouse.tables.base import (
    AppTxn,
    ConcurrentCommitError,
    RowGroupStats,
    TableNotFoundError,
    TableStoreError,
    UnsupportedTableError,
)

# Features whose data the embedded read path (Parquet files listed by delta-rs,
# read by Spark) would get wrong: deleted rows come back, physical names differ,
# or Spark readers fail on the protocol.
UNSUPPORTED_FEATURES = {
    "deletionVectors": "deletion vectors (file_uris() would bring deleted rows back)",
    "columnMapping": "column mapping (Parquet files use physical col-<uuid> names)",
    "timestampNtz": "timestamp_ntz columns (raise the protocol beyond Spark readers)",
}


@dataclass(frozen=True)
class StagedFile:
    """A Parquet file written under the table folder, not yet in the log."""

    path: str  # relative to the table root, '/'-separated
    size: int
    rows: int
    modified_ms: int


def open_table(uri: str, version: int | None = None) -> DeltaTable:
    """The delta-rs table at `uri` (latest or `version`), refusing unsupported features."""
    try:
        table = DeltaTable(uri) if version is None else DeltaTable(uri, version=version)
    except dlx.TableNotFoundError:
        raise TableNotFoundError(f"no Delta table at {uri}") from None
    except (dlx.DeltaError, OSError) as err:
        if version is not None and DeltaTable.is_deltatable(uri):
            raise TableNotFoundError(f"{uri} has no readable version {version}: {err}") from None
        raise TableStoreError(f"cannot open Delta table at {uri}: {err}") from None
    check_supported(uri, table)
    return table


def check_supported(uri: str, table: DeltaTable) -> None:
    """Raise UnsupportedTableError when the table needs features the embedded path lacks."""
    proto = table.protocol()
    features = set(proto.reader_features or []) | set(proto.writer_features or [])
    found = [why for name, why in UNSUPPORTED_FEATURES.items() if name in features]
    mapping = table.metadata().configuration.get("delta.columnMapping.mode", "none")
    if mapping not in (None, "none") and UNSUPPORTED_FEATURES["columnMapping"] not in found:
        found.append(UNSUPPORTED_FEATURES["columnMapping"])
    if found:
        raise UnsupportedTableError(
            f"table {uri} uses {', '.join(found)}; the embedded (delta-rs) backend cannot "
            "handle it correctly. Use the native delta-spark backend, or rewrite the table "
            "without these features."
        )


def spark_schema(table: DeltaTable) -> T.StructType:
    """The table schema as a Spark StructType (both use the same JSON form)."""
    return T.StructType.fromJson(json.loads(table.schema().to_json()))


def delta_schema(schema: T.StructType) -> Schema:
    """A Spark schema as a Delta schema, refusing types that break Spark readers."""
    if "timestamp_ntz" in schema.simpleString():
        raise UnsupportedTableError(
            "timestamp_ntz columns raise the table protocol to reader 3 / writer 7, which "
            "Spark readers reject: convert them to UTC timestamps first"
        )
    return Schema.from_json(schema.json())


def staged_files(table_root: str, stage_dir: str) -> list[StagedFile]:
    """Parquet files Spark wrote into `stage_dir`, with sizes and row counts from footers."""
    found = []
    for entry in sorted(os.scandir(stage_dir), key=lambda e: e.name):
        if not entry.name.endswith(".parquet") or not entry.is_file():
            continue
        stat = entry.stat()
        rows = pq.read_metadata(entry.path).num_rows
        rel = Path(entry.path).relative_to(table_root).as_posix()
        found.append(StagedFile(rel, stat.st_size, rows, int(stat.st_mtime * 1000)))
    return found


def commit(
    uri: str,
    schema: T.StructType,
    added: Sequence[StagedFile],
    *,
    mode: str,
    base: DeltaTable | None,
    removed: Sequence[str] = (),
    txn: AppTxn | None = None,
    user_metadata: str | None = None,
) -> int:
    """Record `added` (and remove `removed`, relative paths) in one commit; return the
    new version. `base` is the table as read (None creates the table); conflicts with
    commits made since then raise ConcurrentCommitError."""
    adds = [
        AddAction(
            path=f.path,
            size=f.size,
            partition_values={},
            modification_time=f.modified_ms,
            data_change=True,
            stats=json.dumps({"numRecords": f.rows}),
        )
        for f in added
        if f.rows > 0
    ]
    props = CommitProperties(
        custom_metadata={"userMetadata": user_metadata} if user_metadata else None,
        app_transactions=[Transaction(txn.app_id, txn.version)] if txn else None,
    )
    try:
        if base is None:
            create_table_with_add_actions(
                uri, delta_schema(schema), adds, mode="error", commit_properties=props
            )
            return DeltaTable(uri).version()
        now = int(time.time() * 1000)
        removes = [RemoveAction(p, True, now) for p in removed]
        base.create_write_transaction(
            [*adds, *removes], mode=mode, schema=base.schema(), commit_properties=props
        )
        base.update_incremental()
        return base.version()
    except dlx.CommitFailedError as err:
        raise ConcurrentCommitError(
            f"commit to {uri} lost a race with another writer ({err}); nothing was "
            "committed: retry the operation"
        ) from None


def parquet_row_group_stats(path: str, columns: Sequence[str]) -> list[RowGroupStats] | None:
    """Row count and (min, max) of `columns` per row group of one Parquet file, from its
    footer; None when a row group with non-NULL values has no min/max for a column."""
    meta = pq.read_metadata(path)
    index = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
    found = []
    for number in range(meta.num_row_groups):
        group = meta.row_group(number)
        ranges = {}
        for column in columns:
            stats = group.column(index[column]).statistics
            if stats is not None and stats.has_null_count and stats.null_count == group.num_rows:
                ranges[column] = (None, None)
            elif stats is None or not stats.has_min_max:
                return None
            else:
                ranges[column] = (stats.min, stats.max)
        found.append(RowGroupStats(group.num_rows, ranges))
    return found


def file_paths(table: DeltaTable) -> dict[str, str]:
    """Absolute local path -> log path (as stored) for every live file."""
    root = table.table_uri.removeprefix("file://")
    paths = table.get_add_actions(flatten=True).column("path").to_pylist()
    return {os.path.normpath(os.path.join(root, unquote(p))): p for p in paths}
