"""Parse landing CSV files into raw bronze records: every physical record kept.

Pure Python (the csv module, which handles quoted commas, quotes and newlines exactly),
streamed in batches so memory stays bounded whatever the file size. Spark runs it one
file per task (see `bronze.read`); it has no Spark dependency itself, so it is unit
tested on plain strings.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

CORRUPT = "_corrupt_record"
RESCUED = "_rescued"
SOURCE_FILE = "_source_file"
ROW_NUMBER = "_row_number"
LINE_NUMBER = "_line_number"
LINEAGE = (CORRUPT, RESCUED, SOURCE_FILE, ROW_NUMBER, LINE_NUMBER)


class FileFormatError(ValueError):
    """A landing file cannot be interpreted at all (unreadable header, wrong encoding)."""


@dataclass(frozen=True)
class HeaderMap:
    """How one file's header maps onto the canonical raw columns."""

    positions: Mapping[str, int]  # canonical column -> field index in this file
    extras: Mapping[int, str]  # field index -> original name of a column not expected

    @property
    def width(self) -> int:
        return len(self.positions) + len(self.extras)


def map_header(
    header: Sequence[str],
    aliases: Mapping[str, Sequence[str]],
    required: Sequence[str],
    source: str,
) -> HeaderMap:
    """Match header names (trimmed, case-insensitive) to canonical columns.

    Unknown names become rescued extras (schema drift, never dropped); a missing
    required column or a repeated name is a FileFormatError naming the file.
    """
    lookup = {alias.strip().lower(): column for column, names in aliases.items()
              for alias in (column, *names)}
    positions: dict[str, int] = {}
    extras: dict[int, str] = {}
    for index, raw_name in enumerate(header):
        column = lookup.get(raw_name.strip().lower())
        if column is None:
            extras[index] = raw_name.strip() or f"_c{index}"
        elif column in positions:
            raise FileFormatError(f"{source}: header repeats column {raw_name!r} "
                                  f"(both map to {column})")
        else:
            positions[column] = index
    missing = [c for c in required if c not in positions]
    if missing:
        raise FileFormatError(
            f"{source}: header {list(header)!r} lacks required column(s) {missing}; "
            "map other names with bronze.header_aliases"
        )
    return HeaderMap(positions, extras)


def _records(lines: Iterable[str], delimiter: str) -> Iterator[tuple[list[str], str, int]]:
    """(fields, raw text, starting line number) per record; blank lines yield no record."""
    raw: list[str] = []

    def source() -> Iterator[str]:
        for line in lines:
            raw.append(line)
            yield line

    reader = csv.reader(source(), delimiter=delimiter, strict=False)
    line_number = 1
    for fields in reader:
        text = "".join(raw)
        raw.clear()
        start, line_number = line_number, reader.line_num + 1
        if fields:
            yield fields, text.rstrip("\r\n"), start


def parse_lines(
    lines: Iterable[str],
    *,
    source: str,
    aliases: Mapping[str, Sequence[str]],
    required: Sequence[str],
    delimiter: str = ",",
    batch_rows: int = 50_000,
) -> Iterator[dict[str, list]]:
    """Yield column batches (canonical columns + lineage) for every record after the
    header. Records with the wrong number of fields keep their raw text in
    `_corrupt_record`; columns not in `aliases` go, as JSON, to `_rescued`."""
    records = _records(lines, delimiter)
    first = next(records, None)
    if first is None:
        return
    header = map_header(first[0], aliases, required, source)
    columns = list(aliases)
    batch = _empty_batch(columns)
    for row_number, (fields, text, line) in enumerate(records, start=1):
        if len(fields) == header.width:
            for column in columns:
                index = header.positions.get(column)
                batch[column].append(_value(fields[index]) if index is not None else None)
            rescued = {name: fields[i] for i, name in header.extras.items()}
            batch[RESCUED].append(json.dumps(rescued, ensure_ascii=False) if rescued else None)
            batch[CORRUPT].append(None)
        else:
            for column in columns:
                batch[column].append(None)
            batch[RESCUED].append(None)
            batch[CORRUPT].append(text)
        batch[SOURCE_FILE].append(source)
        batch[ROW_NUMBER].append(row_number)
        batch[LINE_NUMBER].append(line)
        if len(batch[SOURCE_FILE]) >= batch_rows:
            yield batch
            batch = _empty_batch(columns)
    if batch[SOURCE_FILE]:
        yield batch


def _empty_batch(columns: Sequence[str]) -> dict[str, list]:
    return {name: [] for name in (*columns, *LINEAGE)}


def _value(field: str) -> str | None:
    # Empty means NULL; anything else is kept exactly as received (spaces included).
    return field if field != "" else None
