"""The lake's run lock: one writing run at a time, the holder named, released by death."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audit.cli import _writes as audit_writes
from lakehouse.cli import Stage, run_stage
from lakehouse.tables.lock import (
    LOCK_FILE,
    LakeInUseError,
    acquire,
    hold,
    read_holder,
    run_lock,
)
from tests.conftest import settings_for

ROOT = Path(__file__).parents[2]
HOLDER = """
import sys, time
from pathlib import Path
from lakehouse.tables.lock import acquire
acquire(Path(sys.argv[1]), command="python -m pipeline bronze silver")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def start_holder(lake: Path, seconds: float) -> subprocess.Popen:
    """A process holding the lake's lock for `seconds` (then exiting without releasing)."""
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(lake), str(seconds)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = child.stdout.readline()
    assert line.strip() == "locked", line + child.stdout.read()
    return child


def test_a_held_lock_refuses_a_second_run_naming_the_holder(tmp_path):
    lake = tmp_path / "lake"
    with (hold(lake, command="python -m pipeline bronze silver gold"),
          pytest.raises(LakeInUseError) as refused):
        acquire(lake, command="python -m silver")
    holder = refused.value.holder
    assert (holder.pid, holder.host) == (os.getpid(), socket.gethostname())
    message = str(refused.value)
    assert message.startswith(f"lake {lake} is in use by pid {os.getpid()} (python -m "
                              "pipeline bronze silver gold, started ")
    assert f"on {socket.gethostname()}): wait for it or stop it" in message
    acquire(lake).release()  # released at the end of the block: free again


def test_a_killed_holder_releases_the_lock(tmp_path):
    lake = tmp_path / "lake"
    child = start_holder(lake, 600)
    try:
        with pytest.raises(LakeInUseError, match=f"in use by pid {child.pid} "):
            acquire(lake)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    # the dead holder's details are still in the file, but the kernel dropped its lock
    assert read_holder(lake / LOCK_FILE).pid == child.pid
    lock = acquire(lake, command="next run")
    assert read_holder(lake / LOCK_FILE).command == "next run"
    lock.release()
    assert (lake / LOCK_FILE).exists() and read_holder(lake / LOCK_FILE, attempts=1) is None


def test_a_second_run_waits_up_to_lock_wait_seconds(tmp_path):
    lake = tmp_path / "lake"
    child = start_holder(lake, 1.0)
    started = time.monotonic()
    with pytest.raises(LakeInUseError, match=r"\(waited 0.2 s\): wait for it or stop it"):
        acquire(lake, wait_seconds=0.2)
    lock = acquire(lake, wait_seconds=60)  # the holder exits after a second
    assert time.monotonic() - started < 30
    lock.release()
    child.wait()


def test_a_writing_entry_point_is_refused_before_spark_starts(tmp_path, capsys):
    settings = settings_for(tmp_path)
    argv = ["--env", "test", f"--set=paths.lake={settings.paths.lake}"]
    ran = []
    stage = Stage("demo", "a writing stage", lambda ctx, args: ran.append(1))
    with hold(settings.paths.lake, command="python -m bronze"):
        assert run_stage(stage, argv=argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"demo: error: lake {settings.paths.lake} is in use by pid "
                          f"{os.getpid()} (python -m bronze, started ")
    assert err.count("\n") == 1 and not ran


def test_only_commands_that_change_tables_take_the_lock(tmp_path, monkeypatch):
    def audit(*words: str) -> bool:
        return audit_writes(argparse.Namespace(**dict(w.split("=") for w in words)))

    assert audit("command=maintain") and audit("command=restore", "yes=1")
    assert not audit("command=restore", "yes=") and not audit("command=history")
    assert audit("command=repair", "yes=1") and not audit("command=repair", "yes=")
    assert not audit("command=diff") and not audit("command=reproduce")
    assert not audit("command=check")
    local = settings_for(tmp_path)
    with run_lock(local) as lock:
        assert lock is not None and lock.path == local.paths.lake / LOCK_FILE
    with run_lock(settings_for(tmp_path, "tables.catalog=main", "tables.schema=retail")) as lock:
        assert lock is None  # Unity Catalog tables: Delta's own concurrency control
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "16.4")
    with run_lock(local) as lock:
        assert lock is None
