"""The project's own Great Expectations expectations (registered when `_gx.lib()` first
imports GX; imported from nowhere else).

`expect_column_values_to_be_at_least_column`: each value of `column` is >= (with
`or_equal`, else >) the value of `other_column` in the same row. It says what GX's
`expect_column_pair_values_a_to_be_greater_than_b` says, but as a *column map*
condition: GX's Spark engine adds its failing-row count to the one aggregation that
counts every column map check of a suite, where a column-pair check costs two queries of
its own (on a small machine half a second or more each, mostly round trips). Rows where
either value is NULL pass (the pair check's `ignore_row_if: either_value_is_missing`);
the NULLs themselves are `expect_column_values_to_not_be_null`'s business.
"""

from __future__ import annotations

from typing import Any

from great_expectations.execution_engine import SparkDFExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    column_condition_partial,
)
from pyspark.sql import functions as F

AT_LEAST_COLUMN = "column_values.at_least_column"


class ColumnValuesAtLeastColumn(ColumnMapMetricProvider):
    """Row condition of `expect_column_values_to_be_at_least_column` (Spark only)."""

    condition_metric_name = AT_LEAST_COLUMN
    condition_value_keys = ("other_column", "or_equal")

    @column_condition_partial(engine=SparkDFExecutionEngine)
    def _spark(cls, column: Any, other_column: str, or_equal: bool = False,
               **kwargs: Any) -> Any:
        other = F.col(other_column)
        # NULL on either side: the condition is NULL, which GX never counts as failing.
        return column >= other if or_equal else column > other


class ExpectColumnValuesToBeAtLeastColumn(ColumnMapExpectation):
    """Each value of `column` is at least (`or_equal`) or above the value of
    `other_column` in its row; rows with a NULL on either side are not judged."""

    other_column: str
    or_equal: bool = False

    map_metric = AT_LEAST_COLUMN
    success_keys = ("other_column", "or_equal", "mostly")
    args_keys = ("column", "other_column")
