"""Parse landing CSV files into raw bronze records: every physical record kept.

Pure Python (the csv module, which handles quoted commas, quotes and newlines exactly),
streamed in batches so memory stays bounded whatever the file size. Spark runs it inside
its tasks (`bronze.read`, `bronze.stage`); it has no Spark dependency itself, so it is
unit tested on plain strings.
"""

from __future__ import annotations

import collections
import csv
import itertools
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


@dataclass(frozen=True)
class RawBatch:
    """Consecutive records of one file as parsed, before they become columns.

    `fields` holds `header.width` fields per record, record after record, in one flat
    list of strings (so column i is the slice `[i::width]`; a list per record would make
    the garbage collector walk every record of the batch again and again). Empty fields
    are still `''`; a corrupt record is `width` Nones, its raw text in `corrupt`.
    """

    source: str
    header: HeaderMap
    fields: list[str | None]
    lines: list[int]  # starting line number of each record
    corrupt: Mapping[int, str]  # record index in the batch -> raw text
    first_row: int  # row number of the first record (1 = first after the header)

    @property
    def rows(self) -> int:
        return len(self.lines)

    def field_column(self, column: str) -> list[str | None] | None:
        """The raw fields of a canonical column (None if this file lacks it)."""
        index = self.header.positions.get(column)
        return None if index is None else self.fields[index::self.header.width]

    def corrupt_texts(self) -> list[str | None]:
        """Per record, its raw text if it is corrupt, else None."""
        texts: list[str | None] = [None] * self.rows
        for index, text in self.corrupt.items():
            texts[index] = text
        return texts

    def rescued(self) -> list[str | None]:
        """Per record, the fields of the columns not expected, as a JSON object (None if
        the file has no such columns, and for corrupt records)."""
        if not self.header.extras:
            return [None] * self.rows
        width, names = self.header.width, list(self.header.extras.values())
        values = zip(*(self.fields[i::width] for i in self.header.extras), strict=True)
        rescued: list[str | None] = [
            json.dumps(dict(zip(names, v, strict=True)), ensure_ascii=False) for v in values]
        for index in self.corrupt:
            rescued[index] = None
        return rescued

    def columns(self, columns: Iterable[str]) -> dict[str, list]:
        """The batch as lists: canonical `columns` (empty fields as None), then lineage."""
        batch: dict[str, list] = {}
        for column in columns:
            raw = self.field_column(column)
            # `v or None`: empty means NULL, anything else is kept exactly as received.
            batch[column] = [None] * self.rows if raw is None else [v or None for v in raw]
        batch[CORRUPT] = self.corrupt_texts()
        batch[RESCUED] = self.rescued()
        batch[SOURCE_FILE] = [self.source] * self.rows
        batch[ROW_NUMBER] = list(range(self.first_row, self.first_row + self.rows))
        batch[LINE_NUMBER] = self.lines
        return batch


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
    for batch in parse_records(lines, source=source, aliases=aliases, required=required,
                               delimiter=delimiter, batch_rows=batch_rows):
        yield batch.columns(aliases)


def parse_records(
    lines: Iterable[str],
    *,
    source: str,
    aliases: Mapping[str, Sequence[str]],
    required: Sequence[str],
    delimiter: str = ",",
    batch_rows: int = 50_000,
) -> Iterator[RawBatch]:
    """`parse_lines` before the batches become columns: for callers that convert the
    flat fields themselves (e.g. straight to Arrow, see `bronze.stage`)."""
    # The csv reader reads `lines`; `shadow` (a tee, buffered in C) replays the same
    # lines so the raw text of a corrupt record can be cut out without wrapping every
    # line in Python.
    lines, shadow = itertools.tee(lines)
    reader = csv.reader(lines, delimiter=delimiter, strict=False)
    end = 0  # last line of the last record read
    try:
        fields = next((f for f in reader if f), None)  # blank lines yield no record
        if fields is None:
            return
        header = map_header(fields, aliases, required, source)
        raw = _RawText(shadow)
        width, blank = header.width, (None,) * header.width
        flat: list[str | None] = []
        starts: list[int] = []
        corrupt: dict[int, str] = {}
        row_number, end = 1, reader.line_num
        for fields in reader:
            start, end = end + 1, reader.line_num
            if not fields:
                continue
            if len(fields) != width:
                corrupt[len(starts)] = raw.cut(start, end)
                fields = blank
            flat.extend(fields)
            starts.append(start)
            if len(starts) >= batch_rows:
                yield RawBatch(source, header, flat, starts, corrupt, row_number)
                row_number += len(starts)
                flat, starts, corrupt = [], [], {}
                raw.skip_to(end)  # bounds the tee's buffer
    except csv.Error as err:  # a field beyond csv.field_size_limit(): an unclosed quote
        raise FileFormatError(
            f"{source}: the record starting at line {end + 1} has a field longer than "
            f"{csv.field_size_limit():,} characters ({err}), probably after an unclosed "
            "quote; fix the quoting in the file") from None
    if starts:
        yield RawBatch(source, header, flat, starts, corrupt, row_number)


class _RawText:
    """The raw text of line ranges of the input, read once in order from a tee."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines, self.consumed = lines, 0

    def skip_to(self, line: int) -> None:
        """Drop the lines up to `line` (1-based, inclusive)."""
        if line > self.consumed:
            collections.deque(itertools.islice(self.lines, line - self.consumed), maxlen=0)
            self.consumed = line

    def cut(self, start: int, end: int) -> str:
        """Lines `start`..`end` (1-based, inclusive) joined, without the final newline."""
        self.skip_to(start - 1)
        text = "".join(itertools.islice(self.lines, end - start + 1))
        self.consumed = end
        return text.rstrip("\r\n")
