"""Spark side of parsing: one task per landing file, records streamed as Arrow batches."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from bronze.landing import LandingFile
from bronze.parse import (
    CORRUPT,
    LINE_NUMBER,
    RESCUED,
    ROW_NUMBER,
    SOURCE_FILE,
    FileFormatError,
    parse_lines,
)
from lakehouse.errors import LakehouseError

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


def read_landing_files(
    spark: SparkSession,
    files: Sequence[LandingFile],
    *,
    aliases: Mapping[str, Sequence[str]],
    required: Sequence[str],
    delimiter: str,
    encoding: str,
) -> DataFrame:
    """All records of `files` as a DataFrame of raw strings (lazy: parsed when used)."""
    schema = raw_schema(list(aliases))
    arrow_schema = pa.schema([(f.name, pa.string() if isinstance(f.dataType, T.StringType)
                               else pa.int64()) for f in schema.fields])
    aliases = {k: list(v) for k, v in aliases.items()}
    required = list(required)
    # utf-8-sig reads plain UTF-8 too and drops a byte-order mark if there is one.
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding

    def parse(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for rel, path in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(),
                                 strict=True):
                try:
                    with open(path, encoding=codec, newline="") as handle:
                        for columns in parse_lines(handle, source=rel, aliases=aliases,
                                                   required=required, delimiter=delimiter):
                            yield pa.RecordBatch.from_pydict(columns, schema=arrow_schema)
                except UnicodeDecodeError as err:
                    raise FileFormatError(
                        f"{rel}: not valid {encoding} at byte {err.start} ({err.reason}); "
                        "set bronze.encoding (e.g. latin-1)"
                    ) from None

    # One slice per file, so files are parsed in parallel, one task each.
    slices = spark.sparkContext.parallelize([(f.path, f.absolute) for f in files],
                                            max(len(files), 1))
    tasks = spark.createDataFrame(slices, "path string, absolute string")
    return tasks.mapInArrow(parse, schema)


def file_format_error(err: Exception) -> LakehouseError | None:
    """The FileFormatError raised inside a Spark task, as a clean error, if that is what
    `err` (a Py4J/Python worker exception) carries."""
    match = _ERROR.search(str(err))
    return LakehouseError(f"cannot read a landing file: {match.group(1)}") if match else None
