"""Parse one landing file straight into Parquet files with pyarrow (no Spark here).

A Spark task runs `parse_to_parquet` per landing file (see `bronze.read`): the records
never travel between Python and the JVM. The files already have the bronze table's
schema, batch columns included, so the table store adopts them as they are.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bronze.parse import (
    CORRUPT,
    LINE_NUMBER,
    RESCUED,
    ROW_NUMBER,
    SOURCE_FILE,
    FileFormatError,
    RawBatch,
    parse_records,
)

# One parse batch becomes one row group (about 2 MB of snappy Parquet for this data);
# a landing file bigger than FILE_ROWS records is split into several Parquet files.
ROW_GROUP_ROWS = 100_000
FILE_ROWS = 2_000_000
_NULL = pa.scalar(None, pa.string())


@dataclass(frozen=True)
class ParsedFile:
    """What parsing one landing file produced."""

    path: str  # the landing file, relative to the landing folder
    parquet: tuple[str, ...]  # the Parquet files written; none for a file without records
    records: int
    corrupt_records: int
    rescued_records: int


def parse_to_parquet(
    source: str,
    path: str,
    *,
    prefix: str,
    schema: pa.Schema,
    constants: Mapping[str, Any],
    aliases: Mapping[str, Sequence[str]],
    required: Sequence[str],
    delimiter: str,
    encoding: str,
) -> ParsedFile:
    """Parse the landing file at `path` (known as `source`) into `<prefix>-NNN.parquet`
    files with exactly `schema`: the parsed columns plus `constants` (column -> the value
    of every row, e.g. the batch id). A file that is not valid `encoding` is a
    FileFormatError naming the file and the byte."""
    counts = {"records": 0, CORRUPT: 0, RESCUED: 0}
    try:
        with open(path, encoding=_codec(encoding), newline="") as handle, \
                _RollingWriter(prefix, schema) as writer:
            for raw in parse_records(handle, source=source, aliases=aliases,
                                     required=required, delimiter=delimiter,
                                     batch_rows=ROW_GROUP_ROWS):
                batch = record_batch(raw, schema, constants)
                writer.write(batch)
                counts["records"] += batch.num_rows
                for column in (CORRUPT, RESCUED):
                    counts[column] += batch.num_rows - batch.column(column).null_count
    except UnicodeDecodeError as err:
        raise FileFormatError(
            f"{source}: not valid {encoding} at byte {err.start} ({err.reason}); "
            "set bronze.encoding (e.g. latin-1)"
        ) from None
    return ParsedFile(source, tuple(writer.paths), counts["records"], counts[CORRUPT],
                      counts[RESCUED])


def record_batch(batch: RawBatch, schema: pa.Schema,
                 constants: Mapping[str, Any]) -> pa.RecordBatch:
    """A parsed batch as an Arrow batch of `schema`: the same values `parse_lines` gives
    (empty fields NULL), with `constants` repeated on every row."""
    rows = batch.rows
    # One conversion of all fields, then a column = every width-th value: faster than
    # building and converting one Python list per column.
    fields = pa.array(batch.fields, pa.string())
    fields = pc.if_else(pc.equal(fields, ""), _NULL, fields)  # empty means NULL
    starts = np.arange(0, rows * batch.header.width, batch.header.width)
    arrays = {name: fields.take(starts + i) for name, i in batch.header.positions.items()}
    arrays |= {
        CORRUPT: pa.array(batch.corrupt_texts(), pa.string()),
        RESCUED: pa.array(batch.rescued(), pa.string()),
        SOURCE_FILE: pa.repeat(pa.scalar(batch.source, pa.string()), rows),
        ROW_NUMBER: pa.array(np.arange(batch.first_row, batch.first_row + rows), pa.int64()),
        LINE_NUMBER: pa.array(batch.lines, pa.int64()),
    }
    arrays |= {name: pa.repeat(pa.scalar(value, schema.field(name).type), rows)
               for name, value in constants.items()}
    # Canonical columns this file lacks are NULL.
    return pa.RecordBatch.from_arrays(
        [arrays.get(f.name, pa.nulls(rows, f.type)) for f in schema], schema=schema)


class _RollingWriter:
    """Parquet files `<prefix>-000.parquet`, `-001`, ...: a new one every FILE_ROWS rows,
    none at all when nothing is written. Each file is written under a hidden temporary
    name and renamed when complete, so a listed file is always whole; names are fixed by
    the prefix, so a retried task replaces what a failed attempt left."""

    def __init__(self, prefix: str, schema: pa.Schema) -> None:
        self.prefix, self.schema = prefix, schema
        self.paths: list[str] = []
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        if self.writer is None or self.rows >= FILE_ROWS:
            self.close()
            path = f"{self.prefix}-{len(self.paths):03d}.parquet"
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            self.writer = pq.ParquetWriter(_temporary(path), self.schema, compression="snappy")
            self.paths.append(path)
            self.rows = 0
        self.writer.write_batch(batch, row_group_size=ROW_GROUP_ROWS)
        self.rows += batch.num_rows

    def close(self, *, keep: bool = True) -> None:
        if self.writer is None:
            return
        self.writer.close()
        self.writer = None
        if keep:
            os.replace(_temporary(self.paths[-1]), self.paths[-1])
        else:
            os.remove(_temporary(self.paths.pop()))

    def __enter__(self) -> _RollingWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.close(keep=exc_type is None)


def _temporary(path: str) -> str:
    # Hidden (leading dot, no .parquet suffix): neither Spark nor the table store lists it.
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.{os.getpid()}.tmp")


def _codec(encoding: str) -> str:
    # utf-8-sig reads plain UTF-8 too and drops a byte-order mark if there is one.
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
