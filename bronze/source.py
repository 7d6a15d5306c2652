"""A landing file as text: compression told by its first bytes, its encoding by pattern.

No Spark here: a Spark task opens its files with `open_text` (see `bronze.stage`). A
file is what its bytes say, whatever its name: gzip (1f 8b) is decompressed on the fly,
so `x.csv.gz` and a gzip file named `x.csv` both read as CSV text; archives and other
compressions are refused with the format they are. Bytes that are not valid in the
file's encoding are reported with their exact offset (found by reading the file again,
only then) and the setting that reads the file in another encoding.
"""

from __future__ import annotations

import codecs
import gzip
import io
import re
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from fnmatch import fnmatchcase
from typing import BinaryIO, TextIO

from bronze.parse import FileFormatError

GZIP = "gzip"
_UNPACK = "unpack it into the landing folder"
_DECOMPRESS = "decompress it (or compress it with gzip) in the landing folder"
# Leading bytes -> (what the file is, what to do), for formats bronze does not read:
# signatures text cannot start with (control or non-ASCII bytes; bzip2's with its block
# magic).
REFUSED = {
    re.compile(rb"PK(\x03\x04|\x05\x06)"): ("a zip archive", _UNPACK),
    re.compile(rb"7z\xbc\xaf\x27\x1c"): ("a 7-Zip archive", _UNPACK),
    re.compile(rb"BZh[1-9](1AY&SY|\x17rE8P\x90)"): ("bzip2-compressed", _DECOMPRESS),
    re.compile(rb"\xfd7zXZ\x00"): ("xz-compressed", _DECOMPRESS),
    re.compile(rb"\x28\xb5\x2f\xfd"): ("zstd-compressed", _DECOMPRESS),
    re.compile(rb"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"): (
        "an OLE2 document (an .xls workbook?)", "export it as CSV"),
}
HEAD = 16  # bytes `sniff` needs
# Name endings of compressed files: `x.csv.gz` matches bronze.file_pattern '*.csv'.
COMPRESSED_SUFFIXES = (".gz", ".zip", ".bz2", ".xz", ".zst", ".7z")
_BOMS_16 = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def sniff(head: bytes) -> str | None:
    """GZIP, what a refused format is, or None (plain text) from a file's first HEAD
    bytes."""
    return GZIP if head.startswith(b"\x1f\x8b") else _refused(head)[0]


def _refused(head: bytes) -> tuple[str | None, str]:
    return next((v for magic, v in REFUSED.items() if magic.match(head)), (None, ""))


def uncompressed_name(path: str) -> str:
    """`path` without a compression suffix (`a/x.csv.gz` -> `a/x.csv`)."""
    for suffix in COMPRESSED_SUFFIXES:
        if path.lower().endswith(suffix):
            return path[:-len(suffix)]
    return path


def encoding_for(path: str, default: str, overrides: Mapping[str, str]) -> str:
    """The encoding of the landing file at `path` (relative to the landing folder):
    that of the first pattern of `overrides` (globs, `*` crossing folders too) matching
    the path or the path without its compression suffix, else `default`."""
    names = (path, uncompressed_name(path))
    return next((enc for pattern, enc in overrides.items()
                 if any(fnmatchcase(n, pattern) for n in names)), default)


def codec(encoding: str) -> str:
    """The codec that reads `encoding`: UTF-8 as utf-8-sig, which reads plain UTF-8 too
    and drops a byte-order mark if there is one."""
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


@contextmanager
def open_binary(path: str, source: str) -> Iterator[tuple[BinaryIO, bool]]:
    """The file's bytes, decompressed if it is gzip, and whether it was. A refused format
    is a FileFormatError naming it."""
    with open(path, "rb") as raw:
        head = raw.read(HEAD)
        raw.seek(0)
        kind, fix = _refused(head)
        if kind is not None:
            raise FileFormatError(f"{source}: is {kind}, not CSV text; {fix}")
        if sniff(head) == GZIP:
            with gzip.GzipFile(fileobj=raw) as unpacked:
                yield unpacked, True  # type: ignore[misc]
        else:
            yield raw, False


@contextmanager
def open_text(path: str, source: str, encoding: str) -> Iterator[TextIO]:
    """The file as text for the csv module; every way it cannot be read is a
    FileFormatError naming the file and what to do."""
    try:
        with open_binary(path, source) as (stream, packed), \
                io.TextIOWrapper(stream, encoding=codec(encoding), newline="") as text:
            try:
                yield text
            except (EOFError, zlib.error, gzip.BadGzipFile) as err:
                if not packed:
                    raise
                raise FileFormatError(f"{source}: corrupt or truncated gzip data ({err}); "
                                      "copy or compress the file again") from None
    except UnicodeDecodeError:
        raise decode_error(path, source, encoding) from None
    except OSError as err:  # FileFormatError is a ValueError, never caught here
        raise FileFormatError(f"{source}: cannot be read ({err.strerror or err}); check "
                              "the file and its permissions") from None


def decode_error(path: str, source: str, encoding: str) -> FileFormatError:
    """The message for a file that is not valid `encoding`: the first bad byte (of the
    uncompressed text), its line, and the override that reads the file otherwise."""
    with open_binary(path, source) as (stream, packed):
        head = stream.read(2)
        stream.seek(0)
        offset, line, reason = locate_decode_error(stream, encoding)
    where = "" if offset is None else (
        f" at byte {offset}{' of the uncompressed text' if packed else ''} (line {line})")
    hint = "utf-16" if head in _BOMS_16 else "cp1252"
    return FileFormatError(
        f"{source}: not valid {encoding}{where}: {reason}; if the file is in another "
        f"encoding, set it for this file in bronze.encodings, e.g. --set "
        f"'bronze.encodings={{\"{source}\": {hint}}}'")


def locate_decode_error(stream: BinaryIO, encoding: str,
                        chunk: int = 1 << 20) -> tuple[int | None, int, str]:
    """(offset of the first byte that is not valid `encoding`, its 1-based line, the
    decoder's reason); offset None if every byte decodes."""
    decoder = codecs.getincrementaldecoder(encoding)()  # utf-8: a mark is a valid char
    read, lines = 0, 1
    while True:
        data = stream.read(chunk)
        pending = decoder.getstate()[0]
        try:
            lines += decoder.decode(data, final=not data).count("\n")
        except UnicodeDecodeError as err:
            before = (pending + data)[:err.start].decode(encoding, errors="replace")
            return read - len(pending) + err.start, lines + before.count("\n"), err.reason
        if not data:
            return None, lines, "cannot be decoded"
        read += len(data)
