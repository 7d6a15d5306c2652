"""Delta tables by logical name, written by delta-spark: locally, on a cluster, on Databricks.

A name `layer.table` is the folder `<lake>/<layer>/<table>` locally (SQL identifier
delta.`<folder>`; `register` also makes it `layer.table` in the session catalog), or the
Unity Catalog table `<catalog>.<schema>.<layer>_<table>` when a catalog is configured.
Every write is one Delta commit: it lands whole or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from delta import exceptions as delta_errors
from delta.tables import DeltaTable
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from lakehouse.errors import MISSING_TABLE
from lakehouse.progress import step
from lakehouse.tables.damage import DamagedTableError, LogCache, check_log
from lakehouse.tables.damage import explain as explain_damage
from lakehouse.tables.merging import WhenMatched, check_keys, merge_builder, quoted
from lakehouse.tables.model import (
    AppTxn,
    CommitResult,
    ConcurrentCommitError,
    HistoryEntry,
    TableExistsError,
    TableNotFoundError,
    TableStoreError,
    check_schema,
    commit_metadata,
    num,
    parse_metadata,
    split_name,
)

WriteMode = Literal["error", "append", "overwrite"]
# Session confs delta-spark reads for SQL/MERGE commits (DataFrame writes take options).
_USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"
_TXN_APP_ID = "spark.databricks.delta.write.txnAppId"
_TXN_VERSION = "spark.databricks.delta.write.txnVersion"
# A table created in a session gets `delta.<key>` = the value of this conf + key.
_DEFAULT_PROPERTY = "spark.databricks.delta.properties.defaults."


class TableStore:
    """Read, write, merge, history, restore, vacuum and optimize Delta tables by name.

    `properties` are set on every table this store creates (e.g. deletion vectors);
    `table_properties` adds more per table name (e.g. Change Data Feed on silver)."""

    def __init__(self, spark: SparkSession, lake_root: Path, *, catalog: str | None = None,
                 schema: str | None = None, properties: Mapping[str, str] | None = None,
                 table_properties: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.spark, self.lake_root = spark, Path(lake_root)
        self.catalog, self.schema_name = catalog, schema
        self.properties = dict(properties or {})
        self.table_properties = {k: dict(v) for k, v in (table_properties or {}).items()}
        self._log_cache = LogCache()  # log files of local tables already found sound

    # ---- names -----------------------------------------------------------------------
    def location(self, name: str) -> str:
        """The folder of a table (local lake)."""
        layer, table = split_name(name)
        return str(self.lake_root / layer / table)

    def identifier(self, name: str) -> str:
        """The SQL identifier of a table: a Unity Catalog name or delta.`folder`."""
        if self.in_catalog:
            return self._catalog_name(name)
        return f"delta.`{self.location(name)}`"

    @property
    def in_catalog(self) -> bool:
        """True for Unity Catalog tables (catalog and schema configured), False for a
        local lake of folders."""
        return bool(self.catalog and self.schema_name)

    def _catalog_name(self, name: str) -> str:
        """The Unity Catalog name, quoted for SQL."""
        return ".".join(f"`{part}`" for part in self._catalog_parts(name))

    def _table_name(self, name: str) -> str:
        """The Unity Catalog name as the DataFrame and DeltaTable APIs take it."""
        return ".".join(self._catalog_parts(name))

    def _catalog_parts(self, name: str) -> tuple[str, str, str]:
        layer, table = split_name(name)
        return str(self.catalog), str(self.schema_name), f"{layer}_{table}"

    def register(self, name: str) -> None:
        """Make a local table known to the session catalog as `layer.table` (for SQL, a
        notebook or `make shell`); Unity Catalog tables are registered already."""
        if self.in_catalog or not self.exists(name):
            return
        layer, table = split_name(name)
        self.spark.sql(f"CREATE SCHEMA IF NOT EXISTS `{layer}`")
        self.spark.sql(f"CREATE TABLE IF NOT EXISTS `{layer}`.`{table}` USING DELTA "
                       f"LOCATION '{self.location(name)}'")

    # ---- reading ---------------------------------------------------------------------
    def exists(self, name: str) -> bool:
        """True when the table exists."""
        if self.in_catalog:
            return self.spark.catalog.tableExists(self._table_name(name))
        # Before Delta reads the log: DamagedTableError if it would fail or read it wrong
        check_log(name, self.location(name), self._log_cache)
        if DeltaTable.isDeltaTable(self.spark, self.location(name)):
            return True
        # The JVM caches each table's log, "no table here" included: a table another
        # process created since this session last looked is seen once its log is read.
        try:
            self.spark.sql(f"DESCRIBE HISTORY {self.identifier(name)} LIMIT 1").collect()
        except AnalysisException:
            return False
        return True

    def _delta(self, name: str) -> DeltaTable:
        if not self.exists(name):
            raise TableNotFoundError(f"no Delta table {self.identifier(name)}: {MISSING_TABLE}")
        if self.in_catalog:
            return DeltaTable.forName(self.spark, self._table_name(name))
        return DeltaTable.forPath(self.spark, self.location(name))

    def read(self, name: str, *, version: int | None = None) -> DataFrame:
        """The table at its latest version, or at `version` (time travel)."""
        self._delta(name)
        suffix = "" if version is None else f" VERSION AS OF {int(version)}"
        try:
            df = self.spark.sql(f"SELECT * FROM {self.identifier(name)}{suffix}")
        except AnalysisException as err:
            raise TableNotFoundError(f"{name} has no version {version} "
                                     f"({str(err).splitlines()[0]}): `make audit "
                                     f"ARGS='history {name}'` lists its versions") from None
        if version is not None and version < self.version(name):
            self._check_files(name, version, df)  # VACUUM never removes current files
        return df

    def _check_files(self, name: str, version: int, df: DataFrame) -> None:
        """TableNotFoundError when an older version's data files are gone (vacuumed or
        deleted): said before any job instead of failing halfway through one."""
        missing = missing_files(self.spark, df, first_only=True)
        if missing:
            raise TableNotFoundError(
                f"{name} version {version} refers to data files that no longer exist "
                f"(vacuumed or deleted), e.g. {missing[0]}")

    # ---- damage (checks and repairs: lakehouse/tables/repair.py) -------------------
    def explain(self, err: BaseException) -> DamagedTableError | None:
        """A Spark failure on a file of a local table (a data file missing, a log file
        unreadable) as a DamagedTableError naming the table and the recovery."""
        return None if self.in_catalog else explain_damage(err, self.lake_root)

    def changes(self, name: str, *, after_version: int) -> DataFrame:
        """The table's Change Data Feed for versions after `after_version` (the table must
        have had `delta.enableChangeDataFeed` since then)."""
        reader = self.spark.read.format("delta").option("readChangeFeed", "true")
        reader = reader.option("startingVersion", int(after_version) + 1)
        if self.in_catalog:
            return reader.table(self._table_name(name))
        return reader.load(self.location(name))

    def schema(self, name: str) -> T.StructType:
        """The table's current schema."""
        return self._delta(name).toDF().schema

    def version(self, name: str) -> int:
        """The table's current version number."""
        return self.history(name, limit=1)[0].version

    def version_if_exists(self, name: str) -> int | None:
        """The table's current version, or None when it does not exist yet."""
        return self.version(name) if self.exists(name) else None

    def distinct_values(self, name: str, column: str) -> set[Any]:
        """The distinct values of one column (for small bookkeeping tables)."""
        return {r[0] for r in self.read(name).select(column).distinct().collect()}

    def history(self, name: str, *, limit: int | None = None) -> list[HistoryEntry]:
        """Versions of the table, newest first."""
        delta = self._delta(name)
        rows = (delta.history(limit) if limit else delta.history()).collect()
        return [
            HistoryEntry(
                version=int(r["version"]),
                timestamp=r["timestamp"],
                operation=str(parse_metadata(r["userMetadata"]).get("operation")
                              or r["operation"]),
                parameters=dict(r["operationParameters"] or {}),
                metrics={k: num(v) for k, v in (r["operationMetrics"] or {}).items()},
                metadata=parse_metadata(r["userMetadata"]),
            )
            for r in rows
        ]

    def txn_version(self, name: str, app_id: str) -> int | None:
        """Latest committed application-transaction version for app_id, if any."""
        if not self.exists(name):
            return None
        versions = [int(e.metadata["txn_version"]) for e in self.history(name)
                    if e.metadata.get("app_id") == app_id and "txn_version" in e.metadata]
        return max(versions, default=None)

    def txn_metadata(self, name: str, app_id: str, version: int) -> dict[str, Any] | None:
        """The commit metadata written with application transaction (app_id, version),
        or None if no such commit is in the table's history."""
        for entry in self.history(name):
            meta = entry.metadata
            if meta.get("app_id") == app_id and meta.get("txn_version") == version:
                return {**meta, "_timestamp": entry.timestamp, "_version": entry.version}
        return None

    # ---- writing ---------------------------------------------------------------------
    def write(self, name: str, df: DataFrame, *, mode: WriteMode = "error",
              replace_where: str | None = None, txn: AppTxn | None = None,
              metadata: Mapping[str, Any] | None = None) -> CommitResult:
        """Write `df` in one commit: create (mode='error'), append, or overwrite (all rows,
        or with `replace_where` only the rows matching that SQL predicate; every new row
        must match it). Schemas must match the table's. With `txn`, a version already
        committed for that app id is skipped, so retries never duplicate.
        Metrics: rows_written."""
        if replace_where is not None and mode != "overwrite":
            raise ValueError("replace_where goes with mode='overwrite'")
        confs = {}
        if self.exists(name):
            if mode == "error":
                raise TableExistsError(f"table {self.identifier(name)} already exists")
            if self._already_done(name, txn):
                return CommitResult(name, self.version(name), committed=False)
            df = df.select(*check_schema(name, self.schema(name), df.schema))
        else:  # created by this commit, with the configured properties
            confs = {_DEFAULT_PROPERTY + key.removeprefix("delta."): value for key, value in
                     {**self.properties, **self.table_properties.get(name, {})}.items()}
        operation = "REPLACE WHERE" if replace_where else \
            {"error": "CREATE", "append": "APPEND", "overwrite": "OVERWRITE"}[mode]
        writer = df.write.format("delta").mode("overwrite" if mode == "overwrite" else "append")
        writer = writer.option("userMetadata", commit_metadata(operation, txn, metadata))
        if replace_where:
            writer = writer.option("replaceWhere", replace_where)
        if txn is not None:  # delta-spark skips a (txnAppId, txnVersion) already committed
            writer = writer.option("txnAppId", txn.app_id).option("txnVersion", txn.version)
        with session_confs(self.spark, confs), _conflicts(name), step(f"writing {name}"):
            try:
                if self.in_catalog:
                    writer.saveAsTable(self._table_name(name))
                else:
                    writer.save(self.location(name))
            except AnalysisException as err:
                if "DELTA_REPLACE_WHERE_MISMATCH" not in str(err):
                    raise
                raise TableStoreError(f"{name}: rows of the data do not match replace_where "
                                      f"{replace_where!r}; nothing was written") from None
        latest = self.history(name, limit=1)[0]
        rows = latest.metrics.get("numOutputRows")
        return CommitResult(name, latest.version, True,
                            {} if rows is None else {"rows_written": int(rows)})

    def merge(self, name: str, df: DataFrame, *, keys: Sequence[str],
              when_matched: WhenMatched = "update", txn: AppTxn | None = None,
              metadata: Mapping[str, Any] | None = None, keys_unique: bool = False,
              target_filter: str | None = None) -> CommitResult:
        """Upsert `df` by `keys` (unique, non-NULL in `df`): rows whose keys exist are
        replaced (or left alone with when_matched='ignore'), the rest inserted, in one
        commit. Metrics: inserted, matched. Creates the table if missing.
        `keys_unique=True` skips the check of the source's keys (a shuffle) for sources
        unique by construction.

        `target_filter` (SQL over the table's columns, unqualified): a condition every
        target row that can match a source row satisfies; Delta then reads only the files
        that can match. It must be implied by key equality: a target row outside it is
        never matched, so its source row would be inserted again."""
        if not self.exists(name):
            result = self.write(name, df, mode="append", txn=txn, metadata=metadata)
            rows = result.metrics.get("rows_written", 0)
            return CommitResult(name, result.version, result.committed,
                                {"source_rows": rows, "inserted": rows, "matched": 0})
        if self._already_done(name, txn):
            return CommitResult(name, self.version(name), committed=False)
        df = df.select(*check_schema(name, self.schema(name), df.schema))
        if not keys_unique:
            check_keys(name, df, keys)
        builder = merge_builder(self._delta(name).alias("t"), df, list(keys), when_matched,
                                 target_filter)
        confs = {_USER_METADATA: commit_metadata("MERGE", txn,
                                                 {**(metadata or {}), "keys": list(keys)})}
        if txn is not None:
            confs |= {_TXN_APP_ID: txn.app_id, _TXN_VERSION: str(txn.version)}
        before = self.version(name)
        with session_confs(self.spark, confs), _conflicts(name), step(f"merging into {name}"):
            builder.execute()
        latest = self.history(name, limit=1)[0]
        if latest.version == before:  # nothing inserted or changed: Delta commits nothing
            source = df.count()
            return CommitResult(name, before, False,
                                {"source_rows": source, "inserted": 0, "matched": source})
        # Source keys are unique: every source row is either inserted or matched
        # (updated, or left alone with 'ignore', which Delta does not count).
        source = int(latest.metrics.get("numSourceRows", 0))
        inserted = int(latest.metrics.get("numTargetRowsInserted", 0))
        return CommitResult(name, latest.version, True, {
            "source_rows": source, "inserted": inserted, "matched": source - inserted})

    def _already_done(self, name: str, txn: AppTxn | None) -> bool:
        """True when `txn` (or a later version of its app) is committed to the table:
        checked before any work; delta-spark checks again inside the commit."""
        if txn is None:
            return False
        done = self.txn_version(name, txn.app_id)
        return done is not None and done >= txn.version

    # ---- maintenance -----------------------------------------------------------------
    def restore(self, name: str, version: int) -> CommitResult:
        """Make `version` the table's content again (as a new version)."""
        metrics = self._delta(name).restoreToVersion(version).first().asDict()
        return CommitResult(name, self.version(name), True,
                            {k: int(v) for k, v in metrics.items() if v is not None})

    def vacuum(self, name: str, *, retention_hours: int = 168,
               dry_run: bool = True) -> list[str]:
        """Files no longer referenced and older than the retention: listed (dry run, the
        default) or deleted."""
        dry = " DRY RUN" if dry_run else ""
        rows = self.spark.sql(f"VACUUM {self.identifier(name)} RETAIN {int(retention_hours)} "
                              f"HOURS{dry}").collect()
        return [r[0] for r in rows]

    def optimize(self, name: str, *, zorder_by: Sequence[str] = ()) -> dict[str, Any]:
        """Compact small files (and Z-order them by `zorder_by`); the operation's metrics."""
        zorder = f" ZORDER BY ({', '.join(quoted(c) for c in zorder_by)})" if zorder_by else ""
        row = self.spark.sql(f"OPTIMIZE {self.identifier(name)}{zorder}").first()
        metrics = row["metrics"].asDict() if row is not None else {}
        return {k: v for k, v in metrics.items() if isinstance(v, int)}

    def add_columns(self, name: str, fields: Sequence[T.StructField]) -> None:
        """Add the nullable columns `fields` the table lacks (NULL in its rows): one
        metadata-only commit, none when it has them all or does not exist."""
        if not self.exists(name):
            return
        have = set(self.schema(name).fieldNames())
        new = [f"{quoted(f.name)} {f.dataType.simpleString()}" for f in fields
               if f.name not in have]
        if new:
            self.spark.sql(f"ALTER TABLE {self.identifier(name)} ADD COLUMNS ({', '.join(new)})")


def missing_files(spark: SparkSession, df: DataFrame, *, first_only: bool = False) -> list[str]:
    """The data files `df` reads that do not exist (none known under Spark Connect, where
    the server reports them at the first action)."""
    jsc = getattr(spark, "_jsc", None)
    if jsc is None:
        return []
    conf, hadoop_path = jsc.hadoopConfiguration(), spark._jvm.org.apache.hadoop.fs.Path
    missing = []
    for uri in df.inputFiles():
        path = hadoop_path(uri)
        if not path.getFileSystem(conf).exists(path):
            missing.append(uri)
            if first_only:
                break
    return missing


@contextmanager
def session_confs(spark: SparkSession, confs: Mapping[str, str]) -> Iterator[None]:
    """Set session confs for the duration of one statement, then restore them."""
    saved = {key: spark.conf.get(key, None) for key in confs}
    for key, value in confs.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


_CONFLICTS = (delta_errors.DeltaConcurrentModificationException,
              delta_errors.ConcurrentWriteException, delta_errors.MetadataChangedException,
              delta_errors.ProtocolChangedException, delta_errors.ConcurrentAppendException,
              delta_errors.ConcurrentDeleteReadException,
              delta_errors.ConcurrentDeleteDeleteException,
              delta_errors.ConcurrentTransactionException)


@contextmanager
def _conflicts(name: str) -> Iterator[None]:
    """Turn delta-spark's concurrent-modification errors into ConcurrentCommitError."""
    try:
        yield
    except _CONFLICTS as err:
        raise ConcurrentCommitError(
            f"{name}: another writer committed a conflicting change first "
            f"({type(err).__name__}); nothing was written by this one, retry") from None
