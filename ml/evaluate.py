"""Out-of-time evaluation: collect one snapshot's (label, score) pairs, score the model and
the baselines on the same rows, and say plainly whether the model beats the recency rule."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ml import baselines
from ml import metrics as m
from ml.churn import CHURN_PROBABILITY
from ml.dataset import LABEL

RECENCY = "recency_days"


@dataclass(frozen=True)
class ScoredRows:
    """One evaluation snapshot on the driver: label, model probability, recency in days."""

    y: np.ndarray
    probability: np.ndarray
    recency: np.ndarray
    uncalibrated: np.ndarray | None = None  # the classifier's probability, when collected
    lifetime: np.ndarray | None = None  # BG/NBD expected purchases, when the model has them
    keys: np.ndarray | None = None  # customer ids (one snapshot: unique), when collected

    @property
    def churn_rate(self) -> float:
        return float(self.y.mean())


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds chosen on the validation snapshot (F1-best)."""

    model: float
    recency_days: float


@dataclass(frozen=True)
class Evaluation:
    """Test metrics of the model and both baselines, and the model's gain over recency."""

    model: dict[str, float]
    recency: dict[str, float]
    majority: dict[str, float]
    gain: dict[str, float]  # roc_auc_gain_vs_recency and its bootstrap interval
    thresholds: Thresholds
    rows: int
    churn_rate: float
    lifetime: dict[str, float] | None = None  # BG/NBD expected purchases alone, ranked

    @property
    def beats_recency(self) -> bool:
        """True when the model's test ROC AUC is above the recency rule's."""
        return self.model["roc_auc"] > self.recency["roc_auc"]

    def flat_metrics(self) -> dict[str, float]:
        """Everything as MLflow metric names: test_*, recency_test_*, majority_test_*."""
        out = {f"test_{k}": v for k, v in self.model.items()}
        out |= {f"recency_test_{k}": v for k, v in self.recency.items()}
        out |= {f"majority_test_{k}": v for k, v in self.majority.items()}
        out |= {f"bgnbd_test_{k}": v for k, v in (self.lifetime or {}).items()}
        out |= {k: v for k, v in self.gain.items() if not math.isnan(v)}
        out |= {"threshold_best_f1": self.thresholds.model,
                "recency_threshold_days": self.thresholds.recency_days,
                "test_rows": float(self.rows), "test_churn_rate": self.churn_rate}
        return out

    def verdict(self) -> str:
        """One sentence: does the model beat the recency rule on test ROC AUC?"""
        gain = self.gain["roc_auc_gain_vs_recency"]
        ci = ""
        if not math.isnan(self.gain.get("roc_auc_gain_ci_low", math.nan)):
            ci = (f", 95% bootstrap CI [{self.gain['roc_auc_gain_ci_low']:+.3f}, "
                  f"{self.gain['roc_auc_gain_ci_high']:+.3f}]")
        word = "beats" if self.beats_recency else "does NOT beat"
        return (f"model {word} the recency rule on test ROC AUC: {self.model['roc_auc']:.3f} vs "
                f"{self.recency['roc_auc']:.3f} ({gain:+.3f}{ci})")


def collect_scored(df: DataFrame, *, probability_col: str = CHURN_PROBABILITY,
                   label_col: str = LABEL, recency_col: str = RECENCY,
                   uncalibrated_col: str | None = None, lifetime_col: str | None = None,
                   key_col: str | None = None) -> ScoredRows:
    """Bring one evaluation snapshot's label, probability and recency (and, when named and
    present, the uncalibrated probability, BG/NBD expected purchases and customer id) to
    the driver (one snapshot: thousands of rows; never call this on training data)."""
    optional = {"u": uncalibrated_col, "e": lifetime_col, "k": key_col}
    optional = {alias: c for alias, c in optional.items() if c and c in df.columns}
    pdf = df.select(F.col(label_col).cast("double").alias("y"),
                    F.col(probability_col).cast("double").alias("p"),
                    F.col(recency_col).cast("double").alias("r"),
                    *[F.col(c).alias(alias) for alias, c in optional.items()]).toPandas()

    def column(alias: str) -> np.ndarray | None:
        return pdf[alias].to_numpy() if alias in optional else None
    return ScoredRows(pdf["y"].to_numpy(), pdf["p"].to_numpy(), pdf["r"].to_numpy(),
                      column("u"), column("e"), column("k"))


def roc_auc_of(df: DataFrame, *, score_col: str, label_col: str) -> float:
    """Exact ROC AUC of `score_col` against any 0/1 `label_col` of a Spark DataFrame (rows
    with a NULL label or score are ignored). Collects the two columns: meant for one
    snapshot, e.g. churn scores joined to the generator's ground truth."""
    pdf = (df.select(F.col(label_col).cast("double").alias("y"),
                     F.col(score_col).cast("double").alias("s"))
           .dropna().toPandas())
    return m.roc_auc(pdf["y"].to_numpy(), pdf["s"].to_numpy())


def choose_thresholds(validation: ScoredRows) -> Thresholds:
    """F1-best thresholds of the model and of the recency rule on the validation snapshot."""
    return Thresholds(m.best_f1_threshold(validation.y, validation.probability),
                      m.best_f1_threshold(validation.y, validation.recency))


def evaluate(test: ScoredRows, *, thresholds: Thresholds, train_churn_rate: float,
             bootstrap_samples: int, seed: int) -> Evaluation:
    """Model, recency rule and majority class on the test snapshot, plus a paired bootstrap
    of the ROC AUC gain over the recency rule."""
    model = baselines.model_metrics(test.y, test.probability, best_threshold=thresholds.model)
    recency = baselines.recency_metrics(test.y, test.recency,
                                        threshold_days=thresholds.recency_days)
    majority = baselines.majority_metrics(test.y, train_rate=train_churn_rate)
    boot = m.bootstrap_auc_gain(test.y, test.probability, test.recency,
                                samples=bootstrap_samples, seed=seed)
    gain = {"roc_auc_gain_vs_recency": model["roc_auc"] - recency["roc_auc"],
            "roc_auc_gain_ci_low": boot["ci_low"], "roc_auc_gain_ci_high": boot["ci_high"],
            "roc_auc_gain_share_positive": boot["share_positive"]}
    lifetime = None
    if test.lifetime is not None:  # fewer expected purchases = more likely to churn
        lifetime = baselines.ranking_metrics(test.y, -test.lifetime)
        gain["roc_auc_gain_vs_bgnbd"] = model["roc_auc"] - lifetime["roc_auc"]
    return Evaluation(model, recency, majority, gain, thresholds, int(test.y.size),
                      test.churn_rate, lifetime)


ROWS = (  # (label, model key, recency key, majority key)
    ("ROC AUC", "roc_auc", "roc_auc", "roc_auc"),
    ("PR AUC (average precision)", "pr_auc", "pr_auc", "pr_auc"),
    ("log loss", "log_loss", None, "log_loss"),
    ("Brier score", "brier", None, "brier"),
    ("lift, top decile", "lift_top_decile", "lift_top_decile", "lift_top_decile"),
    ("capture rate, top decile", "capture_top_decile", "capture_top_decile",
     "capture_top_decile"),
    ("F1 @ chosen threshold", "f1_at_best", "f1_at_best", "f1_at_0_5"),
    ("precision @ chosen threshold", "precision_at_best", "precision_at_best",
     "precision_at_0_5"),
    ("recall @ chosen threshold", "recall_at_best", "recall_at_best", "recall_at_0_5"),
    ("balanced accuracy @ chosen", "balanced_accuracy_at_best", "balanced_accuracy_at_best",
     "balanced_accuracy_at_0_5"),
    ("accuracy @ chosen threshold", "accuracy_at_best", "accuracy_at_best", "accuracy_at_0_5"),
    ("F1 @ 0.5", "f1_at_0_5", None, "f1_at_0_5"),
    ("accuracy @ 0.5", "accuracy_at_0_5", None, "accuracy_at_0_5"),
)


def summary_table(ev: Evaluation) -> str:
    """Model vs baselines on the test snapshot as a fixed-width text table."""
    def cell(values: dict[str, float], key: str | None) -> str:
        return f"{values[key]:>14.3f}" if key else f"{'-':>14}"

    head = f"{'metric (test snapshot)':<30}{'model':>14}{'recency rule':>14}{'majority':>14}"
    lines = [head, "-" * len(head)]
    for label, mk, rk, jk in ROWS:
        lines.append(f"{label:<30}{cell(ev.model, mk)}{cell(ev.recency, rk)}"
                     f"{cell(ev.majority, jk)}")
    lines += ["-" * len(head),
              f"chosen thresholds (F1-best on validation): model p >= "
              f"{ev.thresholds.model:.3f}, recency >= {ev.thresholds.recency_days:.0f} days",
              "majority: constant training churn rate (predicts the training majority class)",
              ev.verdict()]
    return "\n".join(lines)


# The comparison table: every family's test metrics next to the baselines.
COMPARED = (("ROC AUC", "roc_auc"), ("PR AUC", "pr_auc"), ("log loss", "log_loss"),
            ("Brier", "brier"), ("lift@10%", "lift_top_decile"))


def comparison_rows(families: Mapping[str, tuple[float, Evaluation]], candidate: str
                    ) -> list[dict]:
    """One row per model family (its validation score and test metrics; `candidate` marked)
    and per baseline (from the candidate's evaluation: the same test rows). Metrics a
    baseline does not have are None."""
    rows = [{"model": family, "candidate": family == candidate, "validation": score,
             **{key: ev.model.get(key) for _, key in COMPARED}}
            for family, (score, ev) in families.items()]
    ev = families[candidate][1]
    baselines_ = [("recency rule", ev.recency), ("BG/NBD expected purchases", ev.lifetime),
                  ("majority", ev.majority)]
    rows += [{"model": name, "candidate": False, "validation": None,
              **{key: values.get(key) for _, key in COMPARED}}
             for name, values in baselines_ if values is not None]
    return rows


def comparison_table(rows: Sequence[Mapping], *, tuning_metric: str) -> str:
    """The comparison rows as a fixed-width text table (the candidate starred)."""
    def cell(value) -> str:
        return f"{value:>10.4f}" if value is not None else f"{'-':>10}"

    head = (f"{'model (test snapshot)':<30}{'valid. ' + tuning_metric:>16}"
            + "".join(f"{label:>10}" for label, _ in COMPARED))
    lines = [head, "-" * len(head)]
    for row in rows:
        name = ("* " if row["candidate"] else "  ") + row["model"]
        lines.append(f"{name:<30}{cell(row['validation']):>16}"
                     + "".join(cell(row[key]) for _, key in COMPARED))
    lines.append("* the candidate: best validation score; baselines are scored on the same "
                 "test rows")
    return "\n".join(lines)
