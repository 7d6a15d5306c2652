"""Pure transforms from raw bronze strings to typed, checked silver rows.

Every function takes and returns a DataFrame; nothing here reads or writes tables.
Parsing uses try_* functions only, so bad input becomes NULL plus a reason code,
never an exception (Spark's ANSI mode would otherwise fail the whole job).
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.contracts import SILVER_TRANSACTIONS

RAW_COLUMNS = ("invoice", "stock_code", "description", "quantity", "invoice_date", "price",
               "customer_id", "country")
LINEAGE = ("_source_file", "_row_number", "_line_number", "_batch_id", "_ingested_at")
PRICE = T.DecimalType(18, 3)
REASONS = "reject_reasons"
IS_DUPLICATE = "is_duplicate"
ROW_KEY = "row_key"
FIRST_COPY = "first_copy"
# Order of copies of one row key: the first by (batch, file, row) is the original.
COPY_ORDER = ("_batch_id", "_source_file", "_row_number")
KEY_FIELDS = ("invoice", "stock_code", "description", "quantity", "unit_price", "invoice_ts",
              "customer_id", "country")
# What `row_key` computes, recorded with every silver write: keys of another version can
# never match, so silver refuses to add rows to a table keyed otherwise.
ROW_KEY_VERSION = "xxhash64x2-r2"
LEGACY_ROW_KEY_VERSION = "sha256-r1"  # silver writes that carry no version


def blank_to_null(column: str) -> Column:
    """Trimmed text, NULL when empty."""
    trimmed = F.trim(F.col(column))
    return F.when(trimmed == "", None).otherwise(trimmed)


def parse_timestamp(column: str, formats: Sequence[str], source_timezone: str) -> Column:
    """The first format that parses, read in `source_timezone`, as a UTC timestamp.

    A format is only tried on values of its shape (`format_shape`): a failed parse costs
    an exception per value, measured on 10M rows at 14 s per format that does not match
    (3 s for one that does), so data in the last of five formats paid for four failures
    per row. A shape check costs a fraction of that and never rejects a value the format
    could parse (formats without a shape are always tried). Values of exactly an ISO
    layout (`CAST_SHAPES`) are cast instead, which gives the same timestamps faster."""
    value = blank_to_null(column)
    attempts = []
    for fmt in formats:
        parsed = F.try_to_timestamp(value, F.lit(fmt))
        shape = format_shape(fmt)
        guarded = parsed if shape is None else F.when(value.rlike(shape), parsed)
        exact = CAST_SHAPES.get(fmt)
        if exact is not None:
            guarded = F.when(value.rlike(exact), value.try_cast("timestamp")).otherwise(guarded)
        attempts.append(guarded)
    parsed = F.coalesce(*attempts)
    return parsed if source_timezone == "UTC" else F.to_utc_timestamp(parsed, source_timezone)


# ISO layouts that Spark's cast to timestamp reads exactly as the format does (the same
# instant; NULL for the same impossible dates and times), at under half the cost of a
# formatter (1M rows, warm JVM: 0.4 s against 0.9-1.2 s; the five configured formats
# 0.8-0.9 s instead of 1.4-1.7 s): values of exactly this shape take the cast,
# any other value of the format's looser shape still goes through the formatter.
CAST_SHAPES = {
    "yyyy-MM-dd HH:mm:ss": r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$",
    "yyyy-MM-dd'T'HH:mm:ss": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$",
    "yyyy-MM-dd HH:mm": r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}$",
    "yyyy-MM-dd": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
}

# Pattern letters that stand for digits in Spark's datetime patterns (M, L and Q only
# when at most two letters long: MMM is a month name).
_DIGIT_LETTERS = frozenset("yuDMLQqdhHkKmsSF")
_SHORT_ONLY = frozenset("MLQq")


def format_shape(fmt: str) -> str | None:
    """A regex every value `fmt` can parse matches (and most others do not): each run
    of a numeric pattern letter is `[0-9]+` (a year may have a sign; `yy` has at most
    two digits), quoted and other text stays literal. None when the pattern has text
    fields (month or day names, am/pm, zones), optional sections or escaped quotes,
    whose shape is not worth guessing."""
    if "''" in fmt:
        return None
    out, i = ["^"], 0
    while i < len(fmt):
        char = fmt[i]
        if char == "'":
            end = fmt.find("'", i + 1)
            if end < 0:
                return None
            out.append(re.escape(fmt[i + 1:end]))
            i = end + 1
            continue
        run = len(fmt) - i - len(fmt[i:].lstrip(char))
        if char.isalpha():
            if char not in _DIGIT_LETTERS or (char in _SHORT_ONLY and run > 2):
                return None
            if char in "yu":  # yy is a two-digit year: 2009 is not one
                out.append("[0-9]{1,2}" if run == 2 else "[+-]?[0-9]+")
            else:
                out.append("[0-9]+")
        elif char in "[]{}#":
            return None
        else:
            out.append(re.escape(char * run))
        i += run
    return "".join(out) + "$"


def normalise_customer_id(column: str) -> Column:
    """`'12345.0'` -> `'12345'` (spreadsheet exports), blanks -> NULL, else as is."""
    value = blank_to_null(column)
    return F.when(value.rlike(r"^\d+\.0+$"), F.regexp_extract(value, r"^(\d+)\.", 1)) \
        .otherwise(value)


def with_typed_columns(
    raw: DataFrame,
    *,
    timestamp_formats: Sequence[str],
    source_timezone: str,
    cancellation_prefix: str,
) -> DataFrame:
    """Typed business columns next to the raw ones (kept as raw_<name> for quarantine)."""
    quantity = blank_to_null("quantity").try_cast("bigint")
    price = blank_to_null("price").try_cast(PRICE)
    invoice = blank_to_null("invoice")
    return raw.select(
        *[F.col(c).alias(f"raw_{c}") for c in RAW_COLUMNS],
        invoice.alias("invoice"),
        blank_to_null("stock_code").alias("stock_code"),
        blank_to_null("description").alias("description"),
        quantity.alias("quantity"),
        price.alias("unit_price"),
        F.try_multiply(quantity, price).try_cast(PRICE).alias("line_amount"),
        parse_timestamp("invoice_date", timestamp_formats, source_timezone).alias("invoice_ts"),
        normalise_customer_id("customer_id").alias("customer_id"),
        blank_to_null("country").alias("country"),
        F.coalesce(invoice.startswith(cancellation_prefix), F.lit(False))
        .alias("is_cancellation"),
        "_corrupt_record", "_rescued", *LINEAGE,
    ).withColumn("invoice_date", F.to_date("invoice_ts"))


@dataclass(frozen=True)
class Limits:
    """What silver accepts as plausible (the silver settings of the same names)."""

    min_date: date  # earlier invoice dates are rejected
    max_minutes_after_ingestion: int  # later invoice times than _ingested_at + this too
    max_abs_quantity: int
    max_abs_unit_price: float


# Text the double cast reads as NaN or an infinity; and decimal numbers (Java's
# BigDecimal syntax, what the casts to bigint and decimal read when the value fits).
NON_FINITE = r"^[+-]?(?i:nan|inf|infinity)$"
NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def _unparseable(raw: str, typed: str) -> Column:
    return F.col(f"raw_{raw}").isNotNull() & (F.trim(F.col(f"raw_{raw}")) != "") \
        & F.col(typed).isNull()


def _number_rules(raw: str, typed: str, name: str, limit: int | float) -> dict[str, Column]:
    """unparseable_<name>, non_finite_<name> and <name>_out_of_range of one numeric
    column: a value outside [-limit, limit], or a number too large for the column's type
    (its cast gives NULL), is out of range; NaN and infinities are non-finite; any
    other text the cast cannot read is unparseable. At most one of them holds."""
    text, value = blank_to_null(f"raw_{raw}"), F.col(typed)
    bound = F.lit(Decimal(repr(limit)) if isinstance(limit, float) else limit)
    untyped = _unparseable(raw, typed)
    non_finite = untyped & F.coalesce(text.rlike(NON_FINITE), F.lit(False))
    too_large = untyped & F.coalesce(
        text.rlike(NUMBER) & (F.abs(text.try_cast("double")) > F.lit(float(limit))),
        F.lit(False))
    return {  # no abs() on the typed value: abs(-2^63) overflows a bigint
        f"unparseable_{name}": untyped & ~non_finite & ~too_large,
        f"non_finite_{name}": non_finite,
        f"{name}_out_of_range": too_large | (value > bound) | (value < -bound),
    }


def rejection_rules(*, quarantine_missing_customer: bool,
                    limits: Limits) -> dict[str, Column]:
    """Reason code -> condition (true = the rule rejects the row). NULL-safe: every
    condition is total, so a row is never lost between the kept and rejected sides.
    A value exactly at a limit of `limits` passes."""
    corrupt = F.col("_corrupt_record").isNotNull()
    ok = ~corrupt
    cancellation = F.col("is_cancellation")
    quantity = _number_rules("quantity", "quantity", "quantity", limits.max_abs_quantity)
    price = _number_rules("price", "unit_price", "price", limits.max_abs_unit_price)
    latest = F.timestamp_add("MINUTE", F.lit(limits.max_minutes_after_ingestion),
                             F.col("_ingested_at"))
    rules = {
        "malformed_line": corrupt,
        "missing_invoice": ok & F.col("invoice").isNull(),
        "missing_stock_code": ok & F.col("stock_code").isNull(),
        "missing_quantity": ok & F.col("raw_quantity").isNull(),
        **{code: ok & rule for code, rule in quantity.items()},
        "missing_price": ok & F.col("raw_price").isNull(),
        **{code: ok & rule for code, rule in price.items()},
        "missing_date": ok & F.col("raw_invoice_date").isNull(),
        "unparseable_date": ok & _unparseable("invoice_date", "invoice_ts"),
        "date_before_min_date": ok & (F.col("invoice_date") < F.lit(limits.min_date)),
        "date_after_ingestion": ok & (F.col("invoice_ts") > latest),
        "zero_price": ok & ~cancellation & (F.col("unit_price") == 0),
        "negative_price": ok & ~cancellation & (F.col("unit_price") < 0),
        "zero_quantity": ok & (F.col("quantity") == 0),
        "cancellation_with_positive_quantity": ok & cancellation & (F.col("quantity") > 0),
        "negative_quantity_without_cancellation": ok & ~cancellation & (F.col("quantity") < 0),
        "amount_out_of_range": ok & F.col("quantity").isNotNull()
        & F.col("unit_price").isNotNull() & F.col("line_amount").isNull(),
    }
    if quarantine_missing_customer:
        rules["missing_customer"] = ok & F.col("customer_id").isNull()
    return {code: F.coalesce(rule, F.lit(False)) for code, rule in rules.items()}


def with_reject_reasons(df: DataFrame, rules: dict[str, Column],
                        extra: Column | None = None) -> DataFrame:
    """Add `reject_reasons`: every rule the row breaks (empty array: the row is valid).
    `extra` is an array<string> of further reasons (the quality suite's quarantine checks)."""
    codes = F.array(*[F.when(c, F.lit(code)) for code, c in rules.items()])  # NULL: passed
    # array_except drops the NULLs in order, like array_compact, but is code-generated:
    # array_compact's lambda is interpreted (2.5 times the cost on 1M rows).
    codes = F.array_except(codes, F.array(F.lit(None).cast("string")))
    empty = F.array().cast("array<string>")
    extra = empty if extra is None else F.coalesce(extra, empty)
    # Most rows break no rule: they skip building the array of codes (1M rows, warm JVM:
    # 0.6-0.8 s instead of 0.9-1.0 s). The rules are total, so `broken` is never NULL.
    broken = functools.reduce(operator.or_, rules.values(), F.lit(False))
    return df.withColumn(REASONS, F.when(broken, F.array_union(codes, extra)).otherwise(extra))


def without_raw_of_kept_rows(df: DataFrame) -> DataFrame:
    """The raw_<name> columns only on rejected rows (the quarantine keeps them), NULL on
    the others, which never need them: a stage that keeps these rows keeps fewer bytes
    (kept rows hold each text field once, not raw and trimmed)."""
    rejected = F.size(REASONS) > 0
    return df.withColumns({f"raw_{c}": F.when(rejected, F.col(f"raw_{c}"))
                           for c in RAW_COLUMNS})


def row_key(fields: Sequence[str] = KEY_FIELDS) -> Column:
    """A deterministic 128-bit key over the typed business fields, as 32 hex characters:
    an exact duplicate line (after normalisation) gets the same key, in any file or batch.

    Two 64-bit xxhash64 chains over the typed values, without turning them into text
    (SHA-256 over the text form cost half as much again, measured on 1M rows, and its
    key was twice as long to cache, join and write). Spark's hashes skip NULLs, so a
    bitmask of the NULL fields leads each chain: (NULL, 'x') and ('x', NULL) differ.
    A chain hashes each value with the previous result as its seed, so field
    boundaries cannot shift ('ab', 'c' vs 'a', 'bc'). Changing this changes every key:
    bump ROW_KEY_VERSION."""
    nulls = sum((F.col(c).isNull().cast("int") * (1 << i) for i, c in enumerate(fields)),
                F.lit(0))
    chains = [F.xxhash64(nulls + F.lit(lead << len(fields)), *[F.col(c) for c in fields])
              for lead in (0, 1)]
    return F.concat(*[F.lpad(F.hex(h), 16, "0") for h in chains])


def with_row_key(df: DataFrame) -> DataFrame:
    """Add `row_key` (see `row_key`)."""
    return df.withColumn(ROW_KEY, row_key())


def select_first_copies(df: DataFrame, *, key_hash: Column | None = None) -> DataFrame:
    """`row_key` and `first_copy` (struct of batch, file, row) of every key that more
    than one valid row has: the copies of a duplicated line and which one is the original.

    Small (normally a few % of the rows) and cheap: a 64-bit hash of the key (`key_hash`,
    by default xxhash64 of `row_key`) finds the candidate keys with a narrow aggregation,
    and only the candidates' rows are compared by the key itself, so no full-width row
    is shuffled and a hash collision costs a little work, never a wrong answer. The
    candidate hashes are broadcast (8 bytes each)."""
    key_hash = F.xxhash64(ROW_KEY) if key_hash is None else key_hash
    valid = df.where(F.size(REASONS) == 0).select(ROW_KEY, *COPY_ORDER,
                                                 key_hash.alias("key_hash"))
    repeated = valid.groupBy("key_hash").count().where(F.col("count") > 1).select("key_hash")
    return (
        valid.join(F.broadcast(repeated), on="key_hash", how="left_semi")
        .groupBy(ROW_KEY)
        .agg(F.count(F.lit(1)).alias("copies"), F.min(F.struct(*COPY_ORDER)).alias(FIRST_COPY))
        .where(F.col("copies") > 1)
        .select(ROW_KEY, FIRST_COPY)
    )


def with_duplicate_flag(df: DataFrame, first_copies: DataFrame | None = None) -> DataFrame:
    """Mark every valid row but the first (by batch, file, row) of each key a duplicate.
    Rejected rows are never duplicates: all of them go to quarantine.

    `first_copies` is `select_first_copies(df)`, computed here when not given: pass it
    persisted when `df` is read more than once (then it is computed once, and the join
    is a broadcast while it is small). Assumes (batch, file, row) identifies a row, as
    bronze's lineage does."""
    firsts = select_first_copies(df) if first_copies is None else first_copies
    firsts = firsts.select(F.col(ROW_KEY).alias("first_key"), FIRST_COPY)
    valid = F.size(REASONS) == 0
    not_first = F.col(FIRST_COPY).isNotNull() & ~F.struct(*COPY_ORDER).eqNullSafe(
        F.col(FIRST_COPY))
    return (df.join(firsts, on=F.col(ROW_KEY).eqNullSafe(F.col("first_key")), how="left")
            .select(*df.columns, (valid & not_first).alias(IS_DUPLICATE)))


def select_silver(df: DataFrame, processed_at: Column) -> DataFrame:
    """The silver table's columns (the SILVER_TRANSACTIONS contract), stamped with
    `processed_at`."""
    columns = [c for c in SILVER_TRANSACTIONS.names if c != "_processed_at"]
    return df.select(*columns, processed_at.alias("_processed_at"))


def select_quarantine(df: DataFrame, processed_at: Column) -> DataFrame:
    """The quarantine table's columns: raw values, what could be typed, and why."""
    return df.select(
        *LINEAGE, REASONS, *[f"raw_{c}" for c in RAW_COLUMNS], "_corrupt_record", "_rescued",
        "invoice", "stock_code", "quantity", "unit_price", "invoice_ts", "customer_id",
        "country", "is_cancellation", processed_at.alias("_processed_at"),
    )
