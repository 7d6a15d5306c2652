"""Spark side of parsing: the landing files as one DataFrame, parsed inside the tasks.

Each task parses a group of files with the csv module into Arrow batches
(`bronze.stage`, through `mapInArrow`); no record passes through the driver. A file
that cannot be read does not fail the task: it ends with a marker row
(`bronze.stage.file_batches`) that the driver finds in its per-file counts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TypeVar

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from bronze.landing import LandingFile
from bronze.parse import CORRUPT, LINE_NUMBER, RESCUED, ROW_NUMBER, SOURCE_FILE
from bronze.source import encoding_for
from bronze.stage import file_batches
from lakehouse.spark import task_slots

BATCH_ID = "_batch_id"
INGESTED_AT = "_ingested_at"
T_ = TypeVar("T_")


def raw_schema(columns: Sequence[str]) -> T.StructType:
    """Bronze record schema before batch columns: raw strings plus lineage."""
    fields = [T.StructField(c, T.StringType()) for c in columns]
    fields += [
        T.StructField(CORRUPT, T.StringType()),
        T.StructField(RESCUED, T.StringType()),
        T.StructField(SOURCE_FILE, T.StringType()),
        T.StructField(ROW_NUMBER, T.LongType()),
        T.StructField(LINE_NUMBER, T.LongType()),
    ]
    return T.StructType(fields)


def table_schema(columns: Sequence[str]) -> T.StructType:
    """The bronze table's schema: the raw records plus the batch lineage columns."""
    return T.StructType([
        *raw_schema(columns).fields,
        T.StructField(BATCH_ID, T.StringType()),
        T.StructField(INGESTED_AT, T.TimestampType()),  # UTC microseconds in the files
    ])


def parse_landing_files(
    spark: SparkSession,
    files: Sequence[LandingFile],
    *,
    batch_id: str,
    ingested_at: datetime,
    aliases: Mapping[str, Sequence[str]],
    required: Sequence[str],
    delimiter: str,
    encoding: str,
    encodings: Mapping[str, str],
) -> DataFrame:
    """The records of `files` with the schema `table_schema(aliases)`, parsed lazily in
    `group_files` tasks, each file in `encoding` unless a pattern of `encodings` matches
    its path (`bronze.source.encoding_for`). A file that cannot be read gives its marker
    row instead of failing the job."""
    schema = table_schema(list(aliases))
    arrow_schema = to_arrow_schema(schema)
    constants = {BATCH_ID: batch_id, INGESTED_AT: ingested_at}
    aliases = {k: list(v) for k, v in aliases.items()}
    required = list(required)

    items = [(f.path, f.absolute, encoding_for(f.path, encoding, encodings)) for f in files]
    groups = group_files(items, [f.size for f in files], task_slots(spark))

    def parse(tasks: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for task in tasks:
            for index in task.column(0).to_pylist():
                for source, path, file_encoding in groups[index]:
                    yield from file_batches(source, path, schema=arrow_schema,
                                            constants=constants, aliases=aliases,
                                            required=required, delimiter=delimiter,
                                            encoding=file_encoding)

    # One group per task: row i of a range with as many partitions as rows is partition i
    # (DataFrame API only: Spark Connect, e.g. Databricks serverless, has no RDDs).
    tasks = spark.range(0, len(groups), 1, max(len(groups), 1))
    return tasks.mapInArrow(parse, schema)


def group_files(items: Sequence[T_], sizes: Sequence[int], cores: int) -> list[list[T_]]:
    """`items` (landing files) in at most 2 x `cores` groups of similar total size, each
    group one Spark task, the largest files placed first into the lightest group. A
    Python task costs a few tenths of a second whatever it does (measured: 24 empty
    tasks on 2 cores took 4.7 s), so one task per small file cost as much as parsing
    1M rows; a large file still gets a task of its own."""
    groups: list[list[T_]] = [[] for _ in range(min(len(items), max(1, 2 * cores)))]
    loads = [0] * len(groups)
    for size, item in sorted(zip(sizes, items, strict=True), key=lambda p: -p[0]):
        lightest = loads.index(min(loads))
        groups[lightest].append(item)
        loads[lightest] += size
    return [g for g in groups if g]

