"""What gold reads of silver's state from file statistics, and when it asks Spark."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pyspark.sql import functions as F
from pyspark.sql import types as T

from gold.state import ChangedFrom
from lakehouse.tables import RowGroupStats

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
T1 = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
SILVER = T.StructType([T.StructField("invoice_date", T.DateType()),
                       T.StructField("_processed_at", T.TimestampType())])


def group(first, last, low, high, rows=10):
    return RowGroupStats(rows, {"invoice_date": (first, last), "_processed_at": (low, high)})


class NoSpark:
    """A silver frame that must not be queried."""

    def where(self, *_):
        raise AssertionError("the statistics should have settled it")


def test_rows_processed_after_the_watermark_come_from_the_statistics():
    stats = [group(date(2023, 1, 1), date(2024, 5, 31), T0, T0),
             group(date(2024, 5, 20), date(2024, 6, 30), T1, T1),
             group(None, None, T1, T1)]  # rows without an invoice date
    changed = ChangedFrom(NoSpark(), stats)
    assert changed(T0) == date(2024, 5, 20)
    assert changed(T0.replace(tzinfo=None)) == date(2024, 5, 20)  # naive: local time (UTC)
    assert changed(T1) is None  # nothing after the last write


def test_a_row_group_straddling_the_watermark_is_left_to_spark(spark):
    rows = [(date(2024, 1, 1), T0), (date(2024, 6, 15), T1)]
    silver = spark.createDataFrame(rows, SILVER)
    stats = [group(date(2024, 1, 1), date(2024, 6, 15), T0, T1)]
    assert ChangedFrom(silver, stats)(T0) == date(2024, 6, 15)
    assert ChangedFrom(silver, None)(T0) == date(2024, 6, 15)  # no statistics at all
    assert silver.where(F.col("_processed_at") > F.lit(T0)).count() == 1
