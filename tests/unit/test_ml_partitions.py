"""How many partitions the training frames get."""

from __future__ import annotations

import pytest

from ml.partitions import fit_partitions, training_partitions


@pytest.mark.parametrize(("rows", "expected"), [
    (0, 1), (1, 1), (40_000, 1), (250_000, 1), (250_001, 2), (600_000, 3), (10**9, 8)])
def test_one_partition_per_rows_per_partition_rows_between_one_and_the_cores(rows, expected):
    assert fit_partitions(rows, rows_per_partition=250_000, max_partitions=8) == expected


def test_partition_choice_needs_positive_limits():
    with pytest.raises(ValueError):
        fit_partitions(10, rows_per_partition=0, max_partitions=2)
    with pytest.raises(ValueError):
        fit_partitions(10, rows_per_partition=10, max_partitions=0)


def test_small_frames_train_in_one_partition(spark):
    df = spark.range(100).repartition(4)
    small = training_partitions(df, 100, rows_per_partition=1_000, keys=["id"])
    assert small.rdd.getNumPartitions() == 1
    assert sorted(r.id for r in small.collect()) == list(range(100))


def test_the_layout_does_not_depend_on_the_order_rows_were_read_in(spark):
    rows = [(f"c{i:03d}", i % 7) for i in range(300)]
    one = spark.createDataFrame(rows, "customer_id string, day int").repartition(5)
    other = spark.createDataFrame(list(reversed(rows)), "customer_id string, day int")
    layouts = [training_partitions(df, 300, rows_per_partition=100,
                                   keys=["customer_id", "day"]).rdd.glom().collect()
               for df in (one, other)]
    assert len(layouts[0]) == min(3, spark.sparkContext.defaultParallelism)
    assert layouts[0] == layouts[1]
