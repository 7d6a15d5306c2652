"""What gold reads of silver's state: the earliest date changed after a watermark."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pyspark.sql import types as T

from gold.run import earliest_change

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
T1 = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
SILVER = T.StructType([T.StructField("invoice_date", T.DateType()),
                       T.StructField("_processed_at", T.TimestampType())])


def test_the_earliest_invoice_date_processed_after_a_watermark(spark):
    rows = [(date(2023, 1, 1), T0), (date(2024, 6, 15), T1), (date(2024, 5, 20), T1),
            (None, T1), (date(2022, 1, 1), None)]
    silver = spark.createDataFrame(rows, SILVER)

    def changed(after):
        return earliest_change(silver, after)

    assert changed(T0) == date(2024, 5, 20)
    assert changed(T0.replace(tzinfo=None)) == date(2024, 5, 20)  # naive: local time (UTC)
    assert changed(T1) is None  # nothing after the last write
    assert changed(datetime(2020, 1, 1, tzinfo=UTC)) == date(2023, 1, 1)
