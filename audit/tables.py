"""History, diff and restore of one table through the table store."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from pyspark.sql import functions as F

from audit.drift import feature_drift, numeric_columns, row_changes, schema_changes
from lakehouse.errors import LakehouseError
from lakehouse.settings import Settings
from lakehouse.tables import TableStore

ROWS_ADDED = ("rows_written", "inserted", "num_added_rows", "numOutputRows",
              "numTargetRowsInserted")


def resolve(settings: Settings, table: str) -> tuple[str, str | None]:
    """(logical name, role) for a role name (`gold_features`) or a logical name."""
    names = settings.tables.names.model_dump()
    if table in names:
        return names[table], table
    role = next((r for r, n in names.items() if n == table), None)
    if role is None and "." not in table:
        raise LakehouseError(f"unknown table {table!r}: use a name like gold.customer_features "
                             f"or a role ({', '.join(names)})")
    return table, role


def keys_for(settings: Settings, role: str | None, table: str) -> list[str]:
    """Configured row keys of a table (audit.keys)."""
    keys = settings.audit.keys.get(role or "")
    if not keys:
        raise LakehouseError(f"no row keys configured for {table} (audit.keys.{role})")
    return keys


def history_rows(store: TableStore, table: str) -> list[dict[str, Any]]:
    """One row per version: when, what, how many rows, which run or batch wrote it."""
    rows = []
    for h in store.history(table):
        added = next((h.metrics[k] for k in ROWS_ADDED if k in h.metrics),
                     h.metadata.get("rows_written"))
        if "source_rows" in h.metadata:  # a merge: rewritten rows are not new rows
            added = h.metadata["source_rows"] - h.metadata.get("matched", 0)
        rows.append({
            "version": h.version, "timestamp": h.timestamp, "operation": h.operation,
            "rows_added": added,
            "run_id": h.metadata.get("run_id"), "batch_id": h.metadata.get("batch_id"),
            "details": ", ".join(f"{k}={v}" for k, v in h.metadata.items()
                                 if k in ("predicate", "keys", "app_id", "txn_version")),
        })
    return rows


def diff(store: TableStore, table: str, keys: list[str], version_from: int, version_to: int,
         as_of: str | None = None, *, with_drift: bool = True) -> dict[str, Any]:
    """Rows added/removed/changed by key, schema changes and (unless `with_drift` is
    False) numeric drift between two versions (optionally of one as_of_date only)."""
    before = store.read(table, version=version_from)
    after = store.read(table, version=version_to)
    changes = schema_changes(before.schema, after.schema)
    if as_of is not None:
        if "as_of_date" not in before.columns:
            raise LakehouseError(f"{table} has no as_of_date column; drop --as-of")
        before = before.where(F.col("as_of_date") == F.lit(as_of).cast("date"))
        after = after.where(F.col("as_of_date") == F.lit(as_of).cast("date"))
    common = [c for c in before.columns if c in after.columns and c not in keys
              and not c.startswith("_") and c not in ("computed_at", "scored_at")]
    rows = row_changes(before, after, keys, common)
    columns = [c for c in numeric_columns(after.schema, exclude=keys) if c in common]
    drift = feature_drift(before, after, columns) if with_drift else []
    return {
        "table": table, "from": version_from, "to": version_to, "as_of_date": as_of,
        "keys": keys, "rows": asdict(rows), "schema_changes": changes,
        "drift": [{**asdict(d), "level": d.level} for d in drift],
    }


def drift_chart(result: dict[str, Any], folder: Path) -> Path:
    """A PNG bar chart of PSI per feature, saved under `folder`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drift = [d for d in result["drift"] if d["psi"] is not None]
    folder.mkdir(parents=True, exist_ok=True)
    name = result["table"].replace(".", "_")
    path = folder / f"{name}_v{result['from']}_v{result['to']}_drift.png"
    fig, ax = plt.subplots(figsize=(9, max(3, 0.35 * len(drift) + 1.5)), dpi=120)
    colors = ["#2a9d8f" if d["psi"] < 0.1 else "#e9c46a" if d["psi"] < 0.25 else "#e76f51"
              for d in drift]
    ax.barh([d["column"] for d in drift], [d["psi"] for d in drift], color=colors)
    for limit in (0.1, 0.25):
        ax.axvline(limit, color="grey", linestyle="--", linewidth=1)
    ax.invert_yaxis()
    ax.set_xlabel(f"population stability index (deciles of version {result['from']})")
    scope = f", as of {result['as_of_date']}" if result["as_of_date"] else ""
    ax.set_title(f"{result['table']}: drift v{result['from']} → v{result['to']}{scope}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def restore_preview(store: TableStore, table: str, keys: list[str], version: int
                    ) -> dict[str, Any]:
    """What restoring `version` would change: current version and row changes."""
    current = store.version(table)
    if version == current:
        raise LakehouseError(f"{table} is already at version {version}")
    result = diff(store, table, keys, current, version, with_drift=False)
    return {"table": table, "current_version": current, "restore_version": version,
            "rows": result["rows"], "schema_changes": result["schema_changes"]}
