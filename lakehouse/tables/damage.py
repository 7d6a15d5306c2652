"""Damaged tables: find what delta-spark would read wrong or fail on, and say how to recover.

What delta-spark 4.4.0 does with a damaged local table (tests/faults/test_damaged_lake.py):

- a data file deleted: metadata-only queries (a count) still answer from the log; the
  first job reading the file fails with FAILED_READ_FILE.FILE_NOT_EXIST naming the file
  (a missing deletion-vector file is reported as its data file missing). `FSCK REPAIR
  TABLE` does not exist in delta-spark (a parse error; it is Databricks-only).
- a commit file `_delta_log/<version>.json` cut in the middle of a line: every read and
  RESTORE fails (FAILED_READ_FILE on the JSON, or Hadoop's ChecksumException), but a blind
  append still commits on top of it.
- a commit file emptied, or cut at a line end where Hadoop's side checksum
  (`.<version>.json.crc`) does not cover it (copied without hidden files, or removed):
  read silently wrong: the lost actions are ignored, so files and rows are missing
  without any error, and the next commit builds on that state.
- `_last_checkpoint` missing, or the checkpoint missing while the commits before it still
  exist: harmless, Delta lists the log and replays the commits.
- the checkpoint missing and the commits before it cleaned up: every access fails
  (DELTA_MISSING_PART_FILES), even `DeltaTable.isDeltaTable`.
- a checkpoint Parquet file cut short: reads of the latest version and RESTORE fail.

`check_log` is pure Python over the `_delta_log` folder and runs before every access of a
local table (cached per file): each commit file Delta replays must be complete (not empty,
one whole JSON action per line) and agree with Delta's version checksum
(`<version>.crc`: number and bytes of the table's files after that commit), the commits
must be contiguous from the checkpoint on, and the checkpoint must be a whole Parquet file.
It raises DamagedTableError naming the table, the file, and the recovery. `explain` maps a
Spark failure on a file of a table (a missing data file) to the same kind of error.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

from lakehouse.settings import Settings
from lakehouse.tables.model import TableStoreError

LOG = "_delta_log"
DAMAGED = "_damaged"  # where `repair` moves damaged log files (inside the table's folder)
_COMMIT = re.compile(r"^(\d{20})\.json$")
_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint(?:\.(\d{10})\.(\d{10})|\.[0-9a-fA-F-]{36})?"
                         r"\.(parquet|json)$")
_FILE_URI = re.compile(r"file:/*(/[^\s'\"]+)")


class DamagedTableError(TableStoreError):
    """A table's files are damaged; the message names the file and the recovery."""

    def __init__(self, message: str, *, table: str, problem: LogProblem | None = None,
                 missing_files: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.table, self.problem, self.missing_files = table, problem, missing_files


@dataclass(frozen=True)
class LogProblem:
    """What is wrong with a table's log, and what `repair` would move aside."""

    what: str  # one sentence: file and fault
    recovery: str
    move: tuple[Path, ...] = ()  # files `repair` moves out of the log (nothing lost)


@dataclass
class LogCache:
    """Commit and checkpoint files already found sound, by (path, size, mtime)."""

    sound: set[tuple[str, int, int]] = field(default_factory=set)


# ---- the transaction log -------------------------------------------------------------
def check_log(name: str, folder: Path | str, cache: LogCache | None = None) -> None:
    """DamagedTableError when what Delta replays for the latest version of the table in
    `folder` is damaged (see the module docstring); nothing when sound or not a table."""
    problem = inspect_log(name, Path(folder), cache or LogCache())
    if problem is not None:
        raise DamagedTableError(f"table {name} is damaged: {problem.what}; nothing was read "
                                f"or written. {problem.recovery}", table=name, problem=problem)


def inspect_log(name: str, folder: Path, cache: LogCache) -> LogProblem | None:
    """The first problem of the table's log that Delta would trip over or read wrong."""
    log = folder / LOG
    try:
        names = os.listdir(log)
    except (FileNotFoundError, NotADirectoryError):
        return None
    commits = {int(m[1]): log / n for n in names if (m := _COMMIT.match(n))}
    checkpoints: dict[int, list[Path]] = {}
    for n in names:
        if m := _CHECKPOINT.match(n):
            checkpoints.setdefault(int(m[1]), []).append(log / n)
    if not commits and not checkpoints:
        return None
    latest = max([*commits, *checkpoints])
    base, problem = _usable_checkpoint(name, folder, commits, checkpoints, cache)
    if problem is not None:
        return problem
    for version in range(base + 1, latest + 1):
        path = commits.get(version)
        if path is None:
            return _missing_commits(name, folder, log, commits, checkpoints, base, version)
        fault = _commit_fault(path, version, log, cache)
        if fault is not None:
            return _bad_commit(name, folder, commits, version, latest, fault)
    return None


def _usable_checkpoint(name: str, folder: Path, commits: Mapping[int, Path],
                       checkpoints: Mapping[int, list[Path]], cache: LogCache
                       ) -> tuple[int, LogProblem | None]:
    """(the version of the checkpoint Delta will start from, or -1; a problem with it).
    Delta takes the newest checkpoint whose parts are all there."""
    for version in sorted(checkpoints, reverse=True):
        files = checkpoints[version]
        parts = {m[3] for f in files if (m := _CHECKPOINT.match(f.name)) and m[3]}
        if parts and len(files) < int(parts.pop()):
            continue  # a multi-part checkpoint with a part missing: Delta skips it
        bad = next((f for f in files if not _whole_checkpoint(f, cache)), None)
        if bad is None:
            return version, None
        log = folder / LOG
        last = log / "_last_checkpoint"
        move = (*files, *([last] if last.exists() else []))
        if all(v in commits for v in range(0, version + 1)):
            recovery = (f"Recovery: `make audit ARGS='repair {name} --yes'` moves it out of "
                        f"the log (into {folder / DAMAGED}); Delta then replays the commit "
                        f"files 0..{version} instead (nothing is lost) and writes a new "
                        "checkpoint later")
        else:
            recovery = (f"The commits before it are gone (log retention), so the table "
                        f"cannot be rebuilt from its log: restore {bad} from a backup, or "
                        f"delete {folder} and rerun the stage that writes {name}")
        return version, LogProblem(f"checkpoint {bad} is not a whole Parquet file "
                                   "(cut short or overwritten)", recovery, tuple(move))
    return -1, None


def _whole_checkpoint(path: Path, cache: LogCache) -> bool:
    key = _identity(path)
    if key is None:
        return False
    if key in cache.sound:
        return True
    try:
        with path.open("rb") as f:
            if path.suffix == ".json":
                for line in f:
                    json.loads(line)
                ok = True
            else:
                head = f.read(4)
                f.seek(max(0, key[1] - 4))
                ok = head == b"PAR1" and f.read(4) == b"PAR1" and key[1] > 8
    except (OSError, ValueError):
        return False
    if ok:
        cache.sound.add(key)
    return ok


def _commit_fault(path: Path, version: int, log: Path, cache: LogCache) -> str | None:
    """Why commit file `path` is incomplete, or None."""
    key = _identity(path)
    if key is None:
        return "cannot be read"
    if key in cache.sound:
        return None
    try:
        data = path.read_bytes()
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    if not data.strip():
        return "is empty"
    adds = removes = 0
    added = removed = 0
    sizes_known = True
    for number, line in enumerate(data.splitlines(), start=1):
        try:
            action = json.loads(line)
        except ValueError:
            return f"is cut short or damaged (line {number} is not whole JSON)"
        if not isinstance(action, dict) or len(action) != 1:
            return f"is damaged (line {number} is not one Delta action)"
        if "add" in action:
            adds, added = adds + 1, added + int(action["add"].get("size") or 0)
        elif "remove" in action:
            removes += 1
            size = action["remove"].get("size")
            sizes_known = sizes_known and size is not None
            removed += int(size or 0)
    fault = _against_checksum(log, version, adds - removes, added - removed, sizes_known)
    if fault is None:
        cache.sound.add(key)
    return fault


def _against_checksum(log: Path, version: int, files: int, size: int,
                      sizes_known: bool) -> str | None:
    """Compare a commit's net change of files and bytes with Delta's version checksums
    (`<version>.crc` after the commit, `<version - 1>.crc` before it), when both exist."""
    after = _read_checksum(log / f"{version:020d}.crc")
    before = {"numFiles": 0, "tableSizeBytes": 0} if version == 0 else \
        _read_checksum(log / f"{version - 1:020d}.crc")
    if after is None or before is None:
        return None
    expected_files = after["numFiles"] - before["numFiles"]
    if files != expected_files:
        return (f"is incomplete (its actions change the table by {files:+d} files, its "
                f"checksum {version:020d}.crc by {expected_files:+d})")
    expected_size = after["tableSizeBytes"] - before["tableSizeBytes"]
    if sizes_known and size != expected_size:
        return (f"is incomplete (its actions change the table by {size:+d} bytes, its "
                f"checksum {version:020d}.crc by {expected_size:+d})")
    return None


def _read_checksum(path: Path) -> dict[str, int] | None:
    try:
        value = json.loads(path.read_bytes())
        return {"numFiles": int(value["numFiles"]),
                "tableSizeBytes": int(value["tableSizeBytes"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no checksum (they are optional) or an unreadable one: no comparison


def _bad_commit(name: str, folder: Path, commits: Mapping[int, Path], version: int,
                latest: int, fault: str) -> LogProblem:
    path = commits[version]
    later = [commits[v] for v in range(version, latest + 1) if v in commits]
    undone = f"version {version}" if version == latest else f"versions {version}..{latest}"
    if version == 0:
        recovery = (f"Recovery: restore {path} from a backup, or delete {folder} and rerun "
                    f"the stage that writes {name}")
        return LogProblem(f"commit file {path} (version 0) {fault}", recovery)
    recovery = (f"Recovery: restore the file from a backup; or `make audit ARGS='repair "
                f"{name} --yes'` moves {undone} out of the log (into {folder / DAMAGED}), "
                f"leaving the table at version {version - 1} as if {undone} had never been "
                "committed; then rerun the stage that wrote it (`make audit ARGS='history "
                f"{name}'` names its run) to write its rows again")
    move = [p for commit in later for p in _with_sidecars(commit)]
    return LogProblem(f"commit file {path} (version {version}) {fault}", recovery,
                      tuple(move))


def _missing_commits(name: str, folder: Path, log: Path, commits: Mapping[int, Path],
                     checkpoints: Mapping[int, list[Path]], base: int,
                     version: int) -> LogProblem:
    hint = _last_checkpoint_version(log)
    if base < 0 and hint is not None and hint not in checkpoints:
        what = (f"its checkpoint {log / f'{hint:020d}.checkpoint.parquet'} (named by "
                f"_last_checkpoint) is missing and the commits before it are gone (log "
                f"retention; the first left is version {min(commits, default=hint)})")
    else:
        what = f"commit file {log / f'{version:020d}.json'} (version {version}) is missing"
    return LogProblem(what, f"The table cannot be rebuilt from its log: restore the missing "
                            f"file from a backup, or delete {folder} and rerun the stage "
                            f"that writes {name}")


def _last_checkpoint_version(log: Path) -> int | None:
    try:
        return int(json.loads((log / "_last_checkpoint").read_bytes())["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _with_sidecars(commit: Path) -> list[Path]:
    """A commit file, its version checksum, and Hadoop's hidden checksums of both."""
    stem = commit.name.removesuffix(".json")
    names = [commit.name, f"{stem}.crc", f".{commit.name}.crc", f".{stem}.crc.crc"]
    return [commit.parent / n for n in names if (commit.parent / n).exists()]


def _identity(path: Path) -> tuple[str, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return str(path), stat.st_size, stat.st_mtime_ns


def move_aside(folder: Path, files: tuple[Path, ...]) -> Path:
    """Move damaged log files into `<table>/_damaged/<UTC time>/` (kept, not deleted)."""
    target = folder / DAMAGED / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target.mkdir(parents=True, exist_ok=True)
    for path in files:
        if path.exists():
            shutil.move(str(path), target / path.name)
    return target


# ---- data files ----------------------------------------------------------------------
def adding_version(folder: Path, data_file: str) -> int | None:
    """The version whose commit added `data_file` (a path relative to the table), if its
    commit file is still in the log."""
    log = folder / LOG
    needle = json.dumps(data_file)[1:-1]
    for name in sorted(os.listdir(log), reverse=True):
        if not _COMMIT.match(name):
            continue
        with (log / name).open(encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith('{"add"') and f'"path":"{needle}"' in line:
                    return int(name[:20])
    return None


def missing_files_error(name: str, folder: Path, files: list[str], *,
                        unreadable: bool = False) -> DamagedTableError:
    """The error for data files of the current version that are gone (or unreadable)."""
    relative = [_relative(f, folder) for f in files]
    first = relative[0] if relative else "?"
    added = adding_version(folder, first) if relative else None
    state = ("cannot be read (it, or its deletion vector file, is missing or damaged)"
             if unreadable else "is missing (deleted outside Delta?)")
    more = f" and {len(relative) - 1} more" if len(relative) > 1 else ""
    restore = ""
    if added:
        restore = (f"; or `make audit ARGS='restore {name} --version {added - 1} --yes'` "
                   f"(the version before the commit that added it: later versions are undone)")
    message = (f"table {name} is damaged: data file {folder / first}{more} {state}. Recovery: "
               f"put the file back from a backup{restore}; or `make audit ARGS='repair {name} "
               f"--yes'` to drop the files that cannot be read from the table (their rows "
               f"are lost: delta-spark has no FSCK REPAIR TABLE, this is its equivalent)")
    return DamagedTableError(message, table=name, missing_files=tuple(relative))


def explain(err: BaseException, lake_root: Path | str) -> DamagedTableError | None:
    """A Spark failure reading a file of a table under `lake_root` (a missing data file,
    an unreadable log file) as a DamagedTableError naming the table (`<lake>/<layer>/<table>`
    is `layer.table`) and the recovery; None for anything else."""
    if isinstance(err, DamagedTableError):
        return err
    text = str(err)
    if not any(k in text for k in ("FAILED_READ_FILE", "FileNotFoundException",
                                    "ChecksumException")):
        return None
    root = Path(lake_root)
    for match in _FILE_URI.finditer(text):
        path = Path(unquote(match.group(1).rstrip(".")))
        try:
            parts = path.relative_to(root).parts
        except ValueError:
            continue
        if len(parts) < 3:
            continue
        folder = root / parts[0] / parts[1]
        name = f"{parts[0]}.{parts[1]}"
        if parts[2] == LOG:
            problem = inspect_log(name, folder, LogCache())
            if problem is not None:
                return DamagedTableError(f"table {name} is damaged: {problem.what}. "
                                         f"{problem.recovery}", table=name, problem=problem)
            return DamagedTableError(
                f"table {name} is damaged: Delta cannot read its log file {path} (a "
                f"checksum or format error). Recovery: restore the file from a backup, or "
                f"delete {folder} and rerun the stage that writes {name}", table=name)
        return missing_files_error(name, folder, [str(path)], unreadable=path.exists())
    return None


def damaged_table(err: BaseException, settings: Settings | None) -> DamagedTableError | None:
    """`explain` for the local lake of `settings` (None: Unity Catalog tables, no settings)."""
    if settings is None or settings.tables.catalog:
        return None
    return explain(err, settings.paths.lake)


def _relative(path: str, folder: Path) -> str:
    plain = Path(unquote(re.sub(r"^file:/*", "/", path)))
    try:
        return str(plain.relative_to(folder))
    except ValueError:
        return str(plain)
