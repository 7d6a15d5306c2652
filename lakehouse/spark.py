"""The Spark session: one per process, created at the entry point and passed down."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from lakehouse.errors import LakehouseError
from lakehouse.jvm_archive import GC_OPTION, java_executable, java_options
from lakehouse.settings import Settings

log = logging.getLogger(__name__)

# Local JVM compilation. `quick`: C1 only, every method compiled once, at once, into code
# slower than C2's; `peak`: the JVM's tiered default, whose C2 compiler makes hot loops
# faster after spending a core's time compiling them. Measured on 2 cores, one process as
# `make` runs it, alternating runs on a host whose speed varied by 1.7x: the 1M-row sample's
# bronze silver gold train took 71.7-112.9 s quick (median 84.4 s, 6 runs) against
# 90.7-112.3 s peak (median 102.6 s, 7 runs); of three pairs run with a CPU probe, quick was
# faster in two and even in the third, on a host 60% slower. The 10M-row sample's silver
# took 184 s quick against 103-110 s peak. C1 alone needs the tiered default's code cache
# (240 MB, not 48 MB): with the smaller one training died with "Out of space in CodeCache".
QUICK_JIT = ("-XX:TieredStopAtLevel=1", "-XX:ReservedCodeCacheSize=240m")


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
    log4j = settings.project_root / "conf" / "log4j2.properties"
    jit, why = jit_mode(settings)
    log.info("local Spark JVM: %s compilation (%s)", jit, why)
    java_opts = " ".join(filter(None, [
        f"-Duser.timezone=UTC -Dlog4j2.configurationFile=file:{log4j}", GC_OPTION,
        *(QUICK_JIT if jit == "quick" else ()), java_options(enabled=cfg.class_archive)]))
    builder = (
        SparkSession.builder.master(cfg.master)
        .appName(cfg.app_name)
        .config("spark.driver.memory", cfg.driver_memory)
        .config("spark.driver.extraJavaOptions", java_opts)
        .config("spark.executor.extraJavaOptions", java_opts)
        .config("spark.pyspark.python", os.environ["PYSPARK_PYTHON"])
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
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
    return spark


def jit_mode(settings: Settings) -> tuple[str, str]:
    """`quick` or `peak` (see QUICK_JIT) for this process's JVM, and why. `auto` picks
    quick while the files a run can read (landing and lake) total under
    `spark.quick_jit_max_mib`: a short run is mostly warm-up, a long one mostly hot loops."""
    cfg = settings.spark
    if cfg.jit != "auto":
        return cfg.jit, "spark.jit"
    limit = cfg.quick_jit_max_mib * 2**20
    size = data_bytes((settings.paths.landing, settings.paths.lake), stop_at=limit)
    if size < limit:
        return "quick", f"landing and lake under {cfg.quick_jit_max_mib} MiB"
    return "peak", f"landing and lake hold {cfg.quick_jit_max_mib} MiB or more"


def data_bytes(folders: tuple[Path, ...], *, stop_at: int) -> int:
    """Bytes of the files under `folders` (a missing folder holds none), counted until
    `stop_at` is reached (a big lake is not walked to the end)."""
    total = 0
    for folder in folders:
        for root, _, files in os.walk(folder):
            for name in files:
                try:
                    total += os.stat(os.path.join(root, name)).st_size
                except OSError:  # removed meanwhile
                    continue
                if total >= stop_at:
                    return total
    return total


def _require_java() -> None:
    if java_executable() is None:
        raise JavaMissingError(
            "Spark needs a Java runtime (17 or 21) and none was found: install one "
            "(e.g. `apt-get install openjdk-17-jre-headless` or `brew install openjdk@17`) "
            "or set JAVA_HOME."
        )
