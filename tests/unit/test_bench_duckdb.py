"""The DuckDB reference's rewrites of the pipeline's rules, checked on tiny inputs
against the project's own code (bronze.parse) and Spark's documented behaviour."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from bench.compare import relative_difference, row_mismatches
from bench.duckdb_gold import month_ends, snapshot_dates
from bench.duckdb_reference import header_groups, load_bronze
from bench.duckdb_sql import (
    decimal_text,
    integer_text,
    silver_rows_sql,
    spark_timestamp,
    strptime_pattern,
)
from bench.samples import SampleSpec, default_customers
from bronze.parse import parse_lines

ALIASES = {"invoice": ["Invoice", "InvoiceNo"], "stock_code": ["StockCode"],
           "description": ["Description"], "quantity": ["Quantity"],
           "invoice_date": ["InvoiceDate"], "price": ["Price", "UnitPrice"],
           "customer_id": ["Customer ID", "CustomerID"], "country": ["Country"]}
HEADER = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country"
AWKWARD = "\n".join([
    HEADER,
    "1,A,PLAIN,1,2023-01-01 10:00:00,1.00,12345,UK",
    '2,B,"COMMA, INSIDE",1,2023-01-01 10:00:00,1.00,12345,UK',
    '3,C,"SAYS ""HI""",1,2023-01-01 10:00:00,1.00,12345,UK',
    '4,D,"TWO\nLINES",1,2023-01-01 10:00:00,1.00,12345,UK',
    "5,E,TRAILING,1,2023-01-01 10:00:00,1.00,12345,UK,",  # one field too many
    "6,F,DECIMAL COMMA,1,2023-01-01 10:00:00,2,55,12345,UK",  # one field too many
    "7,G,TWO EXTRA,1,2023-01-01 10:00:00,2,55,12345,UK,",  # two fields too many
    "8,H,TRUNCATED,1,2023-01-01 10:00:00,1.00,12345",  # one field missing
    "",  # a blank line is no record
    "9,I,,,2023-01-01 10:00:00,1.00,,",  # empty fields are NULL, the record is fine
    "",
]) + "\n"


def _bronze(landing: Path) -> list[tuple]:
    con = duckdb.connect()
    load_bronze(con, landing, "*.csv", ALIASES)
    return con.execute("SELECT invoice, description, quantity, customer_id, "
                       "_corrupt_record IS NOT NULL, _rescued, _source_file FROM bronze "
                       "ORDER BY _source_file, _corrupt_record IS NOT NULL, "
                       "coalesce(invoice, _corrupt_record)").fetchall()


def test_bronze_records_and_malformed_lines_match_the_pipeline_parser(tmp_path: Path):
    (tmp_path / "a.csv").write_text(AWKWARD)
    expected = []
    for batch in parse_lines(AWKWARD.splitlines(keepends=True), source="a.csv",
                             aliases=ALIASES, required=list(ALIASES)):
        for i in range(len(batch["_source_file"])):
            expected.append((batch["invoice"][i], batch["description"][i],
                             batch["quantity"][i], batch["customer_id"][i],
                             batch["_corrupt_record"][i] is not None))
    got = _bronze(tmp_path)
    assert len(got) == len(expected) == 9
    assert sorted(g[:5] for g in got if not g[4]) == sorted(e for e in expected if not e[4])
    assert sum(g[4] for g in got) == sum(e[4] for e in expected) == 4


def test_bronze_maps_headers_by_alias_and_rescues_extra_columns(tmp_path: Path):
    (tmp_path / "old.csv").write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country,"
        "Channel\n1,A,X,2,12/1/10 8:26,1.0,17850,UK,web\n")
    (tmp_path / ".hidden.csv").write_text(HEADER + "\n9,Z,Z,1,x,1,1,UK\n")
    assert len(header_groups(tmp_path, "*.csv", ALIASES)) == 1
    assert _bronze(tmp_path) == [("1", "X", "2", "17850", False, '{"Channel":"web"}',
                                  "old.csv")]


@pytest.mark.parametrize(("pattern", "fmt", "two_digit"), [
    ("yyyy-MM-dd HH:mm:ss", "%Y-%m-%d %H:%M:%S", False),
    ("yyyy-MM-dd'T'HH:mm:ss", "%Y-%m-%dT%H:%M:%S", False),
    ("M/d/yy H:mm", "%m/%d/%y %H:%M", True),
])
def test_strptime_pattern_translates_spark_patterns(pattern, fmt, two_digit):
    assert strptime_pattern(pattern)[0::2] == (fmt, two_digit)


def test_strptime_pattern_refuses_what_it_cannot_translate():
    with pytest.raises(ValueError, match="EEE"):
        strptime_pattern("EEE yyyy")


@pytest.mark.parametrize(("text", "expected"), [
    ("2023-01-02 03:04:05", datetime(2023, 1, 2, 3, 4, 5)),
    ("2023-1-2 03:04:05", None),  # MM needs two digits in Spark
    ("2023-01-02 03:04", datetime(2023, 1, 2, 3, 4)),
    ("1/2/69 8:26", datetime(2069, 1, 2, 8, 26)),  # yy is 2000-2099 in Spark
    ("2010-13-45 25:61:00", None),
    ("2023-02-30 10:00:00", None),
])
def test_spark_timestamp_follows_spark(text, expected):
    formats = ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm", "M/d/yy H:mm"]
    sql = spark_timestamp("v", formats)
    assert duckdb.connect().execute(f"SELECT {sql} FROM (SELECT ? AS v)",
                                    [text]).fetchall() == [(expected,)]


@pytest.mark.parametrize(("text", "quantity", "price"), [
    ("12", 12, "12.000"), ("-3", -3, "-3.000"), ("1.0", None, "1.000"), ("1e3", None, "1000.000"),
    ("0x10", None, None), ("1,5", None, None), ("--3", None, None), ("N/A", None, None),
])
def test_numbers_are_read_as_spark_reads_them(text, quantity, price):
    sql = f"SELECT {integer_text('v')}, {decimal_text('v')}::VARCHAR FROM (SELECT ? AS v)"
    assert duckdb.connect().execute(sql, [text]).fetchall() == [(quantity, price)]


# (invoice, quantity, invoice date, price) -> reasons, as tests/unit/test_silver_transform.py
# expects of the pipeline with the same limits (ingested 2024-01-01 00:00 UTC).
PLAUSIBILITY = [
    (("1", "100000", "2000-01-01 00:00:00", "100000.000"), []),
    (("C1", "-100001", "2024-01-02 00:00:00", "6.95"), ["quantity_out_of_range"]),
    (("1", "99999999999999999999", "2009-12-01 07:45:00", "1e999"),
     ["quantity_out_of_range", "price_out_of_range"]),
    (("1", "1e6", "2009-12-01 07:45:00", "100000.001"),
     ["quantity_out_of_range", "price_out_of_range"]),
    (("1", "12.5", "2009-12-01 07:45:00", "NaN"), ["unparseable_quantity", "non_finite_price"]),
    (("1", "-inf", "1999-12-31 23:59:59", "6.95"),
     ["non_finite_quantity", "date_before_min_date"]),
    (("1", "1", "2024-01-02 00:00:01", "6.95"), ["date_after_ingestion"]),
]


def test_reference_rejects_implausible_values_as_the_pipeline_does(tmp_path: Path):
    from tests.conftest import settings_for

    settings = settings_for(tmp_path, "silver.min_date=2000-01-01",
                            "silver.max_minutes_after_ingestion=1440",
                            "silver.max_abs_quantity=100000", "silver.max_abs_unit_price=100000")
    con = duckdb.connect()
    con.execute("CREATE TABLE bronze (invoice VARCHAR, stock_code VARCHAR, description VARCHAR, "
                "quantity VARCHAR, invoice_date VARCHAR, price VARCHAR, customer_id VARCHAR, "
                "country VARCHAR, _corrupt_record VARCHAR, _source_file VARCHAR)")
    for n, ((invoice, quantity, day, price), _) in enumerate(PLAUSIBILITY):
        con.execute("INSERT INTO bronze VALUES (?, 'A', 'X', ?, ?, ?, '13085', 'UK', NULL, ?)",
                    [invoice, quantity, day, price, f"f{n}.csv"])
    sql = silver_rows_sql("bronze", settings, [], ingested_at=datetime(2024, 1, 1))
    got = con.execute(f"SELECT reject_reasons FROM ({sql}) ORDER BY _source_file").fetchall()
    assert [sorted(r[0]) for r in got] == [sorted(r) for _, r in PLAUSIBILITY]


def test_snapshot_dates_are_month_ends_after_the_history_with_labelable_ones():
    assert month_ends(date(2024, 1, 31), date(2024, 3, 30)) == [date(2024, 1, 31),
                                                                  date(2024, 2, 29)]
    dates, labelable = snapshot_dates(date(2023, 1, 4), date(2023, 12, 23),
                                      min_history_days=180, horizon_days=90)
    assert dates == [date(2023, 7, 31), date(2023, 8, 31), date(2023, 9, 30),
                     date(2023, 10, 31), date(2023, 11, 30)]
    assert labelable == [date(2023, 7, 31), date(2023, 8, 31)]  # + 90 days <= Dec 23


def test_row_mismatches_counts_differences_per_column_and_unmatched_keys():
    con = duckdb.connect()
    con.execute("CREATE TABLE p AS SELECT * FROM (VALUES ('a', DATE '2024-01-31', 1, 1.0), "
                "('b', DATE '2024-01-31', 2, 2.0), ('c', DATE '2024-01-31', NULL, 3.0)) "
                "t(customer_id, as_of_date, n, x)")
    con.execute("CREATE TABLE r AS SELECT * FROM (VALUES ('a', DATE '2024-01-31', 1, "
                "1.0 + 1e-12), ('b', DATE '2024-01-31', 3, 2.1), ('c', DATE '2024-01-31', "
                "NULL, 3.0), ('d', DATE '2024-01-31', 1, 1.0)) t(customer_id, as_of_date, n, x)")
    assert row_mismatches(con, "p", "r", ("n",), ("x",)) == {"only_reference": 1, "n": 1,
                                                           "x": 1}


def test_relative_difference_handles_zero_and_none():
    assert relative_difference(0.0, 0.0) == 0.0
    assert relative_difference(None, None) == 0.0
    assert relative_difference(1.0, None) == float("inf")
    assert relative_difference(100.0, 99.0) == pytest.approx(0.01)


def test_sample_key_names_every_parameter_and_customers_scale_with_rows():
    assert SampleSpec(1_000_000, 24, 5000, 42).key == "rows1000000-months24-customers5000-seed42"
    assert default_customers(1_000_000) == 5000
    assert default_customers(10_000_000) == 50_000
    assert default_customers(10_000) == 1000
