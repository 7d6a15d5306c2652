"""Training end to end on synthetic gold tables: out-of-time evaluation, MLflow contents,
registry aliases and batch scoring."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import mlflow
import pytest
from mlflow import MlflowClient
from pyspark.sql import functions as F

from audit.reproduce import reproduce
from lakehouse.cli import StageContext
from lakehouse.config import load_settings
from lakehouse.tables import open_store
from ml import churn, dataset, lifetime, registry, tracking
from ml.score import score
from ml.synthetic import synthetic_gold
from ml.train import MissingGoldTableError, train

CUSTOMERS = 300


@pytest.fixture(scope="module")
def trained(spark, tmp_path_factory):
    """Synthetic gold (7 monthly snapshots, 28-day labels), then two identical trainings."""
    tmp = tmp_path_factory.mktemp("ml")
    settings = load_settings("test", overrides=[
        f"paths.{k}={tmp / k}" for k in ("landing", "truth", "lake", "reports", "mlflow")])
    store = open_store(spark, settings)
    features, labels = synthetic_gold(spark, customers=CUSTOMERS, snapshots=7)
    store.write(settings.tables.names.gold_features, features)
    store.write(settings.tables.names.gold_labels, labels)
    ctx = StageContext(settings, spark, store, "ml-test-1")
    first = train(ctx)
    second = train(replace(ctx, run_id="ml-test-2"))
    return ctx, first, second


@pytest.fixture(scope="module")
def client(trained):
    uri = tracking.tracking_uri(trained[0].settings)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_model_beats_the_recency_rule_out_of_time(trained, client):
    _, first, _ = trained
    ev = first.churn.evaluation
    assert first.churn.plan.test_date == date(2023, 6, 1)
    assert ev.rows == CUSTOMERS
    assert ev.model["roc_auc"] > ev.recency["roc_auc"] + 0.05
    assert ev.model["roc_auc"] > 0.7 and ev.majority["roc_auc"] == 0.5
    assert ev.model["brier"] < ev.majority["brier"]
    run = client.get_run(first.churn.run_id)
    assert run.data.tags["beats_recency_rule"] == "true"
    assert run.data.params["beats_recency_rule"] == "True"
    assert "model beats the recency rule" in first.text()


def test_split_is_out_of_time_without_overlap(trained):
    ctx, first, _ = trained
    plan = first.churn.plan
    assert plan.validation_date not in plan.tune_dates
    assert plan.test_date not in plan.refit_dates
    assert all(dataset.label_window_end(d, plan.horizon_days) <= plan.test_date
               for d in plan.refit_dates)
    assert all(dataset.label_window_end(d, plan.horizon_days) <= plan.validation_date
               for d in plan.tune_dates)
    names = ctx.settings.tables.names
    examples = dataset.labeled_examples(ctx.store.read(names.gold_features),
                                        ctx.store.read(names.gold_labels),
                                        horizon_days=plan.horizon_days)
    train_keys = dataset.filter_dates(examples, plan.refit_dates).select(*dataset.KEYS)
    test_keys = dataset.filter_dates(examples, [plan.test_date]).select(*dataset.KEYS)
    assert train_keys.join(test_keys, on=list(dataset.KEYS), how="inner").count() == 0
    assert test_keys.count() == CUSTOMERS


EXPECTED_PARAMS = {
    "horizon_days", "test_as_of_date", "validation_as_of_date", "tune_as_of_dates",
    "refit_as_of_dates", "unused_as_of_dates", "features", "log_features", "class_weighting",
    "families", "grid_logistic_regression_reg_param", "grid_gbt_max_depth",
    "grid_random_forest_num_trees", "tuning_metric", "model_family", "best_setting",
    "lifetime_max_customers", "bgnbd_r", "bgnbd_alpha", "bgnbd_a", "bgnbd_b",
    "gold_features_version", "gold_labels_version",
    "leakage_rule", "train_fingerprint", "test_fingerprint", "validation_fingerprint",
    "tune_fingerprint", "beats_recency_rule", "seed"}
EXPECTED_METRICS = {
    f"{prefix}{name}"
    for prefix in ("test_", "recency_test_", "majority_test_")
    for name in ("roc_auc", "pr_auc", "lift_top_decile", "capture_top_decile")
} | {f"test_{name}_{at}" for name in ("accuracy", "balanced_accuracy", "precision", "recall",
                                      "f1") for at in ("at_0_5", "at_best")} | {
    "test_log_loss", "test_brier", "majority_test_log_loss", "majority_test_brier",
    "recency_test_f1_at_best", "majority_test_accuracy_at_0_5", "roc_auc_gain_vs_recency",
    "roc_auc_gain_ci_low", "roc_auc_gain_ci_high", "threshold_best_f1", "recency_threshold_days",
    "train_roc_auc_spark", "validation_roc_auc", "tuning_validation_score", "train_rows",
    "test_rows", "test_churn_rate", "train_churn_rate", "bgnbd_test_roc_auc",
    "roc_auc_gain_vs_bgnbd"}
EXPECTED_PLOTS = {"confusion_matrix", "class_distribution", "roc_curve", "pr_curve",
                  "gains_curve", "calibration_curve", "model_drivers", "tuning_grid"}


def _artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    found = set()
    for item in client.list_artifacts(run_id, path):
        found |= _artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    return found


def test_churn_run_holds_every_param_metric_artifact_and_tag(trained, client):
    ctx, first, _ = trained
    run = client.get_run(first.churn.run_id)
    assert set(run.data.params) >= EXPECTED_PARAMS, EXPECTED_PARAMS - set(run.data.params)
    assert set(run.data.metrics) >= EXPECTED_METRICS, EXPECTED_METRICS - set(run.data.metrics)
    names = ctx.settings.tables.names
    tags = run.data.tags
    assert tags[f"table.{names.gold_features}.version"] == "0"
    assert tags[f"table.{names.gold_labels}.version"] == "0"
    assert tags["lakehouse_run_id"] == "ml-test-1" and tags["git_commit"]
    assert tags["promotion"] == "champion" and tags["model_version"] == "1"
    assert len(tags["data.test_fingerprint"]) == 64
    artifacts = _artifacts(client, first.churn.run_id)
    assert {f"plots/{p}.png" for p in EXPECTED_PLOTS} <= artifacts
    assert {"config/settings.yml", "tuning/grid.csv", "evaluation/drivers.csv",
            "evaluation/metrics.json", "evaluation/comparison.json"} <= artifacts
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == ctx.settings.mlflow.experiment
    assert experiment.artifact_location.startswith("file://")


def test_dataset_inputs_carry_table_versions_and_fingerprints(trained, client):
    _, first, _ = trained
    run = client.get_run(first.churn.run_id)
    inputs = {i.dataset.name: i for i in run.inputs.dataset_inputs}
    assert set(inputs) == {"churn_tune", "churn_validation", "churn_train", "churn_test"}
    test = inputs["churn_test"]
    assert test.dataset.digest == run.data.tags["data.test_fingerprint"][:32]
    assert '"delta_table_version": 0' in test.dataset.source
    tags = {t.key: t.value for t in test.tags}
    assert tags["mlflow.data.context"] == "testing"
    assert (tags["table"], tags["table_version"]) == ("gold.customer_features", "0")
    assert (tags["labels_table"], tags["labels_version"]) == ("gold.churn_labels", "0")
    assert tags["as_of_dates"] == "2023-06-01"


def test_fingerprints_reproduce_from_the_logged_table_versions(trained, client):
    ctx, first, _ = trained
    run = client.get_run(first.churn.run_id)
    params, names = run.data.params, ctx.settings.tables.names
    features = ctx.store.read(names.gold_features, version=int(params["gold_features_version"]))
    labels = ctx.store.read(names.gold_labels, version=int(params["gold_labels_version"]))
    examples = dataset.labeled_examples(features, labels,
                                        horizon_days=int(params["horizon_days"]))
    assert params["split"] == "out_of_time"
    test = dataset.filter_dates(examples, [date.fromisoformat(params["test_as_of_date"])])
    assert dataset.fingerprint(test) == params["test_fingerprint"]
    refit = [date.fromisoformat(d) for d in params["refit_as_of_dates"].split(",")]
    assert dataset.fingerprint(dataset.filter_dates(examples, refit)) == params[
        "train_fingerprint"]


def test_logged_model_has_signature_and_input_example(trained, client):
    ctx, _, _ = trained
    tracking.configure(ctx.settings)
    version = client.get_model_version(ctx.settings.mlflow.churn_model_name, "1")
    info = mlflow.models.get_model_info(f"models:/{version.name}/{version.version}")
    assert [c.name for c in info.signature.inputs] == churn.gold_columns(
        ctx.settings.ml.churn.features)
    assert info.saved_input_example_info is not None
    assert "spark" in info.flavors
    assert version.tags["test_as_of_date"] == "2023-06-01"


def test_second_identical_run_does_not_take_champion(trained, client):
    ctx, first, second = trained
    name = ctx.settings.mlflow.churn_model_name
    assert first.churn.promotion.alias == registry.CHAMPION
    assert second.churn.promotion.alias == registry.CHALLENGER
    assert second.churn.promotion.verdict.champion_auc == pytest.approx(
        first.churn.evaluation.model["roc_auc"])  # rescored on the same rows: the same model
    assert "version 1 stays `champion`" in second.text()
    assert "not above promotion_min_gain" in second.churn.promotion.line()
    assert str(client.get_model_version_by_alias(name, registry.CHAMPION).version) == "1"
    assert str(client.get_model_version_by_alias(name, registry.CHALLENGER).version) == "2"
    run = client.get_run(second.churn.run_id)
    assert run.data.tags["promotion"] == "challenger"
    assert run.data.metrics["champion_test_roc_auc"] == pytest.approx(
        first.churn.evaluation.model["roc_auc"])


def test_every_family_is_a_child_run_and_the_candidate_is_the_best_on_validation(trained,
                                                                                client):
    ctx, first, _ = trained
    run = client.get_run(first.churn.run_id)
    children = client.search_runs(
        [run.info.experiment_id],
        f"tags.mlflow.parentRunId = '{run.info.run_id}' and tags.model = 'churn_family'")
    by_family = {c.data.tags["family"]: c for c in children}
    assert set(by_family) == set(ctx.settings.ml.churn.families)
    best = max(by_family, key=lambda f: by_family[f].data.metrics["validation_score"])
    assert run.data.params["model_family"] == best == first.churn.best.setting.family
    assert by_family[best].data.tags["candidate"] == "true"
    assert by_family[best].data.metrics["test_roc_auc"] == pytest.approx(
        run.data.metrics["test_roc_auc"])
    for child in children:
        assert {"test_roc_auc", "test_pr_auc", "test_log_loss", "test_brier",
                "test_lift_top_decile"} <= set(child.data.metrics)
    rows = {r["model"]: r for r in first.churn.comparison}
    assert set(rows) == {*by_family, "recency rule", "BG/NBD expected purchases", "majority"}
    text = first.text()
    assert "lift@10%" in text and f"* {best}" in text
    grid = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/tuning/grid.csv")
    assert grid.count("\n") - 1 == len(churn.grid(ctx.settings.ml.churn))


def test_bgnbd_is_fitted_on_the_refit_snapshots_only(trained, client):
    ctx, first, _ = trained
    params = client.get_run(first.churn.run_id).data.params
    names, plan = ctx.settings.tables.names, first.churn.plan
    examples = dataset.labeled_examples(ctx.store.read(names.gold_features),
                                        ctx.store.read(names.gold_labels),
                                        horizon_days=plan.horizon_days)
    refit = dataset.filter_dates(examples, plan.refit_dates)
    fitted = lifetime.fit(refit, max_customers=ctx.settings.ml.churn.lifetime_max_customers,
                          seed=ctx.settings.ml.seed)
    assert lifetime.describe(fitted) == pytest.approx(
        {k: float(params[k]) for k in lifetime.describe(fitted)}, rel=1e-6)


def test_segments_run_chooses_k_by_silhouette_and_names_segments(trained, client):
    ctx, first, second = trained
    seg = first.segments
    assert seg.as_of_date == date(2023, 7, 1)  # the latest snapshot, unlabeled
    history = client.get_metric_history(seg.run_id, "silhouette_by_k")
    assert sorted(m.step for m in history) == [2, 3, 4]
    assert seg.best.silhouette == max(m.value for m in history)
    chosen = next(m.value for m in history if m.step == seg.best.k)
    assert client.get_run(seg.run_id).data.metrics["silhouette"] == chosen
    assert seg.profile["customers"].sum() == CUSTOMERS
    assert seg.profile["segment_name"].is_unique
    assert seg.profile["churn_rate"].between(0, 1).all()  # observed at the test snapshot
    artifacts = _artifacts(client, seg.run_id)
    assert {"plots/k_selection.png", "plots/segment_profiles.png", "plots/segment_sizes.png",
            "segments/profile.csv", "segments/names.json", "config/settings.yml"} <= artifacts
    name = ctx.settings.mlflow.segment_model_name
    champion = client.get_model_version_by_alias(name, registry.CHAMPION)
    assert str(champion.version) == second.segments.version


def test_champion_scores_the_latest_snapshot_idempotently(trained):
    ctx, _, second = trained
    names = ctx.settings.tables.names
    report = score(ctx)
    assert report.as_of_date == date(2023, 7, 1) and report.customers == CUSTOMERS
    again = score(ctx)
    scores = ctx.store.read(names.gold_scores)
    assert scores.dtypes == [("customer_id", "string"), ("as_of_date", "date"),
                             ("churn_probability", "double"), ("risk_decile", "int"),
                             ("model_name", "string"), ("model_version", "string"),
                             ("scored_at", "timestamp")]
    assert scores.count() == CUSTOMERS  # the second run replaced the date's rows
    assert again.scores_version == report.scores_version + 1
    deciles = {r["risk_decile"]: r for r in scores.groupBy("risk_decile").agg(
        F.count(F.lit(1)).alias("n"), F.min("churn_probability").alias("lo"),
        F.max("churn_probability").alias("hi")).collect()}
    assert sorted(deciles) == list(range(1, 11))
    assert {r["n"] for r in deciles.values()} == {CUSTOMERS // 10}
    assert deciles[1]["lo"] >= deciles[2]["hi"] >= deciles[10]["hi"]  # 1 = highest risk
    assert {(r["model_name"], r["model_version"]) for r in
            scores.select("model_name", "model_version").distinct().collect()} == {
        (ctx.settings.mlflow.churn_model_name, "1")}
    segments = ctx.store.read(names.gold_segments)
    assert segments.columns == ["customer_id", "as_of_date", "segment_id", "segment_name",
                                "model_run_id"]
    assert segments.count() == CUSTOMERS
    pairs = {(r["segment_id"], r["segment_name"]) for r in
             segments.select("segment_id", "segment_name").distinct().collect()}
    expected = {(int(i), n) for i, n in second.segments.profile["segment_name"].items()}
    assert pairs == expected
    assert {r["model_run_id"] for r in segments.select("model_run_id").distinct().collect()} \
        == {second.segments.run_id}


def test_missing_gold_tables_are_a_clear_error(ctx):
    with pytest.raises(MissingGoldTableError, match="make gold"):
        train(ctx)


def test_gold_missing_for_too_short_a_history_says_why(ctx):
    silver = ctx.spark.createDataFrame([(date(2011, 6, 1),), (date(2011, 9, 30),)],
                                       "invoice_date date")
    ctx.store.write(ctx.settings.tables.names.silver_transactions, silver)
    with pytest.raises(MissingGoldTableError,
                       match=r"no snapshot to train on: .*121 days of history.*"
                             r"gold.min_history_days \(180\)"):
        train(ctx)


def test_scoring_without_a_champion_is_a_clear_error(ctx):
    features, _ = synthetic_gold(ctx.spark, customers=20, snapshots=2)
    ctx.store.write(ctx.settings.tables.names.gold_features, features)
    with pytest.raises(registry.NoChampionError, match="make train"):
        score(ctx)


def test_a_history_too_short_for_out_of_time_trains_on_a_customer_holdout(ctx, capsys):
    """90-day labels on three monthly snapshots: no label window ends before the latest
    snapshot, so `ml.split: auto` tests on held-out customers of it; `out_of_time` stops."""
    features, labels = synthetic_gold(ctx.spark, customers=400, snapshots=4, horizon_days=90)
    names = ctx.settings.tables.names
    ctx.store.write(names.gold_features, features)
    ctx.store.write(names.gold_labels, labels)
    strict = replace(ctx, settings=ctx.settings.model_copy(update={
        "ml": ctx.settings.ml.model_copy(update={"split": "out_of_time"})}))
    with pytest.raises(dataset.NotEnoughSnapshotsError, match="falls back to a customer holdout"):
        train(strict)
    report = train(ctx)
    plan = report.churn.plan
    assert plan.kind == dataset.CUSTOMER_HOLDOUT and plan.test_date == date(2023, 3, 1)
    assert "split=customer_holdout" in report.text() and "weaker evidence" in report.text()
    client = MlflowClient(tracking_uri=tracking.tracking_uri(ctx.settings))
    run = client.get_run(report.churn.run_id)
    assert run.data.tags["split"] == "customer_holdout"
    assert int(run.data.metrics["test_rows"]) == 80  # 20% of the 400 customers
    assert reproduce(ctx.settings, ctx.store, report.churn.run_id) == 0
    capsys.readouterr()
