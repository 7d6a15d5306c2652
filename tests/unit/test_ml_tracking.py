"""MLflow stays local and offline; promotion rule; UI command line."""

from __future__ import annotations

import os

import ml
from lakehouse.config import load_settings
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


def test_promotion_needs_a_strictly_better_auc():
    assert registry.beats(0.70, None, min_gain=0.0)
    assert registry.beats(0.71, 0.70, min_gain=0.0)
    assert not registry.beats(0.70, 0.70, min_gain=0.0)
    assert not registry.beats(0.70 + 1e-12, 0.70, min_gain=0.0)  # float noise is a tie
    assert not registry.beats(0.705, 0.70, min_gain=0.01)


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
