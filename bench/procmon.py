"""Memory and CPU of a process tree (psutil), polled in a background thread.

A stage runs as `python -m <stage>` (the Python driver), which starts a `java` child (the
Spark JVM), which starts Python workers. Every ~0.2 s the monitor looks at each process of
the tree: the peak resident memory of the driver and the JVM (VmHWM, kept by the kernel, so
spikes between polls are not missed while the process lives; psutil has no peak on Linux),
the proportional set size (PSS) of the other processes (forked workers share pages, so
their RSS would count them several times), the memory of the whole tree at that moment,
and the CPU time used. The machine's CPU times over the same window say how much other
work competed: other processes, and on a virtual machine the CPU time the hypervisor gave
other guests while ours wanted it ("steal").
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import psutil

MIB = 1024 * 1024


def peak_rss(pid: int) -> int:
    """Peak resident bytes (VmHWM) of a live process; 0 once it ended or is a zombie."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            return next((int(line.split()[1]) * 1024 for line in status
                         if line.startswith("VmHWM:")), 0)
    except OSError:
        return 0


@dataclass
class TreePeaks:
    """What the monitor saw of one process tree (memory in MiB)."""

    driver_mib: float = 0.0  # peak (VmHWM) of the root process
    jvm_mib: float = 0.0  # peak (VmHWM) of the largest `java` process below it
    workers_mib: float = 0.0  # peak of the summed PSS of all other descendants
    tree_mib: float = 0.0  # peak of driver RSS + JVM RSS + workers PSS at one poll
    own_cpu_seconds: float = 0.0
    other_cpu_share: float | None = None  # share of all CPUs used by other processes
    stolen_cpu_share: float | None = None  # share of all CPU time stolen by the hypervisor
    samples: int = 0
    cpu_by_pid: dict[int, float] = field(default_factory=dict)  # user + system s, last seen


class TreeMonitor:
    """Polls the tree under `root` until stopped: `with TreeMonitor(pid) as m: ...`."""

    def __init__(self, root: int, interval: float = 0.2) -> None:
        self.root, self.interval = root, interval
        self.peaks = TreePeaks()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._cpu_start = psutil.cpu_times()

    def __enter__(self) -> TreeMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        # Seconds of all CPUs; guest time is already inside user and nice on Linux.
        start, end = self._cpu_start, psutil.cpu_times()
        spent = {f: getattr(end, f) - getattr(start, f) for f in end._fields
                 if f not in ("guest", "guest_nice")}
        total, stolen = sum(spent.values()), spent.get("steal", 0.0)
        busy = total - spent["idle"] - spent.get("iowait", 0.0)
        own = self.peaks.own_cpu_seconds = sum(self.peaks.cpu_by_pid.values())
        if total > 0:
            self.peaks.other_cpu_share = max(0.0, (busy - stolen - own) / total)
            self.peaks.stolen_cpu_share = max(0.0, stolen / total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.interval)

    def poll(self) -> None:
        """Look at every process of the tree once and update the peaks."""
        try:
            root = psutil.Process(self.root)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:  # the root ended
            return
        peaks, now, workers = self.peaks, 0, 0
        for proc in tree:
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    peaks.cpu_by_pid[proc.pid] = times.user + times.system
                    if proc.pid == self.root:
                        peaks.driver_mib = max(peaks.driver_mib, peak_rss(proc.pid) / MIB)
                        now += proc.memory_info().rss
                    elif proc.name() == "java":
                        peaks.jvm_mib = max(peaks.jvm_mib, peak_rss(proc.pid) / MIB)
                        now += proc.memory_info().rss
                    else:
                        pss = proc.memory_full_info().pss
                        now, workers = now + pss, workers + pss
            except psutil.Error:  # ended (or became a zombie) since the listing
                continue
        peaks.workers_mib = max(peaks.workers_mib, workers / MIB)
        peaks.tree_mib = max(peaks.tree_mib, now / MIB)
        peaks.samples += 1


def wait_for_quiet(threshold: float, timeout: float,
                   window: float = 2.0) -> tuple[float, float]:
    """Wait until the machine's CPUs are less than `threshold` busy (0..1, measured over
    `window` s) or `timeout` seconds passed. Returns (busy share last measured, seconds
    waited)."""
    started = time.monotonic()
    busy = psutil.cpu_percent(interval=window) / 100
    while busy >= threshold and time.monotonic() - started < timeout:
        busy = psutil.cpu_percent(interval=window) / 100
    return busy, time.monotonic() - started
