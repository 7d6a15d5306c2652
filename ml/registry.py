"""Model registry: who is `champion`, promotion on the test ROC AUC, loading by alias."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from pyspark.ml import PipelineModel

from lakehouse.errors import LakehouseError

CHAMPION = "champion"
CHALLENGER = "challenger"
TEST_DATE_TAG = "test_as_of_date"
TEST_AUC_METRIC = "test_roc_auc"

log = logging.getLogger(__name__)


class NoChampionError(LakehouseError):
    """No model version carries the `champion` alias yet."""


@dataclass(frozen=True)
class Promotion:
    """What happened to a new model version."""

    version: str
    alias: str  # champion or challenger
    previous_version: str | None
    previous_auc: float | None  # the previous champion's ROC AUC on the same test snapshot
    how_compared: str  # "rescored on this test snapshot" | "its own logged test ROC AUC" | ...

    def line(self) -> str:
        """One sentence for the summary."""
        if self.previous_version is None:
            return f"version {self.version} is the first `{CHAMPION}`"
        verdict = "takes" if self.alias == CHAMPION else "does not take"
        return (f"version {self.version} {verdict} `{CHAMPION}` from version "
                f"{self.previous_version} (its test ROC AUC {self.previous_auc:.4f}, "
                f"{self.how_compared}) and is `{self.alias}`")


def alias_version(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version holding `alias`, or None (also when the model is not registered)."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def beats(new_auc: float, champion_auc: float | None, *, min_gain: float) -> bool:
    """True when the new model should take `champion`: there is none, or its ROC AUC is
    higher by more than `min_gain` (and by more than float noise)."""
    if champion_auc is None:
        return True
    return new_auc - champion_auc > max(min_gain, 1e-9)


def champion_auc_on_test(client: MlflowClient, champion: ModelVersion, *, test_date: date,
                         rescore: Callable[[PipelineModel], float]) -> tuple[float, str]:
    """The champion's ROC AUC on the current test snapshot. It is re-scored on it when its own
    test date is not later (then its training labels ended before this test date); otherwise,
    or if its inputs no longer fit, its logged test ROC AUC is used, as the message says."""
    logged = client.get_run(champion.run_id).data
    own_test = logged.params.get(TEST_DATE_TAG) or logged.tags.get(TEST_DATE_TAG)
    stored = logged.metrics.get(TEST_AUC_METRIC, float("-inf"))
    if own_test is not None and date.fromisoformat(own_test) > test_date:
        return stored, f"its own logged test ROC AUC (its test date {own_test} is later)"
    try:
        model = mlflow.spark.load_model(f"models:/{champion.name}/{champion.version}")
        return rescore(model), "rescored on this test snapshot"
    except Exception as err:  # an incompatible old model must not block training
        log.warning("could not rescore champion version %s (%s); comparing its logged test "
                    "ROC AUC instead", champion.version, err)
        return stored, "its own logged test ROC AUC (could not rescore)"


def promote(client: MlflowClient, name: str, version: str, *, new_auc: float,
            champion: ModelVersion | None, champion_auc: float | None, how: str,
            min_gain: float) -> Promotion:
    """Give the new version `champion` if it beats the current one, else `challenger`."""
    alias = CHAMPION if beats(new_auc, champion_auc, min_gain=min_gain) else CHALLENGER
    client.set_registered_model_alias(name, alias, version)
    previous = str(champion.version) if champion else None
    return Promotion(version, alias, previous, champion_auc, how)


def load_by_alias(name: str, alias: str = CHAMPION) -> tuple[PipelineModel, ModelVersion]:
    """The Spark model holding `alias` and its registry entry; NoChampionError if none."""
    version = alias_version(MlflowClient(), name, alias)
    if version is None:
        raise NoChampionError(f"no version of registered model {name!r} has the alias "
                              f"`{alias}`: run `make train` first")
    return mlflow.spark.load_model(f"models:/{name}/{version.version}"), version
