"""Parse one landing file into Arrow record batches of the bronze schema (no Spark here).

A Spark task runs `file_batches` per landing file (see `bronze.read`, `mapInArrow`): the
records go from the csv module to Arrow to the Delta writer without a Python row object
and without passing through the driver. A file that cannot be read gives a marker row
instead of failing the task (why: `bronze.unreadable`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
from bronze.source import open_text

# Records per Arrow batch handed to Spark (one parse batch).
BATCH_ROWS = 100_000
# `_row_number` of the marker row of a file that cannot be read (records start at 1).
REJECTED_ROW = 0
_NULL = pa.scalar(None, pa.string())


def file_batches(source: str, path: str, *, encoding: str, schema: pa.Schema,
                 constants: Mapping[str, Any], **options: Any) -> Iterator[pa.RecordBatch]:
    """`parse_batches`, where a file that cannot be read ends with a marker instead of
    failing the task: one row with `_row_number` REJECTED_ROW and the reason in
    `_corrupt_record`. The rows already given for that file stay in the batch: the
    driver drops every row of a file with a marker (see `bronze.run`)."""
    try:
        yield from parse_batches(source, path, encoding=encoding, schema=schema,
                                 constants=constants, **options)
    except FileFormatError as err:
        reason = str(err).removeprefix(f"{source}: ")
        marker = {SOURCE_FILE: [source], ROW_NUMBER: [REJECTED_ROW], CORRUPT: [reason]}
        marker |= {name: [value] for name, value in constants.items()}
        yield pa.RecordBatch.from_pydict(
            {f.name: marker.get(f.name, [None]) for f in schema}, schema=schema)


def parse_batches(
    source: str,
    path: str,
    *,
    schema: pa.Schema,
    constants: Mapping[str, Any],
    aliases: Mapping[str, Sequence[str]],
    required: Sequence[str],
    delimiter: str,
    encoding: str,
) -> Iterator[pa.RecordBatch]:
    """The records of the landing file at `path` (known as `source`) as batches with
    exactly `schema`: the parsed columns plus `constants` (column -> the value of every
    row, e.g. the batch id). A file that cannot be read (`bronze.source.open_text`: a
    refused format, bytes not valid `encoding`, I/O) or parsed (header, unclosed quote)
    is a FileFormatError naming the file and what to do."""
    with open_text(path, source, encoding) as handle:
        for raw in parse_records(handle, source=source, aliases=aliases,
                                 required=required, delimiter=delimiter,
                                 batch_rows=BATCH_ROWS):
            yield record_batch(raw, schema, constants)


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
