"""The project's own Great Expectations expectations (registered by `_gx`, imported from
nowhere else): `expect_column_values_to_be_at_least_column` and
`expect_compound_key_to_be_unique` (below). Kept because GX's built-ins cost more than
twice as much at 10M rows (local[2], median of 3, marginal time in a suite with three
NULL checks; /tmp/gxbench, 2026-12-04): column pair a >= b 0.52 s vs 0.18 s; key with
`numbered_by` (bronze) 4.06 s vs 1.38 s. Without `numbered_by` the built-in
`expect_compound_columns_to_be_unique` is as fast (6.4 s vs 7.1 s): the contracts' key
checks use it.

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

import functools
import operator
from collections.abc import Sequence
from typing import Any

from great_expectations.compatibility import pydantic
from great_expectations.core.metric_domain_types import MetricDomainTypes
from great_expectations.execution_engine import SparkDFExecutionEngine
from great_expectations.expectations.expectation import BatchExpectation, ColumnMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    column_condition_partial,
)
from great_expectations.expectations.metrics.metric_provider import metric_value
from great_expectations.expectations.metrics.table_metric_provider import TableMetricProvider
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

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


# --- expect_compound_key_to_be_unique ------------------------------------------------

REPEATED_KEYS = "compound_key.repeated_rows"
EXAMPLES = 20  # repeated keys shown when the check fails


def repeated_rows(df: DataFrame, columns: Sequence[str],
                  numbered_by: str | None = None) -> tuple[int, int, int, list[list[Any]]]:
    """(rows, rows with a NULL in the key: not judged, rows that repeat the key of an
    earlier row, up to EXAMPLES repeated keys) of the key `columns`.

    One aggregation, where GX's `expect_compound_columns_to_be_unique` runs a window
    over the key and five queries. `numbered_by`, an integer column of the key that
    numbers the rows of each value of the others densely (line numbers of a file),
    has its distinct values counted with bitmaps (`bitmap_construct_agg`: 4 KiB per
    32,768 numbers) instead of grouping by every key: a few groups instead of one per
    row (10M bronze rows, warm: 1.9 s against 3.5-4.1 s for the window, 5.8-6.3 s for
    a group per key). Sparse numbers defeat it: every value of the others pays 4 KiB
    per 32,768-wide range its numbers touch."""
    if numbered_by is None:
        keys = [F.col(c) for c in columns]
        distinct = F.lit(1)  # a group is one key
    else:
        kind = df.schema[numbered_by].dataType
        if not isinstance(kind, T.IntegralType):
            raise TypeError(f"numbered_by column {numbered_by!r} is {kind.simpleString()}, "
                            "not an integer")
        number = F.col(numbered_by)
        keys = [F.col(c) for c in columns if c != numbered_by]
        keys.append(F.bitmap_bucket_number(number).alias("_bucket"))
        distinct = F.bitmap_count(F.bitmap_construct_agg(F.bitmap_bit_position(number)))
    groups = df.groupBy(*keys).agg(F.count(F.lit(1)).alias("_rows"), distinct.alias("_keys"))
    has_null = functools.reduce(operator.or_, [F.col(c).isNull() for c in groups.columns[:-2]])
    counts = groups.agg(
        F.sum("_rows"), F.sum(F.when(has_null, F.col("_rows"))),
        F.sum(F.when(~has_null, F.col("_rows") - F.col("_keys")))).first()
    rows, missing, repeated = (int(v or 0) for v in counts)
    examples: list[list[Any]] = []
    if repeated:  # only a failing check pays for a second query
        examples = [list(r)[:-1] for r in df.select(*columns).dropna().groupBy(*columns)
                    .count().where(F.col("count") > 1).limit(EXAMPLES).collect()]
    return rows, missing, repeated, examples


class CompoundKeyRepeatedRows(TableMetricProvider):
    """(rows, rows not judged, repeated rows, example keys) of `column_list` (Spark
    only; see `repeated_rows`)."""

    metric_name = REPEATED_KEYS
    value_keys = ("column_list", "numbered_by")

    @metric_value(engine=SparkDFExecutionEngine)
    def _spark(cls, execution_engine: SparkDFExecutionEngine,
               metric_domain_kwargs: dict, metric_value_kwargs: dict,
               **kwargs: Any) -> tuple[int, int, int, list[list[Any]]]:
        df, _, _ = execution_engine.get_compute_domain(metric_domain_kwargs,
                                                       MetricDomainTypes.TABLE)
        return repeated_rows(df, metric_value_kwargs["column_list"],
                             metric_value_kwargs.get("numbered_by"))


class ExpectCompoundKeyToBeUnique(BatchExpectation):
    """No two rows share their values of `column_list` (rows with a NULL in one of them
    are not judged, as in a SQL UNIQUE constraint). `numbered_by`: an integer column of
    the list that numbers the rows of each value of the others (see `repeated_rows`).

    The result reads like a row check's: `element_count` = rows, `missing_count` =
    rows not judged, `unexpected_count` = rows that repeat an earlier row's key,
    `partial_unexpected_list` = some repeated keys."""

    column_list: list[str]
    numbered_by: str | None = None

    metric_dependencies = (REPEATED_KEYS,)
    success_keys = ("column_list", "numbered_by")
    args_keys = ("column_list",)

    @pydantic.root_validator(skip_on_failure=True)
    def _numbered_by_in_key(cls, values: dict) -> dict:
        number = values.get("numbered_by")
        if number is not None and number not in values.get("column_list", ()):
            raise ValueError(f"numbered_by {number!r} is not one of column_list "
                             f"{values.get('column_list')}")
        return values

    def _validate(self, metrics: dict, runtime_configuration: dict | None = None,
                  execution_engine: Any = None) -> dict:
        rows, missing, repeated, examples = metrics[REPEATED_KEYS]
        judged = rows - missing
        return {"success": repeated == 0, "result": {
            "element_count": rows, "missing_count": missing, "unexpected_count": repeated,
            "unexpected_percent": 100.0 * repeated / judged if judged else 0.0,
            "partial_unexpected_list": examples}}
