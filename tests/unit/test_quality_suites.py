"""Suite files: the project's suites load, and every kind of mistake fails at load."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lakehouse.errors import LakehouseError
from lakehouse.quality import Check, SuiteError, load_suite, parse_suite, read_suite
from tests.fixtures.orders import INVALID_SUITE_FILE, SUITE_FILE

PROJECT_SUITES = sorted((Path(__file__).resolve().parents[2] / "conf" / "expectations")
                        .glob("*.yml"))


@pytest.mark.parametrize("path", PROJECT_SUITES, ids=lambda p: p.stem)
def test_every_project_suite_loads(settings, path):
    suite = load_suite(settings, path.stem)

    assert suite.name == path.stem
    assert len({c.name for c in suite.checks}) == len(suite.checks) > 0
    assert all(c.row_level for c in suite.by_severity("quarantine"))


def test_bronze_suite_loads_with_lineage_checks_failing_hard(settings):
    suite = load_suite(settings, "bronze")

    assert suite.name == "bronze"
    assert suite.source == str(settings.paths.expectations / "bronze.yml")
    fail = {c.name for c in suite.by_severity("fail")}
    assert {"source_file_present", "row_number_present", "ingested_at_present",
            "batch_id_present", "source_row_unique", "columns_present"} <= fail
    assert suite.check("source_row_unique").kwargs == {
        "column_list": ["_source_file", "_row_number"], "numbered_by": "_row_number"}
    invoice = suite.check("invoice_present")
    assert (invoice.severity, invoice.kwargs["mostly"]) == ("warn", 0.99)
    assert suite.by_severity("quarantine") == ()


def test_fixture_suite_parses_into_checks_in_file_order():
    suite = read_suite(SUITE_FILE)

    assert [c.name for c in suite.checks] == [
        "order_id_present", "price_not_negative", "customer_id_present",
        "quantity_in_range", "country_known", "order_id_digits", "rows_at_least_ten"]
    assert suite.check("quantity_in_range") == Check(
        name="quantity_in_range", expectation="expect_column_values_to_be_between",
        kwargs={"column": "quantity", "min_value": 0, "max_value": 1000, "strict_min": True},
        severity="quarantine")
    assert suite.check("quantity_in_range").row_level
    assert not suite.check("rows_at_least_ten").row_level


def test_invalid_file_reports_every_bad_entry_with_file_index_and_name():
    path = INVALID_SUITE_FILE
    with pytest.raises(SuiteError) as caught:
        read_suite(path)

    lines = str(caught.value).splitlines()
    assert lines[0] == f"{path}: invalid expectation suite:"
    expected = [
        "expectations[1] 'amount_positive': unknown expectation "
        "'expect_column_values_to_be_positive'",
        "expectations[2] 'amount_range': missing required argument 'column' for "
        "expect_column_values_to_be_between",
        "expectations[3] 'country_known': bad severity 'error'",
        "expectations[4] 'id_format': unknown argument 'colum' for "
        "expect_column_values_to_match_regex",
        "expectations[5] 'id_present': duplicate name 'id_present'",
        "expectations[6] 'id_unique': severity 'quarantine' needs a row-level expectation, "
        "and expect_column_values_to_be_unique is not one",
        "expectations[7] 'amount_mostly_set': 'mostly' has no meaning with severity "
        "'quarantine'",
        "expectations[8] 'rows_mostly': unknown argument 'mostly' for "
        "expect_table_row_count_to_be_between",
    ]
    assert len(lines) == 1 + len(expected)
    for line, start in zip(lines[1:], expected, strict=True):
        assert line.startswith(f"  - {start}"), line
    assert "expectations[0]" not in str(caught.value)
    assert isinstance(caught.value, LakehouseError)  # entry points print it, no traceback


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"expectation": "expect_column_values_to_be_negative", "kwargs": {"column": "x"}},
         "expectations[0] 'x_check': unknown expectation 'expect_column_values_to_be_negative'"),
        ({"expectation": "expect_column_values_to_be_in_set", "kwargs": {"column": "x"}},
         "expectations[0] 'x_check': missing required argument 'value_set'"),
        ({"expectation": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"},
          "severity": "critical"},
         "expectations[0] 'x_check': bad severity 'critical' (one of: warn, quarantine, fail)"),
        ({"expectation": "expect_column_values_to_not_be_null", "kwargs": {"column": "x",
          "mostly": 1.5}},
         "expectations[0] 'x_check': invalid argument 'mostly'"),
        ({"expectation": "expect_column_values_to_not_be_null", "kwargs": {"column": "x",
          "meta": {}}},
         "expectations[0] 'x_check': unknown argument 'meta'"),
        ({"expectation": "expect_column_values_to_be_between", "kwargs": {"column": "x"}},
         "expectations[0] 'x_check': invalid arguments for expect_column_values_to_be_between: "
         "min_value and max_value cannot both be None"),
        ({"expectation": "expect_compound_columns_to_be_unique",
          "kwargs": {"column_list": ["x", "y"]}, "severity": "quarantine"},
         "needs a row-level expectation"),
        ({"expectation": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"},
          "serverity": "fail"},
         "expectations[0] 'x_check': unknown key 'serverity'"),
    ],
)
def test_each_mistake_is_named_in_the_error(tmp_path, entry, message):
    path = tmp_path / "broken.yml"
    base = {"name": "x_check", "severity": "warn"}
    _write_suite(path, "broken", [{**base, **entry}])

    with pytest.raises(SuiteError) as caught:
        read_suite(path)

    assert str(caught.value).startswith(f"{path}: invalid expectation suite:")
    assert message in str(caught.value)


def test_suite_name_must_match_file_name(tmp_path):
    path = tmp_path / "silver.yml"
    _write_suite(path, "gold", [{"name": "a", "expectation":
                                 "expect_table_row_count_to_be_between",
                                 "kwargs": {"min_value": 1}, "severity": "warn"}])

    with pytest.raises(SuiteError, match=r"'suite: gold' does not match the file name"):
        read_suite(path)


def test_missing_suite_names_the_path_and_known_suites(settings):
    with pytest.raises(SuiteError) as caught:
        load_suite(settings, "platinum")

    assert str(settings.paths.expectations / "platinum.yml") in str(caught.value)
    assert "bronze" in str(caught.value)


def test_empty_or_malformed_documents_are_rejected():
    with pytest.raises(SuiteError, match=r"inline: a suite file is a mapping"):
        parse_suite(["not", "a", "mapping"], source="inline")
    with pytest.raises(SuiteError, match=r"'expectations' must be a non-empty list"):
        parse_suite({"suite": "empty", "expectations": []}, source="inline")


def _write_suite(path: Path, name: str, entries: list[dict]) -> None:
    path.write_text(yaml.safe_dump({"suite": name, "expectations": entries}), encoding="utf-8")
