"""Spark side of parsing: one task per landing file, each writing its records as Parquet.

The tasks parse with the csv module and write Parquet with pyarrow (`bronze.stage`),
so no record crosses from Python into the JVM; the driver gets back one small
`ParsedFile` (paths and counts) per landing file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from pyspark.sql import SparkSession
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from bronze.landing import LandingFile
from bronze.parse import CORRUPT, LINE_NUMBER, RESCUED, ROW_NUMBER, SOURCE_FILE
from bronze.stage import ParsedFile, parse_to_parquet
from lakehouse.errors import LakehouseError

BATCH_ID = "_batch_id"
INGESTED_AT = "_ingested_at"

_ERROR = re.compile(r"FileFormatError: (.+)")


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
    folder: str,
    batch_id: str,
    ingested_at: datetime,
    aliases: Mapping[str, Sequence[str]],
    required: Sequence[str],
    delimiter: str,
    encoding: str,
) -> list[ParsedFile]:
    """Parse `files` (one Spark task each) into Parquet files in `folder` with the
    schema `table_schema(aliases)`; one ParsedFile per landing file, in order. A file
    that cannot be read at all raises a LakehouseError naming it."""
    schema = to_arrow_schema(table_schema(list(aliases)))
    constants = {BATCH_ID: batch_id, INGESTED_AT: ingested_at}
    aliases = {k: list(v) for k, v in aliases.items()}
    required = list(required)

    def parse(task: tuple[int, str, str]) -> ParsedFile:
        index, source, path = task
        return parse_to_parquet(source, path, prefix=os.path.join(folder, f"part-{index:05d}"),
                                schema=schema, constants=constants, aliases=aliases,
                                required=required, delimiter=delimiter, encoding=encoding)

    tasks = [(i, f.path, f.absolute) for i, f in enumerate(files)]
    # One slice per file, so files are parsed in parallel, one task each.
    try:
        return spark.sparkContext.parallelize(tasks, max(len(tasks), 1)).map(parse).collect()
    except Exception as err:  # a parse error inside a Spark task
        clean = file_format_error(err)
        if clean is None:
            raise
        raise clean from None


def file_format_error(err: Exception) -> LakehouseError | None:
    """The FileFormatError raised inside a Spark task, as a clean error, if that is what
    `err` (a Py4J/Python worker exception) carries."""
    match = _ERROR.search(str(err))
    return LakehouseError(f"cannot read a landing file: {match.group(1)}") if match else None
