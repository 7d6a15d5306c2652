"""The layout of the training frames: how many partitions, which rows where, and a cut
lineage.

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
from collections.abc import Sequence

from pyspark.sql import DataFrame

from lakehouse.spark import task_slots


def fit_partitions(rows: int, *, rows_per_partition: int, max_partitions: int) -> int:
    """Partitions for a training frame of `rows` rows: ceil(rows / rows_per_partition),
    at least 1 and at most `max_partitions` (the cores Spark runs tasks on)."""
    if rows_per_partition < 1 or max_partitions < 1:
        raise ValueError("rows_per_partition and max_partitions must be positive")
    wanted = math.ceil(max(rows, 0) / rows_per_partition)
    return max(1, min(wanted, max_partitions))


def training_partitions(df: DataFrame, rows: int, *, rows_per_partition: int,
                        keys: Sequence[str]) -> DataFrame:
    """`df` (of `rows` rows) in the partitions `fit_partitions` chooses for this session's
    cores, each row placed by a hash of its `keys` and sorted by them within its
    partition. Samplers that draw per partition in row order (random forests' bootstrap,
    K-means' initialisation) then see the same rows in the same order whatever order the
    files were read in: a run on a cluster and on a laptop fit the same models."""
    cores = task_slots(df.sparkSession)
    count = fit_partitions(rows, rows_per_partition=rows_per_partition, max_partitions=cores)
    return df.repartition(count, *keys).sortWithinPartitions(*keys)
