"""Embedded Delta backend: Spark computes and writes Parquet, delta-rs owns the log.

Used wherever the delta-spark connector jars are missing (laptops, CI). No table is
collected through the driver: Spark writes the files in parallel (or tasks write them
with pyarrow into `staging_folder`, for `append_files`), and the driver only lists
them and commits their paths.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlparse

from deltalake import DeltaTable
from deltalake import exceptions as dlx
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.tables import deltalog
from lakehouse.tables.base import (
    AppTxn,
    BeforeCommit,
    CommitResult,
    HistoryEntry,
    MergeKeyError,
    RowGroupStats,
    TableExistsError,
    TableNotFoundError,
    TableStore,
    TableStoreError,
    WhenMatched,
    WriteMode,
    check_parquet_files,
    check_schema,
    commit_metadata,
    parse_metadata,
)
from lakehouse.tables.staging import Stage, adopt, drop_empty, part_folder

FILE_COLUMN = "__lakehouse_file"


class EmbeddedStore(TableStore):
    """TableStore on delta-rs (log) + Spark (compute) for local folders."""

    backend = "embedded"

    def exists(self, name: str) -> bool:
        return DeltaTable.is_deltatable(self.location(name))

    def schema(self, name: str) -> T.StructType:
        return deltalog.spark_schema(deltalog.open_table(self.location(name)))

    def read(self, name: str, *, version: int | None = None) -> DataFrame:
        table = deltalog.open_table(self.location(name), version)
        paths = list(deltalog.file_paths(table))
        missing = [p for p in paths if not os.path.exists(p)]
        if missing:
            raise TableNotFoundError(
                f"{name} version {table.version()} refers to {len(missing)} data file(s) that "
                f"no longer exist (vacuumed or deleted), e.g. {missing[0]}")
        return self._scan(table, paths)

    def version(self, name: str) -> int:
        return deltalog.open_table(self.location(name)).version()

    def distinct_values(self, name: str, column: str) -> set[Any]:
        table = deltalog.open_table(self.location(name))
        return set(table.to_pyarrow_dataset().to_table(columns=[column])
                   .column(column).unique().to_pylist())

    def row_group_stats(self, name: str, columns: Sequence[str], *,
                        version: int | None = None) -> list[RowGroupStats] | None:
        table = deltalog.open_table(self.location(name), version)
        found = []
        for path in deltalog.file_paths(table):
            stats = deltalog.parquet_row_group_stats(path, columns)
            if stats is None:
                return None
            found += stats
        return found

    def txn_version(self, name: str, app_id: str) -> int | None:
        if not self.exists(name):
            return None
        return deltalog.open_table(self.location(name)).transaction_version(app_id)

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
        if replace_where is not None and mode != "overwrite":
            raise ValueError("replace_where goes with mode='overwrite'")
        uri = self.location(name)
        base = deltalog.open_table(uri) if self.exists(name) else None
        if base is not None and mode == "error":
            raise TableExistsError(f"table {name} already exists at {uri} (mode='error')")
        if base is not None:
            df = df.select(*check_schema(name, deltalog.spark_schema(base), df.schema))
            if _already_committed(base, txn):
                return CommitResult(name, base.version(), committed=False)
        if replace_where is not None and base is not None:
            return self._replace_where(name, base, df, replace_where, txn, metadata,
                                       before_commit)
        operation = {"error": "CREATE", "append": "APPEND", "overwrite": "OVERWRITE"}[mode]
        with Stage(uri, before_commit) as stage:
            files = stage.write(df)
            version = deltalog.commit(
                uri, df.schema, files, mode="overwrite" if mode == "overwrite" else "append",
                base=base, txn=txn, user_metadata=commit_metadata(
                    operation, txn, {**(metadata or {}), "rows_written": _rows(files)}),
            )
        return CommitResult(name, version, True, {"rows_written": _rows(files)})

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
        keys = list(keys)
        uri = self.location(name)
        base = deltalog.open_table(uri) if self.exists(name) else None
        if base is not None:
            df = df.select(*check_schema(name, deltalog.spark_schema(base), df.schema))
            if _already_committed(base, txn):
                return CommitResult(name, base.version(), committed=False)
        if base is None:  # every source row is inserted: the write counts them
            if not keys_unique:
                _check_merge_keys(name, df, keys)
            result = self.write(name, df, mode="append", txn=txn, metadata=metadata,
                                before_commit=before_commit)
            return _merge_result(result, int(result.metrics.get("rows_written", 0)), matched=0)
        source_rows = df.count() if keys_unique else _check_merge_keys(name, df, keys)
        live = deltalog.file_paths(base)
        target = self._scan(base, list(live), with_file=True)
        if target_filter is not None:  # pushed to Parquet: row groups outside it are skipped
            target = target.where(F.expr(target_filter))
        with Stage(uri, before_commit) as stage:
            if when_matched == "ignore":
                new_rows = df.join(target.select(*keys), on=keys, how="left_anti")
                files, removed = stage.write(new_rows), []
                matched = source_rows - _rows(files)  # keys are unique in the source
            else:
                per_file = (
                    target.select(*keys, FILE_COLUMN)
                    .join(df.select(*keys), on=keys, how="inner")
                    .groupBy(FILE_COLUMN)
                    .count()
                    .collect()
                )
                matched = sum(r["count"] for r in per_file)
                touched = [r[FILE_COLUMN] for r in per_file]
                kept = _rows_not_replaced(self._scan(base, touched), df.select(*keys), keys,
                                          target_filter) if touched else None
                files = stage.write(df if kept is None else kept.unionByName(df))
                removed = [live[_local_path(p)] for p in touched]
            version = deltalog.commit(
                uri, df.schema, files, mode="append", base=base, removed=removed, txn=txn,
                user_metadata=commit_metadata("MERGE", txn, {
                    **(metadata or {}), "keys": keys, "rows_written": _rows(files),
                    "source_rows": source_rows, "matched": matched}),
            )
        return _merge_result(CommitResult(name, version, True), source_rows, matched)

    def staging_folder(self, name: str) -> str:
        # Under the table root, like Stage: append_files commits the files where they are.
        folder = part_folder(self.location(name))
        os.makedirs(folder)
        return folder

    def append_files(
        self,
        name: str,
        folder: str,
        *,
        schema: T.StructType,
        txn: AppTxn | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> CommitResult:
        uri = self.location(name)
        adopted, moved = folder, False
        try:
            base = deltalog.open_table(uri) if self.exists(name) else None
            if base is not None:
                check_schema(name, deltalog.spark_schema(base), schema)
                if _already_committed(base, txn):
                    self.discard_staging(folder)
                    return CommitResult(name, base.version(), committed=False)
            adopted, moved = adopt(uri, folder)
            files = deltalog.staged_files(uri, adopted)
            check_parquet_files(name, [os.path.join(uri, f.path) for f in files], schema)
            files = drop_empty(uri, files)
            version = deltalog.commit(
                uri, schema, files, mode="append", base=base, txn=txn,
                user_metadata=commit_metadata(
                    "APPEND", txn, {**(metadata or {}), "rows_written": _rows(files)}),
            )
        except BaseException:
            self.discard_staging(folder)
            if moved:
                self.discard_staging(adopted)
            raise
        if moved:
            self.discard_staging(folder)  # emptied by the move
        return CommitResult(name, version, True, {"rows_written": _rows(files)})

    def history(self, name: str, *, limit: int | None = None) -> list[HistoryEntry]:
        table = deltalog.open_table(self.location(name))
        entries = []
        for raw in table.history(limit):
            meta = parse_metadata(raw.get("userMetadata"))
            entries.append(
                HistoryEntry(
                    version=int(raw["version"]),
                    timestamp=datetime.fromtimestamp(raw["timestamp"] / 1000, tz=UTC),
                    operation=str(meta.get("operation") or raw.get("operation", "UNKNOWN")),
                    parameters=dict(raw.get("operationParameters") or {}),
                    metrics=dict(raw.get("operationMetrics") or {}),
                    metadata=meta,
                )
            )
        return sorted(entries, key=lambda e: e.version, reverse=True)

    def restore(self, name: str, version: int) -> CommitResult:
        table = deltalog.open_table(self.location(name))
        try:
            metrics = table.restore(version)
        except (dlx.DeltaError, OSError) as err:
            raise TableStoreError(
                f"cannot restore {name} to version {version}: {err} (its files may have "
                "been vacuumed)"
            ) from None
        return CommitResult(name, table.version(), True, _ints(metrics))

    def vacuum(self, name: str, *, retention_hours: int = 168, dry_run: bool = True) -> list[str]:
        table = deltalog.open_table(self.location(name))
        return table.vacuum(retention_hours=retention_hours, dry_run=dry_run)

    def _replace_where(
        self,
        name: str,
        base: DeltaTable,
        df: DataFrame,
        predicate: str,
        txn: AppTxn | None,
        metadata: Mapping[str, Any] | None,
        before_commit: BeforeCommit | None,
    ) -> CommitResult:
        matches = F.coalesce(F.expr(predicate), F.lit(False))
        outside = df.where(~matches).limit(1).count()
        if outside:
            raise TableStoreError(
                f"replace_where on {name}: some new rows do not match {predicate!r}; "
                "nothing was written"
            )
        live = deltalog.file_paths(base)
        target = self._scan(base, list(live), with_file=True)
        touched = [r[FILE_COLUMN] for r in target.where(matches).select(FILE_COLUMN)
                   .distinct().collect()]
        uri = self.location(name)
        with Stage(uri, before_commit) as stage:
            kept = self._scan(base, touched).where(~matches) if touched else None
            files = stage.write(df if kept is None else kept.unionByName(df))
            version = deltalog.commit(
                uri, df.schema, files, mode="append", base=base,
                removed=[live[_local_path(p)] for p in touched], txn=txn,
                user_metadata=commit_metadata("REPLACE WHERE", txn, {
                    **(metadata or {}), "predicate": predicate, "rows_written": _rows(files)}),
            )
        return CommitResult(name, version, True, {"rows_written": _rows(files),
                                                   "files_replaced": len(touched)})

    def _scan(self, table: DeltaTable, paths: list[str], with_file: bool = False) -> DataFrame:
        schema = deltalog.spark_schema(table)
        if not paths:
            empty = self.spark.createDataFrame([], schema)
            return empty.withColumn(FILE_COLUMN, F.lit(None).cast("string")) if with_file else empty
        df = self.spark.read.schema(schema).parquet(*paths)
        return df.withColumn(FILE_COLUMN, F.col("_metadata.file_path")) if with_file else df


def _already_committed(table: DeltaTable, txn: AppTxn | None) -> bool:
    if txn is None:
        return False
    done = table.transaction_version(txn.app_id)
    return done is not None and done >= txn.version


def _check_merge_keys(name: str, df: DataFrame, keys: list[str]) -> int:
    """Rows in the merge source; raises MergeKeyError on NULL or repeated keys."""
    if not keys:
        raise MergeKeyError(f"merge into {name} needs at least one key column")
    any_null = F.greatest(*[F.col(k).isNull().cast("int") for k in keys]) if len(keys) > 1 \
        else F.col(keys[0]).isNull().cast("int")
    stats = (
        df.groupBy(*keys).agg(F.count(F.lit(1)).alias("n"), F.max(any_null).alias("null_key"))
        .agg(F.sum("n").alias("rows"), F.count(F.lit(1)).alias("distinct"),
             F.sum("null_key").alias("nulls"))
        .first()
    )
    rows, distinct, nulls = stats["rows"] or 0, stats["distinct"] or 0, stats["nulls"] or 0
    if nulls:
        raise MergeKeyError(f"merge into {name}: {nulls} source rows have a NULL key {keys}")
    if rows != distinct:
        raise MergeKeyError(
            f"merge into {name}: {rows - distinct} source rows repeat a key {keys}; "
            "dedupe the source first"
        )
    return int(rows)


def _rows_not_replaced(
    rows: DataFrame, source_keys: DataFrame, keys: list[str], target_filter: str | None
) -> DataFrame:
    """The rows of a rewritten file that stay: all but those (inside `target_filter`)
    whose key is in the source. Rows outside the filter are kept whatever their key."""
    if target_filter is None:
        return rows.join(source_keys, on=keys, how="left_anti")
    in_scope = F.coalesce(F.expr(target_filter), F.lit(False))
    return rows.where(~in_scope).unionByName(
        rows.where(in_scope).join(source_keys, on=keys, how="left_anti"))


def _merge_result(result: CommitResult, source_rows: int, matched: int) -> CommitResult:
    metrics = {"source_rows": source_rows, "inserted": source_rows - matched, "matched": matched}
    return CommitResult(result.table, result.version, result.committed, metrics)


def _local_path(spark_path: str) -> str:
    return os.path.normpath(unquote(urlparse(spark_path).path))


def _rows(files: list[deltalog.StagedFile]) -> int:
    return sum(f.rows for f in files)


def _ints(metrics: Mapping[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in metrics.items() if isinstance(v, int | float)}
