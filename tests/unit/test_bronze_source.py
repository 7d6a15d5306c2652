"""Opening landing files: compression by magic bytes, encodings by pattern, decode errors."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile
from pathlib import Path

import pytest

from bronze.landing import matches
from bronze.parse import FileFormatError
from bronze.source import GZIP, HEAD, encoding_for, locate_decode_error, open_text, sniff

TEXT = "Invoice,Description\n1,CAFÉ\n"


def zipped(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.csv", text)
    return buffer.getvalue()


@pytest.mark.parametrize(("content", "kind"), [
    (gzip.compress(b"a,b\n"), GZIP),
    (zipped("a,b\n"), "a zip archive"),
    (bz2.compress(b"a,b\n"), "bzip2-compressed"),
    (lzma.compress(b"a,b\n"), "xz-compressed"),
    (b"\x28\xb5\x2f\xfd\x00", "zstd-compressed"),
    (bz2.compress(b""), "bzip2-compressed"),
    (b"Invoice,Quantity\n", None),
    (b"BZh,PK,PAR1\n", None),  # text that starts like a signature
    (b"\xef\xbb\xbfInvoice", None),  # a UTF-8 byte-order mark is text
    (b"", None),
])
def test_the_first_bytes_say_what_a_file_is(content, kind):
    assert sniff(content[:HEAD]) == kind


def read(path: Path, encoding: str = "utf-8", source: str = "x.csv") -> str:
    with open_text(str(path), source, encoding) as text:
        return text.read()


def test_gzip_is_read_as_text_whatever_the_name(tmp_path):
    for name in ("a.csv.gz", "b.csv"):  # a gzip file named .csv too
        path = tmp_path / name
        path.write_bytes(gzip.compress(("\ufeff" + TEXT).encode()))
        assert read(path) == TEXT  # the byte-order mark dropped inside the gzip as well


@pytest.mark.parametrize(("content", "what"), [
    (zipped(TEXT), "is a zip archive, not CSV text; unpack it into the landing folder"),
    (bz2.compress(TEXT.encode()), "is bzip2-compressed, not CSV text; decompress it"),
    (lzma.compress(TEXT.encode()), "is xz-compressed, not CSV text; decompress it"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500),
     r"is an OLE2 document \(an \.xls workbook\?\), not CSV text; export it as CSV"),
])
def test_other_compressions_are_refused_with_the_real_format(tmp_path, content, what):
    path = tmp_path / "a.csv"
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match=f"^x\\.csv: {what}"):
        read(path)


def test_truncated_gzip_is_a_clear_error(tmp_path):
    path = tmp_path / "a.csv.gz"
    packed = gzip.compress("".join(f"{i},{i * 7919 % 10007}\n" for i in range(5000)).encode())
    path.write_bytes(packed[:len(packed) // 2])
    with pytest.raises(FileFormatError, match=r"x\.csv: corrupt or truncated gzip data"):
        read(path)


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileFormatError, match=r"x\.csv: cannot be read \(No such file"):
        read(tmp_path / "gone.csv")


def test_invalid_text_names_the_exact_byte_line_and_the_override(tmp_path):
    good = "".join(f"{i},ok\n" for i in range(3000)).encode()  # beyond one 8 KiB read
    head = b"Invoice,Description\n" + good
    path = tmp_path / "a.csv"
    path.write_bytes(head + "1,CAFÉ\n".encode("latin-1"))
    bad = len(head) + 5  # the byte of É
    assert path.read_bytes()[bad] == 0xC9
    message = (rf"^x\.csv: not valid utf-8 at byte {bad} \(line 3002\): invalid continuation "
               r"byte; .*bronze\.encodings, e\.g\. --set 'bronze\.encodings=\{\"x\.csv\": "
               r"cp1252\}'$")
    with pytest.raises(FileFormatError, match=message):
        read(path)
    assert read(path, "latin-1").endswith("1,CAFÉ\n")
    packed = tmp_path / "a.csv.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    with pytest.raises(FileFormatError, match=f"at byte {bad} of the uncompressed text "
                                              r"\(line 3002\)"):
        read(packed)


def test_a_multibyte_character_cut_by_the_end_of_the_file_is_located(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"a,b\n1,\xc3")
    with pytest.raises(FileFormatError, match=r"at byte 6 \(line 2\): unexpected end of data"):
        read(path)


def test_a_utf16_file_gets_utf16_as_the_suggested_override(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(TEXT.encode("utf-16"))
    with pytest.raises(FileFormatError, match=r"at byte 0 .*\"x\.csv\": utf-16\}"):
        read(path)
    assert read(path, "utf-16") == TEXT


def test_locating_a_decode_error_across_chunks():
    data = "é".encode() * 10 + b"\n\xff"
    for chunk in (1, 3, 7, 64):  # chunk borders inside a character too
        assert locate_decode_error(io.BytesIO(data), "utf-8", chunk) == (
            21, 2, "invalid start byte")
    assert locate_decode_error(io.BytesIO(b"fine\n"), "utf-8")[0] is None


def test_encoding_overrides_by_pattern_first_match_wins():
    overrides = {"legacy/*": "cp1252", "*.csv": "latin-1", "old_*.csv": "utf-16"}
    assert encoding_for("legacy/2009.csv", "utf-8", overrides) == "cp1252"
    assert encoding_for("legacy/sub/2009.csv.gz", "utf-8", overrides) == "cp1252"
    assert encoding_for("old_1.csv", "utf-8", overrides) == "latin-1"  # first match
    assert encoding_for("2024/new.csv.gz", "utf-8", {"*/new.csv": "cp1252"}) == "cp1252"
    assert encoding_for("new.txt", "utf-8", overrides) == "utf-8"
    assert encoding_for("Legacy/a.csv", "utf-8", {"legacy/*": "cp1252"}) == "utf-8"


def test_the_file_pattern_matches_compressed_copies_too():
    assert matches("a.csv", "*.csv") and matches("sub/a.csv.gz", "*.csv")
    assert matches("a.csv.zip", "*.csv") and matches("a.csv.bz2", "*.csv")
    assert not matches("a.xlsx", "*.csv") and not matches("a.csv.tmp", "*.csv")
    assert matches("2024/a.csv", "2024/*.csv") and not matches("2023/a.csv", "2024/*.csv")
