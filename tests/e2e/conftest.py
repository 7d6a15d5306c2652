"""The end-to-end lake, built once per test session and shared by the pipeline tests and
the browser tests (tests/e2e/test_pages.py)."""

from __future__ import annotations

import pytest

from datagen import GeneratorSpec, generate
from gold.run import main as gold_main
from ml.train import main as train_main
from pipeline import main as pipeline_main
from tests.conftest import settings_for

SAMPLE = GeneratorSpec(rows=60_000, customers=1_500, months=18, seed=7)
FOLDERS = ("landing", "truth", "lake", "reports", "mlflow")


@pytest.fixture(scope="session")
def lake(spark, tmp_path_factory):
    """Runs every stage once on a fresh sample; returns (settings, args, manifest).
    bronze and silver as `make bronze silver` runs them (one process), gold and train by
    their own entry points, then `make score` (score and the report)."""
    root = tmp_path_factory.mktemp("e2e")
    settings = settings_for(root, "quality.data_docs=true")
    args = ["--env", "test", *[f"--set=paths.{k}={root / k}" for k in FOLDERS],
            "--set=quality.data_docs=true"]  # the browser tests open them
    manifest = generate(SAMPLE, settings.paths.landing, settings.paths.truth)
    assert pipeline_main([*args, "bronze", "silver"]) == 0
    for stage in (gold_main, train_main):
        assert stage(args) == 0, stage.__module__
    assert pipeline_main([*args, "score"]) == 0
    return settings, args, manifest
