"""`make class-archive`: dump the Spark JVM's class archive from a small pipeline run.

Runs bronze, silver, gold, train and score in this process on a generated sample in a
temporary folder (so the archive holds the classes the real stages load: CSV parsing,
Parquet, Great Expectations' queries, MLlib, MLflow's model logging), lets the JVM dump
its classes as it exits, checks the archive and installs it (lakehouse/jvm_archive.py).
Takes 1-2 minutes; `make` runs it once after installing the dependencies.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyspark import SparkContext

from datagen import GeneratorSpec, generate
from lakehouse import jvm_archive
from lakehouse.pipeline import main as pipeline_main

SAMPLE = GeneratorSpec(rows=20_000, customers=400, months=18, seed=11)
STAGES = ("bronze", "silver", "gold", "train", "score")


@contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """Send this process's output to `path`, Python's and that of the processes it starts
    (the JVM inherits file descriptors 1 and 2): the sample run's summaries are not the
    user's results. Python's streams stay the same objects (logging handlers keep them),
    only the descriptors under them move."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with path.open("ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _jvm() -> subprocess.Popen | None:
    """The JVM process this process started (pyspark keeps it on the gateway)."""
    return getattr(SparkContext._gateway, "proc", None)


def _wait_for_jvm(timeout: float) -> int:
    """Close the JVM's stdin (it exits on EOF, dumping its classes) and wait for it."""
    proc = _jvm()
    if proc is None:
        raise jvm_archive.ClassArchiveError("no JVM was started by this process")
    if not proc.stdin.closed:
        proc.stdin.close()
    return proc.wait(timeout=timeout)


def build(target: Path, *, timeout: float = 900) -> Path:
    """Dump, check and install an archive at `target`."""
    with tempfile.TemporaryDirectory(prefix="class-archive-") as tmp:
        root = Path(tmp)
        generate(SAMPLE, root / "landing", root / "truth")
        target.parent.mkdir(parents=True, exist_ok=True)
        dumped = target.with_name(f".{target.name}.{os.getpid()}.partial")
        os.environ[jvm_archive.DUMP_ENV] = str(dumped)
        try:
            paths = [f"--set=paths.{k}={root / k}"
                     for k in ("landing", "truth", "lake", "reports", "mlflow")]
            log = root / "pipeline.log"
            with _output_to(log):
                code = pipeline_main(["--env", "test", *paths,
                                      "--set=spark.log_level=ERROR", *STAGES])
            if code:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
                raise jvm_archive.ClassArchiveError(
                    f"the sample pipeline failed ({code}); its last lines:\n{tail}")
            exit_code = _wait_for_jvm(timeout)
            if exit_code:
                raise jvm_archive.ClassArchiveError(f"the JVM exited with {exit_code}")
            return jvm_archive.install(dumped, target)
        finally:
            os.environ.pop(jvm_archive.DUMP_ENV, None)
            if (proc := _jvm()) is not None and proc.poll() is None:
                _wait_for_jvm(timeout)  # it dumps as it exits: let it finish first
            dumped.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m tools.class_archive`."""
    parser = argparse.ArgumentParser(prog="python -m tools.class_archive",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true",
                        help="build even when a usable archive for this JVM exists")
    args = parser.parse_args(argv)
    target = jvm_archive.archive_path()
    if target is None:
        print("class archive: no Java runtime found; skipped", file=sys.stderr)
        return 1
    if jvm_archive.usable(target) and not args.force:
        print(f"class archive: {target} is up to date")
        return 0
    started = time.perf_counter()
    print("class archive: dumping the Spark JVM's classes from a small pipeline run "
          "(once, 1-2 min) ...", flush=True)
    try:
        build(target)
    except jvm_archive.ClassArchiveError as err:
        print(f"class archive: not built: {err}; Spark runs without it "
              "(`make class-archive` tries again)", file=sys.stderr)
        return 1
    size = target.stat().st_size / 2**20
    print(f"class archive: {target} ({size:,.0f} MiB) in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
