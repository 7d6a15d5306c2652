"""Frames computed once and kept with their plan cut (lakehouse.frames)."""

from __future__ import annotations

from pyspark.sql import functions as F

from lakehouse.frames import cut_lineage, release


def _kept_blocks(spark) -> int:
    return sum(info.numCachedPartitions()
               for info in spark.sparkContext._jsc.sc().getRDDStorageInfo())


def test_a_cut_frame_is_computed_once_and_keeps_its_rows(spark):
    calls = spark.sparkContext.accumulator(0)

    def count_row(value):
        calls.add(1)
        return value

    counted = F.udf(count_row, "long")
    before = _kept_blocks(spark)
    kept = cut_lineage(spark.range(50).repartition(3).select(counted("id").alias("id")))
    assert kept._jdf.queryExecution().logical().getClass().getSimpleName() == "LogicalRDD"
    assert sorted(r.id for r in kept.collect()) == list(range(50))
    assert kept.where("id % 2 = 0").count() == 25
    assert calls.value == 50  # eager, once: the reads above did not recompute it
    assert _kept_blocks(spark) == before + 3
    release(kept)
    assert _kept_blocks(spark) == before


def test_release_of_a_frame_that_was_not_cut_does_nothing(spark):
    df = spark.range(5)
    release(df)
    assert df.count() == 5
