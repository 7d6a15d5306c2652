"""bench.procmon against real processes: a driver that starts a child, both measured."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench.procmon import TreeMonitor, measure

# The driver touches 100 MiB and frees it at once (before the first poll, most likely),
# then starts a child that spins until it used 0.5 s of CPU.
CHILD = "import time\nwhile time.process_time() < 0.5: pass"
DRIVER = textwrap.dedent(f"""
    import subprocess, sys
    spike = b"x" * (100 << 20)
    del spike
    child = subprocess.Popen([sys.executable, "-c", {CHILD!r}])
    print(child.pid, flush=True)
    sys.exit(child.wait())
""")


@pytest.fixture(scope="module")
def measured() -> tuple[TreeMonitor, int]:
    """The monitor of one run of DRIVER, and its child's pid."""
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE,
                              text=True)
    with TreeMonitor(driver.pid, interval=0.05) as monitor:
        child_pid = int(driver.stdout.readline())
        assert driver.wait(timeout=10) == 0
    driver.stdout.close()
    return monitor, child_pid


def test_monitor_sees_the_child_and_the_drivers_freed_spike(measured):
    monitor, child_pid = measured
    assert child_pid in monitor.cpu_by_pid
    assert monitor.samples >= 3
    assert monitor.jvm_mib == 0  # no `java` in the tree
    # Freed before the child started, so only the kernel's peak (VmHWM) still shows it.
    assert monitor.driver_mib >= 90


def test_monitor_counts_the_trees_cpu_and_splits_the_rest(measured):
    monitor = measured[0]
    assert 0.4 <= monitor.cpu_seconds <= 5  # the child used 0.5 s, seen every 0.05 s
    assert 0 <= monitor.other_cpu_share <= 1
    assert 0 <= monitor.stolen_cpu_share <= 1


def test_monitor_of_an_ended_process_takes_no_sample():
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    monitor = TreeMonitor(ended.pid)
    monitor.poll()
    assert monitor.samples == 0 and monitor.cpu_by_pid == {}


def test_measure_logs_the_output_and_returns_the_measurements(tmp_path: Path):
    run = measure([sys.executable, "-c", "print('hello')"], tmp_path / "logs" / "x.log")
    assert (tmp_path / "logs" / "x.log").read_text() == "hello\n"
    assert set(run) == {"seconds", "driver_mib", "jvm_mib", "cpu_seconds", "other_cpu_share",
                        "stolen_cpu_share", "log"}


def test_measure_raises_with_the_logs_tail_on_failure(tmp_path: Path):
    with pytest.raises(RuntimeError, match=r"code 3(?s:.*)last words"):
        measure([sys.executable, "-c", "print('last words'); raise SystemExit(3)"],
                tmp_path / "x.log")
