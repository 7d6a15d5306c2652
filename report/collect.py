"""Read what the report shows: the lake's tables (at their current versions) and the latest
MLflow runs. Only reads: the report never writes a table or a run."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from audit.drift import feature_drift
from lakehouse.contracts import GOLD_FEATURES
from lakehouse.quality._gx import docs_dir
from lakehouse.settings import Settings
from lakehouse.tables import TableStore
from ml import tracking
from ml.churn import CHURN_PROBABILITY
from ml.evaluate import ROWS, Evaluation, Thresholds
from report import content as c

log = logging.getLogger("report")

HISTORY_ENTRIES = 5
QUARANTINE_REASONS = "reject_reasons"


def collect(settings: Settings, store: TableStore, images: Path, site: Path) -> c.Report:
    """The report's content; plots are copied into `images` (inside the site folder
    `site`, which links are relative to)."""
    names, notes = settings.tables.names, []
    reconciliation = _reconciliation(store, names.silver_audit)
    quality, docs = _quality(settings, store, site)
    churn_run, segment_run = _latest_runs(settings)
    if churn_run is None:
        notes.append("No churn model has been trained: run `make train`.")
    at_risk = _at_risk(settings, store)
    if at_risk is None:
        notes.append("No churn scores yet: run `make score`.")
    drift = _drift(settings, store)
    return c.Report(
        generated_at=datetime.now(UTC), env=settings.env, lake=str(settings.paths.lake),
        flow=_flow(store, names, reconciliation, at_risk), reconciliation=reconciliation,
        quarantine=_rows(c.quarantine_reasons(store.read(names.silver_quarantine),
                                              QUARANTINE_REASONS))
        if store.exists(names.silver_quarantine) else [],
        quality=quality, data_docs=docs,
        tables=[_table_state(store, n) for n in names.model_dump().values()],
        churn=_section(_churn, churn_run, images, site, notes),
        segments=_section(_segments, segment_run, images, site, notes),
        at_risk=at_risk, drift=drift, notes=notes)


def _rows(df: DataFrame, limit: int | None = None) -> list[dict[str, Any]]:
    """A small DataFrame's rows as dicts (the report only collects aggregates and top-N)."""
    return [r.asDict() for r in (df.limit(limit) if limit else df).collect()]


def _count(store: TableStore, name: str) -> int | None:
    return store.read(name).count() if store.exists(name) else None


def _reconciliation(store: TableStore, audit: str) -> dict[str, int]:
    if not store.exists(audit):
        return {}
    cols = ("bronze_rows", "inserted", "matched_existing", "quarantined", "duplicates")
    row = store.read(audit).agg(*[F.sum(k).alias(k) for k in cols],
                                F.count(F.lit(1)).alias("batches")).first()
    return {k: int(row[k] or 0) for k in (*cols, "batches")}


def _flow(store: TableStore, names: Any, recon: dict[str, int], at_risk: c.AtRisk | None
          ) -> list[c.StageFlow]:
    flow = []
    if store.exists(names.bronze_ingest_log):
        files = {r["status"]: (r["files"], r["records"]) for r in _rows(
            store.read(names.bronze_ingest_log).groupBy("status").agg(
                F.count(F.lit(1)).alias("files"),
                F.sum(F.coalesce("records", F.lit(0))).alias("records")))}
        detail = ", ".join(f"{n:,} {status} file{'s' * (n != 1)}"
                           for status, (n, _) in sorted(files.items()))
        flow.append(c.StageFlow("bronze", files.get("ingested", (0, 0))[1],
                                _count(store, names.bronze_transactions), detail))
    if recon:
        flow.append(c.StageFlow(
            "silver", recon["bronze_rows"], recon["inserted"] + recon["matched_existing"],
            f"{recon['quarantined']:,} quarantined, {recon['duplicates']:,} duplicates, "
            f"{recon['batches']:,} batches"))
    if store.exists(names.gold_features):
        features = store.read(names.gold_features).agg(
            F.count(F.lit(1)).alias("rows"), F.countDistinct("as_of_date").alias("dates")).first()
        flow.append(c.StageFlow("gold", _count(store, names.silver_transactions),
                                features["rows"],
                                f"{features['dates']:,} snapshots; "
                                f"{_count(store, names.gold_labels) or 0:,} churn labels"))
    if at_risk is not None:  # the latest scored snapshot, counted once for both sections
        flow.append(c.StageFlow("score", at_risk.customers, at_risk.customers,
                                f"latest snapshot {at_risk.as_of}"))
    return flow


def _quality(settings: Settings, store: TableStore, site: Path
             ) -> tuple[list[c.QualityRun], str | None]:
    site_docs = docs_dir(settings)
    index = site_docs / "index.html"
    docs = _relative(index, site) if index.exists() else None
    name = settings.tables.names.quality_results
    if not store.exists(name):
        return [], docs
    results = store.read(name)
    latest = results.groupBy("suite").agg(F.max("validated_at").alias("validated_at"))
    runs = (results.join(latest, ["suite", "validated_at"])
            .groupBy("stage", "suite", "run_id", "table_name", "table_version", "validated_at")
            .agg(F.count(F.lit(1)).alias("checks"),
                 *[F.count_if(~F.col("success") & (F.col("severity") == severity))
                   .alias(name) for name, severity in (("warned", "warn"),
                                                       ("quarantined", "quarantine"),
                                                       ("failed", "fail"))])
            .orderBy("validated_at"))
    out = []
    for r in _rows(runs):
        pages = sorted((site_docs / "validations" / r["suite"] / r["run_id"]).glob("*/*.html"))
        out.append(c.QualityRun(r["stage"], r["suite"], r["table_name"], r["table_version"],
                                r["checks"], r["warned"], r["quarantined"], r["failed"],
                                r["validated_at"],
                                _relative(pages[-1], site) if pages else None))
    return out, docs


def _table_state(store: TableStore, name: str) -> c.TableState:
    if not store.exists(name):
        return c.TableState(name, None)
    history = [{"version": h.version, "timestamp": h.timestamp, "operation": h.operation,
                "run_id": h.metadata.get("run_id", ""),
                "rows": h.metrics.get("numOutputRows", h.metrics.get("numTargetRowsInserted"))}
               for h in store.history(name, limit=HISTORY_ENTRIES)]
    return c.TableState(name, history[0]["version"] if history else None, history)


def _latest_runs(settings: Settings) -> tuple[Run | None, Run | None]:
    experiment = mlflow.get_experiment_by_name(settings.mlflow.experiment) \
        if _tracking(settings) else None
    if experiment is None:
        return None, None
    client = MlflowClient()

    def latest(model: str) -> Run | None:
        runs = client.search_runs([experiment.experiment_id],
                                  f"tags.model = '{model}' and attributes.status = 'FINISHED'",
                                  order_by=["attributes.start_time DESC"], max_results=1)
        return runs[0] if runs else None

    return latest("churn"), latest("segments")


def _tracking(settings: Settings) -> bool:
    """Point MLflow at the configured store without creating one that does not exist."""
    if not settings.mlflow.tracking_uri and not settings.paths.mlflow.exists():
        return False
    mlflow.set_tracking_uri(tracking.tracking_uri(settings))
    return True


def _churn(run: Run, images: Path, site: Path) -> c.ChurnSection:
    payload = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/evaluation/metrics.json")
    metrics = run.data.metrics
    ev = Evaluation(payload["model"], payload["recency_rule"], payload["majority"],
                    payload["gain"], Thresholds(**payload["thresholds"]),
                    int(metrics.get("test_rows", 0)), metrics.get("test_churn_rate", 0.0))
    table = [{"metric": label, "model": ev.model.get(mk) if mk else None,
              "recency rule": ev.recency.get(rk) if rk else None,
              "majority": ev.majority.get(jk) if jk else None}
             for label, mk, rk, jk in ROWS]
    return c.ChurnSection(run.info.run_id, run.info.run_name,
                          _started(run), table, ev.verdict(), dict(run.data.params),
                          dict(run.data.tags), _plots(run, "churn", images, site),
                          _comparison(run))


def _comparison(run: Run) -> list[dict]:
    """The families-and-baselines table of a run; empty for runs before it was logged."""
    names = {a.path for a in MlflowClient().list_artifacts(run.info.run_id, "evaluation")}
    if "evaluation/comparison.json" not in names:
        return []
    return mlflow.artifacts.load_dict(
        f"runs:/{run.info.run_id}/evaluation/comparison.json")["rows"]


def _segments(run: Run, images: Path, site: Path) -> c.SegmentSection:
    text = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/segments/profile.csv")
    profile = pd.read_csv(io.StringIO(text), index_col=0)
    params = run.data.params
    return c.SegmentSection(run.info.run_id, params.get("as_of_date", "?"),
                            params.get("chosen_k", "?"), run.data.metrics.get("silhouette"),
                            json.loads(profile.to_json(orient="records")),
                            _plots(run, "segments", images, site))


def _section(build: Callable[[Run, Path, Path], Any], run: Run | None, images: Path,
             site: Path, notes: list[str]) -> Any:
    """A run's section, or None with a note when its artifacts cannot be read (deleted,
    or logged by another version of the project): the rest of the report still builds."""
    if run is None:
        return None
    try:
        return build(run, images, site)
    except (MlflowException, OSError, KeyError, ValueError) as err:
        log.warning("report: run %s: %s", run.info.run_id, err, exc_info=True)
        notes.append(f"MLflow run {run.info.run_name} ({run.info.run_id}): its artifacts "
                     f"could not be read ({type(err).__name__}: {str(err)[:200]})")
        return None


def _started(run: Run) -> datetime:
    return datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC)


def _plots(run: Run, prefix: str, images: Path, site: Path) -> list[c.Image]:
    """Download the run's plots into `images/<prefix>/`; one Image per PNG, by name."""
    target = images / prefix
    target.mkdir(parents=True, exist_ok=True)
    folder = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id,
                                                      artifact_path="plots",
                                                      dst_path=str(target)))
    return [c.Image(p.stem.replace("_", " ").capitalize(), _relative(p, site))
            for p in sorted(folder.glob("*.png"))]


def _at_risk(settings: Settings, store: TableStore) -> c.AtRisk | None:
    names = settings.tables.names
    if not all(store.exists(n) for n in (names.gold_scores, names.gold_features,
                                         names.gold_segments)):
        return None
    scores = store.read(names.gold_scores)
    as_of = scores.agg(F.max("as_of_date")).first()[0]
    if as_of is None:
        return None
    latest = scores.where(F.col("as_of_date") == F.lit(as_of))
    model = latest.select("model_name", "model_version").first()
    scored = c.revenue_at_risk(latest, store.read(names.gold_features),
                               store.read(names.gold_segments),
                               probability_col=CHURN_PROBABILITY,
                               horizon_days=settings.gold.horizon_days).cache()
    try:
        totals = scored.agg(F.count(F.lit(1)).alias("n"),
                            F.sum(c.REVENUE_AT_RISK).alias("risk")).first()
        top = scored.orderBy(F.desc(c.REVENUE_AT_RISK), F.desc(CHURN_PROBABILITY),
                             "customer_id")
        return c.AtRisk(as_of, f"{model['model_name']} v{model['model_version']}",
                        int(totals["n"]), settings.gold.horizon_days,
                        float(totals["risk"] or 0.0),
                        _rows(c.at_risk_by_segment(scored, CHURN_PROBABILITY)),
                        _rows(top, settings.report.at_risk_rows))
    finally:
        scored.unpersist()


def _drift(settings: Settings, store: TableStore) -> c.Drift | None:
    name = settings.tables.names.gold_features
    if not store.exists(name):
        return None
    features = store.read(name)
    dates = [r[0] for r in features.select("as_of_date").distinct()
             .orderBy(F.desc("as_of_date")).limit(2).collect()]
    if len(dates) < 2:
        return None
    after, before = dates
    def snapshot(as_of: date) -> DataFrame:
        return features.where(F.col("as_of_date") == F.lit(as_of))

    return c.Drift(before, after, settings.report.psi_threshold,
                   feature_drift(snapshot(before), snapshot(after),
                                 GOLD_FEATURES.model_features))


def _relative(path: Path, site: Path) -> str:
    """`path` as a link from a page in `site` (POSIX separators, works from file://)."""
    return Path(os.path.relpath(path, site)).as_posix()
