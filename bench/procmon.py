"""Memory and CPU of a process tree from Linux /proc, polled in a background thread.

A stage runs as `python -m <stage>` (the Python driver) which starts a `java` child
(the Spark JVM), which starts Python workers. Every ~0.2 s the monitor reads each
process of the tree: the peak resident memory (VmHWM, kept by the kernel, so short
spikes between polls are not missed while the process lives) of the driver and the
JVM, the proportional set size (PSS) of the other processes (forked Python workers share
pages, so their RSS would count them several times), and the CPU time used. The CPU
the rest of the machine used meanwhile (from /proc/stat) says how much other work
competed with the stage: other processes of this machine, and, on a virtual machine,
the CPU time the hypervisor gave to other guests while ours wanted it ("steal").
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcInfo:
    """One process as read from /proc."""

    pid: int
    ppid: int
    name: str
    cpu_ticks: int  # user + system


def parse_stat(text: str) -> ProcInfo:
    """A /proc/<pid>/stat line (the name may hold spaces and parentheses)."""
    head, _, rest = text.rpartition(")")
    pid_text, _, name = head.partition(" (")
    fields = rest.split()
    # fields[0] is the state (stat field 3); ppid is field 4, utime 14, stime 15
    return ProcInfo(int(pid_text), int(fields[1]), name, int(fields[11]) + int(fields[12]))


def parse_status(text: str) -> dict[str, int]:
    """VmRSS and VmHWM (KiB) from /proc/<pid>/status text; missing ones are left out
    (a zombie has none)."""
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def parse_pss(text: str) -> int:
    """Proportional set size (KiB) from /proc/<pid>/smaps_rollup text: memory shared
    with other processes (e.g. forked Python workers) counted once overall; 0 if absent."""
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def descendants(parents: dict[int, int], root: int) -> set[int]:
    """Every pid below `root` in a pid -> ppid map (root excluded)."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), list(children.get(root, ()))
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def busy_ticks(stat_text: str) -> tuple[int, int]:
    """(busy, total) CPU ticks of all CPUs from /proc/stat text (idle and iowait are
    not busy; stolen ticks count as busy)."""
    values = [int(v) for v in stat_text.splitlines()[0].split()[1:9]]
    total = sum(values)
    return total - values[3] - values[4], total


def steal_ticks(stat_text: str) -> int:
    """CPU ticks of all CPUs stolen by the hypervisor (0 where the kernel does not say)."""
    values = stat_text.splitlines()[0].split()[1:9]
    return int(values[7]) if len(values) > 7 else 0


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, ValueError):  # the process ended between listing and reading
        return None


def processes(proc: Path = PROC) -> dict[int, ProcInfo]:
    """Every process now running."""
    found = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            text = _read(entry / "stat")
            if text:
                info = parse_stat(text)
                found[info.pid] = info
    return found


@dataclass
class TreePeaks:
    """What the monitor saw of one process tree (memory in MiB)."""

    driver_mib: float = 0.0
    jvm_mib: float = 0.0
    workers_mib: float = 0.0  # peak of the summed PSS of all other descendants
    own_cpu_seconds: float = 0.0
    other_cpu_share: float | None = None  # share of all CPUs used by other processes
    stolen_cpu_share: float | None = None  # share of all CPU time stolen by the hypervisor
    samples: int = 0
    cpu_by_pid: dict[int, int] = field(default_factory=dict)


class TreeMonitor:
    """Polls the tree under `root` until stopped: `with TreeMonitor(pid) as m: ...`."""

    def __init__(self, root: int, interval: float = 0.2, proc: Path = PROC) -> None:
        self.root, self.interval, self.proc = root, interval, proc
        self.peaks = TreePeaks()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        stat = (proc / "stat").read_text()
        self._start_busy, self._start_steal = busy_ticks(stat), steal_ticks(stat)

    def __enter__(self) -> TreeMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        stat = (self.proc / "stat").read_text()
        busy, total = busy_ticks(stat)
        busy, total = busy - self._start_busy[0], total - self._start_busy[1]
        stolen = steal_ticks(stat) - self._start_steal
        own = sum(self.peaks.cpu_by_pid.values())
        self.peaks.own_cpu_seconds = own / CLOCK_TICKS
        if total > 0:
            self.peaks.other_cpu_share = max(0.0, (busy - stolen - own) / total)
            self.peaks.stolen_cpu_share = max(0.0, stolen / total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.interval)

    def poll(self) -> None:
        """Read every process of the tree once and update the peaks."""
        table = processes(self.proc)
        if self.root not in table:
            return
        tree = descendants({p.pid: p.ppid for p in table.values()}, self.root) | {self.root}
        workers = 0
        for pid in tree:
            status = parse_status(_read(self.proc / str(pid) / "status") or "")
            hwm = status.get("VmHWM", 0) / 1024
            self.peaks.cpu_by_pid[pid] = table[pid].cpu_ticks
            if pid == self.root:
                self.peaks.driver_mib = max(self.peaks.driver_mib, hwm)
            elif table[pid].name == "java":
                self.peaks.jvm_mib = max(self.peaks.jvm_mib, hwm)
            else:
                workers += parse_pss(_read(self.proc / str(pid) / "smaps_rollup") or "") / 1024
        self.peaks.workers_mib = max(self.peaks.workers_mib, workers)
        self.peaks.samples += 1


def cpu_busy_share(seconds: float = 2.0, proc: Path = PROC) -> float:
    """Share of all CPUs busy over the next `seconds` (0..1)."""
    busy0, total0 = busy_ticks((proc / "stat").read_text())
    time.sleep(seconds)
    busy1, total1 = busy_ticks((proc / "stat").read_text())
    return (busy1 - busy0) / max(total1 - total0, 1)


def wait_for_quiet(threshold: float, timeout: float) -> tuple[float, float]:
    """Wait until the machine's CPUs are less than `threshold` busy (measured over 2 s)
    or `timeout` seconds passed. Returns (busy share last measured, seconds waited)."""
    started = time.monotonic()
    busy = cpu_busy_share()
    while busy >= threshold and time.monotonic() - started < timeout:
        busy = cpu_busy_share()
    return busy, time.monotonic() - started

