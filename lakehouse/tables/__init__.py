"""Delta table I/O: one store, written by delta-spark everywhere."""

from pyspark.sql import SparkSession

from lakehouse.settings import Settings
from lakehouse.tables.damage import DamagedTableError
from lakehouse.tables.model import (
    AppTxn,
    CommitResult,
    ConcurrentCommitError,
    HistoryEntry,
    MergeKeyError,
    SchemaMismatchError,
    TableExistsError,
    TableNotFoundError,
    TableStoreError,
)
from lakehouse.tables.store import TableStore


def open_store(spark: SparkSession, settings: Settings) -> TableStore:
    """The table store of `settings.tables` over `settings.paths.lake`."""
    cfg, names = settings.tables, settings.tables.names
    per_table = {getattr(names, role): props for role, props in cfg.table_properties.items()}
    return TableStore(spark, settings.paths.lake, catalog=cfg.catalog, schema=cfg.schema_,
                      properties=cfg.properties, table_properties=per_table)


__all__ = [
    "AppTxn",
    "CommitResult",
    "ConcurrentCommitError",
    "DamagedTableError",
    "HistoryEntry",
    "MergeKeyError",
    "SchemaMismatchError",
    "TableExistsError",
    "TableNotFoundError",
    "TableStore",
    "TableStoreError",
    "open_store",
]
