"""A run whose artifacts cannot be read costs its section, not the report."""

from __future__ import annotations

import mlflow
import pytest

from report import collect


@pytest.fixture
def store(tmp_path):
    """A throwaway MLflow store; the previous tracking URI is restored afterwards."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    yield
    mlflow.set_tracking_uri(previous)


def test_a_run_without_its_artifacts_becomes_a_note(tmp_path, store):
    experiment = mlflow.create_experiment("x", artifact_location=(tmp_path / "a").as_uri())
    with mlflow.start_run(experiment_id=experiment, run_name="churn-bare",
                          tags={"model": "churn"}) as run:
        mlflow.log_metric("test_rows", 10)
    notes: list[str] = []
    got = mlflow.get_run(run.info.run_id)
    assert collect._section(collect._churn, got, tmp_path / "img", tmp_path, notes) is None
    assert len(notes) == 1 and "churn-bare" in notes[0] and "could not be read" in notes[0]
    assert collect._section(collect._churn, None, tmp_path, tmp_path, notes) is None
    assert len(notes) == 1
