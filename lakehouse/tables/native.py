"""Native Delta backend: delta-spark, for Databricks and any cluster with the jars.

Tables resolve to Unity Catalog names when a catalog and schema are configured,
otherwise to `delta.`<path>`` under the lake root.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.tables.base import (
    AppTxn,
    BeforeCommit,
    CommitResult,
    HistoryEntry,
    MergeKeyError,
    TableExistsError,
    TableNotFoundError,
    TableStore,
    WhenMatched,
    WriteMode,
    check_parquet_files,
    check_schema,
    commit_metadata,
    parse_metadata,
    split_name,
)


class NativeStore(TableStore):
    """TableStore on the delta-spark connector."""

    backend = "native"

    def __init__(
        self,
        spark: SparkSession,
        lake_root: Path,
        catalog: str | None = None,
        schema: str | None = None,
    ) -> None:
        super().__init__(spark, lake_root)
        self.catalog, self.schema_name = catalog, schema

    def identifier(self, name: str) -> str:
        """SQL identifier of a table: a Unity Catalog name or delta.`path`."""
        layer, table = split_name(name)
        if self.catalog and self.schema_name:
            return f"`{self.catalog}`.`{self.schema_name}`.`{layer}_{table}`"
        return f"delta.`{self.location(name)}`"

    def _delta(self, name: str):  # -> delta.tables.DeltaTable
        from delta.tables import DeltaTable

        if not self.exists(name):
            raise TableNotFoundError(f"no Delta table {self.identifier(name)}")
        if self.catalog and self.schema_name:
            return DeltaTable.forName(self.spark, self.identifier(name).replace("`", ""))
        return DeltaTable.forPath(self.spark, self.location(name))

    def exists(self, name: str) -> bool:
        from delta.tables import DeltaTable

        if self.catalog and self.schema_name:
            return self.spark.catalog.tableExists(self.identifier(name).replace("`", ""))
        return DeltaTable.isDeltaTable(self.spark, self.location(name))

    def schema(self, name: str) -> T.StructType:
        return self._delta(name).toDF().schema

    def read(self, name: str, *, version: int | None = None) -> DataFrame:
        self._delta(name)
        suffix = "" if version is None else f" VERSION AS OF {int(version)}"
        return self.spark.sql(f"SELECT * FROM {self.identifier(name)}{suffix}")

    def version(self, name: str) -> int:
        return int(self._delta(name).history(1).first()["version"])

    def txn_version(self, name: str, app_id: str) -> int | None:
        if not self.exists(name):
            return None
        versions = [
            int(e.metadata["txn_version"])
            for e in self.history(name)
            if e.metadata.get("app_id") == app_id and "txn_version" in e.metadata
        ]
        return max(versions, default=None)

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
        exists = self.exists(name)
        if exists and mode == "error":
            raise TableExistsError(f"table {self.identifier(name)} already exists")
        if exists:
            df = df.select(*check_schema(name, self.schema(name), df.schema))
        if before_commit is not None:  # delta-spark writes and commits in one step
            before_commit()
        operation = "REPLACE WHERE" if replace_where else mode.upper()
        writer = df.write.format("delta").mode("append" if mode == "error" else mode)
        writer = writer.option("userMetadata", commit_metadata(operation, txn, metadata))
        if replace_where:
            writer = writer.option("replaceWhere", replace_where)
        if txn is not None:  # delta-spark skips a (txnAppId, txnVersion) already committed
            writer = writer.option("txnAppId", txn.app_id).option("txnVersion", txn.version)
        if self.catalog and self.schema_name:
            writer.saveAsTable(self.identifier(name).replace("`", ""))
        else:
            writer.save(self.location(name))
        return CommitResult(name, self.version(name), True)

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
        if not self.exists(name):
            return self.write(name, df, mode="append", txn=txn, metadata=metadata,
                              before_commit=before_commit)
        done = self.txn_version(name, txn.app_id) if txn else None
        if txn is not None and done is not None and done >= txn.version:
            return CommitResult(name, self.version(name), committed=False)
        df = df.select(*check_schema(name, self.schema(name), df.schema))
        if before_commit is not None:  # delta-spark merges and commits in one step
            before_commit()
        if not keys_unique and \
                df.groupBy(*keys).count().where(F.col("count") > 1).limit(1).count():
            raise MergeKeyError(f"merge into {name}: the source repeats keys {list(keys)}")
        condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
        self.spark.conf.set(
            "spark.databricks.delta.commitInfo.userMetadata",
            commit_metadata("MERGE", txn, {**(metadata or {}), "keys": list(keys)}),
        )
        try:
            target = self._delta(name).alias("t")
            if target_filter is not None:
                builder = _filtered_merge(target, df, list(keys), when_matched, target_filter)
            else:
                builder = target.merge(df.alias("s"), condition)
                if when_matched == "update":
                    builder = builder.whenMatchedUpdateAll()
                builder = builder.whenNotMatchedInsertAll()
            builder.execute()
        finally:
            self.spark.conf.unset("spark.databricks.delta.commitInfo.userMetadata")
        latest = self.history(name, limit=1)[0]
        return CommitResult(name, latest.version, True, {
            "inserted": int(latest.metrics.get("numTargetRowsInserted", 0)),
            "matched": int(latest.metrics.get("numTargetRowsUpdated", 0)),
        })

    def append_files(
        self,
        name: str,
        folder: str,
        *,
        schema: T.StructType,
        txn: AppTxn | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> CommitResult:
        # delta-spark cannot adopt foreign files: Spark reads them (a vectorised scan)
        # and appends them through the connector; the staged copies then go.
        try:
            if self.exists(name):
                check_schema(name, self.schema(name), schema)
                done = self.txn_version(name, txn.app_id) if txn else None
                if txn is not None and done is not None and done >= txn.version:
                    return CommitResult(name, self.version(name), committed=False)
            paths = sorted(str(p) for p in Path(folder).glob("*.parquet"))
            check_parquet_files(name, paths, schema)
            df = self.spark.read.schema(schema).parquet(*paths) if paths else \
                self.spark.createDataFrame([], schema)
            result = self.write(name, df, mode="append", txn=txn, metadata=metadata)
        finally:
            self.discard_staging(folder)
        latest = next((h for h in self.history(name, limit=5) if h.version == result.version),
                      None)
        rows = latest.metrics.get("numOutputRows") if latest is not None else None
        return CommitResult(name, result.version, True,
                            {} if rows is None else {"rows_written": int(rows)})

    def history(self, name: str, *, limit: int | None = None) -> list[HistoryEntry]:
        rows = self._delta(name).history(limit).collect() if limit else \
            self._delta(name).history().collect()
        return [
            HistoryEntry(
                version=int(r["version"]),
                timestamp=r["timestamp"],
                operation=str(parse_metadata(r["userMetadata"]).get("operation") or r["operation"]),
                parameters=dict(r["operationParameters"] or {}),
                metrics={k: _num(v) for k, v in (r["operationMetrics"] or {}).items()},
                metadata=parse_metadata(r["userMetadata"]),
            )
            for r in rows
        ]

    def restore(self, name: str, version: int) -> CommitResult:
        metrics = self._delta(name).restoreToVersion(version).first().asDict()
        return CommitResult(name, self.version(name), True, {k: int(v) for k, v in
                                                              metrics.items() if v is not None})

    def vacuum(self, name: str, *, retention_hours: int = 168, dry_run: bool = True) -> list[str]:
        dry = " DRY RUN" if dry_run else ""
        rows = self.spark.sql(
            f"VACUUM {self.identifier(name)} RETAIN {int(retention_hours)} HOURS{dry}"
        ).collect()
        return [r[0] for r in rows]


SOURCE_PREFIX = "__source_"


def _filtered_merge(target: Any, df: DataFrame, keys: list[str], when_matched: WhenMatched,
                    target_filter: str) -> Any:
    """The merge builder (delta.tables.DeltaMergeBuilder) of `df` into `target` (aliased
    't') whose condition also requires `target_filter` of the target row; Delta uses
    such target-only conjuncts to skip files. The filter names columns unqualified, so
    the source's columns are renamed (SOURCE_PREFIX) to names the target does not have:
    each name in the filter then resolves to the target alone. The actions list every
    column (what updateAll / insertAll do with equal names)."""
    renamed = {c: SOURCE_PREFIX + c for c in df.columns}
    source = df.select(*[F.col(_quoted(c)).alias(r) for c, r in renamed.items()]).alias("s")
    on = " AND ".join(f"t.{_quoted(k)} <=> s.{_quoted(renamed[k])}" for k in keys)
    builder = target.merge(source, f"({on}) AND ({target_filter})")
    values = {_quoted(c): f"s.{_quoted(r)}" for c, r in renamed.items()}
    if when_matched == "update":
        builder = builder.whenMatchedUpdate(set=values)
    return builder.whenNotMatchedInsert(values=values)


def _quoted(column: str) -> str:
    return "`" + column.replace("`", "``") + "`"


def _num(value: Any) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value
