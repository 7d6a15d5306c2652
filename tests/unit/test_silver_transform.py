"""Silver transforms on small inline frames (each rule, NULL rows included)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pyspark.sql import Window
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from silver.transform import (
    CAST_SHAPES,
    COPY_ORDER,
    FIRST_COPY,
    IS_DUPLICATE,
    RAW_COLUMNS,
    REASONS,
    ROW_KEY,
    Limits,
    format_shape,
    parse_timestamp,
    rejection_rules,
    row_key,
    select_first_copies,
    with_duplicate_flag,
    with_reject_reasons,
    with_row_key,
    with_typed_columns,
)

BRONZE = T.StructType(
    [T.StructField(c, T.StringType()) for c in RAW_COLUMNS]
    + [T.StructField("_corrupt_record", T.StringType()),
       T.StructField("_rescued", T.StringType()),
       T.StructField("_source_file", T.StringType()),
       T.StructField("_row_number", T.LongType()),
       T.StructField("_line_number", T.LongType()),
       T.StructField("_batch_id", T.StringType()),
       T.StructField("_ingested_at", T.TimestampType())]
)
FORMATS = ["yyyy-MM-dd HH:mm:ss", "M/d/yy H:mm"]
GOOD = ("489434", "85048", "GLASS BALL", "12", "2009-12-01 07:45:00", "6.95", "13085",
        "United Kingdom")
INGESTED = datetime(2024, 1, 1, tzinfo=UTC)
LIMITS = Limits(min_date=date(2000, 1, 1), max_minutes_after_ingestion=1440,
                max_abs_quantity=100_000, max_abs_unit_price=100_000.0)


def bronze(spark, *rows, ingested_at=INGESTED):
    """Rows of raw values (8 strings) or (raw values, corrupt text)."""
    data = []
    for n, row in enumerate(rows, start=1):
        values, corrupt = (row, None) if len(row) == 8 else (row[0], row[1])
        data.append((*values, corrupt, None, "f.csv", n, n + 1, "batch-000001", ingested_at))
    return spark.createDataFrame(data, BRONZE)


def typed(df, tz="UTC"):
    return df.transform(with_typed_columns, timestamp_formats=FORMATS, source_timezone=tz,
                        cancellation_prefix="C")


def reasons_of(spark, *rows, missing_customer=True, ingested_at=INGESTED):
    rules = rejection_rules(quarantine_missing_customer=missing_customer, limits=LIMITS)
    out = typed(bronze(spark, *rows, ingested_at=ingested_at)).transform(
        with_reject_reasons, rules)
    return [sorted(r[REASONS]) for r in out.orderBy("_row_number").collect()]


def with_(i, value, row=GOOD):
    """`row` with field `i` replaced by `value`."""
    return tuple(value if k == i else v for k, v in enumerate(row))


def test_values_are_typed_and_normalised(spark):
    row = typed(bronze(spark, (" C489434 ", "85048", "  ", "-12", "12/1/10 8:26", "6.95",
                               "13085.0", "France"))).first()
    assert (row.invoice, row.description, row.quantity, row.unit_price) == (
        "C489434", None, -12, Decimal("6.950"))
    assert row.line_amount == Decimal("-83.400")
    assert row.invoice_ts == datetime(2010, 12, 1, 8, 26)  # conftest pins TZ=UTC
    assert row.invoice_date == date(2010, 12, 1)
    assert (row.customer_id, row.is_cancellation) == ("13085", True)
    assert row.raw_customer_id == "13085.0"


def test_local_source_timezone_is_converted_to_utc(spark):
    row = typed(bronze(spark, GOOD), tz="America/New_York").first()
    assert row.invoice_ts.strftime("%Y-%m-%d %H:%M") == "2009-12-01 12:45"


def test_each_rule_gives_its_reason_code(spark):
    assert reasons_of(
        spark,
        GOOD,
        with_(6, None),                      # missing customer
        with_(4, "2023-13-45 25:61:00"),     # bad date
        with_(3, "abc"),                     # bad quantity
        with_(5, "1,5"),                     # bad price
        with_(5, "0.00"),                    # zero price
        with_(5, "-1.00"),                   # negative price
        with_(0, "C489434"),                 # cancellation with positive quantity
        with_(3, "-5"),                      # negative quantity, no C invoice
        ((None,) * 8, "1,2,3"),              # malformed line
        (None,) * 8,                         # an all-NULL row is rejected, not lost
    ) == [
        [],
        ["missing_customer"],
        ["unparseable_date"],
        ["unparseable_quantity"],
        ["unparseable_price"],
        ["zero_price"],
        ["negative_price"],
        ["cancellation_with_positive_quantity"],
        ["negative_quantity_without_cancellation"],
        ["malformed_line"],
        ["missing_customer", "missing_date", "missing_invoice", "missing_price",
         "missing_quantity", "missing_stock_code"],
    ]


def test_a_row_can_fail_several_rules_and_cancellations_may_have_zero_price(spark):
    several = tuple(v if k not in (3, 6) else ("x" if k == 3 else None)
                    for k, v in enumerate(GOOD))
    cancel_zero = ("C1", "85048", "X", "-1", "2009-12-01 07:45:00", "0", "13085", "UK")
    assert reasons_of(spark, several, cancel_zero) == [
        ["missing_customer", "unparseable_quantity"], []]


def test_missing_customer_rule_follows_configuration(spark):
    no_customer = tuple(None if k == 6 else v for k, v in enumerate(GOOD))
    assert reasons_of(spark, no_customer, missing_customer=False) == [[]]


def test_extra_reasons_from_quality_checks_are_merged(spark):
    rules = rejection_rules(quarantine_missing_customer=True, limits=LIMITS)
    extra = F.when(F.col("quantity") > 10, F.array(F.lit("quantity_out_of_range"))) \
        .otherwise(F.array().cast("array<string>"))
    out = typed(bronze(spark, GOOD)).transform(with_reject_reasons, rules, extra).first()
    assert out[REASONS] == ["quantity_out_of_range"]


def test_exact_duplicates_share_a_key_and_only_later_copies_are_flagged(spark):
    customer_float = tuple("13085.0" if k == 6 else v for k, v in enumerate(GOOD))
    other = tuple("13" if k == 3 else v for k, v in enumerate(GOOD))
    rules = rejection_rules(quarantine_missing_customer=True, limits=LIMITS)
    df = (typed(bronze(spark, GOOD, customer_float, other, (None,) * 8, (None,) * 8))
          .transform(with_reject_reasons, rules).transform(with_row_key)
          .transform(with_duplicate_flag))
    rows = df.orderBy("_row_number").collect()
    assert rows[0].row_key == rows[1].row_key != rows[2].row_key
    assert [r.is_duplicate for r in rows] == [False, True, False, False, False]


def test_dates_outside_the_plausible_window_are_rejected_and_its_limits_pass(spark):
    # ingested 2024-01-01 00:00 UTC, 1440 minutes of tolerance: up to 2024-01-02 00:00
    dates = ["2000-01-01 00:00:00", "1999-12-31 23:59:59", "1900-01-01 00:00:00",
             "1000-01-01 00:00:00", "2024-01-02 00:00:00", "2024-01-02 00:00:01",
             "2999-01-01 00:00:00", "12/31/99 23:59"]  # yy years are 2000-2099
    assert reasons_of(spark, *[with_(4, d) for d in dates]) == [
        [], ["date_before_min_date"], ["date_before_min_date"], ["date_before_min_date"],
        [], ["date_after_ingestion"], ["date_after_ingestion"], ["date_after_ingestion"]]


def test_the_window_compares_instants_in_the_source_timezone(spark):
    # 2024-01-01 20:00 in New York is 2024-01-02 01:00 UTC: after the tolerance
    rows = [with_(4, "2024-01-01 18:00:00"), with_(4, "2024-01-01 20:00:00")]
    rules = rejection_rules(quarantine_missing_customer=True, limits=LIMITS)
    out = typed(bronze(spark, *rows), tz="America/New_York").transform(
        with_reject_reasons, rules).orderBy("_row_number").collect()
    assert [r[REASONS] for r in out] == [[], ["date_after_ingestion"]]


def test_a_row_without_ingestion_time_is_judged_by_the_other_rules_only(spark):
    assert reasons_of(spark, GOOD, with_(4, "1900-01-01 00:00:00"), ingested_at=None) == [
        [], ["date_before_min_date"]]


@pytest.mark.parametrize(("invoice", "quantity", "price", "reasons"), [
    ("1", "100000", "6.95", []),                       # exactly the limits
    ("C1", "-100000", "6.95", []),
    ("1", "1", "100000", []),
    ("1", "1", "100000.000", []),
    ("1", "1", "100000.0004", []),                     # rounds to 100000.000
    ("1", "100001", "6.95", ["quantity_out_of_range"]),
    ("C1", "-100001", "6.95", ["quantity_out_of_range"]),
    ("1", "1", "100000.001", ["price_out_of_range"]),
    ("C1", "-1", "-100000.001", ["price_out_of_range"]),
    # numbers too large for bigint / decimal(18,3): out of range, not unparseable
    ("1", "99999999999999999999", "6.95", ["quantity_out_of_range"]),
    ("1", "1e6", "6.95", ["quantity_out_of_range"]),
    ("C1", "-9223372036854775808", "6.95",             # no abs() overflow
     ["amount_out_of_range", "quantity_out_of_range"]),
    ("1", "1", "1e20", ["price_out_of_range"]),
    ("1", "1", "1e999", ["price_out_of_range"]),
    ("1", "1", "-1e999", ["price_out_of_range"]),      # NULL price: not negative_price
    # numbers that fit the limits but not the type stay unparseable
    ("1", "12.5", "6.95", ["unparseable_quantity"]),
    ("1", "1e3", "6.95", ["unparseable_quantity"]),
])
def test_quantity_and_price_limits(spark, invoice, quantity, price, reasons):
    row = with_(5, price, with_(3, quantity, with_(0, invoice)))
    assert reasons_of(spark, row) == [reasons]


@pytest.mark.parametrize("text", ["NaN", "nan", "Infinity", "-Infinity", "+inf", "-inf",
                                  "INF", " NaN "])
def test_non_finite_numbers_are_rejected_with_their_own_reason(spark, text):
    rows = [with_(3, text), with_(5, text)]
    out = typed(bronze(spark, *rows)).orderBy("_row_number").collect()
    assert (out[0].quantity, out[1].unit_price) == (None, None)  # try_cast gives NULL
    assert reasons_of(spark, *rows) == [["non_finite_quantity"], ["non_finite_price"]]


KEY_INPUT = T.StructType([
    T.StructField("invoice", T.StringType()), T.StructField("stock_code", T.StringType()),
    T.StructField("description", T.StringType()), T.StructField("quantity", T.LongType()),
    T.StructField("unit_price", T.DecimalType(18, 3)),
    T.StructField("invoice_ts", T.TimestampType()),
    T.StructField("customer_id", T.StringType()), T.StructField("country", T.StringType()),
])


def test_row_key_tells_apart_null_positions_field_boundaries_and_values(spark):
    ts = datetime(2009, 12, 1, 7, 45, tzinfo=UTC)
    base = ("489434", "85048", "BALL", 12, Decimal("6.950"), ts, "13085", "UK")
    variants = [
        base,
        ("489434", "85048", "BALL", 12, Decimal("6.95"), ts, "13085", "UK"),  # same value
        ("489434", "85048", None, 12, Decimal("6.950"), ts, "13085", "UK"),
        ("489434", "85048", "BALL", 12, Decimal("6.950"), ts, "13085", None),
        ("489434", "85048", "UK", 12, Decimal("6.950"), ts, "13085", "BALL"),  # swapped
        ("48943", "485048", "BALL", 12, Decimal("6.950"), ts, "13085", "UK"),  # boundary
        ("489434", "85048", "BALL", 13, Decimal("6.950"), ts, "13085", "UK"),
        ("489434", "85048", "BALL", 12, Decimal("6.950"), ts.replace(second=1), "13085",
         "UK"),
        (None,) * 8,
        (None,) * 8,
    ]
    keys = [r[0] for r in spark.createDataFrame(variants, KEY_INPUT)
            .select(row_key().alias("k")).collect()]
    assert all(re.fullmatch(r"[0-9A-F]{32}", k) for k in keys)
    assert keys[0] == keys[1] and keys[8] == keys[9]
    assert len({keys[0], *keys[2:9]}) == 8  # every other variant has its own key


KEYED = T.StructType([
    T.StructField("id", T.IntegerType()),
    T.StructField(ROW_KEY, T.StringType()),
    T.StructField(REASONS, T.ArrayType(T.StringType())),
    T.StructField("_batch_id", T.StringType()),
    T.StructField("_source_file", T.StringType()),
    T.StructField("_row_number", T.LongType()),
])
OK, BAD = [], ["zero_price"]
KEYED_ROWS = [  # id, key, reasons, batch, file, row
    (1, "a", OK, "batch-2", "f1.csv", 1),
    (2, "a", OK, "batch-1", "f2.csv", 7),
    (3, "a", OK, "batch-1", "f2.csv", 3),    # the first valid "a": earliest batch, file, row
    (4, "a", BAD, "batch-1", "f1.csv", 1),   # earlier, but rejected: never a duplicate
    (5, "b", OK, "batch-1", "f1.csv", 2),    # only copy
    (6, "c", BAD, "batch-1", "f1.csv", 3),   # rejected copies are never duplicates
    (7, "c", BAD, "batch-2", "f1.csv", 3),
    (8, None, OK, "batch-1", "f1.csv", 4),   # NULL keys are one key, as in a window
    (9, None, OK, "batch-1", "f1.csv", 5),
    (10, "d", OK, "batch-1", None, 9),       # NULL lineage sorts first, as in a window
    (11, "d", OK, "batch-1", "f0.csv", 1),
]


def window_flags(df):
    """The reference: a row_number window over the full rows (the former implementation)."""
    valid = F.size(REASONS) == 0
    first = Window.partitionBy(ROW_KEY, valid).orderBy(*COPY_ORDER)
    return df.withColumn(IS_DUPLICATE, valid & (F.row_number().over(first) > 1))


def test_duplicate_flags_match_a_window_over_the_full_rows(spark):
    df = spark.createDataFrame(KEYED_ROWS, KEYED)
    flagged = df.transform(with_duplicate_flag)
    assertDataFrameEqual(flagged, window_flags(df))
    assert sorted(r.id for r in flagged.where(IS_DUPLICATE).collect()) == [1, 2, 9, 11]


def test_hash_collisions_cost_work_not_correctness(spark):
    df = spark.createDataFrame(KEYED_ROWS, KEYED)
    every_key_collides = F.lit(0).cast("bigint")
    firsts = df.transform(select_first_copies, key_hash=every_key_collides)
    assert sorted((r[ROW_KEY], tuple(r[FIRST_COPY])) for r in firsts.collect()
                  if r[ROW_KEY] is not None) == [
        ("a", ("batch-1", "f2.csv", 3)), ("d", ("batch-1", None, 9))]
    assert [tuple(r[FIRST_COPY]) for r in firsts.collect() if r[ROW_KEY] is None] == [
        ("batch-1", "f1.csv", 4)]  # "b" and "c" shared the hash but are no duplicates
    assertDataFrameEqual(df.transform(with_duplicate_flag, firsts), window_flags(df))
    by_default_hash = df.transform(select_first_copies)
    assertDataFrameEqual(by_default_hash, firsts)


@pytest.mark.parametrize("raw, expected", [("12345.0", "12345"), ("12345", "12345"),
                                           ("  ", None), ("AB-1", "AB-1")])
def test_customer_id_normalisation(spark, raw, expected):
    values = tuple(raw if k == 6 else v for k, v in enumerate(GOOD))
    assert typed(bronze(spark, values)).first().customer_id == expected


@pytest.mark.parametrize(("fmt", "shape"), [
    ("yyyy-MM-dd HH:mm:ss", r"^[+-]?[0-9]+\-[0-9]+\-[0-9]+\ [0-9]+:[0-9]+:[0-9]+$"),
    ("M/d/yy H:mm", r"^[0-9]+/[0-9]+/[0-9]{1,2}\ [0-9]+:[0-9]+$"),
    ("yyyy-MM-dd'T'HH:mm:ss.SSS", r"^[+-]?[0-9]+\-[0-9]+\-[0-9]+T[0-9]+:[0-9]+:[0-9]+\.[0-9]+$"),
    ("dd MMM yyyy", None),             # month names: always tried
    ("yyyy-MM-dd HH:mm a", None),      # am/pm
    ("yyyy-MM-dd[ HH:mm]", None),      # optional section
    ("h 'o''clock'", None),            # escaped quote
])
def test_format_shape(fmt, shape):
    assert format_shape(fmt) == shape


def test_each_format_is_tried_only_on_values_of_its_shape_and_parses_them(spark):
    formats = ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm", "yyyy-MM-dd'T'HH:mm:ss",
               "M/d/yy H:mm", "M/d/yyyy H:mm", "dd MMM yyyy HH:mm"]
    values = ["2009-12-01 07:45:00", "2009-12-01 07:45", "2009-12-01T07:45:00",
              "12/1/09 7:45", "12/1/2009 7:45", "01 Dec 2009 07:45", " 2009-12-01 07:45 ",
              "2009-12-01 7:45", "2009-13-01 07:45", "12/1/2009", "", None]
    df = spark.createDataFrame([(v,) for v in values], "d string")

    unguarded = F.coalesce(*[F.try_to_timestamp(F.trim("d"), F.lit(f)) for f in formats])
    out = df.select(parse_timestamp("d", formats, "UTC").alias("ts"), unguarded.alias("any"),
                    *[F.col("d").rlike(format_shape(f)).alias(f"shape{i}")
                      for i, f in enumerate(formats[:5])]).collect()

    at = datetime(2009, 12, 1, 7, 45)
    assert [r.ts for r in out] == [at] * 7 + [None] * 5  # "7:45" is not HH:mm
    assert [r.ts for r in out] == [r.any for r in out]  # the shapes reject nothing
    for i, row in enumerate(out[:5]):
        assert row[f"shape{i}"], f"{values[i]!r} does not have the shape of {formats[i]}"
    assert not out[4]["shape3"]  # 12/1/2009 is not tried as M/d/yy


@pytest.mark.parametrize("fmt", sorted(CAST_SHAPES))
def test_iso_values_taken_by_the_cast_parse_as_their_format_does(spark, fmt):
    sep = "T" if "'T'" in fmt else " "
    times = ([""] if fmt == "yyyy-MM-dd" else
             [f"{sep}{t}" for t in ("07:45:00", "00:00:59", "23:59:59", "24:00:00", "07:60:00",
                                    "07:45:60", "7:45:00", "07:45:00.5", "07:45:00Z")]
             if fmt.endswith("ss") else [f"{sep}{t}" for t in ("07:45", "24:00", "23:59", "7:45")])
    days = ["2009-12-01", "2024-02-29", "2023-02-29", "2009-02-30", "2009-13-01", "2009-00-10",
            "0001-01-01", "9999-12-31", "2009-1-01", "12009-12-01", "+2009-12-01"]
    values = [d + t for d in days for t in times]
    df = spark.createDataFrame([(v,) for v in values], "d string")
    out = df.select("d", F.unix_micros(parse_timestamp("d", [fmt], "UTC")).alias("ts"),
                    F.unix_micros(F.try_to_timestamp("d", F.lit(fmt))).alias("formatter"),
                    F.col("d").rlike(CAST_SHAPES[fmt]).alias("cast")).collect()

    assert [r.ts for r in out] == [r.formatter for r in out], [r.d for r in out
                                                                 if r.ts != r.formatter]
    assert sum(r.cast for r in out) > len(values) // 3  # many of these took the cast
    assert any(r.ts is not None for r in out) and any(r.ts is None for r in out)
