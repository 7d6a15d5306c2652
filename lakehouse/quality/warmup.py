"""Pay Great Expectations' first-use cost off the critical path.

The first validation in a process costs seconds more than the next ones, whatever the
data: GX imports and builds its metric providers on first use, and the JVM loads and
compiles the code of each kind of aggregate the first time it runs. `start_warm_up`
runs a small suite that uses every expectation type of the project's suites on a
two-row frame in a background thread (while the first stage reads its input), and
`wait_for_warm_up`, called before a real validation, makes sure the two never overlap.
Nothing of the warm-up is recorded or rendered: it uses an in-memory context.
"""

from __future__ import annotations

import logging
import threading
from datetime import date

from pyspark.sql import DataFrame, SparkSession

from lakehouse.quality.suites import Suite, parse_suite
from lakehouse.settings import Settings

log = logging.getLogger(__name__)

_thread: threading.Thread | None = None
_lock = threading.Lock()


def _check(name: str, expectation: str, **kwargs: object) -> dict:
    return {"name": name, "expectation": expectation, "kwargs": kwargs, "severity": "warn"}


WARM_UP_SUITE: Suite = parse_suite({"suite": "warm_up", "expectations": [
    _check("columns", "expect_table_columns_to_match_set", column_set=["k", "s", "a", "b", "d"]),
    _check("ordered", "expect_table_columns_to_match_ordered_list",
           column_list=["k", "s", "a", "b", "d"]),
    _check("rows", "expect_table_row_count_to_be_between", min_value=1),
    _check("k_present", "expect_column_values_to_not_be_null", column="k"),
    _check("s_null", "expect_column_values_to_be_null", column="s", mostly=0.0),
    _check("a_range", "expect_column_values_to_be_between", column="a", min_value=0),
    _check("s_regex", "expect_column_values_to_match_regex", column="s", regex="^[a-z]+$"),
    _check("s_set", "expect_column_values_to_be_in_set", column="s", value_set=["x", "y"]),
    _check("a_mean", "expect_column_mean_to_be_between", column="a", min_value=0),
    _check("k_distinct", "expect_column_unique_value_count_to_be_between", column="k",
           min_value=1),
    _check("b_over_a", "expect_column_pair_values_a_to_be_greater_than_b", column_A="b",
           column_B="a", or_equal=True),
    _check("key", "expect_compound_columns_to_be_unique", column_list=["k", "s"]),
]}, source="lakehouse.quality.warmup")


def warm_up_frame(spark: SparkSession) -> DataFrame:
    """The two rows WARM_UP_SUITE passes on."""
    return spark.createDataFrame(
        [(1, "x", 1.0, 2.0, date(2024, 1, 1)), (2, "y", 2.0, 3.0, date(2024, 1, 2))],
        "k long, s string, a double, b double, d date")


def warm_up(spark: SparkSession, settings: Settings) -> None:
    """Validate the warm-up suite once (errors are logged, never raised: the real gates
    report any real problem)."""
    from lakehouse.quality.gate import validate  # gate imports this module

    try:
        quiet = settings.model_copy(update={
            "quality": settings.quality.model_copy(update={"data_docs": False})})
        validate(warm_up_frame(spark), WARM_UP_SUITE, settings=quiet, stage="warm_up",
                 persist=False)
    except Exception:
        log.debug("quality warm-up failed", exc_info=True)


def start_warm_up(spark: SparkSession, settings: Settings) -> None:
    """Run `warm_up` in a daemon thread (once per process)."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=warm_up, args=(spark, settings),
                                       name="quality-warm-up", daemon=True)
            _thread.start()


def wait_for_warm_up() -> None:
    """Block until a started warm-up has finished (no-op without one, or inside it)."""
    thread = _thread
    if thread is not None and thread is not threading.current_thread():
        thread.join()
