"""Model registry: who is `champion`, the promotion rule (a paired test ROC AUC gain),
loading by alias."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from pyspark.errors import AnalysisException, IllegalArgumentException
from pyspark.ml import PipelineModel

from lakehouse.errors import LakehouseError
from ml import metrics as m

CHAMPION = "champion"
CHALLENGER = "challenger"
TEST_DATE_TAG = "test_as_of_date"
TEST_AUC_METRIC = "test_roc_auc"
FAMILY_TAG = "family"

log = logging.getLogger(__name__)


class NoChampionError(LakehouseError):
    """No model version carries the `champion` alias yet."""


@dataclass(frozen=True)
class ChampionOnTest:
    """The current champion measured on this run's test rows: its probabilities in the
    candidate's row order (`paired`) when it could be rescored, else why not."""

    version: str
    family: str | None
    paired: np.ndarray | None
    how: str  # why it was or was not rescored
    unusable: bool = False  # it cannot load or score today's gold: it is replaced


@dataclass(frozen=True)
class Verdict:
    """Whether the candidate takes `champion`, and the evidence in one phrase."""

    promote: bool
    reason: str
    champion_auc: float | None = None  # on the same rows, when paired
    gain: float | None = None
    ci: tuple[float, float] | None = None


def judge(y: np.ndarray, candidate: np.ndarray, champion: ChampionOnTest | None, *,
          min_gain: float, samples: int, seed: int) -> Verdict:
    """The promotion rule. No champion, or one that cannot score gold: the candidate takes
    it. A champion that could not be rescored on these rows (its test date is later)
    stays: there is no paired evidence. Otherwise the candidate must beat the champion's
    test ROC AUC on the same rows by more than `min_gain`, and the paired bootstrap 95%
    interval of the gain must lie above 0 (`samples` = 0: the margin alone decides)."""
    if champion is None:
        return Verdict(True, "no champion yet")
    if champion.unusable:
        return Verdict(True, f"champion version {champion.version} {champion.how}")
    if champion.paired is None:
        return Verdict(False, f"champion version {champion.version} stays: {champion.how}, "
                              "so there is no paired comparison on the same rows")
    auc = m.roc_auc(y, champion.paired)
    gain = m.roc_auc(y, candidate) - auc
    boot = m.bootstrap_auc_gain(y, candidate, champion.paired, samples=samples, seed=seed)
    has_ci = not math.isnan(boot["ci_low"])
    ci = (boot["ci_low"], boot["ci_high"]) if has_ci else None
    enough = gain > max(min_gain, 1e-9)
    promote = enough and (ci is None or ci[0] > 0)
    interval = (f", 95% paired bootstrap CI [{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci
                else " (no bootstrap interval: bootstrap_samples is 0)")
    evidence = (f"test ROC AUC gain {gain:+.4f} over champion version {champion.version} "
                f"({auc:.4f}) on the same {len(y):,} rows{interval}")
    if promote:
        reason = evidence
    elif not enough:
        reason = f"{evidence}: not above promotion_min_gain {min_gain:g}"
    else:
        reason = f"{evidence}: the interval includes 0"
    return Verdict(promote, reason, auc, gain, ci)


@dataclass(frozen=True)
class Promotion:
    """What happened to a new model version."""

    version: str
    alias: str  # champion or challenger
    family: str
    verdict: Verdict
    previous_version: str | None

    def line(self) -> str:
        """One sentence for the summary."""
        if self.previous_version is None:
            return f"version {self.version} ({self.family}) is the first `{CHAMPION}`"
        if self.alias == CHAMPION:
            return (f"version {self.version} ({self.family}) takes `{CHAMPION}` from version "
                    f"{self.previous_version}: {self.verdict.reason}")
        return (f"version {self.version} ({self.family}) is `{CHALLENGER}`; version "
                f"{self.previous_version} stays `{CHAMPION}`: {self.verdict.reason}")


def alias_version(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version holding `alias`, or None (also when the model is not registered)."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


# What an old champion raises when it cannot load or score today's gold (a missing
# column, a changed type, a model flavour this MLflow cannot read): it is replaced.
# Anything else (e.g. the tracking server is down) is raised.
UNUSABLE = (MlflowException, OSError, AnalysisException, IllegalArgumentException)


def champion_on_test(client: MlflowClient, champion: ModelVersion, *, test_date: date,
                     rescore: Callable[[PipelineModel], np.ndarray]) -> ChampionOnTest:
    """The champion's probabilities on this run's test rows (`rescore` returns them in the
    candidate's row order). Not rescored when its own test date is later than this one:
    its training labels may then reach past this test date."""
    version = str(champion.version)
    family = (champion.tags or {}).get(FAMILY_TAG)
    logged = client.get_run(champion.run_id).data
    own_test = logged.params.get(TEST_DATE_TAG) or logged.tags.get(TEST_DATE_TAG)
    if own_test is not None and date.fromisoformat(own_test) > test_date:
        return ChampionOnTest(version, family, None,
                              f"it was tested on a later date ({own_test}) than this run's "
                              f"{test_date}")
    try:
        model = load_model(champion.name, version)
        return ChampionOnTest(version, family, rescore(model), "rescored on this test snapshot")
    except UNUSABLE as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        log.warning("champion version %s cannot score this gold: %s", version, first)
        return ChampionOnTest(version, family, None,
                              f"cannot score this gold ({type(err).__name__}: {first[:160]}) "
                              "and is replaced", unusable=True)


def promote(client: MlflowClient, name: str, version: str, *, family: str, verdict: Verdict,
            champion: ModelVersion | None) -> Promotion:
    """Give the new version `champion` when the verdict says so, else `challenger`."""
    alias = CHAMPION if verdict.promote else CHALLENGER
    client.set_registered_model_alias(name, alias, version)
    previous = str(champion.version) if champion else None
    return Promotion(version, alias, family, verdict, previous)


def load_model(name: str, version: str) -> PipelineModel:
    """One registered version's Spark model."""
    return mlflow.spark.load_model(f"models:/{name}/{version}")


def load_by_alias(name: str, alias: str = CHAMPION) -> tuple[PipelineModel, ModelVersion]:
    """The Spark model holding `alias` and its registry entry; NoChampionError if none."""
    version = alias_version(MlflowClient(), name, alias)
    if version is None:
        raise NoChampionError(f"no version of registered model {name!r} has the alias "
                              f"`{alias}`: run `make train` first")
    return load_model(name, version.version), version
