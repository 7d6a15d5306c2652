"""Worker for the concurrent-append test: runs in a spawned process, no Spark."""

from __future__ import annotations

import os
import time
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable
from pyspark.sql import types as T

from lakehouse.tables import ConcurrentCommitError
from lakehouse.tables.deltalog import StagedFile, commit


def append_batches(uri: str, writer: int, batches: int, rows: int) -> int:
    """Append `batches` files of `rows` ids each; retry lost races. Returns retries."""
    schema = T.StructType([T.StructField("writer", T.LongType()),
                           T.StructField("id", T.LongType())])
    retries = 0
    for batch in range(batches):
        rel = f"part-w{writer}-{batch}-{uuid.uuid4().hex}.parquet"
        start = (writer * batches + batch) * rows
        table = pa.table({"writer": pa.array([writer] * rows, pa.int64()),
                          "id": pa.array(range(start, start + rows), pa.int64())})
        pq.write_table(table, os.path.join(uri, rel))
        staged = StagedFile(rel, os.path.getsize(os.path.join(uri, rel)), rows,
                            int(time.time() * 1000))
        while True:
            try:
                commit(uri, schema, [staged], mode="append", base=DeltaTable(uri))
                break
            except ConcurrentCommitError:
                retries += 1
    return retries
