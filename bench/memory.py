"""Peak memory of this Python process and of the Spark JVM (Linux /proc)."""

from __future__ import annotations

import resource

from pyspark.sql import SparkSession


def driver_peak_mib() -> float:
    """Peak resident memory of this Python process, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def jvm_peak_mib(spark: SparkSession) -> float | None:
    """Peak resident memory (VmHWM) of the local Spark JVM, MiB; None if unknown."""
    try:
        pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, AttributeError):
        return None
    return None
