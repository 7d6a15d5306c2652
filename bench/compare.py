"""Check the pipeline's Delta tables against the DuckDB reference's outputs.

The tables are read with `deltalake` (the live files of the current version, as Arrow
datasets DuckDB scans lazily), so the check needs no Spark. Counts must be equal;
sums of total_spend agree to 1e-9 relative; every feature and label row is compared
column by column (doubles to 1e-9 relative).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
from deltalake import DeltaTable

from bench.duckdb_sql import quote

TOLERANCE = 1e-9
EXACT_FEATURES = ("country", "recency_days", "frequency", "tenure_days", "transactions_30d",
                  "transactions_90d", "transactions_180d", "distinct_products")
DOUBLE_FEATURES = ("total_spend", "avg_transaction_value", "interpurchase_mean_days",
                   "interpurchase_std_days", "spend_30d", "spend_90d", "spend_180d",
                   "spend_trend", "return_rate", "avg_basket_size")
LABEL_COLUMNS = ("horizon_days", "churned", "next_purchase_date")


def table_path(lake: Path, name: str) -> Path:
    """Folder of a table of the embedded store: `layer.table` -> lake/layer/table."""
    layer, table = name.split(".", 1)
    return lake / layer / table


def relative_difference(a: float | None, b: float | None) -> float:
    """|a - b| / max(|a|, |b|), 0.0 when both are equal (or both None)."""
    if a is None or b is None:
        return 0.0 if a is b else float("inf")
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0 else abs(a - b) / scale


def pipeline_counts(con: duckdb.DuckDBPyConnection, lake: Path,
                    names: Mapping[str, str]) -> dict[str, Any]:
    """The counts of the pipeline's tables (current versions); registers the gold
    tables as views `p_features` and `p_labels` on `con`."""
    def register(view: str, role: str) -> str:
        con.register(view, DeltaTable(str(table_path(lake, names[role]))).to_pyarrow_dataset())
        return view

    bronze = con.execute(f"SELECT count(*), count(_corrupt_record), count(_rescued) "
                         f"FROM {register('p_bronze', 'bronze_transactions')}").fetchall()[0]
    silver = con.execute(f"SELECT count(*) FROM {register('p_silver', 'silver_transactions')}"
                         ).fetchall()[0][0]
    register("p_quarantine", "silver_quarantine")
    quarantined = con.execute("SELECT count(*) FROM p_quarantine").fetchall()[0][0]
    reasons = con.execute("SELECT r, count(*) FROM (SELECT unnest(reject_reasons) AS r "
                          "FROM p_quarantine) GROUP BY r ORDER BY r").fetchall()
    duplicates = con.execute(f"SELECT sum(duplicates) FROM "
                             f"{register('p_audit', 'silver_audit')}").fetchall()[0][0]
    features = con.execute(f"SELECT count(*), sum(total_spend), count(DISTINCT as_of_date) "
                           f"FROM {register('p_features', 'gold_features')}").fetchall()[0]
    labels = con.execute(f"SELECT count(*), avg(churned), count(DISTINCT as_of_date) "
                         f"FROM {register('p_labels', 'gold_labels')}").fetchall()[0]
    return {"bronze_rows": bronze[0], "corrupt_records": bronze[1],
            "rescued_records": bronze[2], "silver_rows": silver, "quarantined": quarantined,
            "duplicates": int(duplicates or 0), "reasons": dict(reasons),
            "feature_rows": features[0], "total_spend_sum": features[1],
            "as_of_dates": features[2], "label_rows": labels[0], "churn_rate": labels[1],
            "labelable_dates": labels[2]}


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
    con = duckdb.connect()
    mine = pipeline_counts(con, lake, names)
    theirs = reference["counts"]
    out = reference["outputs"]
    features = row_mismatches(
        con, "(SELECT * FROM p_features)", f"read_parquet({quote(out['features'])})",
        EXACT_FEATURES, DOUBLE_FEATURES)
    labels = row_mismatches(
        con, "(SELECT * FROM p_labels)", f"read_parquet({quote(out['labels'])})",
        LABEL_COLUMNS, ())
    differences = {k: {"pipeline": v, "duckdb": theirs.get(k)} for k, v in mine.items()
                   if k not in ("total_spend_sum", "churn_rate") and v != theirs.get(k)}
    spend = relative_difference(mine["total_spend_sum"], theirs["total_spend_sum"])
    rate = relative_difference(mine["churn_rate"], theirs["churn_rate"])
    agree = not differences and spend <= TOLERANCE and rate <= TOLERANCE \
        and not features and not labels
    return {"agree": agree, "pipeline": mine, "differences": differences,
            "total_spend_relative_difference": spend, "churn_rate_relative_difference": rate,
            "feature_row_mismatches": features, "label_row_mismatches": labels}
