"""Pure comparisons of two versions of a table: keyed row changes, schema, drift."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

NUMERIC = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType,
           T.DecimalType)
PSI_BINS = 10
EPSILON = 1e-4  # floor for empty bins, so PSI stays finite


@dataclass(frozen=True)
class RowChanges:
    """Rows added, removed and changed by key between two versions."""

    added: int
    removed: int
    changed: int
    unchanged: int


@dataclass(frozen=True)
class FeatureDrift:
    """Summary statistics of one numeric column in both versions, and the PSI."""

    column: str
    mean_from: float | None
    mean_to: float | None
    std_from: float | None
    std_to: float | None
    nulls_from: int
    nulls_to: int
    psi: float | None

    @property
    def level(self) -> str:
        """Conventional reading of the PSI: < 0.1 stable, < 0.25 moderate, else major."""
        if self.psi is None:
            return "n/a"
        return "stable" if self.psi < 0.1 else "moderate" if self.psi < 0.25 else "major"


def schema_changes(before: T.StructType, after: T.StructType) -> list[str]:
    """Columns added, removed or retyped, one line each."""
    old = {f.name: f.dataType.simpleString() for f in before.fields}
    new = {f.name: f.dataType.simpleString() for f in after.fields}
    lines = [f"added column {c} ({t})" for c, t in new.items() if c not in old]
    lines += [f"removed column {c} ({t})" for c, t in old.items() if c not in new]
    lines += [f"column {c}: {old[c]} -> {t}" for c, t in new.items() if c in old and old[c] != t]
    return lines


def row_changes(before: DataFrame, after: DataFrame, keys: Sequence[str],
                compare: Sequence[str]) -> RowChanges:
    """Count rows by key: only in `after` (added), only in `before` (removed), in both
    with different `compare` values (changed, NULL-safe), in both and equal."""
    keys = list(keys)
    digest = F.sha2(F.to_json(F.struct(*[F.col(c) for c in compare])), 256)
    old = before.select(*keys, digest.alias("_old"))
    new = after.select(*keys, digest.alias("_new"))
    joined = old.join(new, on=keys, how="full")
    stats = joined.agg(
        F.count_if(F.col("_old").isNull()).alias("added"),
        F.count_if(F.col("_new").isNull()).alias("removed"),
        F.count_if(F.col("_old").isNotNull() & F.col("_new").isNotNull()
                   & (F.col("_old") != F.col("_new"))).alias("changed"),
        F.count_if(F.col("_old") == F.col("_new")).alias("unchanged"),
    ).first()
    return RowChanges(*(int(stats[k] or 0) for k in ("added", "removed", "changed",
                                                      "unchanged")))


def numeric_columns(schema: T.StructType, exclude: Sequence[str] = ()) -> list[str]:
    """Names of the numeric columns, in schema order."""
    return [f.name for f in schema.fields
            if isinstance(f.dataType, NUMERIC) and f.name not in exclude]


def feature_drift(
    before: DataFrame, after: DataFrame, columns: Sequence[str]
) -> list[FeatureDrift]:
    """Per column: mean, std and NULLs in both versions and the population stability
    index over deciles of the `before` distribution (2 Spark jobs per version)."""
    if not columns:
        return []
    stats_from, stats_to = _stats(before, columns), _stats(after, columns)
    edges = _edges(before, columns)
    hist_from, hist_to = _histogram(before, edges), _histogram(after, edges)
    return [
        FeatureDrift(c, stats_from[c][0], stats_to[c][0], stats_from[c][1], stats_to[c][1],
                     stats_from[c][2], stats_to[c][2],
                     psi(hist_from.get(c, []), hist_to.get(c, [])) if c in edges else None)
        for c in columns
    ]


def psi(expected: Sequence[int], actual: Sequence[int]) -> float | None:
    """Population stability index of two histograms over the same bins."""
    total_e, total_a = sum(expected), sum(actual)
    if not total_e or not total_a or len(expected) != len(actual):
        return None
    value = 0.0
    for e, a in zip(expected, actual, strict=True):
        pe, pa = max(e / total_e, EPSILON), max(a / total_a, EPSILON)
        value += (pa - pe) * math.log(pa / pe)
    return value


def _stats(df: DataFrame, columns: Sequence[str]) -> dict[str, tuple]:
    aggs = []
    for c in columns:
        value = F.col(c).cast("double")
        aggs += [F.avg(value).alias(f"{c}__mean"), F.stddev_samp(value).alias(f"{c}__std"),
                 F.count_if(F.col(c).isNull()).alias(f"{c}__nulls")]
    row = df.agg(*aggs).first()
    return {c: (row[f"{c}__mean"], row[f"{c}__std"], int(row[f"{c}__nulls"] or 0))
            for c in columns}


def _edges(df: DataFrame, columns: Sequence[str]) -> dict[str, list[float]]:
    probabilities = [i / PSI_BINS for i in range(1, PSI_BINS)]
    quantiles = df.select(*[F.col(c).cast("double").alias(c) for c in columns]) \
        .approxQuantile(list(columns), probabilities, 0.001)
    edges = {}
    for c, cuts in zip(columns, quantiles, strict=True):
        unique = sorted(set(cuts))
        if unique:
            edges[c] = unique
    return edges


def _histogram(df: DataFrame, edges: dict[str, list[float]]) -> dict[str, list[int]]:
    aggs = []
    for c, cuts in edges.items():
        value = F.col(c).cast("double")
        bounds = [-math.inf, *cuts, math.inf]
        for i in range(len(bounds) - 1):
            upper = value < bounds[i + 1] if i + 1 < len(bounds) - 1 else value.isNotNull()
            aggs.append(F.count_if((value >= bounds[i]) & upper).alias(f"{c}__{i}"))
    if not aggs:
        return {}
    row = df.agg(*aggs).first()
    return {c: [int(row[f"{c}__{i}"]) for i in range(len(cuts) + 1)]
            for c, cuts in edges.items()}
