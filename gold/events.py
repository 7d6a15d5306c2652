"""Customer activity per day, and the (customer, as-of date) pairs that get a snapshot.

Features and labels both start from `customer_days`: one row per customer and UTC day
with any activity (a purchase or a return), so the per-snapshot work runs on days, not
on invoice lines.

Definitions used throughout gold:
- a *purchase* is a non-cancellation invoice (`is_cancellation` false); a *return* is a
  cancellation line (invoice starting with 'C', negative quantity and amount);
- a transaction belongs to the UTC day `invoice_date` (silver's UTC date of
  `invoice_ts`), so "up to as_of" means `invoice_date <= as_of_date`;
- a customer gets a snapshot at as_of only once they have made a purchase on or before
  it: customers whose only activity so far is cancellations have no row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse.contracts import SILVER_TRANSACTIONS
from lakehouse.errors import LakehouseError

DAYS_REVISION = 1  # bump when a column of customer_days changes meaning
# The silver columns gold reads.
SILVER_COLUMNS = ("customer_id", "invoice", "stock_code", "quantity", "line_amount",
                  "invoice_ts", "invoice_date", "country", "is_cancellation")


class SilverContractError(LakehouseError, ValueError):
    """silver.transactions lacks a column gold reads, or has it with another type."""


def check_silver_contract(silver: DataFrame) -> None:
    """Raise SilverContractError naming every column gold reads that is missing or has
    another type than the contract's (SILVER_TRANSACTIONS)."""
    have = {f.name: f.dataType for f in silver.schema.fields}
    problems = []
    for name in (*SILVER_COLUMNS, "_processed_at"):
        want = SILVER_TRANSACTIONS.kind(name)
        if name not in have:
            problems.append(f"missing column {name!r} ({want.simpleString()})")
        elif have[name] != want:
            problems.append(f"column {name!r} is {have[name].simpleString()}, "
                            f"expected {want.simpleString()}")
    if problems:
        raise SilverContractError("silver.transactions does not match the contract gold "
                                  "reads: " + "; ".join(problems))


def days_definition() -> str:
    """What the rows of the customer-day table depend on besides silver."""
    return f"customer-days-r{DAYS_REVISION}"


def day_predicate(since: date) -> str:
    """SQL: the customer days from `since` on (`day` counts days since 1970-01-01)."""
    return f"day >= {(since - date(1970, 1, 1)).days}"


def day_number(column: str | Column) -> Column:
    """A date as days since 1970-01-01 (int): what range window frames order on."""
    return F.unix_date(F.col(column) if isinstance(column, str) else column)


def filter_usable_lines(lines: DataFrame) -> DataFrame:
    """Only lines with a customer, a known kind and a day (silver guarantees all three;
    gold does not rely on it: a NULL there would otherwise become a feature row without
    a customer, or activity placed at no time)."""
    return lines.where(F.col("customer_id").isNotNull() & F.col("is_cancellation").isNotNull()
                       & F.col("invoice_date").isNotNull())


def invoice_totals(lines: DataFrame) -> DataFrame:
    """One row per customer, invoice, kind (purchase or cancellation) and UTC day: lines,
    quantity, amount, and (timestamp, invoice, country) of its latest line that has a
    country. An invoice whose lines carry different days (not seen in real data) counts
    once per day: a later line must never reach an earlier snapshot."""
    with_country = F.when(F.col("country").isNotNull(),
                          F.struct("invoice_ts", "invoice", "country"))
    return lines.groupBy("customer_id", "invoice", "is_cancellation", "invoice_date").agg(
        F.count(F.lit(1)).alias("lines"),
        F.sum("quantity").alias("quantity"),
        F.sum("line_amount").alias("amount"),
        F.max(with_country).alias("latest"),
    ).select("customer_id", "invoice", "is_cancellation", "invoice_date", "lines",
             "quantity", "amount", "latest")


def daily_activity(invoices: DataFrame) -> DataFrame:
    """Invoice totals summed per customer and UTC day: purchase invoices, purchase lines
    and items, returned items, net amount (purchases plus returns, which are negative),
    and the latest purchase's (timestamp, invoice, country)."""
    purchase = ~F.col("is_cancellation")

    def purchases_only(column: str) -> Column:
        return F.sum(F.when(purchase, F.col(column)).otherwise(F.lit(0)))

    return invoices.groupBy("customer_id", "invoice_date").agg(
        F.count_if(purchase).alias("invoices"),
        purchases_only("lines").alias("lines"),
        purchases_only("quantity").alias("items"),
        F.sum(F.when(~purchase, -F.col("quantity")).otherwise(F.lit(0))).alias("returned_items"),
        F.sum("amount").alias("net_amount"),
        F.max(F.when(purchase, F.col("latest"))).alias("latest_purchase"),
    )


def purchased_products(lines: DataFrame) -> DataFrame:
    """(customer_id, stock_code, invoice_date) of the purchase lines with a product."""
    return lines.where(~F.col("is_cancellation") & F.col("stock_code").isNotNull()).select(
        "customer_id", "stock_code", "invoice_date")


def first_products(lines: DataFrame, *, seen_before: DataFrame | None = None,
                   few_lines: bool = False) -> DataFrame:
    """How many products each customer bought for the first time on each day
    (so a running sum is the number of distinct products bought so far).

    `seen_before`: usable lines of the days before `lines` (silver is then processed from
    a date on); a product a customer bought there is not new in `lines`. `few_lines`:
    `lines` is small enough to broadcast its (customer, product) pairs, so the earlier
    lines are filtered by them as they are read instead of being shuffled."""
    pair = ["customer_id", "stock_code"]
    first = purchased_products(lines).groupBy(*pair).agg(
        F.min("invoice_date").alias("invoice_date"))
    if seen_before is not None:
        earlier = purchased_products(seen_before).select(*pair)
        if few_lines:
            earlier = earlier.join(F.broadcast(first.select(*pair)), on=pair, how="left_semi")
        first = first.join(earlier, on=pair, how="left_anti")
    return first.groupBy("customer_id", "invoice_date").agg(
        F.count(F.lit(1)).alias("new_products"))


def usable_lines(silver: DataFrame) -> DataFrame:
    """The silver columns gold reads, of the lines it can use."""
    return silver.select(*SILVER_COLUMNS).transform(filter_usable_lines)


def customer_days(silver: DataFrame, *, seen_before: DataFrame | None = None,
                  few_lines: bool = False) -> DataFrame:
    """One row per customer and UTC day with activity, from silver transactions.

    Columns: customer_id, day (days since epoch), purchase_day (= day on days with a
    purchase, else NULL), invoices, lines, items, returned_items (long), net_amount
    (decimal), new_products (long), latest_purchase struct(invoice_ts, invoice, country).

    Every column of a day depends on that day's lines only, except new_products, which
    also depends on the customer's earlier purchases: to compute the days of a slice of
    silver (every line from some date on), pass the lines before it as `seen_before`
    (and `few_lines` when the slice is small: see `first_products`).
    """
    lines = usable_lines(silver)
    before = None if seen_before is None else usable_lines(seen_before)
    daily = lines.transform(invoice_totals).transform(daily_activity)
    new = first_products(lines, seen_before=before, few_lines=few_lines)
    return (
        daily.join(new, on=["customer_id", "invoice_date"], how="left")
        .select(
            "customer_id",
            day_number("invoice_date").alias("day"),
            F.when(F.col("invoices") > 0, day_number("invoice_date")).alias("purchase_day"),
            "invoices", "lines", "items", "returned_items", "net_amount",
            F.coalesce(F.col("new_products"), F.lit(0).cast("long")).alias("new_products"),
            "latest_purchase",
        )
    )


def snapshot_keys(days: DataFrame, as_of_dates: Sequence[date]) -> DataFrame:
    """(customer_id, as_of_date) for every as-of date on or after the customer's first
    purchase: the rows a snapshot has."""
    dates = F.array(*[F.lit(d) for d in sorted(set(as_of_dates))]).cast("array<date>")
    first = days.where(F.col("purchase_day").isNotNull()).groupBy("customer_id").agg(
        F.min("purchase_day").alias("first_purchase_day"))
    return (
        first.select("customer_id", "first_purchase_day", F.explode(dates).alias("as_of_date"))
        .where(day_number("as_of_date") >= F.col("first_purchase_day"))
        .select("customer_id", "as_of_date")
    )


def with_snapshot_rows(days: DataFrame, keys: DataFrame) -> DataFrame:
    """`days` (is_snapshot false, as_of_date NULL) plus one marker row per snapshot key
    (is_snapshot true, day = the as-of day, every activity column NULL), so one window
    pass per customer can aggregate the activity up to and around each as-of day."""
    activity = [c for c in days.columns if c not in ("customer_id", "day")]
    markers = keys.select(
        "customer_id", day_number("as_of_date").alias("day"),
        *[F.lit(None).cast(days.schema[c].dataType).alias(c) for c in activity],
        F.lit(True).alias("is_snapshot"), "as_of_date",
    )
    return days.select(
        "customer_id", "day", *activity,
        F.lit(False).alias("is_snapshot"), F.lit(None).cast("date").alias("as_of_date"),
    ).unionByName(markers)
