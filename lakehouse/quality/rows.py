"""Per-row quality conditions: route the rows that fail `quarantine` checks.

Great Expectations counts failing rows but does not hand them back, so each row-level
(column map) expectation is translated here into the Spark condition GX itself uses
(`great_expectations/expectations/metrics/column_map_metrics`), with GX's NULL rules:

- `not_be_null` / `be_null` look at NULLs; every other column map expectation ignores
  them (a NULL never fails `be_between`, `be_in_set`, `match_regex`, ...);
- a condition that evaluates to NULL (e.g. `isin` against a set holding NULL) does not
  fail the row, exactly like GX's `sum(when(unexpected, 1).otherwise(0))`.

Conditions are wrapped in `coalesce(..., false)`, so splitting on them never loses rows.
Expectations that depend on other rows (`be_unique`, compound uniqueness, ...) are not
row-level and cannot be quarantine checks (rejected when the suite is loaded).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

if TYPE_CHECKING:
    from lakehouse.quality.suites import Check, Suite

REASONS_COLUMN = "quality_reasons"


def _between(value: Column, kwargs: Mapping[str, Any]) -> Column:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    above = None if low is None else (
        value > F.lit(low) if kwargs.get("strict_min") else value >= F.lit(low))
    below = None if high is None else (
        value < F.lit(high) if kwargs.get("strict_max") else value <= F.lit(high))
    if above is None or below is None:
        return above if below is None else below
    return above & below


def _in_set(value: Column, kwargs: Mapping[str, Any]) -> Column:
    values = kwargs.get("value_set")
    return F.lit(True) if values is None else value.isin(list(values))


# Expected condition per expectation type (True: the value passes).
_EXPECTED: dict[str, Callable[[Column, Mapping[str, Any]], Column]] = {
    "expect_column_values_to_not_be_null": lambda c, _: c.isNotNull(),
    "expect_column_values_to_be_null": lambda c, _: c.isNull(),
    "expect_column_values_to_be_between": _between,
    "expect_column_value_lengths_to_be_between": lambda c, k: _between(F.length(c), k),
    "expect_column_values_to_be_in_set": _in_set,
    "expect_column_values_to_not_be_in_set": lambda c, k: ~c.isin(list(k["value_set"])),
    "expect_column_values_to_match_regex": lambda c, k: c.rlike(k["regex"]),
    "expect_column_values_to_not_match_regex": lambda c, k: ~c.rlike(k["regex"]),
}
# The only ones that judge NULLs; all others skip NULL values (GX's filter_column_isnull).
_JUDGE_NULLS = frozenset({
    "expect_column_values_to_not_be_null", "expect_column_values_to_be_null",
})

ROW_LEVEL_TYPES: frozenset[str] = frozenset(_EXPECTED)


def failed_condition(check: Check) -> Column:
    """Boolean column, True where the row fails `check`; never NULL.

    `check` must be row-level (`check.row_level`); `mostly` is ignored (per row, a
    value passes or fails).
    """
    if not check.row_level:
        raise ValueError(f"{check.name}: {check.expectation} is not a row-level expectation")
    value = F.col(check.kwargs["column"])
    unexpected = ~_EXPECTED[check.expectation](value, check.kwargs)
    if check.expectation not in _JUDGE_NULLS:
        unexpected = value.isNotNull() & unexpected
    return F.coalesce(unexpected, F.lit(False))


def quality_reasons(suite: Suite) -> Column:
    """array<string> of the names of the suite's quarantine checks a row fails, in
    suite order; an empty array (never NULL) when it fails none."""
    failed = {c.name: failed_condition(c) for c in suite.by_severity("quarantine")}
    empty = F.array().cast("array<string>")
    if not failed:
        return empty
    reasons = F.array_compact(F.array(*[F.when(f, F.lit(name)) for name, f in failed.items()]))
    # Most rows fail nothing: they skip building and compacting the array (a NULL
    # condition is no failure, in the array and here alike).
    return F.when(functools.reduce(operator.or_, failed.values()), reasons).otherwise(empty)


def with_quality_reasons(
    df: DataFrame, suite: Suite, *, column: str = REASONS_COLUMN
) -> DataFrame:
    """`df` plus `column`: the names of the quarantine checks each row fails."""
    if column in df.columns:
        raise ValueError(f"column {column!r} already exists; pass another column name")
    return df.select("*", quality_reasons(suite).alias(column))


def split_quarantine(
    df: DataFrame, suite: Suite, *, column: str = REASONS_COLUMN
) -> tuple[DataFrame, DataFrame]:
    """(passed, quarantined): rows failing no quarantine check, without `column`; and
    rows failing at least one, with `column` listing the reasons. Every row of `df` is
    in exactly one of them.

    If `df` already has `column` (from `with_quality_reasons`), it is used as is: persist
    that frame and both outputs (and the validation) reuse one computation of it.
    """
    flagged = df if column in df.columns else with_quality_reasons(df, suite, column=column)
    kept = [c for c in flagged.columns if c != column]
    passed = flagged.where(F.size(column) == 0).select(*[flagged[c] for c in kept])
    quarantined = flagged.where(F.size(column) > 0)
    return passed, quarantined
