"""`start_gate`: a gate validating beside the stage's writes, deciding their commits."""

from __future__ import annotations

import re
import threading

import pytest
from pyspark.testing import assertDataFrameEqual

from lakehouse.quality import DataQualityError, read_suite, start_gate
from tests.fixtures.orders import ORDERS, SUITE_FILE

CLEAN = [("1", "c1", 2, 1.5, "UK"), ("2", None, 3, 2.0, "FR"), ("4", "c4", None, None, None)]
BAD = [*CLEAN, ("6", "c6", 1, -5.0, "UK")]  # a negative price breaks a `fail` check


@pytest.fixture(scope="module")
def suite():
    return read_suite(SUITE_FILE)


def test_a_passing_gate_lets_the_write_commit_and_reports_the_wait(spark, settings, store,
                                                                     suite, capsys):
    df = spark.createDataFrame(CLEAN, ORDERS).cache()
    with start_gate(df, suite, settings=settings, stage="orders", store=store,
                    table_name="silver.orders") as verdict:
        result = store.write("silver.orders", df, before_commit=verdict.wait)
    assert result.committed and verdict.wait().success
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(r"quality\[orders\]: 5 passed, 1 warned, 1 quarantine checks failed, "
                        r"0 failed \(validated in \d+\.\d s beside the writes, waited "
                        r"\d+\.\d s\)", line)
    assertDataFrameEqual(store.read("silver.orders"), df)
    recorded = store.read("audit.validation_results").select("expectation").collect()
    assert len(recorded) == 7  # the background gate recorded its results too


def test_a_failing_gate_stops_the_commit_and_no_file_stays(spark, settings, store, suite):
    store.write("silver.orders", spark.createDataFrame(CLEAN, ORDERS))
    df = spark.createDataFrame(BAD, ORDERS).cache()
    with (pytest.raises(DataQualityError, match="price_not_negative"),
          start_gate(df, suite, settings=settings, stage="orders") as verdict):
        store.write("silver.orders", df, mode="append", before_commit=verdict.wait)
    assert store.version("silver.orders") == 0
    assertDataFrameEqual(store.read("silver.orders"), spark.createDataFrame(CLEAN, ORDERS))


def test_a_verdict_nobody_waited_for_still_stops_the_stage(spark, settings, suite):
    df = spark.createDataFrame(BAD, ORDERS).cache()
    with (pytest.raises(DataQualityError),
          start_gate(df, suite, settings=settings, stage="orders")):
        pass


def test_the_stages_own_error_comes_first_and_the_gate_is_finished(spark, settings, suite):
    df = spark.createDataFrame(BAD, ORDERS).cache()
    with (pytest.raises(OSError, match="disk full"),
          start_gate(df, suite, settings=settings, stage="orders")):
        raise OSError("disk full")
    assert not [t for t in threading.enumerate() if t.name.startswith("quality-orders")]
