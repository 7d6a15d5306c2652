"""One writing run per lake at a time: an exclusive lock file under the lake folder.

Entry points that write (bronze, silver, gold, train, score, `audit restore|repair --yes`,
`audit maintain`) take `<paths.lake>/.lakehouse.lock` with `flock` before the Spark session
starts and release it when they end. The file holds the holder's pid, host, command and
start time, so a second run can say who has the lake. The kernel drops an flock lock when
its process dies, SIGKILL included: a crashed run never leaves a stale lock (the file stays,
with the dead run's details, and is simply taken by the next run). The file is never
deleted: deleting it would let two runs lock two different files of the same name.

Read-only commands (`audit history|diff|reproduce`, `make shell`) take no lock. For Unity
Catalog tables and on any Databricks runtime no lock is taken (cloud storage and the
Volumes FUSE mount have no flock, and job clusters are separate machines): there Delta's
optimistic concurrency (a conflicting commit fails, nothing written) and the application
transactions (`txnAppId`, a batch commits at most once per table) are what keep
overlapping runs from duplicating rows or breaking a table; the job's
`max_concurrent_runs: 1` keeps scheduled runs from overlapping.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from lakehouse.errors import LakehouseError
from lakehouse.settings import Settings
from lakehouse.spark import on_databricks

log = logging.getLogger(__name__)

LOCK_FILE = ".lakehouse.lock"
_POLL_SECONDS = 0.5


class LakeInUseError(LakehouseError):
    """Another run holds the lake's lock (and did not release it in time)."""

    def __init__(self, message: str, holder: Holder | None) -> None:
        super().__init__(message)
        self.holder = holder


@dataclass(frozen=True)
class Holder:
    """Who holds a lake's lock, as written into the lock file."""

    pid: int
    host: str
    command: str
    started: str  # ISO local time with seconds

    def describe(self) -> str:
        """`pid 4711 (python -m pipeline bronze silver, started 10:02:03 on host)`."""
        started = datetime.fromisoformat(self.started)
        when = f"{started:%H:%M:%S}" if started.date() == datetime.now().date() \
            else f"{started:%Y-%m-%d %H:%M:%S}"
        return f"pid {self.pid} ({self.command}, started {when} on {self.host})"


def current_command() -> str:
    """This process's command line, as a person typed it: `python -m pipeline bronze`."""
    argv = getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]
    return " ".join(["python", *argv[1:]])


@dataclass
class LakeLock:
    """A held lock: `release()` (idempotent) or let the process end."""

    path: Path
    fd: int | None

    def release(self) -> None:
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        try:
            os.ftruncate(fd, 0)  # no stale details for a reader that races the release
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def acquire(lake: Path, *, command: str | None = None, wait_seconds: float = 0) -> LakeLock:
    """Take the lake's lock, waiting up to `wait_seconds` for a holder to finish.

    Raises LakeInUseError naming the holder when the lock is still held then. A file
    system without flock support (some network and FUSE mounts) is logged and the run goes
    on unlocked, as it would on Databricks."""
    lake = Path(lake)
    lake.mkdir(parents=True, exist_ok=True)
    path = lake / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by child processes
    deadline, announced = time.monotonic() + max(0.0, wait_seconds), False
    try:
        while not _try_lock(fd):
            holder = read_holder(path)
            left = deadline - time.monotonic()
            if left <= 0:
                who = holder.describe() if holder else "another process"
                waited = f" (waited {wait_seconds:g} s)" if wait_seconds > 0 else ""
                raise LakeInUseError(f"lake {lake} is in use by {who}{waited}: wait for it "
                                     "or stop it", holder)
            if not announced:
                log.info("lake %s is in use by %s: waiting up to %g s", lake,
                         holder.describe() if holder else "another process", wait_seconds)
                announced = True
            time.sleep(min(_POLL_SECONDS, left))
    except _LocksUnsupported as err:
        os.close(fd)
        log.warning("lake %s: its file system does not support file locks (%s); this run "
                    "is not protected against a concurrent one", lake, err)
        return LakeLock(path, None)
    except BaseException:
        os.close(fd)
        raise
    me = Holder(os.getpid(), socket.gethostname(), command or current_command(),
                datetime.now().isoformat(timespec="seconds"))
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(asdict(me)) + "\n").encode(), 0)
    return LakeLock(path, fd)


@contextmanager
def hold(lake: Path, *, command: str | None = None, wait_seconds: float = 0
         ) -> Iterator[LakeLock]:
    """`acquire` for the duration of a `with` block."""
    lock = acquire(lake, command=command, wait_seconds=wait_seconds)
    try:
        yield lock
    finally:
        lock.release()


def read_holder(path: Path, *, attempts: int = 5) -> Holder | None:
    """The details in a lock file; None when unreadable. A holder writes them right after
    locking, so an empty file is read again a few times first."""
    for attempt in range(attempts):
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        if text:
            try:
                return Holder(**json.loads(text))
            except (ValueError, TypeError):
                return None
        if attempt < attempts - 1:
            time.sleep(0.05)
    return None


class _LocksUnsupported(Exception):
    pass


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as err:
        if err.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            raise _LocksUnsupported(os.strerror(err.errno)) from err
        raise
    return True


def run_lock(settings: Settings) -> AbstractContextManager[LakeLock | None]:
    """The lock a writing entry point holds for its whole run: the lake's lock file, or
    nothing for Unity Catalog tables and on Databricks (see the module's docstring)."""
    if settings.tables.catalog or on_databricks():
        return nullcontext()
    return hold(settings.paths.lake, wait_seconds=settings.tables.lock_wait_seconds)
