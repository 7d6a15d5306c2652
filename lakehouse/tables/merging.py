"""MERGE pieces of the table store: the source-key check and the merge builder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.tables.model import MergeKeyError

WhenMatched = Literal["update", "ignore"]


def check_keys(name: str, df: DataFrame, keys: Sequence[str]) -> None:
    """MergeKeyError unless every key of `df` is non-NULL and unique (one aggregation)."""
    any_null = F.greatest(*[F.col(quoted(k)).isNull() for k in keys]) if len(keys) > 1 \
        else F.col(quoted(keys[0])).isNull()
    repeats, nulls = (df.groupBy(*[quoted(k) for k in keys]).count()
                      .agg(F.sum(F.col("count") - 1), F.sum(F.when(any_null, F.col("count"))))
                      .first())
    if nulls:
        raise MergeKeyError(f"merge into {name}: {nulls} source rows have a NULL key "
                            f"{list(keys)}; nothing was written")
    if repeats:
        raise MergeKeyError(f"merge into {name}: {repeats} source rows repeat a key "
                            f"{list(keys)}; nothing was written")


SOURCE_PREFIX = "__source_"


def merge_builder(target: Any, df: DataFrame, keys: list[str], when_matched: WhenMatched,
                   target_filter: str | None) -> Any:
    """The merge of `df` into `target` (aliased 't') on null-safe key equality, plus
    `target_filter` of the target row when given (Delta skips files with such target-only
    conjuncts). The filter names columns unqualified, so the source's columns are renamed
    (SOURCE_PREFIX) to names the target does not have: each name in the filter then
    resolves to the target alone."""
    renamed = {c: SOURCE_PREFIX + c for c in df.columns}
    source = df.select(*[F.col(quoted(c)).alias(r) for c, r in renamed.items()]).alias("s")
    on = " AND ".join(f"t.{quoted(k)} <=> s.{quoted(renamed[k])}" for k in keys)
    condition = on if target_filter is None else f"({on}) AND ({target_filter})"
    builder = target.merge(source, condition)
    values = {quoted(c): f"s.{quoted(r)}" for c, r in renamed.items()}
    if when_matched == "update":
        builder = builder.whenMatchedUpdate(set=values)
    return builder.whenNotMatchedInsert(values=values)


def quoted(column: str) -> str:
    return "`" + column.replace("`", "``") + "`"
