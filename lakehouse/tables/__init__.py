"""Delta table I/O: one interface (TableStore), two backends (native, embedded)."""

from lakehouse.tables.base import (
    AppTxn,
    CommitResult,
    ConcurrentCommitError,
    HistoryEntry,
    MergeKeyError,
    RowGroupStats,
    SchemaMismatchError,
    TableExistsError,
    TableNotFoundError,
    TableStore,
    TableStoreError,
    UnsupportedTableError,
)
from lakehouse.tables.factory import delta_connector_available, open_store

__all__ = [
    "AppTxn",
    "CommitResult",
    "ConcurrentCommitError",
    "HistoryEntry",
    "MergeKeyError",
    "RowGroupStats",
    "SchemaMismatchError",
    "TableExistsError",
    "TableNotFoundError",
    "TableStore",
    "TableStoreError",
    "UnsupportedTableError",
    "delta_connector_available",
    "open_store",
]
