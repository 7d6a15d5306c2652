"""MLflow stays local and offline; promotion rule; UI command line."""

from __future__ import annotations

import os

import numpy as np
import pytest

import ml
from lakehouse.config import load_settings
from ml import metrics as m
from ml import registry, tracking, ui


def test_local_stores_live_under_paths_mlflow(settings):
    root = settings.paths.mlflow.resolve()
    assert tracking.tracking_uri(settings) == f"sqlite:///{root}/mlflow.db"
    assert tracking.artifact_root(settings) == (root / "artifacts").as_uri()


def test_a_configured_tracking_uri_wins(tmp_path):
    remote = load_settings("test", overrides=[f"paths.mlflow={tmp_path}",
                                              "mlflow.tracking_uri=databricks"])
    assert tracking.tracking_uri(remote) == "databricks"
    assert tracking.artifact_root(remote) is None


def test_telemetry_is_off_once_ml_is_imported():
    from mlflow.telemetry.utils import is_telemetry_disabled

    assert set(ml.OFFLINE_ENV) <= set(os.environ)  # the import set every opt-out
    assert is_telemetry_disabled()


def test_git_commit_is_none_outside_a_repository(tmp_path):
    assert tracking.git_commit(tmp_path) is None


def test_configure_creates_the_experiment_with_the_local_artifact_root(settings):
    import mlflow

    experiment_id = tracking.configure(settings)
    experiment = mlflow.get_experiment(experiment_id)
    assert experiment.name == settings.mlflow.experiment
    assert experiment.artifact_location == tracking.artifact_root(settings)
    assert tracking.configure(settings) == experiment_id  # idempotent
    assert (settings.paths.mlflow / "mlflow.db").is_file()


def _test_rows(n=600, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(float)
    return y, rng.normal(0, 1, n) + y  # a champion with AUC ~0.76


def _champion(paired=None, **kw):
    return registry.ChampionOnTest("3", "logistic_regression", paired,
                                   kw.pop("how", "rescored on this test snapshot"), **kw)


def test_a_clearly_better_candidate_takes_champion_with_the_interval_above_zero():
    y, champion = _test_rows()
    candidate = champion + 1.5 * y  # much better ranking on the same rows
    verdict = registry.judge(y, candidate, _champion(champion), min_gain=0.0, samples=200,
                             seed=1)
    assert verdict.promote and verdict.ci[0] > 0 and verdict.gain > 0.05
    assert verdict.champion_auc == pytest.approx(m.roc_auc(y, champion))
    assert "on the same 600 rows" in verdict.reason


def test_a_gain_within_noise_or_below_the_margin_keeps_the_champion():
    y, champion = _test_rows()
    rng = np.random.default_rng(9)
    noisy = champion + rng.normal(0, 0.05, y.size)  # the same model, jittered
    verdict = registry.judge(y, noisy, _champion(champion), min_gain=0.0, samples=200, seed=1)
    if verdict.gain > 0:
        assert not verdict.promote and "interval includes 0" in verdict.reason
    else:
        assert not verdict.promote and "not above promotion_min_gain" in verdict.reason
    better = champion + 1.5 * y
    margin = registry.judge(y, better, _champion(champion), min_gain=0.5, samples=0, seed=1)
    assert not margin.promote and "not above promotion_min_gain 0.5" in margin.reason
    assert "bootstrap_samples is 0" in margin.reason
    tie = registry.judge(y, champion.copy(), _champion(champion), min_gain=0.0, samples=0,
                         seed=1)
    assert not tie.promote  # equal AUC is not a gain


def test_no_champion_an_unusable_one_and_an_unpaired_one():
    y, p = _test_rows()
    assert registry.judge(y, p, None, min_gain=0.0, samples=10, seed=0).promote
    broken = _champion(None, how="cannot score this gold (AnalysisException: x) and is "
                                 "replaced", unusable=True)
    verdict = registry.judge(y, p, broken, min_gain=0.0, samples=10, seed=0)
    assert verdict.promote and "cannot score this gold" in verdict.reason
    later = _champion(None, how="it was tested on a later date (2024-01-01)")
    stays = registry.judge(y, p + 5 * y, later, min_gain=0.0, samples=10, seed=0)
    assert not stays.promote and "stays" in stays.reason and "later date" in stays.reason


def test_the_promotion_line_names_both_versions_and_why():
    verdict = registry.Verdict(False, "test ROC AUC gain +0.0010 ...: the interval includes 0")
    line = registry.Promotion("4", registry.CHALLENGER, "gbt", verdict, "3").line()
    assert line.startswith("version 4 (gbt) is `challenger`; version 3 stays `champion`")
    first = registry.Promotion("1", registry.CHAMPION, "gbt", registry.Verdict(True, "x"), None)
    assert first.line() == "version 1 (gbt) is the first `champion`"


def test_ui_listens_on_localhost_over_the_local_store(settings):
    command = ui.ui_command(settings)
    assert command[1:4] == ["-m", "mlflow", "ui"]
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--port") + 1] == str(settings.mlflow.ui_port)
    assert command[command.index("--backend-store-uri") + 1] == tracking.tracking_uri(settings)
    assert ui.ui_command(settings, port=5099)[-1] == "5099"


def test_ui_becomes_the_mlflow_server_without_job_workers_or_telemetry(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(ui.os, "execve", lambda *call: started.append(call))
    monkeypatch.setenv("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "true")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "false")
    assert ui.main(["--env", "test", "--set", f"paths.mlflow={tmp_path}", "--port", "5099"]) == 0
    ((path, argv, env),) = started
    assert path == argv[0] and argv[1:4] == ["-m", "mlflow", "ui"] and argv[-1] == "5099"
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert env["MLFLOW_DISABLE_TELEMETRY"] == "true"


def test_runs_left_running_by_a_killed_process_are_marked_killed(settings):
    import mlflow

    experiment_id = tracking.configure(settings)
    client = mlflow.MlflowClient()
    orphan = client.create_run(experiment_id, run_name="churn-killed").info.run_id
    ended = client.create_run(experiment_id).info.run_id
    client.set_terminated(ended, status="FINISHED")

    assert tracking.close_orphaned_runs(settings, experiment_id) == [orphan]
    assert client.get_run(orphan).info.status == "KILLED"
    assert client.get_run(orphan).data.tags["ended_by"].startswith("a later `make train`")
    assert client.get_run(ended).info.status == "FINISHED"
    assert tracking.close_orphaned_runs(settings, experiment_id) == []


def test_a_remote_tracking_server_is_left_alone(tmp_path):
    remote = load_settings("test", overrides=[f"paths.mlflow={tmp_path}",
                                              "mlflow.tracking_uri=databricks"])
    assert tracking.close_orphaned_runs(remote, "1") == []
