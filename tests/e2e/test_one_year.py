"""A one-year log in the original Online Retail format (December 2010 to December 2011, as
the public file), run as a new user would: default gold and ml settings, `make bronze
silver gold train`. Its history allows snapshots from June 2011 and 90-day labels up to
September: too little for an out-of-time test, so training tests on held-out customers."""

from __future__ import annotations

from datetime import date

from mlflow import MlflowClient

from datagen import GeneratorSpec, generate
from ml import tracking
from pipeline import main as pipeline_main
from tests.conftest import settings_for

ONE_YEAR = GeneratorSpec(rows=30_000, customers=900, months=13, start_date=date(2010, 12, 1),
                         fmt="online_retail", seed=3)
FOLDERS = ("landing", "truth", "lake", "reports", "mlflow")


def test_a_one_year_online_retail_log_trains_with_default_settings(tmp_path, capsys):
    settings = settings_for(tmp_path)
    generate(ONE_YEAR, settings.paths.landing, settings.paths.truth)
    args = ["--env", "test", *[f"--set=paths.{k}={tmp_path / k}" for k in FOLDERS]]
    assert pipeline_main([*args, "bronze", "silver", "gold", "train"]) == 0
    out = capsys.readouterr().out
    assert "split=customer_holdout" in out and "weaker evidence" in out
    tracking.configure(settings)
    client = MlflowClient()
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                              filter_string="tags.model = 'churn'")
    assert len(runs) == 1 and runs[0].data.tags["split"] == "customer_holdout"
    assert runs[0].data.params["horizon_days"] == "90"
    assert runs[0].data.params["test_as_of_date"] == "2011-08-31"
