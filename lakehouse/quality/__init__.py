"""Data-quality gates: Great Expectations suites from `conf/expectations/*.yml`.

The only package of the project that imports great_expectations. A stage:

    suite = load_suite(settings, "silver")              # SuiteError if the file is wrong
    df = build_silver(...).persist()                    # validation and write share it
    gate(df, suite, settings=settings, stage="silver", store=store,
         table_name=settings.tables.names.silver_transactions)  # DataQualityError on `fail`
    passed, quarantined = split_quarantine(df, suite)   # `quarantine` rows, with reasons
"""

from lakehouse.quality._gx import build_data_docs, publish_docs
from lakehouse.quality.gate import gate, validate
from lakehouse.quality.results import (
    CheckResult,
    DataQualityError,
    ValidationReport,
    results_frame,
)
from lakehouse.quality.rows import (
    ROW_LEVEL_TYPES,
    failed_condition,
    quality_reasons,
    split_quarantine,
    with_quality_reasons,
)
from lakehouse.quality.suites import (
    Check,
    SuiteError,
    load_suite,
    parse_suite,
    read_suite,
)

__all__ = [
    "ROW_LEVEL_TYPES",
    "Check",
    "CheckResult",
    "DataQualityError",
    "SuiteError",
    "ValidationReport",
    "build_data_docs",
    "failed_condition",
    "gate",
    "load_suite",
    "parse_suite",
    "publish_docs",
    "quality_reasons",
    "read_suite",
    "results_frame",
    "split_quarantine",
    "validate",
    "with_quality_reasons",
]
