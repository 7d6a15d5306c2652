"""Frames computed once and kept in the executors with their plan cut (local checkpoints).

Used where one computed frame is read several times: silver's typed and keyed rows (each
write, count and check reads them) and the training frames every optimiser iteration
reads (each iteration's job ships its input's lineage to the tasks; cut, LBFGS on the
40k-row tuning rows of the 1M-row benchmark took ~1.5-1.8 s per fit instead of ~2.2-3 s).
Kept as Spark's rows (memory, then disk), not as a columnar cache (`persist()`), whose
row-to-column conversion is costly: on 10M bronze rows in a warm JVM, silver's rows took
56 s to compute and keep this way against 79 s with `persist()`, and the reads after were
as fast or faster (the quarantine's filtered write 5.9 s instead of 10.3 s). In a cold
`make silver` the JIT's warm-up hides most of that: 10M rows took 199 s instead of 207 s.
They take more memory (1.5 GiB instead of 1.0 GiB for those rows) and go to disk beyond it.

A lost executor loses these blocks: the job reading them fails instead of recomputing
them. Acceptable for a stage's scratch data: every stage commits all or nothing, so the
rerun starts clean.
"""

from __future__ import annotations

import logging

from pyspark import StorageLevel
from pyspark.sql import DataFrame

log = logging.getLogger(__name__)


def cut_lineage(df: DataFrame) -> DataFrame:
    """`df` computed once, now (eager: concurrent readers do not each compute it), and
    kept in the executors (memory, then disk) with its plan cut to one step. Free with
    `release`."""
    return df.localCheckpoint(eager=True, storageLevel=StorageLevel.MEMORY_AND_DISK)


def release(checkpointed: DataFrame) -> None:
    """Drop the blocks of a `cut_lineage` frame (it must not be read afterwards). Best
    effort: where the JVM plan is not reachable (Spark Connect) the blocks go when Spark's
    cleaner collects them."""
    try:
        plan = checkpointed._jdf.queryExecution().logical()
        if plan.getClass().getSimpleName() == "LogicalRDD":
            plan.rdd().unpersist(False)
    except Exception:
        log.debug("could not release a checkpointed frame", exc_info=True)
