"""What a validation found: per-check results, the run's summary, the results table."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from lakehouse.errors import LakehouseError
from lakehouse.quality.suites import Check, Severity
from lakehouse.settings import Settings
from lakehouse.tables import CommitResult, TableStore

RESULTS_SCHEMA = T.StructType([
    T.StructField("run_id", T.StringType(), False),
    T.StructField("stage", T.StringType(), False),
    T.StructField("suite", T.StringType(), False),
    T.StructField("table_name", T.StringType(), True),
    T.StructField("table_version", T.LongType(), True),
    T.StructField("expectation", T.StringType(), False),
    T.StructField("expectation_type", T.StringType(), False),
    T.StructField("severity", T.StringType(), False),
    T.StructField("success", T.BooleanType(), False),
    T.StructField("observed_value", T.StringType(), True),
    T.StructField("unexpected_count", T.LongType(), True),
    T.StructField("element_count", T.LongType(), True),
    T.StructField("validated_at", T.TimestampType(), False),
])


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check. `observed` is GX's observed value (aggregate checks) or
    the unexpected share (row checks); `sample` holds offending values, fetched only for
    failed checks; `error` is set when the check could not run (e.g. missing column)."""

    check: Check
    success: bool
    observed: Any = None
    unexpected_count: int | None = None
    element_count: int | None = None
    sample: tuple[Any, ...] = ()
    error: str | None = None

    def describe(self) -> str:
        """One line: the check, what was observed, and a sample of offending values."""
        if self.error:
            return f"{self.check.describe()}: could not run: {self.error}"
        if self.unexpected_count is not None:
            observed = self._unexpected()
        else:
            observed = f"observed {_json(self.observed)}"
        sample = f"; sample: {_json(list(self.sample))}" if self.sample else ""
        return f"{self.check.describe()}: {observed}{sample}"

    def _unexpected(self) -> str:
        observed = self.observed if isinstance(self.observed, dict) else {}
        percent = observed.get("unexpected_percent")
        share = "n/a" if percent is None else f"{percent:.4g}%"
        missing = observed.get("missing_count")
        if missing is None:  # a check that judges NULLs: the share is of all rows
            return f"{self.unexpected_count} of {self.element_count} rows unexpected ({share})"
        ignored = f"; {missing} NULL{'' if missing == 1 else 's'} ignored" if missing else ""
        return (f"{self.unexpected_count} of {(self.element_count or 0) - missing} non-NULL "
                f"values unexpected ({share}{ignored})")


@dataclass(frozen=True)
class ValidationReport:
    """One validation of a DataFrame against a suite: what a stage acts on."""

    run_id: str
    stage: str
    suite: str
    table_name: str | None
    table_version: int | None
    validated_at: datetime
    seconds: float
    results: tuple[CheckResult, ...]

    def failures(self, severity: Severity | None = None) -> tuple[CheckResult, ...]:
        """Failed checks, all or of one severity, in suite order."""
        return tuple(r for r in self.results if not r.success
                     and (severity is None or r.check.severity == severity))

    @property
    def passed(self) -> tuple[CheckResult, ...]:
        """Checks that succeeded."""
        return tuple(r for r in self.results if r.success)

    @property
    def success(self) -> bool:
        """False when a check of severity `fail` failed: the stage must not write."""
        return not self.failures("fail")

    def summary(self, *, waited: float | None = None) -> str:
        """`quality[silver]: 12 passed, 1 warned, 0 quarantine checks failed, 0 failed (3.2 s)`;
        for a validation beside the stage's writes (`waited`: the seconds the stage was
        blocked on it) the end reads `(validated in 3.2 s beside the writes, waited 0.4 s)`."""
        seconds = f"{self.seconds:.1f} s" if waited is None else \
            f"validated in {self.seconds:.1f} s beside the writes, waited {waited:.1f} s"
        return (f"quality[{self.stage}]: {len(self.passed)} passed, "
                f"{len(self.failures('warn'))} warned, "
                f"{len(self.failures('quarantine'))} quarantine checks failed, "
                f"{len(self.failures('fail'))} failed ({seconds})")

    def raise_for_failures(self) -> None:
        """Raise DataQualityError if a check of severity `fail` failed."""
        if not self.success:
            raise DataQualityError(self)


class DataQualityError(LakehouseError):
    """Checks of severity `fail` failed: the stage stopped before writing anything."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        failed = report.failures("fail")
        target = f" for {report.table_name}" if report.table_name else ""
        lines = [f"quality[{report.stage}]: {len(failed)} check(s) of suite {report.suite!r} "
                 f"with severity 'fail' failed{target} (run {report.run_id}); "
                 "nothing was written:"]
        lines += [f"  - {r.describe()}" for r in failed]
        others = [r.check.name for r in report.failures() if r.check.severity != "fail"]
        if others:
            lines.append(f"  also failed (warn/quarantine): {', '.join(others)}")
        lines.append("Fix the input data, or the suite if the expectation is wrong.")
        super().__init__("\n".join(lines))


def results_frame(spark: SparkSession, report: ValidationReport) -> DataFrame:
    """The report as rows of the results table (RESULTS_SCHEMA), one per check."""
    rows = [
        (report.run_id, report.stage, report.suite, report.table_name, report.table_version,
         r.check.name, r.check.expectation, r.check.severity, r.success,
         _observed_json(r), r.unexpected_count, r.element_count, report.validated_at)
        for r in report.results
    ]
    return spark.createDataFrame(rows, RESULTS_SCHEMA)


def record_results(
    store: TableStore, settings: Settings, report: ValidationReport
) -> CommitResult:
    """Append the report's rows to `tables.names.quality_results` (created if missing)."""
    name = settings.tables.names.quality_results
    return store.write(name, results_frame(store.spark, report), mode="append",
                       metadata={"run_id": report.run_id, "stage": report.stage,
                                 "suite": report.suite})


def _observed_json(result: CheckResult) -> str | None:
    if result.error:
        return _json({"error": result.error})
    return None if result.observed is None else _json(result.observed)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
