"""bench.procmon against real processes: a driver that starts a child, both measured."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from bench.procmon import TreeMonitor, TreePeaks, wait_for_quiet

# The driver touches 100 MiB and frees it at once (before the first poll, most likely),
# then starts a child that holds 200 MiB and spins until it used 0.5 s of CPU.
CHILD = "import time\nheld = b'x' * (200 << 20)\nwhile time.process_time() < 0.5: pass"
DRIVER = textwrap.dedent(f"""
    import subprocess, sys
    spike = b"x" * (100 << 20)
    del spike
    child = subprocess.Popen([sys.executable, "-c", {CHILD!r}])
    print(child.pid, flush=True)
    sys.exit(child.wait())
""")


@pytest.fixture(scope="module")
def measured() -> tuple[TreePeaks, int]:
    """The peaks of one run of DRIVER, and its child's pid."""
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE,
                              text=True)
    with TreeMonitor(driver.pid, interval=0.05) as monitor:
        child_pid = int(driver.stdout.readline())
        assert driver.wait(timeout=10) == 0
    driver.stdout.close()
    return monitor.peaks, child_pid


def test_monitor_sees_the_child_its_memory_and_the_drivers_freed_spike(measured):
    peaks, child_pid = measured
    assert child_pid in peaks.cpu_by_pid
    assert peaks.samples >= 3
    assert peaks.workers_mib >= 150  # the child: neither the driver nor a `java`
    assert peaks.tree_mib >= 150
    assert peaks.jvm_mib == 0
    # Freed before the child started, so only the kernel's peak (VmHWM) still shows it.
    assert peaks.driver_mib >= 90


def test_monitor_counts_the_trees_cpu_and_splits_the_rest(measured):
    peaks = measured[0]
    assert 0.4 <= peaks.own_cpu_seconds <= 5  # the child used 0.5 s, seen every 0.05 s
    assert 0 <= peaks.other_cpu_share <= 1
    assert 0 <= peaks.stolen_cpu_share <= 1


def test_monitor_of_an_ended_process_takes_no_sample():
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    monitor = TreeMonitor(ended.pid)
    monitor.poll()
    assert monitor.peaks.samples == 0 and monitor.peaks.cpu_by_pid == {}


def test_wait_for_quiet_gives_up_at_its_timeout():
    busy, waited = wait_for_quiet(threshold=0.0, timeout=0.3, window=0.1)  # never quiet
    assert 0 <= busy <= 1
    assert 0.3 <= waited < 1.0


def test_wait_for_quiet_returns_after_one_window_when_quiet():
    started = time.monotonic()
    busy, waited = wait_for_quiet(threshold=1.01, timeout=60, window=0.1)  # always quiet
    assert 0 <= busy <= 1
    assert waited < 1.0 and time.monotonic() - started < 1.0
