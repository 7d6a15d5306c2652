"""The /proc parsers and the process-tree walk of bench.procmon (no processes started)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.procmon import (
    TreeMonitor,
    busy_ticks,
    descendants,
    parse_pss,
    parse_stat,
    parse_status,
    steal_ticks,
)

STAT_JAVA = ("4242 (java) S 4200 4242 4200 0 -1 4194560 61234 0 12 0 1500 250 0 0 20 0 "
             "60 0 123456 7065580000 246539 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 "
             "17 1 0 0 0 0 0")


def test_parse_stat_reads_pid_parent_name_and_cpu():
    info = parse_stat(STAT_JAVA)
    assert (info.pid, info.ppid, info.name, info.cpu_ticks) == (4242, 4200, "java", 1750)


def test_parse_stat_survives_spaces_and_parentheses_in_the_name():
    text = STAT_JAVA.replace("(java)", "(python (worker) 2)")
    info = parse_stat(text)
    assert (info.pid, info.ppid, info.name, info.cpu_ticks) == (4242, 4200,
                                                                "python (worker) 2", 1750)


def test_parse_status_takes_rss_and_peak_in_kib():
    text = "Name:\tjava\nVmPeak:\t 9000 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads: 40\n"
    assert parse_status(text) == {"VmHWM": 204800, "VmRSS": 102400}


def test_parse_status_of_a_zombie_has_no_memory():
    assert parse_status("Name:\tpython\nState:\tZ (zombie)\n") == {}


def test_parse_pss_reads_the_rollup_and_defaults_to_zero():
    rollup = ("5604c8a4b000-7ffc4b1e5000 ---p 00000000 00:00 0   [rollup]\n"
              "Rss:               51200 kB\nPss:               12800 kB\nPss_Anon: 100 kB\n")
    assert parse_pss(rollup) == 12800
    assert parse_pss("") == 0


def test_descendants_walks_every_level_but_not_siblings_or_the_root():
    parents = {10: 1, 11: 10, 12: 11, 13: 11, 20: 1, 21: 20, 10_000: 13}
    assert descendants(parents, 10) == {11, 12, 13, 10_000}
    assert descendants(parents, 12) == set()


def test_busy_ticks_leaves_out_idle_and_iowait():
    text = "cpu  100 5 50 1000 40 3 2 0 0 0\ncpu0 50 2 25 500 20 1 1 0 0 0\n"
    assert busy_ticks(text) == (160, 1200)


def test_steal_ticks_reads_the_eighth_value_and_defaults_to_zero():
    assert steal_ticks("cpu  100 5 50 1000 40 3 2 77 0 0\n") == 77
    assert steal_ticks("cpu  100 5 50 1000 40 3 2\n") == 0  # an old kernel: no steal field


def test_monitor_splits_other_processes_from_stolen_time(tmp_path: Path):
    (tmp_path / "stat").write_text("cpu  1000 0 0 1000 0 0 0 0 0 0\n")
    _fake_proc(tmp_path, 100, 1, "python", hwm=1024, rss=1024, pss=0, ticks=0)
    with TreeMonitor(100, interval=60, proc=tmp_path) as monitor:
        # The stage used 400 ticks, other processes 100, the hypervisor took 200, 300 idle.
        _fake_proc(tmp_path, 101, 100, "java", hwm=1024, rss=1024, pss=0, ticks=400)
        (tmp_path / "stat").write_text("cpu  1500 0 0 1300 0 0 0 200 0 0\n")
        monitor.poll()
    assert monitor.peaks.other_cpu_share == pytest.approx(100 / 1000)
    assert monitor.peaks.stolen_cpu_share == pytest.approx(200 / 1000)


def _fake_proc(root: Path, pid: int, ppid: int, name: str, hwm: int, rss: int, pss: int,
               ticks: int) -> None:
    folder = root / str(pid)
    folder.mkdir()
    stat = STAT_JAVA.replace("4242 (java) S 4200", f"{pid} ({name}) S {ppid}")
    stat = stat.replace(" 1500 250 ", f" {ticks} 0 ")
    (folder / "stat").write_text(stat)
    (folder / "status").write_text(f"Name:\t{name}\nVmHWM:\t{hwm} kB\nVmRSS:\t{rss} kB\n")
    (folder / "smaps_rollup").write_text(f"Rss: {rss} kB\nPss: {pss} kB\n")


def test_monitor_poll_splits_driver_jvm_and_workers(tmp_path: Path):
    (tmp_path / "stat").write_text("cpu  100 0 100 800 0 0 0 0 0 0\n")
    _fake_proc(tmp_path, 100, 1, "python", hwm=300 * 1024, rss=200 * 1024, pss=0, ticks=50)
    _fake_proc(tmp_path, 101, 100, "java", hwm=2048 * 1024, rss=1024 * 1024, pss=0, ticks=400)
    _fake_proc(tmp_path, 102, 101, "python3", hwm=0, rss=90 * 1024, pss=60 * 1024, ticks=30)
    _fake_proc(tmp_path, 103, 101, "python3", hwm=0, rss=90 * 1024, pss=40 * 1024, ticks=20)
    _fake_proc(tmp_path, 200, 1, "java", hwm=9999 * 1024, rss=1, pss=1, ticks=999)  # not ours
    monitor = TreeMonitor(100, proc=tmp_path)
    monitor.poll()
    peaks = monitor.peaks
    assert (peaks.driver_mib, peaks.jvm_mib, peaks.workers_mib) == (300, 2048, 100)
    assert sum(peaks.cpu_by_pid.values()) == 500


@pytest.mark.parametrize("missing", ["status", "smaps_rollup"])
def test_monitor_poll_tolerates_a_process_that_just_ended(tmp_path: Path, missing: str):
    (tmp_path / "stat").write_text("cpu  1 0 1 8 0 0 0 0 0 0\n")
    _fake_proc(tmp_path, 100, 1, "python", hwm=1024, rss=1024, pss=0, ticks=1)
    _fake_proc(tmp_path, 102, 100, "python3", hwm=0, rss=1024, pss=1024, ticks=1)
    (tmp_path / "102" / missing).unlink()
    monitor = TreeMonitor(100, proc=tmp_path)
    monitor.poll()
    assert monitor.peaks.driver_mib == 1
    assert monitor.peaks.workers_mib == (0 if missing == "smaps_rollup" else 1)

