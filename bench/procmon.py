"""Run a command and measure its process tree (psutil), polled in a background thread.

`python -m pipeline ...` (the Python driver) starts a `java` child (the Spark JVM). Every
0.2 s the monitor reads the peak resident memory of the driver and of the largest `java`
below it (VmHWM, kept by the kernel, so spikes between polls are not missed while the
process lives; psutil has no peak on Linux) and the CPU time of every process of the tree.
The machine's CPU times over the same window say how much other work competed: other
processes, and on a virtual machine the CPU time the hypervisor gave other guests ("steal").
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import psutil

MIB = 1024 * 1024


def peak_mib(pid: int) -> float:
    """Peak resident MiB (VmHWM) of a live process; 0 once it ended or is a zombie."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            return next((int(line.split()[1]) * 1024 / MIB for line in status
                         if line.startswith("VmHWM:")), 0.0)
    except OSError:
        return 0.0


class TreeMonitor:
    """Polls the tree under `root` until stopped: `with TreeMonitor(pid) as m: ...`."""

    def __init__(self, root: int, interval: float = 0.2) -> None:
        self.root, self.interval = root, interval
        self.driver_mib = self.jvm_mib = 0.0
        self.cpu_by_pid: dict[int, float] = {}  # user + system seconds, last seen
        self.samples = 0
        self.other_cpu_share = self.stolen_cpu_share = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._cpu_start = psutil.cpu_times()

    @property
    def cpu_seconds(self) -> float:
        """CPU time of the whole tree."""
        return sum(self.cpu_by_pid.values())

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
        if total > 0:
            self.other_cpu_share = max(0.0, (busy - stolen - self.cpu_seconds) / total)
            self.stolen_cpu_share = max(0.0, stolen / total)

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
        for proc in tree:
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    self.cpu_by_pid[proc.pid] = times.user + times.system
                    if proc.pid == self.root:
                        self.driver_mib = max(self.driver_mib, peak_mib(proc.pid))
                    elif proc.name() == "java":
                        self.jvm_mib = max(self.jvm_mib, peak_mib(proc.pid))
            except psutil.Error:  # ended (or became a zombie) since the listing
                continue
        self.samples += 1


def measure(command: list[str], log: Path) -> dict:
    """Run `command` to its end, its output in `log`, while polling its tree: wall seconds,
    peaks (MiB), CPU seconds and the shares of all CPUs other processes and the hypervisor
    took meanwhile. Raises RuntimeError with the log's last lines on a non-zero exit."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        with TreeMonitor(process.pid) as monitor:
            code = process.wait()
            seconds = time.perf_counter() - started
    if code:
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-25:])
        raise RuntimeError(f"{' '.join(command[:3])} exited with code {code} (log {log}):"
                           f"\n{tail}")
    return {"seconds": round(seconds, 2), "driver_mib": round(monitor.driver_mib, 1),
            "jvm_mib": round(monitor.jvm_mib, 1), "cpu_seconds": round(monitor.cpu_seconds, 1),
            "other_cpu_share": round(monitor.other_cpu_share, 3),
            "stolen_cpu_share": round(monitor.stolen_cpu_share, 3), "log": str(log)}
