"""The shape of the configuration: one frozen, validated model per section.

Every section forbids unknown keys and checks types strictly, so a typo in a YAML
file or an environment variable fails at start instead of being ignored.
"""

from __future__ import annotations

import codecs
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lakehouse.contracts import GOLD_FEATURES, MODEL_INPUTS

# Paths arrive as strings from YAML and the environment; accept them as paths.
LoosePath = Annotated[Path, Field(strict=False)]


class Section(BaseModel):
    """Base of every configuration section: immutable, strict, no unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class PathSettings(Section):
    landing: LoosePath
    truth: LoosePath
    lake: LoosePath
    reports: LoosePath
    mlflow: LoosePath
    expectations: LoosePath
    jars: LoosePath  # the Delta Lake jars of local sessions (lakehouse/jars.py)


class SparkSettings(Section):
    master: str
    app_name: str
    driver_memory: str = Field(pattern=r"^\d+[kmgt]?$")
    shuffle_partitions: int = Field(ge=1)
    log_level: Literal["ALL", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF"]
    conf: dict[str, str] = {}


class TableNames(Section):
    bronze_transactions: str
    bronze_ingest_log: str
    silver_transactions: str
    silver_quarantine: str
    silver_audit: str
    gold_features: str
    gold_labels: str
    gold_customer_days: str
    gold_scores: str
    gold_segments: str
    quality_results: str


class TableSettings(Section):
    catalog: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    vacuum_retention_hours: int = Field(ge=0)
    properties: dict[str, str] = {}  # set on every table at creation
    table_properties: dict[str, dict[str, str]] = {}  # more per table, by role name
    zorder_by: dict[str, list[str]] = {}  # `make maintain`: Z-order columns by role name
    # A writing run finding the lake locked by another waits this long, then stops
    # (lakehouse/tables/lock.py); 0: stops at once.
    lock_wait_seconds: int = Field(default=0, ge=0)
    names: TableNames

    @model_validator(mode="after")
    def _roles_exist(self) -> TableSettings:
        unknown = sorted((set(self.table_properties) | set(self.zorder_by))
                         - set(TableNames.model_fields))
        if unknown:
            raise ValueError(f"table_properties or zorder_by name unknown tables {unknown}: "
                             "use the role names of tables.names")
        return self


class BronzeSettings(Section):
    file_pattern: str  # `x.gz`, `x.zip`, ... of a matching x match too (bronze/landing.py)
    encoding: str
    encodings: dict[str, str] = {}  # glob on the landing-relative path -> encoding
    delimiter: str = Field(min_length=1, max_length=1)
    on_changed_file: Literal["error", "reingest"]
    on_duplicate_content: Literal["skip", "ingest"]
    on_unreadable_file: Literal["stop", "quarantine_file"]  # bronze/unreadable.py
    header_aliases: dict[str, list[str]] = Field(min_length=1)
    required_columns: list[str]

    @model_validator(mode="after")
    def _required_are_known(self) -> BronzeSettings:
        unknown = [c for c in self.required_columns if c not in self.header_aliases]
        if unknown:
            raise ValueError(f"required_columns {unknown} are not keys of header_aliases")
        return self

    @field_validator("encoding", "encodings")
    @classmethod
    def _encodings_exist(cls, value: str | dict[str, str]) -> str | dict[str, str]:
        for name in value.values() if isinstance(value, dict) else (value,):
            try:
                text = codecs.lookup(name)._is_text_encoding  # not e.g. 'zip' (bytes)
            except LookupError:
                text = False
            if not text:
                raise ValueError(f"{name!r} is not a text encoding Python knows (e.g. "
                                 "utf-8, cp1252, latin-1, utf-16)")
        return value


class SilverSettings(Section):
    timestamp_formats: list[str] = Field(min_length=1)
    source_timezone: str
    cancellation_prefix: str = Field(min_length=1)
    quarantine_missing_customer: bool
    # Plausibility limits (rejection_rules in silver/transform.py). The absolute limits
    # lie inside the typed columns' ranges (bigint, decimal(18,3)).
    min_date: date
    max_minutes_after_ingestion: int = Field(ge=0)
    max_abs_quantity: int = Field(ge=1, le=2**63 - 1)
    max_abs_unit_price: float = Field(gt=0, lt=1e15, strict=False)


class GoldSettings(Section):
    """Point-in-time customer features and churn labels (gold/)."""

    schedule: Literal["monthly", "weekly", "explicit"]  # month ends | Sundays | as_of_dates
    as_of_dates: list[date] = []  # the snapshots of schedule 'explicit'
    min_history_days: int = Field(ge=0)  # first snapshot >= first transaction date + this
    horizon_days: int = Field(ge=1)  # churn label window (as_of, as_of + horizon]
    recompute: Literal["affected", "all"]  # default snapshot selection of `make gold`
    max_snapshots: int = Field(ge=1)  # a schedule giving more fails the run (gold/plan.py)

    @model_validator(mode="after")
    def _dates_match_schedule(self) -> GoldSettings:
        if self.schedule == "explicit" and not self.as_of_dates:
            raise ValueError("schedule 'explicit' needs a non-empty as_of_dates list")
        if self.schedule != "explicit" and self.as_of_dates:
            raise ValueError(f"as_of_dates are used only with schedule 'explicit' "
                             f"(schedule is {self.schedule!r})")
        return self


class QualitySettings(Section):
    data_docs: bool
    sample_size: int = Field(ge=0)


class AuditSettings(Section):
    keys: dict[str, list[str]]

    @model_validator(mode="after")
    def _roles_exist(self) -> AuditSettings:
        unknown = sorted(set(self.keys) - set(TableNames.model_fields))
        if unknown:
            raise ValueError(f"keys names unknown tables {unknown}: use the role names of "
                             "tables.names")
        return self


class GeneratorSettings(Section):
    """Defaults of the sample generator (datagen); `dirt` rates by kind, see
    `python -m datagen --help`. The generator validates the names and ranges."""

    rows: int = Field(ge=1)
    customers: int | None = Field(default=None, ge=1)
    months: int = Field(ge=1)
    start_date: date
    seed: int
    format: Literal["online_retail_ii", "online_retail"]
    dirt: dict[str, float] = {}


class MlflowSettings(Section):
    tracking_uri: str | None = None
    experiment: str
    churn_model_name: str
    segment_model_name: str
    ui_host: str = "127.0.0.1"
    ui_port: int = Field(default=5000, ge=1, le=65535)


Grid = Annotated[list[Annotated[float, Field(ge=0, strict=False)]], Field(min_length=1)]
Counts = Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1)]
Family = Literal["logistic_regression", "gbt", "random_forest"]


class LogisticGrid(Section):
    """Logistic regression's tuning grid (every combination is fitted)."""

    reg_param: Grid
    elastic_net_param: Annotated[list[Annotated[float, Field(ge=0, le=1, strict=False)]],
                                 Field(min_length=1)]
    max_iter: Counts  # LBFGS iterations: each is a Spark job


class GbtGrid(Section):
    """Gradient-boosted trees' tuning grid."""

    max_depth: Annotated[list[Annotated[int, Field(ge=1, le=30)]], Field(min_length=1)]
    max_iter: Counts  # boosting rounds: each is a few Spark jobs
    step_size: Annotated[list[Annotated[float, Field(gt=0, le=1, strict=False)]],
                         Field(min_length=1)]


class ForestGrid(Section):
    """Random forest's tuning grid."""

    max_depth: Annotated[list[Annotated[int, Field(ge=1, le=30)]], Field(min_length=1)]
    num_trees: Counts


class ChurnModelSettings(Section):
    """The churn model: inputs, class weights, the families and their grids, promotion."""

    # Model inputs: every model feature of the gold contract and the BG/NBD lifetime
    # features (contracts.MODEL_INPUTS) unless narrowed here.
    features: list[str] = Field(default_factory=lambda: list(MODEL_INPUTS), min_length=1)
    class_weighting: Literal["none", "balanced"]
    families: Annotated[list[Family], Field(min_length=1)]
    logistic_regression: LogisticGrid
    gbt: GbtGrid
    random_forest: ForestGrid
    tuning_metric: Literal["roc_auc", "pr_auc"]
    lifetime_max_customers: int = Field(ge=100)  # BG/NBD fit: sampled training rows, at most
    bootstrap_samples: int = Field(ge=0)
    promotion_min_gain: float = Field(ge=0, strict=False)
    top_drivers: int = Field(ge=1)

    @model_validator(mode="after")
    def _known_features_and_families(self) -> ChurnModelSettings:
        unknown = [c for c in self.features if c not in MODEL_INPUTS]
        if unknown:
            raise ValueError(f"features {unknown} are not model inputs (model features of "
                             f"{GOLD_FEATURES.table} or lifetime features, "
                             f"lakehouse/contracts.py): {', '.join(MODEL_INPUTS)}")
        twice = sorted({f for f in self.families if self.families.count(f) > 1})
        if twice:
            raise ValueError(f"families lists {', '.join(twice)} more than once")
        return self


class SegmentSettings(Section):
    """K-means on log RFM: k is chosen by silhouette within [k_min, k_max]."""

    k_min: int = Field(ge=2)
    k_max: int = Field(ge=2, le=12)
    max_iter: int = Field(ge=1)

    @model_validator(mode="after")
    def _k_range(self) -> SegmentSettings:
        if self.k_min > self.k_max:
            raise ValueError(f"k_min ({self.k_min}) is greater than k_max ({self.k_max})")
        return self


class MlSettings(Section):
    """Churn model and segmentation training (ml/)."""

    horizon_days: int | None = Field(default=None, ge=1)  # None: the only one in the labels
    min_train_snapshots: int = Field(ge=1)
    split: Literal["auto", "out_of_time"] = "auto"  # auto: customer holdout when needed
    holdout_share: float = Field(default=0.2, gt=0, lt=0.5, strict=False)
    seed: int
    plot_dpi: int = Field(ge=72, le=300)
    parallel_fits: int = Field(default=4, ge=1)  # models fitted at once (tuning grid, k)
    rows_per_partition: int = Field(default=250_000, ge=1)  # training frames: see ml.partitions
    churn: ChurnModelSettings
    segments: SegmentSettings


class ReportSettings(Section):
    """The HTML report (report/): how many at-risk customers, when a feature has drifted."""

    at_risk_rows: int = Field(ge=1)
    psi_threshold: float = Field(gt=0, strict=False)


class Settings(Section):
    """The whole configuration of one run, created once at the entry point."""

    env: str
    project_root: LoosePath
    sources: tuple[str, ...]
    paths: PathSettings
    spark: SparkSettings
    tables: TableSettings
    bronze: BronzeSettings
    silver: SilverSettings
    gold: GoldSettings
    quality: QualitySettings
    audit: AuditSettings
    generator: GeneratorSettings
    mlflow: MlflowSettings
    ml: MlSettings
    report: ReportSettings
