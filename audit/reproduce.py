"""Rebuild the training and test sets of an MLflow churn run from the Delta versions it
logged, and check them against the content fingerprints logged at training time."""

from __future__ import annotations

from typing import Any

from mlflow.tracking import MlflowClient

from audit.report import as_json, table
from lakehouse.errors import LakehouseError
from lakehouse.settings import Settings
from lakehouse.tables import TableStore, TableStoreError
from ml import dataset, tracking

SPLITS = ("train", "test")


class ReproductionError(LakehouseError):
    """The run's data cannot be rebuilt, or the rebuilt data differs."""


def find_run(client: MlflowClient, experiment_id: str, run_id: str) -> Any:
    """The run with this id, or the newest churn training run for 'latest'."""
    if run_id != "latest":
        try:
            return client.get_run(run_id)
        except Exception as err:  # MlflowException: unknown id
            raise ReproductionError(f"no MLflow run {run_id!r}: {err}") from None
    runs = client.search_runs([experiment_id], filter_string="tags.model = 'churn'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        raise ReproductionError("no churn training run in the experiment yet (make train)")
    return runs[0]


def rebuild(settings: Settings, store: TableStore, params: dict[str, str]) -> dict[str, Any]:
    """The run's splits rebuilt from the logged table versions: fingerprint and rows each."""
    names = settings.tables.names
    try:
        versions = {"features": int(params["gold_features_version"]),
                    "labels": int(params["gold_labels_version"])}
        horizon = int(params["horizon_days"])
        plan = dataset.SplitPlan.from_params(params)
    except KeyError as err:
        raise ReproductionError(f"the run did not log {err}; it cannot be reproduced") from None
    try:
        features = store.read(names.gold_features, version=versions["features"])
        labels = store.read(names.gold_labels, version=versions["labels"])
    except TableStoreError as err:
        raise ReproductionError(
            f"a table version the run used is gone ({err}); was the table vacuumed?") from None
    examples = dataset.with_parts(
        dataset.labeled_examples(features, labels, horizon_days=horizon), plan)
    rebuilt = {}
    for split in SPLITS:
        df = dataset.split_rows(examples, split)
        rebuilt[split] = {"fingerprint": dataset.fingerprint(df), "rows": df.count()}
    return {"versions": versions, "splits": rebuilt}


def reproduce(settings: Settings, store: TableStore, run_id: str, *,
              as_json_output: bool = False) -> int:
    """Verify one run; 0 when every split matches its logged fingerprint, else raise."""
    experiment_id = tracking.configure(settings)
    run = find_run(MlflowClient(), experiment_id, run_id)
    result = rebuild(settings, store, run.data.params)
    rows = []
    for split, got in result["splits"].items():
        logged = run.data.tags.get(f"data.{split}_fingerprint")
        rows.append({"split": split, "rows": got["rows"], "logged": (logged or "")[:16],
                     "rebuilt": got["fingerprint"][:16],
                     "match": logged == got["fingerprint"]})
    summary = {"run_id": run.info.run_id, **result, "checks": rows,
               "reproduced": all(r["match"] for r in rows)}
    versions = ", ".join(f"{k} v{v}" for k, v in result["versions"].items())
    print(as_json(summary) if as_json_output else
          f"run {run.info.run_id} (gold {versions})\n{table(rows)}")
    if not summary["reproduced"]:
        bad = [r["split"] for r in rows if not r["match"]]
        raise ReproductionError(f"run {run.info.run_id}: rebuilt {', '.join(bad)} set(s) differ "
                                "from the fingerprints logged at training time")
    return 0
