"""The project's error base class, and what the known failures of the environment mean.

Layers raise LakehouseError for what they can tell is the user's to fix. Some problems
surface instead as an exception of Python, Spark, Delta or the JVM: a folder that cannot
be written, a full disk, a damaged Delta table, a JVM out of memory. `explain` recognises
those few (by exception type, errno, Spark/Delta error condition or JVM exception class)
and turns them into a LakehouseError naming the path or table, what is wrong and what to
do. Everything else is left alone: an unknown exception is a bug, not a user error.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterator, Mapping
from pathlib import Path


class LakehouseError(Exception):
    """A problem with the input, configuration or tables that the user can fix.

    Entry points print these as one clear message (no traceback) and exit non-zero.
    """


class EnvironmentProblem(LakehouseError):
    """A folder, disk, table, memory or the JVM failed the run in a way `explain` knows."""


def explain(err: BaseException, *, paths: Mapping[str, Path] | None = None
            ) -> LakehouseError | None:
    """`err` as a user-fixable error, or None when it is not a known problem of the
    input or the environment (a bug). `paths`: the configured folders by setting name
    (`paths.lake` -> folder), so a message can say which setting a path belongs to."""
    if isinstance(err, LakehouseError):
        return err
    paths = paths or {}
    if isinstance(err, OSError):
        return _os_problem(err, paths)
    store = _sqlite_problem(err, paths)
    if store is not None:
        return store
    return _spark_problem(err, paths)


# ---- Python's OSError --------------------------------------------------------------------

_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _os_problem(err: OSError, paths: Mapping[str, Path]) -> LakehouseError | None:
    if err.errno in _DISK_FULL:
        where = f" holding {err.filename}" if err.filename else ""
        return EnvironmentProblem(f"no space left on the disk{where}: free some space"
                                  f"{_or_set(err.filename, paths, 'a folder on another disk')}")
    if err.filename is None:
        return None  # e.g. a socket or a pipe: not a folder the user configured
    path = str(err.filename)
    if isinstance(err, PermissionError):
        return EnvironmentProblem(f"permission denied on {_named(path, paths)}: give the "
                                  "user running the pipeline access to it"
                                  f"{_or_set(path, paths, 'a folder it can write')}")
    if err.errno == errno.EROFS:
        return EnvironmentProblem(f"{_named(path, paths)} is on a read-only file system"
                                  f"{_or_set(path, paths, 'a writable folder', first=True)}")
    if isinstance(err, NotADirectoryError | FileExistsError):
        return EnvironmentProblem(f"{_named(path, paths)}: a file is in the way of a "
                                  "folder (the path or one of its parents is a file): move "
                                  f"the file{_or_set(path, paths, 'another folder')}")
    if isinstance(err, IsADirectoryError):
        return EnvironmentProblem(f"{_named(path, paths)} is a folder where a file is "
                                  "expected: move it away")
    if isinstance(err, FileNotFoundError):
        return EnvironmentProblem(f"{_named(path, paths)} does not exist: create it"
                                  f"{_or_set(path, paths, 'an existing folder')}")
    return EnvironmentProblem(f"cannot use {_named(path, paths)}: {err.strerror or err}")


def setting_of(path: str, paths: Mapping[str, Path]) -> str | None:
    """The configured folder (`paths.lake`, ...) that holds `path`, or that `path` is a
    parent of (a folder being created); the closest one wins."""
    target = Path(path.removeprefix("file:"))
    best: tuple[int, str] | None = None
    for key, folder in paths.items():
        folder = Path(folder)
        if target == folder or folder in target.parents or target in folder.parents:
            depth = len(folder.parts)
            if best is None or depth > best[0]:
                best = (depth, key)
    return best[1] if best else None


def _named(path: str, paths: Mapping[str, Path]) -> str:
    key = setting_of(path, paths)
    return f"{path} ({key})" if key else path


def _or_set(path: str | None, paths: Mapping[str, Path], folder: str, *,
            first: bool = False) -> str:
    """`, or set paths.lake to <folder>` when `path` is in a configured folder."""
    key = setting_of(path, paths) if path else None
    if key is None:
        return ""
    return f"{': set' if first else ', or set'} {key} to {folder}"


# ---- the MLflow store (the project's only SQLite database) ------------------------------


def _sqlite_problem(err: BaseException, paths: Mapping[str, Path]) -> LakehouseError | None:
    """A damaged, locked or unopenable SQLite file behind `err` (MLflow and SQLAlchemy
    wrap it): the local MLflow store."""
    import sqlite3

    cause: BaseException | None = err
    for _ in range(10):
        if cause is None:
            return None
        if type(cause) in (sqlite3.DatabaseError, sqlite3.OperationalError):
            break
        cause = cause.__cause__ or cause.__context__
    else:
        return None
    folder = paths.get("paths.mlflow")
    where = (f" {folder / 'mlflow.db'} (paths.mlflow, unless mlflow.tracking_uri names "
             "another)") if folder else ""
    return EnvironmentProblem(
        f"the MLflow store{where} cannot be used ({cause}): restore it from a backup, or "
        "move it away and train again (its runs and registered models go with it)")


# ---- Spark, Delta and the JVM ------------------------------------------------------------

MISSING_TABLE = ("the table or file does not exist: run the stage that writes it first "
                 "(bronze, silver, gold, train), or check paths.lake and tables.names")
DAMAGED_TABLE = ("the table's files are damaged or were changed outside Delta: restore its "
                 "folder from a backup, or delete it and rerun the stage that writes it "
                 "(`make audit ARGS='history TABLE'` shows its versions)")
OTHER_SCHEMA = ("the table was written with another schema than this version of the "
                "pipeline writes: move the table's folder away and rerun the stage that "
                "writes it")
_JVM_START = ("Spark's JVM did not start (its own message is above): check that JAVA_HOME "
              "or PATH gives Java 17 or 21, that spark.driver_memory fits the machine, and "
              "the JVM options in spark.conf")

# Spark and Delta error conditions that describe a table, a file or the machine, never the
# code: what to do about each. Matched on the condition before its first '.' (subclass).
CONDITIONS: Mapping[str, str] = {
    "PATH_NOT_FOUND": MISSING_TABLE,
    "TABLE_OR_VIEW_NOT_FOUND": MISSING_TABLE,
    "DELTA_MISSING_DELTA_TABLE": MISSING_TABLE,
    "DELTA_TABLE_NOT_FOUND": MISSING_TABLE,
    "DELTA_PATH_DOES_NOT_EXIST": MISSING_TABLE,
    "DELTA_EMPTY_DIRECTORY": MISSING_TABLE,
    "FAILED_READ_FILE": DAMAGED_TABLE,
    "DELTA_FILE_NOT_FOUND_DETAILED": DAMAGED_TABLE,
    "DELTA_LOG_FILE_NOT_FOUND": DAMAGED_TABLE,
    "DELTA_VERSIONS_NOT_CONTIGUOUS": DAMAGED_TABLE,
    "DELTA_STATE_RECOVER_ERROR": DAMAGED_TABLE,
    "DELTA_TRUNCATED_TRANSACTION_LOG": DAMAGED_TABLE,
    "DELTA_CHECKPOINT_NON_EXIST_TABLE": DAMAGED_TABLE,
    "DELTA_FAILED_TO_MERGE_FIELDS": OTHER_SCHEMA,
    "DELTA_METADATA_MISMATCH": OTHER_SCHEMA,
    "JAVA_GATEWAY_EXITED": _JVM_START,
}

# JVM exception classes (anywhere in the cause chain) that report the machine.
_PERMISSION_CLASSES = ("java.nio.file.AccessDeniedException",
                       "org.apache.hadoop.security.AccessControlException")
_MEMORY_CLASSES = ("java.lang.OutOfMemoryError",)
_PATH_IN_MESSAGE = re.compile(r"((?:file:)?/[^\s'\"()]+)")


def _spark_problem(err: BaseException, paths: Mapping[str, Path]) -> LakehouseError | None:
    from py4j.protocol import Py4JError, Py4JJavaError, Py4JNetworkError
    from pyspark.errors import PySparkException

    if isinstance(err, Py4JNetworkError) or (
            isinstance(err, Py4JError) and not isinstance(err, Py4JJavaError)
            and "Answer from Java side is empty" in str(err)):
        return EnvironmentProblem(
            "the Spark JVM stopped during the run (most often the machine ran out of memory "
            "and the system killed it): lower spark.driver_memory below the free memory, or "
            "free memory, and run again")
    if not isinstance(err, PySparkException | Py4JJavaError):
        return None
    for name, message in _java_chain(err):
        if name in _MEMORY_CLASSES:
            return EnvironmentProblem(
                f"Spark ran out of memory ({message or name}): raise spark.driver_memory "
                "(e.g. LAKEHOUSE__SPARK__DRIVER_MEMORY=8g) or process less data per run")
        lowered = (message or "").lower()
        if "no space left on device" in lowered or "disk quota exceeded" in lowered:
            return EnvironmentProblem(f"no space left on a disk Spark writes to ({message}): "
                                      "free space on the lake's disk and in the temporary "
                                      "folder (spark.local.dir, default /tmp)")
        path = _path_in(message)
        if name in _PERMISSION_CLASSES or "permission denied" in lowered:
            where = _named(path, paths) if path else "a file or folder Spark writes"
            return EnvironmentProblem(f"permission denied on {where}: give the user running "
                                      "the pipeline access to it"
                                      f"{_or_set(path, paths, 'a folder it can write')}")
        if "mkdirs failed to create" in lowered or "parent path is not a directory" in lowered:
            where = _named(path, paths) if path else "a folder"
            return EnvironmentProblem(f"cannot create {where}: a file is in the way or a "
                                      "folder is not writable: move the file or make the "
                                      "folder writable"
                                      f"{_or_set(path, paths, 'a writable folder')}")
    condition = _condition(err)
    if condition is not None:
        hint = CONDITIONS.get(condition.split(".")[0])
        if hint is not None:
            return EnvironmentProblem(f"{_first_line(err)}: {hint}")
    return None


def _condition(err: BaseException) -> str | None:
    getter = getattr(err, "getCondition", None)
    try:
        return getter() if getter is not None else None
    except Exception:  # the JVM is gone: no condition to read
        return None


def _first_line(err: BaseException) -> str:
    getter = getattr(err, "getMessage", None)
    try:
        text = getter() if getter is not None else str(err)
    except Exception:
        text = str(err)
    text = re.sub(r"\s*SQLSTATE: \w+", "", str(text)).strip()
    return text.splitlines()[0].rstrip(".") if text else type(err).__name__


def _java_chain(err: BaseException) -> Iterator[tuple[str, str | None]]:
    """(class name, message) of the JVM exception behind `err` and each of its causes."""
    java = getattr(err, "java_exception", None) or getattr(err, "_origin", None)
    seen = 0
    try:
        while java is not None and seen < 20:
            yield java.getClass().getName(), java.getMessage()
            java, seen = java.getCause(), seen + 1
    except Exception:  # the JVM is gone: nothing more to read
        return


def _path_in(message: str | None) -> str | None:
    match = _PATH_IN_MESSAGE.search(message or "")
    return match.group(1).removeprefix("file:") if match else None
