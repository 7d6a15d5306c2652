"""The ingest log: one row per landing file per batch; the memory of what was read.

`status` is 'ingested', 'empty' (no records) or 'rejected' (the file could not be read;
`reason` says why, and nothing of it is in bronze).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from bronze.landing import REJECTED, LandingFile, LoggedFile
from lakehouse.tables.model import require_columns

SCHEMA = T.StructType([
    T.StructField("path", T.StringType(), False),
    T.StructField("size", T.LongType()),
    T.StructField("modified_at", T.TimestampType()),
    T.StructField("sha256", T.StringType()),
    T.StructField("records", T.LongType()),
    T.StructField("corrupt_records", T.LongType()),
    T.StructField("rescued_records", T.LongType()),
    T.StructField("batch_id", T.StringType()),
    T.StructField("batch_seq", T.LongType()),
    T.StructField("status", T.StringType()),
    T.StructField("ingested_at", T.TimestampType()),
    T.StructField("run_id", T.StringType()),
    T.StructField("reason", T.StringType()),  # added later: NULL in older rows
])


def logged_files(log: DataFrame | None, *, table: str = "the ingest log") -> list[LoggedFile]:
    """What the log knows (small: one row per file), oldest batch first."""
    if log is None:
        return []
    require_columns(log.columns, table, ("path", "sha256", "batch_id", "batch_seq", "status"))
    reason = F.col("reason") if "reason" in log.columns else F.lit(None).cast("string")
    rows = log.select("path", "sha256", "batch_id", "batch_seq", "status",
                      reason.alias("reason")).orderBy("batch_seq").collect()
    return [LoggedFile(r.path, r.sha256, r.batch_id, r.status, r.reason) for r in rows]


def file_manifest(
    files: Sequence[LandingFile], counts: Mapping[str, Mapping[str, int]],
    rejected: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Per file of a batch: fingerprint and record counts, or for a file in `rejected`
    (path -> reason) no records and the reason (stored with the data commit, so the log
    can be rebuilt if the process dies between the two commits)."""
    rejected = rejected or {}
    manifest = []
    for f in files:
        c = {} if f.path in rejected else counts.get(f.path, {})
        records = int(c.get("records", 0))
        manifest.append({
            "path": f.path, "size": f.size, "modified_ms": f.modified_ms, "sha256": f.sha256,
            "records": records, "corrupt_records": int(c.get("corrupt_records", 0)),
            "rescued_records": int(c.get("rescued_records", 0)),
            "status": REJECTED if f.path in rejected else "ingested" if records else "empty",
            "reason": rejected.get(f.path),
        })
    return manifest


def log_rows(
    spark: SparkSession,
    manifest: Sequence[Mapping[str, Any]],
    *,
    batch_id: str,
    batch_seq: int,
    ingested_at: datetime,
    run_id: str,
) -> DataFrame:
    """The log rows of one batch as a DataFrame with the log's schema."""
    rows = [
        (m["path"], m["size"], datetime.fromtimestamp(m["modified_ms"] / 1000, tz=UTC),
         m["sha256"], m["records"], m["corrupt_records"], m["rescued_records"], batch_id,
         batch_seq, m["status"], ingested_at, run_id, m.get("reason"))
        for m in manifest
    ]
    return spark.createDataFrame(rows, SCHEMA)
