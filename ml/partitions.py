"""The layout of the training frames: how many partitions, and a cut lineage.

Every optimiser iteration (LBFGS for the churn model, Lloyd's step for K-means) is one
Spark job with one task per partition. On a gold snapshot of thousands of rows a task's
fixed cost (scheduling, serialising the closure and the coefficients) is far larger than
its work, so small data trains fastest in one partition, and the parallel fits of a
search (ml.parallel) keep the cores busy instead. Large data gets one partition per
`rows_per_partition` rows, at most one per core. Each job also ships its input's lineage
to the tasks: the fits read a locally checkpointed frame, whose lineage is one step
(`lakehouse.frames.cut_lineage`).
"""

from __future__ import annotations

import math

from pyspark.sql import DataFrame

from lakehouse.spark import task_slots


def fit_partitions(rows: int, *, rows_per_partition: int, max_partitions: int) -> int:
    """Partitions for a training frame of `rows` rows: ceil(rows / rows_per_partition),
    at least 1 and at most `max_partitions` (the cores Spark runs tasks on)."""
    if rows_per_partition < 1 or max_partitions < 1:
        raise ValueError("rows_per_partition and max_partitions must be positive")
    wanted = math.ceil(max(rows, 0) / rows_per_partition)
    return max(1, min(wanted, max_partitions))


def with_partitions(df: DataFrame, partitions: int) -> DataFrame:
    """`df` in at most `partitions` partitions: merged without a shuffle when it has more,
    unchanged otherwise (spreading fewer partitions out would shuffle on every read of an
    uncached frame)."""
    return df.coalesce(partitions)  # never adds partitions: a frame with fewer is unchanged


def training_partitions(df: DataFrame, rows: int, *, rows_per_partition: int) -> DataFrame:
    """`df` (of `rows` rows) in at most the partitions `fit_partitions` chooses for this
    session's cores."""
    cores = task_slots(df.sparkSession)
    return with_partitions(df, fit_partitions(rows, rows_per_partition=rows_per_partition,
                                              max_partitions=cores))
