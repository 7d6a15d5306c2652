"""The Spark session: one per process, created at the entry point and passed down."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from pyspark.errors import PySparkAttributeError
from pyspark.sql import SparkSession

from lakehouse.errors import LakehouseError
from lakehouse.jars import jar_paths
from lakehouse.logs import current_log_file
from lakehouse.progress import interactive
from lakehouse.settings import Settings

# What executors may import: the Python packages and modules of pyproject.toml
# (tests/unit/test_project_archive.py checks that the two lists agree).
PACKAGES = ("lakehouse", "bronze", "silver", "gold", "ml", "audit", "datagen", "report",
            "pipeline")
DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


class JavaMissingError(LakehouseError, RuntimeError):
    """No Java runtime: Spark cannot start."""


def on_databricks() -> bool:
    """True inside a Databricks runtime (job or interactive cluster)."""
    return "DATABRICKS_RUNTIME_VERSION" in os.environ


def get_spark(settings: Settings) -> SparkSession:
    """Return the session for this process.

    On Databricks the cluster's session is returned untouched. Locally a session is
    built once from `settings.spark`: UTC everywhere, microsecond Parquet timestamps
    (delta-rs reads them as UTC `timestamp`), adaptive execution, small shuffles,
    no UI and quiet logs.
    """
    if on_databricks():
        return SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    _require_java()
    # pandas-on-Spark (used by GX and MLflow) warns without it; timestamps stay UTC anyway.
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    # Python workers must run this interpreter (with pyarrow etc.), not `python3` on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    cfg = settings.spark
    jars = jar_paths(settings.paths.jars)  # before the JVM: a clear message, not a trace
    log4j = settings.project_root / "conf" / "log4j2.properties"
    java_opts = f"-Duser.timezone=UTC -Dlog4j2.configurationFile=file:{log4j}"
    log_file = current_log_file()
    if log_file is not None:  # the JVM's warnings and stack traces go to the run's log file
        java_opts += f' -Dlakehouse.log.appender=file "-Dlakehouse.log.file={log_file}"'
    builder = (
        SparkSession.builder.master(cfg.master)
        .appName(cfg.app_name)
        .config("spark.jars", ",".join(jars))
        .config("spark.sql.extensions", DELTA_EXTENSION)
        .config("spark.sql.catalog.spark_catalog", DELTA_CATALOG)
        .config("spark.driver.memory", cfg.driver_memory)
        .config("spark.driver.extraJavaOptions", java_opts)
        # Executors may run on other machines: no driver-local file in their options.
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.pyspark.python", os.environ["PYSPARK_PYTHON"])
        .config("spark.ui.enabled", "false")
        # Spark's progress bar for a person at a terminal; never in CI or a log file.
        .config("spark.ui.showConsoleProgress", str(interactive()).lower())
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.adaptive.coalescePartitions.enabled", "true")
        .config("spark.sql.shuffle.partitions", str(cfg.shuffle_partitions))
        # Scan splits of at most 32 MB (Spark: 128 MB): 10M bronze rows are 9 tasks, not 3,
        # so two cores are not left with one task running alone (silver's typing and
        # cache: 79 s instead of 89 s). Small tables still split by bytes per core.
        .config("spark.sql.files.maxPartitionBytes", "32m")
        .config("spark.sql.warehouse.dir", str(settings.paths.lake / "_warehouse"))
        .config("spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
        .config("spark.hadoop.parquet.enable.summary-metadata", "false")
        .config("spark.sql.debug.maxToStringFields", "200")
    )
    for key, value in cfg.conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(cfg.log_level)
    if not cfg.master.startswith("local"):
        # Executors on a cluster import the project from this archive, not from the
        # driver's working directory (Python workers of local[*] inherit the driver's path).
        spark.sparkContext.addPyFile(str(project_archive()))
    return spark


def task_slots(spark: SparkSession) -> int:
    """How many tasks the session's cluster runs at once (its cores). Spark Connect (e.g.
    Databricks serverless) has no SparkContext to ask: `spark.default.parallelism` if set,
    else 8."""
    try:
        return spark.sparkContext.defaultParallelism
    except PySparkAttributeError:
        return int(spark.conf.get("spark.default.parallelism", None) or 8)


def project_archive() -> Path:
    """The project's packages (PACKAGES) as one zip for the executors, built once per
    content in the temporary folder (the name holds a hash of every file's path, size and
    modification time, so concurrent runs share it and a code change gets a new one)."""
    files = sorted((path, path.relative_to(root))
                   for root, folder in _package_folders()
                   for path in ([folder] if folder.is_file() else folder.rglob("*"))
                   if path.is_file() and "__pycache__" not in path.parts)
    digest = hashlib.sha256()
    for path, name in files:
        stat = path.stat()
        digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    target = Path(tempfile.gettempdir()) / f"lakehouse-{digest.hexdigest()[:16]}.zip"
    if not target.is_file():
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path, name in files:
                archive.write(path, str(name))
        os.replace(partial, target)
    return target


def _package_folders() -> list[tuple[Path, Path]]:
    """(folder the package is in, package folder or module file) for each of PACKAGES,
    wherever they are imported from (the source tree or site-packages)."""
    found = []
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise LakehouseError(f"cannot find the project's package {name!r} to ship to "
                                 "the executors: install the project (`make venv`)")
        origin = Path(spec.origin)
        item = origin.parent if origin.name == "__init__.py" else origin
        found.append((item.parent, item))
    return found


def _require_java() -> None:
    if shutil.which("java", path=_java_path()) is None:
        raise JavaMissingError(
            "Spark needs a Java runtime (17 or 21) and none was found: install one "
            "(e.g. `apt-get install openjdk-17-jre-headless` or `brew install openjdk@17`) "
            "or set JAVA_HOME."
        )


def _java_path() -> str:
    """Where Spark looks for `java`: JAVA_HOME's bin first, then PATH."""
    home = os.environ.get("JAVA_HOME")
    return os.pathsep.join(filter(None, [home and str(Path(home, "bin")),
                                         os.environ.get("PATH", "")]))
