"""Where a stage's wall time goes, from py-spy samples of its Python driver.

`run_bench --profile` attaches `py-spy record --idle --threads --format raw` to each
stage's driver (py-spy is a profiling aid, not a project dependency: `pip install py-spy`
into the venv). The driver's main thread mostly waits for the JVM, so each sample's
innermost *project* frame names the pipeline line that triggered the Spark work (or the
Python work) the stage was doing at that moment; summed over samples that is wall time
per line. Samples are also grouped into phases: Spark session start and stop, quality
gate, table store (Delta commits, merges), other stage code, interpreter start and imports.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]+):(?P<line>\d+)\)$")
PROJECT_PACKAGES = ("bronze/", "silver/", "gold/", "ml/", "lakehouse/", "datagen/", "audit/")
PHASES = (  # (phase, path fragment, function or None) of a frame anywhere in the stack;
    # the first that matches wins
    ("quality gate", "lakehouse/quality/", None),
    ("Spark session start", "lakehouse/spark.py", None),
    ("Spark session stop", "pyspark/sql/session.py", "stop"),
    ("table store (Delta read/write/merge)", "lakehouse/tables/", None),
)


def py_spy() -> str | None:
    """The py-spy executable next to this interpreter or on PATH, if installed."""
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def start_recording(pid: int, out: Path, rate: int = 20) -> subprocess.Popen | None:
    """Start py-spy on `pid` (it stops when the process ends); None without py-spy."""
    exe = py_spy()
    if exe is None:
        return None
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--rate", str(rate),
                             "--format", "raw", "--idle", "--threads", "--nonblocking",
                             "--full-filenames", "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def parse_raw(lines: list[str]) -> list[tuple[str, list[tuple[str, str, int]], int]]:
    """(thread name, frames outermost first as (function, file, line), count) per line of
    py-spy's raw output (`thread (tid): Name;frame;frame count`)."""
    stacks = []
    for text in lines:
        text = text.rstrip()
        if not text.startswith("thread ("):
            continue
        body, _, count = text.rpartition(" ")
        parts = body.split(";")
        thread = parts[0].split(": ", 1)[-1]
        frames = []
        for part in parts[1:]:
            match = FRAME.match(part)
            if match:
                frames.append((match["function"], match["file"], int(match["line"])))
        stacks.append((thread, frames, int(count)))
    return stacks


def project_path(file: str, root: Path) -> str | None:
    """`file` relative to the project root if it is project code (not bench, not the
    venv), else None."""
    try:
        rel = Path(file).resolve().relative_to(root).as_posix()
    except ValueError:
        return None
    return rel if rel.startswith(PROJECT_PACKAGES) else None


def phase_of(frames: list[tuple[str, str, int]], root: Path) -> str:
    """The phase of one sample's stack (see PHASES); 'stage code' otherwise, 'startup and
    imports' when no project function is running yet."""
    files = [f for _, f, _ in frames]
    for phase, fragment, function in PHASES:
        if any(fragment in f and (function is None or fn.split(".")[-1] == function)
               for fn, f, _ in frames):
            return phase
    code = [f for f in files if project_path(f, root)]
    if not code or all(fn == "<module>" for fn, f, _ in frames if project_path(f, root)):
        return "startup and imports"
    return "stage code"


def summarize(path: Path, root: Path, *, rate: int = 20, top: int = 12) -> dict:
    """Seconds of the driver's main thread per phase, per innermost project line
    (`lines`) and per innermost line of the stage's own package (`stage_lines`: the
    line of bronze/silver/gold/ml that called into lakehouse or a library)."""
    stacks = [s for s in parse_raw(path.read_text(errors="replace").splitlines())
              if s[0] == "MainThread"]
    phases: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    stage_lines: Counter[str] = Counter()
    for _, frames, count in stacks:
        phases[phase_of(frames, root)] += count
        code = [(fn, rel, n) for fn, f, n in frames if (rel := project_path(f, root))]
        lines[_key(code)] += count
        stage_lines[_key([c for c in code if not c[1].startswith("lakehouse/")])] += count
    total = sum(phases.values())

    def seconds(counter: Counter[str], n: int | None = None) -> dict[str, float]:
        return {k: round(v / rate, 1) for k, v in counter.most_common(n)}

    return {"seconds": round(total / rate, 1), "phases": seconds(phases),
            "lines": seconds(lines, top), "stage_lines": seconds(stage_lines, top)}


def _key(code: list[tuple[str, str, int]]) -> str:
    """`file:line function` of the innermost frame, or a placeholder."""
    if not code:
        return "(no project frame)"
    function, rel, line = code[-1]
    return f"{rel}:{line} {function}"
