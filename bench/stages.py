"""Run one stage as its own process (`python -m <module> ...`), as `make` does, and
measure it: wall seconds (JVM start included), peak memory of the Python driver, the
JVM and the Python workers, the seconds spent in quality gates (from the stage's
`quality[<stage>]: ... (X.X s)` lines) and how busy the rest of the machine was."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.procmon import TreeMonitor

# `(X s)`: a gate the stage ran before writing; `(validated in Y s beside the writes,
# waited X s)`: one that validated while the stage wrote, X the seconds it held the stage.
GATE_LINE = re.compile(r"^quality\[(?P<stage>[\w.-]+)\]: .*\((?:validated in "
                       r"(?P<validation>\d+(?:\.\d+)?) s beside the writes, waited )?"
                       r"(?P<seconds>\d+(?:\.\d+)?) s\)\s*$")
STAGE_MODULES = {"bronze": "bronze", "silver": "silver", "gold": "gold", "train": "ml.train"}


class StageFailed(RuntimeError):
    """A stage process exited with a non-zero code; the message holds its last lines."""


@dataclass(frozen=True)
class StageRun:
    """The measurements of one stage process."""

    stage: str
    rows: int  # input rows of the run (CSV records), the x axis of every rate
    seconds: float
    driver_mib: float
    jvm_mib: float
    workers_mib: float
    gate_seconds: float
    cpu_seconds: float  # CPU time of the whole process tree
    other_cpu_share: float | None  # share of all CPUs used by other processes meanwhile
    load_before: float  # 1-minute load average when the stage started
    exit_code: int
    log: str
    stolen_cpu_share: float | None = None  # share of all CPU time the hypervisor took

    @property
    def rows_per_second(self) -> float:
        """Input rows per wall second."""
        return self.rows / self.seconds if self.seconds else 0.0

    @property
    def gate_share(self) -> float:
        """Share of the wall time spent in quality gates."""
        return self.gate_seconds / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        """JSON-ready fields, rates included."""
        return {**asdict(self), "rows_per_second": round(self.rows_per_second, 1),
                "gate_share": round(self.gate_share, 4)}


def gate_seconds(lines: Sequence[str]) -> list[float]:
    """The seconds the stage spent in each gate, from the `quality[...]: ...` summary
    lines: a gate's validation time, or for a gate beside the writes the time the stage
    waited for its verdict."""
    found = []
    for line in lines:
        match = GATE_LINE.match(line.strip())
        if match:
            found.append(float(match["seconds"]))
    return found


def stage_command(stage: str, overrides: Sequence[str], env_name: str = "local",
                  extra: Sequence[str] = ()) -> list[str]:
    """`python -m <module> --env <env> --set ... <extra>` for a stage name (or a module)."""
    command = [sys.executable, "-m", STAGE_MODULES.get(stage, stage), "--env", env_name]
    for item in overrides:
        command += ["--set", item]
    return [*command, *extra]


def run_stage(stage: str, *, rows: int, overrides: Sequence[str], log_dir: Path,
              env_name: str = "local", extra: Sequence[str] = (), interval: float = 0.2,
              check: bool = True, name: str | None = None) -> StageRun:
    """Run a stage process to its end while polling its process tree; its stdout and
    stderr go to `log_dir/<name>.log` (name: the stage's by default). Raises StageFailed
    on a non-zero exit when `check`."""
    log_dir.mkdir(parents=True, exist_ok=True)
    name = name or stage
    log = log_dir / f"{name}.log"
    load = os.getloadavg()[0]
    with open(log, "w", encoding="utf-8") as out:
        started = time.perf_counter()
        process = subprocess.Popen(stage_command(stage, overrides, env_name, extra),
                                   stdout=out, stderr=subprocess.STDOUT)
        with TreeMonitor(process.pid, interval=interval) as monitor:
            code = process.wait()
            seconds = time.perf_counter() - started
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    if check and code != 0:
        tail = "\n".join(lines[-25:])
        raise StageFailed(f"{name} exited with code {code} (log {log}):\n{tail}")
    peaks = monitor.peaks
    return StageRun(name, rows, round(seconds, 2), round(peaks.driver_mib, 1),
                    round(peaks.jvm_mib, 1), round(peaks.workers_mib, 1),
                    round(sum(gate_seconds(lines)), 2), round(peaks.own_cpu_seconds, 1),
                    _share(peaks.other_cpu_share), round(load, 2), code, str(log),
                    stolen_cpu_share=_share(peaks.stolen_cpu_share))


def _share(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


PIPELINE_LINE = re.compile(r"^pipeline: (?P<stage>[\w.]+) (?P<seconds>\d+(?:\.\d+)?) s\s*$")
STARTUP = "startup"  # imports, JVM start and stop: the process wall time outside the stages


def split_pipeline_run(run: StageRun, stages: Sequence[str]) -> dict[str, dict]:
    """Per-stage measurements of one `pipeline` process, from its
    `pipeline: <stage> X s` lines and the `quality[...]` lines printed between them.
    `startup` is the rest of the process wall time (imports, JVM start, stop). Memory
    peaks are the whole process's (one JVM serves every stage)."""
    lines = Path(run.log).read_text(encoding="utf-8", errors="replace").splitlines()
    names = {STAGE_MODULES.get(s, s): s for s in stages}
    seconds, gates, pending = {}, {}, []
    for line in lines:
        if GATE_LINE.match(line.strip()):
            pending.append(line)
        match = PIPELINE_LINE.match(line.strip())
        if match and match["stage"] in names:
            stage = names[match["stage"]]
            seconds[stage], gates[stage], pending = float(match["seconds"]), \
                sum(gate_seconds(pending)), []
    missing = [s for s in stages if s not in seconds]
    if missing:
        raise StageFailed(f"pipeline log {run.log} has no timing line for {missing}")
    base = run.as_dict()
    out = {}
    for stage in stages:
        part = StageRun(stage, run.rows, seconds[stage], run.driver_mib, run.jvm_mib,
                        run.workers_mib, round(gates[stage], 2), run.cpu_seconds,
                        run.other_cpu_share, run.load_before, run.exit_code, run.log,
                        stolen_cpu_share=run.stolen_cpu_share)
        out[stage] = {**part.as_dict(), "process": "pipeline"}
    startup = round(run.seconds - sum(seconds.values()), 2)
    out[STARTUP] = {**base, "stage": STARTUP, "seconds": startup, "gate_seconds": 0.0,
                    "gate_share": 0.0, "process": "pipeline", "process_seconds": run.seconds,
                    "rows_per_second": round(run.rows / startup, 1) if startup else 0.0}
    return out
