"""A class-data-sharing (CDS) archive of the local Spark JVM's classes.

Every local Spark JVM loads, parses and verifies tens of thousands of classes from ~290
jars: at start and again during its first queries (Parquet, Great Expectations' metrics,
MLlib). Java 17 can dump the classes a run loaded into an archive
(`-XX:ArchiveClassesAtExit`) that later JVMs map in ready-made (`-XX:SharedArchiveFile`).
Measured on 1M rows (`bronze silver gold train` in one process, alternating runs): the
Spark session was ready in 4.3-6.0 s instead of 7.6-9.9 s; whole runs moved by less than
this machine's run-to-run noise (±10 s).

An archive fits only the JVM build, the jars and the garbage collector it was dumped
with, so its file name carries a key of those: after a Java or pyspark upgrade the JVM
looks for another file and runs without one until `make class-archive` builds it. A
truncated archive crashes the JVM at start (SIGBUS), so an archive is dumped under a
temporary name, checked by starting a JVM on it, and only then renamed into place with
its size recorded beside it; a file whose size no longer matches is not used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pyspark

# The collector every local Spark JVM runs with (part of the archive's key: an archive
# dumped under another collector is refused). Parallel, not G1: G1's concurrent threads
# compete with the tasks for a laptop's two cores (bronze..gold on 1M rows: 135 s
# instead of 150 s).
GC_OPTION = "-XX:+UseParallelGC"
# Set by the archive builder (tools/class_archive.py): the JVM of this process dumps its
# loaded classes to this path when it exits.
DUMP_ENV = "LAKEHOUSE_CLASS_ARCHIVE_DUMP"
# A missing or unusable archive is not an error (the JVM runs without it): keep it quiet.
QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"


class ClassArchiveError(RuntimeError):
    """An archive could not be dumped or failed its check."""


def java_executable() -> Path | None:
    """The `java` Spark will start: JAVA_HOME's, else the first on PATH (links resolved)."""
    home = os.environ.get("JAVA_HOME")
    candidate = Path(home, "bin", "java") if home else None
    if candidate is None or not candidate.exists():
        found = shutil.which("java")
        candidate = Path(found) if found else None
    return candidate.resolve() if candidate else None


def spark_jars() -> Path:
    """The folder of jars on the Spark JVM's class path."""
    if os.environ.get("SPARK_HOME"):
        return Path(os.environ["SPARK_HOME"], "jars")
    return Path(pyspark.__file__).parent / "jars"


def archive_key(java: Path, jars: Path) -> str:
    """16 hex digits naming what an archive depends on: the JVM binary (path, size,
    modification time), the jar names and the collector option."""
    stat = java.stat()
    names = sorted(p.name for p in jars.glob("*.jar")) if jars.is_dir() else []
    ident = json.dumps([str(java), stat.st_size, stat.st_mtime_ns, str(jars), names,
                        GC_OPTION])
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


def archive_path(folder: Path | None = None) -> Path | None:
    """Where this interpreter's archive for the current JVM and jars lives (under the
    virtual environment by default); None without a Java runtime."""
    java = java_executable()
    if java is None:
        return None
    folder = folder or Path(sys.prefix, "share", "lakehouse")
    return folder / f"spark-classes-{archive_key(java, spark_jars())}.jsa"


def _sidecar(archive: Path) -> Path:
    return archive.with_name(archive.name + ".json")


def usable(archive: Path) -> bool:
    """True when `archive` was installed by `install` and has kept its size since."""
    try:
        recorded = json.loads(_sidecar(archive).read_text())["size"]
        return archive.stat().st_size == recorded
    except (OSError, ValueError, KeyError, TypeError):
        return False


def java_options(*, enabled: bool, archive: Path | None = None) -> str:
    """JVM options for a local Spark session: dump (builder), use (a usable archive for
    this JVM exists) or nothing."""
    dump = os.environ.get(DUMP_ENV)
    if dump:
        return f"-XX:ArchiveClassesAtExit={dump} {QUIET}"
    if not enabled:
        return ""
    archive = archive or archive_path()
    if archive is None or not usable(archive):
        return ""
    return f"-XX:SharedArchiveFile={archive} {QUIET}"


def check(archive: Path, *, java: Path | None = None) -> None:
    """Start a JVM on `archive`; raise ClassArchiveError if it does not come up (a
    truncated or corrupt archive crashes it)."""
    java = java or java_executable()
    if java is None:
        raise ClassArchiveError("no Java runtime to check the archive with")
    with tempfile.TemporaryDirectory(prefix="class-archive-check-") as scratch:
        # A crashing JVM writes hs_err_pid*.log into its working folder: keep it out of ours.
        done = subprocess.run([str(java), GC_OPTION, f"-XX:SharedArchiveFile={archive}",
                               *QUIET.split(), "-version"], capture_output=True, text=True,
                              timeout=120, check=False, cwd=scratch)
    if done.returncode != 0:
        first = (done.stdout + done.stderr).strip().splitlines()[:3]
        raise ClassArchiveError(f"a JVM started on {archive} exited with "
                                f"{done.returncode}: {' / '.join(first)}")


def install(dumped: Path, target: Path) -> Path:
    """Check a freshly dumped archive and move it to `target` with its size recorded."""
    if not dumped.is_file() or dumped.stat().st_size == 0:
        raise ClassArchiveError(f"the JVM wrote no archive at {dumped}")
    check(dumped)
    target.parent.mkdir(parents=True, exist_ok=True)
    size = dumped.stat().st_size
    os.replace(dumped, target)
    sidecar = _sidecar(target)
    partial = sidecar.with_name(f".{sidecar.name}.{os.getpid()}")
    partial.write_text(json.dumps({"size": size}))
    os.replace(partial, sidecar)
    return target
