"""How long a `make bronze silver gold train` process takes before its first stage can
run, and to exit after its last: the fixed cost every run pays (imports, JVM start,
stop), which no amount of data changes.

    .venv/bin/python -m bench.startup --runs 3
    .venv/bin/python -m bench.startup --runs 3 --root /path/to/another/checkout   # A/B

Each run is `python -m lakehouse.pipeline bronze silver gold train` on a fresh lake
with an empty landing folder: bronze and silver find nothing to do and gold stops at
once (no silver table yet), so the process is almost all start-up. Prints, per run,
when (seconds from the process start) the `pipeline: Spark session` line appeared (the
first stage could run) and when the process exited, then the medians. Compare runs
made together: this machine's JVM start alone varies by seconds from hour to hour.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from lakehouse.config import PROJECT_ROOT

READY = "pipeline: Spark session"


def ready_seconds(timed_lines: Iterable[tuple[float, str]]) -> float | None:
    """When the session line appeared, from (seconds, line) pairs; None if it never did."""
    return next((t for t, line in timed_lines if line.startswith(READY)), None)


def time_run(root: Path, work: Path) -> tuple[float | None, float]:
    """(ready, exit) seconds of one pipeline process run from checkout `root`."""
    paths = {k: work / k for k in ("landing", "lake", "reports", "mlflow")}
    paths["landing"].mkdir(parents=True)
    command = [sys.executable, "-m", "lakehouse.pipeline",
               *[f"--set=paths.{k}={v}" for k, v in paths.items()],
               "bronze", "silver", "gold", "train"]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    timed = [(time.perf_counter() - started, line) for line in process.stdout]
    process.wait()
    return ready_seconds(timed), time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--root", type=Path, default=PROJECT_ROOT,
                        help="checkout to run (default: this one)")
    args = parser.parse_args(argv)
    ready, exited = [], []
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        for run in range(1, args.runs + 1):
            first, last = time_run(args.root, Path(tmp) / f"run{run}")
            if first is None:
                print(f"run {run}: no `{READY}` line (exit after {last:.1f} s)")
                return 1
            ready.append(first)
            exited.append(last)
            print(f"run {run}: first stage could run at {first:.1f} s, exit at {last:.1f} s",
                  flush=True)
    print(f"median of {args.runs}: ready {statistics.median(ready):.1f} s, "
          f"exit {statistics.median(exited):.1f} s ({args.root})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
