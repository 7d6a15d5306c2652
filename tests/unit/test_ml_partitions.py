"""How many partitions the training frames get."""

from __future__ import annotations

import pytest

from ml.partitions import fit_partitions, training_partitions, with_partitions


@pytest.mark.parametrize(("rows", "expected"), [
    (0, 1), (1, 1), (40_000, 1), (250_000, 1), (250_001, 2), (600_000, 3), (10**9, 8)])
def test_one_partition_per_rows_per_partition_rows_between_one_and_the_cores(rows, expected):
    assert fit_partitions(rows, rows_per_partition=250_000, max_partitions=8) == expected


def test_partition_choice_needs_positive_limits():
    with pytest.raises(ValueError):
        fit_partitions(10, rows_per_partition=0, max_partitions=2)
    with pytest.raises(ValueError):
        fit_partitions(10, rows_per_partition=10, max_partitions=0)


def test_frames_are_merged_down_never_spread_out(spark):
    df = spark.range(100).repartition(4)
    assert with_partitions(df, 1).rdd.getNumPartitions() == 1
    assert with_partitions(df, 8).rdd.getNumPartitions() == 4
    assert sorted(r.id for r in with_partitions(df, 2).collect()) == list(range(100))
    small = training_partitions(df, 100, rows_per_partition=1_000)
    assert small.rdd.getNumPartitions() == 1
