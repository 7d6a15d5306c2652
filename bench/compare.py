"""Check the pipeline's Delta tables against the DuckDB reference's outputs.

The tables are read with `deltalake` (delta-rs), so the check needs no Spark. delta-spark
writes them with deletion vectors, which delta-rs's file lists and `to_pyarrow_table` do
not apply, so every read goes through its query engine (`QueryBuilder`, DataFusion SQL
over the current version, deleted rows left out): the counts are computed there, and only
the compared gold columns come back as Arrow tables for DuckDB to join with the reference's
Parquet. Counts must be equal; sums of total_spend agree to 1e-9 relative; every feature
and label row is compared column by column (doubles to 1e-9 relative).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable, QueryBuilder
from pyspark.sql import types as T

from bench.duckdb_sql import quote
from lakehouse.contracts import GOLD_FEATURES, GOLD_LABELS

TOLERANCE = 1e-9
# The compared columns, from the contracts: doubles to TOLERANCE, the others exactly.
_VALUES = [c for c in GOLD_FEATURES.columns
           if c.name not in (*GOLD_FEATURES.key, "feature_version", "computed_at")]
EXACT_FEATURES = tuple(c.name for c in _VALUES if not isinstance(c.type, T.DoubleType))
DOUBLE_FEATURES = tuple(c.name for c in _VALUES if isinstance(c.type, T.DoubleType))
LABEL_COLUMNS = tuple(n for n in GOLD_LABELS.names if n not in GOLD_LABELS.key)


def table_path(lake: Path, name: str) -> Path:
    """Folder of a table of the local lake: `layer.table` -> lake/layer/table."""
    layer, table = name.split(".", 1)
    return lake / layer / table


def delta_query(path: Path, sql: str) -> pa.Table:
    """`sql` over the current version of the Delta table at `path`, registered as `t`,
    run by delta-rs (deletion vectors applied)."""
    builder = QueryBuilder().register("t", DeltaTable(str(path)))
    return pa.table(builder.execute(sql).read_all())


def _row(path: Path, sql: str) -> list[Any]:
    """The only row of an aggregate query, as Python values."""
    return [column[0].as_py() for column in delta_query(path, sql).columns]


def relative_difference(a: float | None, b: float | None) -> float:
    """|a - b| / max(|a|, |b|), 0.0 when both are equal (or both None)."""
    if a is None or b is None:
        return 0.0 if a is b else float("inf")
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0 else abs(a - b) / scale


def pipeline_counts(lake: Path, names: Mapping[str, str]) -> dict[str, Any]:
    """The counts of the pipeline's tables (current versions)."""
    def path(role: str) -> Path:
        return table_path(lake, names[role])

    bronze = _row(path("bronze_transactions"),
                  "SELECT count(*), count(_corrupt_record), count(_rescued) FROM t")
    silver = _row(path("silver_transactions"), "SELECT count(*) FROM t")[0]
    quarantined = _row(path("silver_quarantine"), "SELECT count(*) FROM t")[0]
    reasons = delta_query(path("silver_quarantine"),
                          "SELECT r, count(*) AS n FROM (SELECT unnest(reject_reasons) AS r "
                          "FROM t) GROUP BY r ORDER BY r").to_pylist()
    duplicates = _row(path("silver_audit"), "SELECT sum(duplicates) FROM t")[0]
    features = _row(path("gold_features"), "SELECT count(*), sum(total_spend), "
                    "count(DISTINCT as_of_date) FROM t")
    labels = _row(path("gold_labels"), "SELECT count(*), avg(churned), "
                  "count(DISTINCT as_of_date) FROM t")
    return {"bronze_rows": bronze[0], "corrupt_records": bronze[1],
            "rescued_records": bronze[2], "silver_rows": silver, "quarantined": quarantined,
            "duplicates": int(duplicates or 0),
            "reasons": {r["r"]: r["n"] for r in reasons},
            "feature_rows": features[0], "total_spend_sum": features[1],
            "as_of_dates": features[2], "label_rows": labels[0], "churn_rate": labels[1],
            "labelable_dates": labels[2]}


def gold_rows(lake: Path, names: Mapping[str, str], role: str,
              columns: tuple[str, ...]) -> pa.Table:
    """The key and `columns` of every current row of a gold table."""
    return delta_query(table_path(lake, names[role]),
                       f"SELECT {', '.join(('customer_id', 'as_of_date', *columns))} FROM t")


def row_mismatches(con: duckdb.DuckDBPyConnection, pipeline: str, reference: str,
                   exact: tuple[str, ...], doubles: tuple[str, ...]) -> dict[str, int]:
    """Per column, rows whose values differ between two tables keyed by
    (customer_id, as_of_date); `only_pipeline` / `only_reference` count unmatched keys."""
    tests = [f"(p.{c} IS DISTINCT FROM r.{c})" for c in exact]
    tests += [f"((p.{c} IS NULL) <> (r.{c} IS NULL) OR abs(p.{c} - r.{c}) > "
              f"{TOLERANCE} * greatest(1.0, abs(p.{c}), abs(r.{c})))" for c in doubles]
    both = "p.customer_id IS NOT NULL AND r.customer_id IS NOT NULL"
    sums = ", ".join(f"count(*) FILTER (WHERE {both} AND {t})" for t in tests)
    row = con.execute(f"""
      SELECT count(*) FILTER (WHERE r.customer_id IS NULL),
             count(*) FILTER (WHERE p.customer_id IS NULL), {sums}
      FROM {pipeline} p FULL JOIN {reference} r
        ON p.customer_id = r.customer_id AND p.as_of_date = r.as_of_date""").fetchall()[0]
    names = ("only_pipeline", "only_reference", *exact, *doubles)
    return {n: int(v) for n, v in zip(names, row, strict=True) if v}


def compare(reference: Mapping[str, Any], lake: Path, names: Mapping[str, str]) -> dict:
    """Compare the reference's result (bench.duckdb_reference.run_reference) with the
    pipeline's tables under `lake`. Returns both sides' counts, the differences, and
    `agree`."""
    mine = pipeline_counts(lake, names)
    theirs = reference["counts"]
    out = reference["outputs"]
    con = duckdb.connect()
    # A contract feature the reference does not compute (yet) is reported, not compared.
    theirs_columns = set(pq.read_schema(out["features"]).names)
    exact = tuple(c for c in EXACT_FEATURES if c in theirs_columns)
    doubles = tuple(c for c in DOUBLE_FEATURES if c in theirs_columns)
    con.register("p_features", gold_rows(lake, names, "gold_features", exact + doubles))
    con.register("p_labels", gold_rows(lake, names, "gold_labels", LABEL_COLUMNS))
    features = row_mismatches(
        con, "p_features", f"read_parquet({quote(out['features'])})", exact, doubles)
    labels = row_mismatches(
        con, "p_labels", f"read_parquet({quote(out['labels'])})", LABEL_COLUMNS, ())
    con.close()
    differences = {k: {"pipeline": v, "duckdb": theirs.get(k)} for k, v in mine.items()
                   if k not in ("total_spend_sum", "churn_rate") and v != theirs.get(k)}
    spend = relative_difference(mine["total_spend_sum"], theirs["total_spend_sum"])
    rate = relative_difference(mine["churn_rate"], theirs["churn_rate"])
    agree = not differences and spend <= TOLERANCE and rate <= TOLERANCE \
        and not features and not labels
    return {"agree": agree, "pipeline": mine, "differences": differences,
            "total_spend_relative_difference": spend, "churn_rate_relative_difference": rate,
            "feature_row_mismatches": features, "label_row_mismatches": labels,
            "features_not_in_reference": [c for c in EXACT_FEATURES + DOUBLE_FEATURES
                                          if c not in theirs_columns]}
