"""Validation reports: the summary line, the fail error's message, what counts as failed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lakehouse.quality import CheckResult, DataQualityError, ValidationReport, parse_suite

SUITE = parse_suite({"suite": "silver", "expectations": [
    {"name": "rows_present", "expectation": "expect_table_row_count_to_be_between",
     "kwargs": {"min_value": 1}, "severity": "fail"},
    {"name": "price_positive", "expectation": "expect_column_values_to_be_between",
     "kwargs": {"column": "price", "min_value": 0, "strict_min": True}, "severity": "fail"},
    {"name": "customer_present", "expectation": "expect_column_values_to_not_be_null",
     "kwargs": {"column": "customer_id"}, "severity": "quarantine"},
    {"name": "description_set", "expectation": "expect_column_values_to_not_be_null",
     "kwargs": {"column": "description", "mostly": 0.9}, "severity": "warn"},
    {"name": "country_set", "expectation": "expect_column_values_to_not_be_null",
     "kwargs": {"column": "country"}, "severity": "warn"},
]}, source="inline")


def _report(*results: CheckResult) -> ValidationReport:
    return ValidationReport(
        run_id="r1", stage="silver", suite="silver", table_name="silver.transactions",
        table_version=None, validated_at=datetime(2024, 5, 1, tzinfo=UTC), seconds=3.24,
        results=results)


def _passed(name: str) -> CheckResult:
    return CheckResult(SUITE.check(name), success=True, observed={"unexpected_percent": 0.0},
                       unexpected_count=0, element_count=10)


def test_summary_counts_each_outcome_once():
    report = _report(
        _passed("rows_present"), _passed("price_positive"),
        CheckResult(SUITE.check("customer_present"), False, {"unexpected_percent": 10.0}, 1, 10),
        CheckResult(SUITE.check("description_set"), False, {"unexpected_percent": 20.0}, 2, 10),
        _passed("country_set"))

    assert report.summary() == (
        "quality[silver]: 3 passed, 1 warned, 1 quarantine checks failed, 0 failed (3.2 s)")
    assert report.success
    report.raise_for_failures()  # warn and quarantine failures do not stop the stage


def test_fail_error_lists_each_failed_check_with_observed_value_and_sample():
    report = _report(
        CheckResult(SUITE.check("rows_present"), False, observed=0),
        CheckResult(SUITE.check("price_positive"), False,
                    {"missing_count": 2, "unexpected_percent": 37.5}, 3, 10,
                    sample=(-1.5, 0.0, -2.0)),
        CheckResult(SUITE.check("customer_present"), False, {"unexpected_percent": 10.0}, 1, 10),
        _passed("description_set"),
        CheckResult(SUITE.check("country_set"), False, error="column country does not exist"))

    with pytest.raises(DataQualityError) as caught:
        report.raise_for_failures()

    assert str(caught.value).splitlines() == [
        "quality[silver]: 2 check(s) of suite 'silver' with severity 'fail' failed for "
        "silver.transactions (run r1); nothing was written:",
        "  - rows_present (expect_table_row_count_to_be_between min_value=1): observed 0",
        "  - price_positive (expect_column_values_to_be_between column='price', min_value=0, "
        "strict_min=True): 3 of 8 non-NULL values unexpected (37.5%; 2 NULLs ignored); "
        "sample: [-1.5, 0.0, -2.0]",
        "  also failed (warn/quarantine): customer_present, country_set",
        "Fix the input data, or the suite if the expectation is wrong.",
    ]
    assert caught.value.report is report
    assert report.summary().endswith("1 passed, 1 warned, 1 quarantine checks failed, "
                                     "2 failed (3.2 s)")


def test_a_check_that_could_not_run_says_why():
    result = CheckResult(SUITE.check("country_set"), False, error="no column 'country'")

    assert result.describe() == (
        "country_set (expect_column_values_to_not_be_null column='country'): "
        "could not run: no column 'country'")
