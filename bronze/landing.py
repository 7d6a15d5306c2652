"""Landing files: discover, fingerprint, and decide which ones a run ingests."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from bronze.source import uncompressed_name
from lakehouse.errors import LakehouseError

REJECTED = "rejected"  # ingest log status of a file that could not be read


class ChangedFileError(LakehouseError):
    """A file already ingested reappeared with different content."""


@dataclass(frozen=True)
class LandingFile:
    """One file in the landing folder and its content fingerprint."""

    path: str  # relative to the landing folder, '/'-separated: the file's identity
    absolute: str
    size: int
    modified_ms: int
    sha256: str


@dataclass(frozen=True)
class LoggedFile:
    """What the ingest log remembers of a file."""

    path: str
    sha256: str
    batch_id: str
    status: str = "ingested"
    reason: str | None = None  # why a rejected file was


@dataclass(frozen=True)
class Plan:
    """What a run will do with each landing file."""

    ingest: tuple[LandingFile, ...]
    unchanged: tuple[LandingFile, ...] = ()
    duplicate_content: tuple[tuple[LandingFile, LoggedFile], ...] = ()
    notes: tuple[str, ...] = field(default=())
    # Files rejected before with this very content, read again (a setting may have
    # changed), with their log entry: `ingest` holds them too.
    retried: tuple[tuple[LandingFile, LoggedFile], ...] = ()


def discover(landing: Path, pattern: str) -> list[LandingFile]:
    """Files under `landing` matching `pattern` (`matches`), sorted by path; hidden files
    and folders (names starting with '.' or '_', e.g. uploads in progress) are skipped."""
    if landing.exists() and not landing.is_dir():
        raise LakehouseError(f"landing folder {landing} (paths.landing) is a file, not a "
                             "folder: set paths.landing to the folder that holds the CSV files")
    if not landing.is_dir():
        raise LakehouseError(f"landing folder {landing} (paths.landing) does not exist: "
                             "create it and put the CSV files in it, or set paths.landing")
    found = []
    for path, rel in _visible(landing):
        if matches(rel, pattern):
            stat = path.stat()
            found.append(LandingFile(rel, str(path), stat.st_size,
                                     int(stat.st_mtime * 1000), sha256_of(path)))
    return found


def matches(rel: str, pattern: str) -> bool:
    """Whether the landing file at `rel` matches the glob `pattern` as `Path.rglob` does,
    by its name as stored or without a compression suffix: '*.csv' takes `x.csv.gz`
    (read) and `x.csv.zip` (refused with the reason) too, never ignores them."""
    return any(PurePosixPath(n).match(pattern) for n in {rel, uncompressed_name(rel)})


def unmatched(landing: Path, pattern: str) -> list[str]:
    """Visible files under `landing` that `pattern` does not match (e.g. an .xlsx dropped
    next to the CSV files): reported, so they are not ignored silently."""
    return [rel for _, rel in _visible(landing) if not matches(rel, pattern)]


def has_files(landing: Path, pattern: str) -> bool:
    """Whether `landing` holds a file bronze would ingest (`discover` without reading any)."""
    return landing.is_dir() and any(matches(rel, pattern) for _, rel in _visible(landing))


def _visible(landing: Path) -> list[tuple[Path, str]]:
    """(path, '/'-separated path relative to `landing`) of the files under it, sorted,
    but for hidden ones (a part of the path starts with '.' or '_')."""
    found = []
    for path in sorted(landing.rglob("*")):
        rel = path.relative_to(landing)
        if path.is_file() and not any(p.startswith((".", "_")) for p in rel.parts):
            found.append((path, rel.as_posix()))
    return found


def sha256_of(path: Path, chunk: int = 4 << 20) -> str:
    """Hex SHA-256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def plan_ingestion(
    files: Sequence[LandingFile],
    logged: Iterable[LoggedFile],
    *,
    on_changed_file: str = "error",
    on_duplicate_content: str = "skip",
) -> Plan:
    """Decide per file: new -> ingest; same path and hash as logged -> unchanged; same
    path, other hash -> error (or ingest as a new batch with on_changed_file='reingest');
    same content as another logged file -> skip (or ingest with 'ingest'). A file whose
    latest entry is 'rejected' is read again: fixed (other hash) or as it was (retried:
    an encoding or header setting may have changed since)."""
    by_path: dict[str, LoggedFile] = {}
    by_hash: dict[str, LoggedFile] = {}
    for entry in logged:
        by_path[entry.path] = entry  # the latest batch wins
        if entry.status != REJECTED:  # its content is not in bronze
            by_hash.setdefault(entry.sha256, entry)
    ingest, unchanged, duplicates, changed, retried = [], [], [], [], []
    for file in files:
        known = by_path.get(file.path)
        if known is not None and known.status == REJECTED:
            if known.sha256 == file.sha256:
                retried.append((file, known))
                ingest.append(file)
                continue
            known = None  # fixed since: a new file
        if known is not None and known.sha256 == file.sha256:
            unchanged.append(file)
        elif known is not None:
            changed.append((file, known))
        elif file.sha256 in by_hash and on_duplicate_content == "skip":
            duplicates.append((file, by_hash[file.sha256]))
        else:
            ingest.append(file)
    if changed and on_changed_file != "reingest":
        lines = [f"  {f.path}: ingested in {k.batch_id} with sha256 {k.sha256[:12]}..., now "
                 f"{f.sha256[:12]}..." for f, k in changed]
        raise ChangedFileError(
            "landing file(s) changed since they were ingested; nothing was ingested:\n"
            + "\n".join(lines)
            + "\nRestore the original file, or ingest the new content as a new batch with "
            "--reingest-changed (set bronze.on_changed_file=reingest)."
        )
    notes = tuple(f"{f.path} changed since {k.batch_id}: ingested again as a new batch"
                  for f, k in changed)
    notes += tuple(f"{f.path} skipped: same content as {k.path} ({k.batch_id})"
                   for f, k in duplicates)
    return Plan(tuple(ingest + [f for f, _ in changed]), tuple(unchanged), tuple(duplicates),
                notes, tuple(retried))


def relative_to(path: str, root: Path) -> str:
    """`path` relative to `root` in the '/'-separated form used as a file identity."""
    return Path(os.path.relpath(path, root)).as_posix()
