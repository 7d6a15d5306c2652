"""Daily activity from silver: the input contract and the per-day aggregates."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from gold.events import (
    SilverContractError,
    check_silver_contract,
    customer_days,
    invoice_totals,
)
from lakehouse.contracts import SILVER_TRANSACTIONS


def line(invoice, stock, qty, price, ts, customer, country="United Kingdom"):
    at = datetime.fromisoformat(ts).replace(tzinfo=UTC)
    return (f"{invoice}:{stock}", invoice, stock, None, qty, Decimal(price),
            Decimal(price) * qty, at, at.date(), customer, country, invoice.startswith("C"),
            "f.csv", 1, 2, "b1", at, at)


def test_days_aggregate_invoices_returns_products_and_the_latest_country(spark):
    silver = spark.createDataFrame([
        line("1", "P1", 2, "1.500", "2024-01-02 09:00:00", "A", "France"),
        line("1", "P2", 1, "4.000", "2024-01-02 09:00:00", "A", "France"),
        line("2", "P1", 1, "1.500", "2024-01-02 17:00:00", "A", None),  # later, no country
        line("C3", "P2", -1, "4.000", "2024-01-02 18:00:00", "A", "Spain"),
        line("C4", "P1", -2, "1.500", "2024-01-03 10:00:00", "A"),   # a return-only day
        line("5", "P1", 1, "1.500", "2024-01-03 10:00:00", None),    # no customer: ignored
        line("6", "P1", 1, "1.500", "2024-01-03 10:00:00", "B"),
        line("C7", "P3", -1, "1.500", "2024-01-03 11:00:00", "B", "EIRE"),
    ], SILVER_TRANSACTIONS.schema)
    # a line whose kind is NULL is ignored too
    silver = silver.union(spark.createDataFrame(
        [line("8", "P1", 1, "9.000", "2024-01-03 10:00:00", "B")], SILVER_TRANSACTIONS.schema)
        .selectExpr(*[f"CAST(NULL AS boolean) AS {c}" if c == "is_cancellation" else c
                      for c in SILVER_TRANSACTIONS.schema.fieldNames()]))

    days = customer_days(silver)

    jan2, jan3 = (date(2024, 1, d).toordinal() - date(1970, 1, 1).toordinal() for d in (2, 3))
    latest = T.StructType([T.StructField("invoice_ts", T.TimestampType()),
                           T.StructField("invoice", T.StringType()),
                           T.StructField("country", T.StringType())])
    expected = spark.createDataFrame([
        # A on Jan 2: invoices 1 and 2 (3 lines, 4 items), 1 item returned, net
        # 3 + 4 + 1.5 - 4 = 4.5, products P1 and P2 new; latest country: France (the
        # later invoice 2 has none)
        ("A", jan2, jan2, 2, 3, 4, 1, Decimal("4.500"), 2,
         (datetime(2024, 1, 2, 9, tzinfo=UTC), "1", "France")),
        ("A", jan3, None, 0, 0, 0, 2, Decimal("-3.000"), 0, None),
        ("B", jan3, jan3, 1, 1, 1, 1, Decimal("0.000"), 1,
         (datetime(2024, 1, 3, 10, tzinfo=UTC), "6", "United Kingdom")),
    ], T.StructType([
        T.StructField("customer_id", T.StringType()), T.StructField("day", T.IntegerType()),
        T.StructField("purchase_day", T.IntegerType()),
        *[T.StructField(c, T.LongType()) for c in ("invoices", "lines", "items",
                                                   "returned_items")],
        T.StructField("net_amount", T.DecimalType(38, 3)),
        T.StructField("new_products", T.LongType()),
        T.StructField("latest_purchase", latest),
    ]))
    assertDataFrameEqual(days, expected)


def test_contract_errors_name_every_missing_or_mistyped_column(spark):
    schema = T.StructType([f if f.name != "quantity" else T.StructField("quantity",
                                                                        T.StringType())
                           for f in SILVER_TRANSACTIONS.schema.fields if f.name != "country"])
    df = spark.createDataFrame([], schema)
    with pytest.raises(SilverContractError) as err:
        check_silver_contract(df)
    assert "missing column 'country' (string)" in str(err.value)
    assert "column 'quantity' is string, expected bigint" in str(err.value)
    check_silver_contract(spark.createDataFrame([], SILVER_TRANSACTIONS.schema))


def test_an_invoice_latest_line_with_a_country_is_picked_across_countries_and_ties(spark):
    silver = spark.createDataFrame([
        line("1", "P1", 2, "1.500", "2024-01-02 09:00:00", "A", "France"),
        line("1", "P2", 1, "4.000", "2024-01-02 11:00:00", "A", "Belgium"),
        line("1", "P3", 1, "2.000", "2024-01-02 11:00:00", "A", "Austria"),  # tie: Belgium
        line("1", "P4", 3, "1.000", "2024-01-02 12:00:00", "A", None),       # no country
        line("1", "P5", 1, "1.000", "2024-01-02 08:00:00", "A", "Spain"),
        line("2", "P1", 1, "1.500", "2024-01-02 17:00:00", "A", None),       # none at all
    ], SILVER_TRANSACTIONS.schema)

    got = invoice_totals(silver)

    # the definition: one aggregation over the lines, the latest as a max of structs
    keys = ["customer_id", "invoice", "is_cancellation", "invoice_date"]
    expected = silver.groupBy(*keys).agg(
        F.count(F.lit(1)).alias("lines"), F.sum("quantity").alias("quantity"),
        F.sum("line_amount").alias("amount"),
        F.max(F.when(F.col("country").isNotNull(),
                     F.struct("invoice_ts", "invoice", "country"))).alias("latest"))
    assert got.schema == expected.schema
    assertDataFrameEqual(got, expected)
    latest = {r.invoice: r.latest for r in got.collect()}
    assert latest["1"].country == "Belgium" and latest["2"] is None
