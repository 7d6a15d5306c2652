"""SQL text for the DuckDB reference: the pipeline's rules rewritten, not imported.

Every function returns a SQL fragment or statement built from the project settings, so
the reference follows the configuration exactly as the Spark stages do (header aliases,
timestamp formats, cancellation prefix, the silver suite's quarantine checks, the gold
schedule and horizon). Where DuckDB's built-ins are more lenient than Spark's, a regular
expression guard restores Spark's behaviour (see `integer_text`, `spark_timestamp`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

RAW_COLUMNS = ("invoice", "stock_code", "description", "quantity", "invoice_date", "price",
               "customer_id", "country")
KEY_FIELDS = ("invoice", "stock_code", "description", "quantity", "unit_price", "invoice_ts",
              "customer_id", "country")
# Spark pattern letters -> (strptime directive, the digits Spark's parser accepts).
_DIRECTIVES = {
    "yyyy": ("%Y", "[0-9]{4}"), "yy": ("%y", "[0-9]{2}"),
    "MM": ("%m", "[0-9]{2}"), "M": ("%m", "[0-9]{1,2}"),
    "dd": ("%d", "[0-9]{2}"), "d": ("%d", "[0-9]{1,2}"),
    "HH": ("%H", "[0-9]{2}"), "H": ("%H", "[0-9]{1,2}"),
    "mm": ("%M", "[0-9]{2}"), "m": ("%M", "[0-9]{1,2}"),
    "ss": ("%S", "[0-9]{2}"), "s": ("%S", "[0-9]{1,2}"),
}
# What Java's BigDecimal (Spark's string -> decimal cast) accepts.
DECIMAL_TEXT = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
INTEGER_TEXT = r"[+-]?[0-9]+"


def quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def strptime_pattern(spark_pattern: str) -> tuple[str, str, bool]:
    """(strptime format, full-match regex, has a two-digit year) for a Spark datetime
    pattern made of y, M, d, H, m, s fields, quoted literals and other literal characters.
    The regex enforces Spark's field widths (`MM` needs two digits, `M` one or two)."""
    fmt, regex, two_digit, i = [], [], False, 0
    while i < len(spark_pattern):
        char = spark_pattern[i]
        if char == "'":
            end = spark_pattern.index("'", i + 1)
            literal = spark_pattern[i + 1:end] or "'"
            fmt.append(literal.replace("%", "%%"))
            regex.append(re.escape(literal))
            i = end + 1
        elif char.isalpha():
            run = len(spark_pattern[i:]) - len(spark_pattern[i:].lstrip(char))
            token = spark_pattern[i:i + run]
            if token not in _DIRECTIVES:
                raise ValueError(f"timestamp pattern {spark_pattern!r}: {token!r} is not "
                                 "supported by the DuckDB reference")
            directive, digits = _DIRECTIVES[token]
            two_digit = two_digit or token == "yy"
            fmt.append(directive)
            regex.append(digits)
            i += run
        else:
            fmt.append(char.replace("%", "%%"))
            regex.append(re.escape(char))
            i += 1
    return "".join(fmt), "".join(regex), two_digit


def spark_timestamp(value: str, formats: Sequence[str]) -> str:
    """SQL: the first of `formats` (Spark patterns) that parses `value`, else NULL.
    Two-digit years are 2000-2099 as in Spark (strptime's %y gives 1969-2068)."""
    parts = []
    for pattern in formats:
        fmt, regex, two_digit = strptime_pattern(pattern)
        parsed = f"try_strptime({value}, {quote(fmt)})"
        if two_digit:
            parsed = (f"(CASE WHEN year({parsed}) < 2000 THEN {parsed} + INTERVAL 100 YEAR "
                      f"ELSE {parsed} END)")
        parts.append(f"CASE WHEN regexp_full_match({value}, {quote(regex)}) THEN {parsed} END")
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def blank_to_null(column: str) -> str:
    """SQL: trimmed of spaces (Spark's trim), NULL when empty."""
    return f"nullif(trim({column}, ' '), '')"


def integer_text(value: str) -> str:
    """SQL: `value` as BIGINT the way Spark's try_cast reads it (digits only)."""
    return f"CASE WHEN regexp_full_match({value}, {quote(INTEGER_TEXT)}) " \
           f"THEN try_cast({value} AS BIGINT) END"


def decimal_text(value: str) -> str:
    """SQL: `value` as DECIMAL(18,3) the way Spark's try_cast reads it."""
    return f"CASE WHEN regexp_full_match({value}, {quote(DECIMAL_TEXT)}) " \
           f"THEN try_cast({value} AS DECIMAL(18,3)) END"


def typed_select(silver: Any) -> str:
    """SQL select list: bronze raw columns -> silver's typed columns (as silver.transform)."""
    b = {c: blank_to_null(c) for c in RAW_COLUMNS}
    customer = b["customer_id"]
    prefix = quote(silver.cancellation_prefix)
    if silver.source_timezone != "UTC":
        raise ValueError("the DuckDB reference supports silver.source_timezone UTC only")
    return ",\n".join([
        *[f"{c} AS raw_{c}" for c in RAW_COLUMNS],
        f"{b['invoice']} AS invoice", f"{b['stock_code']} AS stock_code",
        f"{b['description']} AS description",
        f"{integer_text(b['quantity'])} AS quantity",
        f"{decimal_text(b['price'])} AS unit_price",
        f"{spark_timestamp(b['invoice_date'], silver.timestamp_formats)} AS invoice_ts",
        f"CASE WHEN regexp_full_match({customer}, '[0-9]+\\.0+') "
        f"THEN regexp_extract({customer}, '^([0-9]+)\\.', 1) ELSE {customer} END AS customer_id",
        f"{b['country']} AS country",
        f"coalesce(starts_with({b['invoice']}, {prefix}), false) AS is_cancellation",
        "_corrupt_record", "_source_file",
    ])


def _between(column: str, kwargs: Mapping[str, Any]) -> str:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    parts = []
    if low is not None:
        parts.append(f"{column} {'>' if kwargs.get('strict_min') else '>='} {low}")
    if high is not None:
        parts.append(f"{column} {'<' if kwargs.get('strict_max') else '<='} {high}")
    return " AND ".join(parts) or "true"


def quality_rules(checks: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Reason code -> SQL condition for the suite's `quarantine` checks (GX's NULL rule:
    only the not_be_null checks judge NULLs)."""
    rules = {}
    for check in checks:
        column, kind = check["kwargs"]["column"], check["expectation"]
        if kind == "expect_column_values_to_be_between":
            inside = _between(column, check["kwargs"])
            rules[check["name"]] = f"{column} IS NOT NULL AND NOT ({inside})"
        elif kind == "expect_column_values_to_not_be_null":
            rules[check["name"]] = f"{column} IS NULL"
        else:
            raise ValueError(f"quarantine check {check['name']}: {kind} is not supported by "
                             "the DuckDB reference")
    return rules


def number_rules(raw: str, typed: str, name: str, limit: float) -> dict[str, str]:
    """SQL of silver.transform._number_rules: unparseable, non-finite, out of range."""
    text = f"trim(raw_{raw}, ' ')"
    untyped = f"raw_{raw} IS NOT NULL AND {text} <> '' AND {typed} IS NULL"
    non_finite = f"regexp_full_match({text}, '[+-]?(?i:nan|inf|infinity)')"
    too_large = (f"regexp_full_match({text}, {quote(DECIMAL_TEXT)}) AND coalesce(abs("
                 f"try_cast({text} AS DOUBLE)), 'inf'::DOUBLE) > {float(limit)!r}")
    return {f"unparseable_{name}": f"{untyped} AND NOT ({non_finite}) AND NOT ({too_large})",
            f"non_finite_{name}": f"{untyped} AND {non_finite}",
            f"{name}_out_of_range": f"({untyped} AND {too_large}) OR {typed} > {limit!r} "
                                    f"OR {typed} < -{limit!r}"}


def rejection_rules(*, quarantine_missing_customer: bool, silver: Any,
                    ingested_at: datetime) -> dict[str, str]:
    """Reason code -> SQL condition, the rules of silver.transform.rejection_rules
    (`silver`: the silver settings, `ingested_at`: the rows' ingestion time, naive UTC)."""
    ok = "_corrupt_record IS NULL"

    def unparseable(raw: str, typed: str) -> str:
        return f"{ok} AND raw_{raw} IS NOT NULL AND trim(raw_{raw}, ' ') <> '' AND {typed} IS NULL"

    quantity = number_rules("quantity", "quantity", "quantity", silver.max_abs_quantity)
    price = number_rules("price", "unit_price", "price", silver.max_abs_unit_price)
    latest = (f"TIMESTAMP '{ingested_at.isoformat(sep=' ')}' "
              f"+ INTERVAL {int(silver.max_minutes_after_ingestion)} MINUTE")
    rules = {
        "malformed_line": "_corrupt_record IS NOT NULL",
        "missing_invoice": f"{ok} AND invoice IS NULL",
        "missing_stock_code": f"{ok} AND stock_code IS NULL",
        "missing_quantity": f"{ok} AND raw_quantity IS NULL",
        **{code: f"{ok} AND ({rule})" for code, rule in quantity.items()},
        "missing_price": f"{ok} AND raw_price IS NULL",
        **{code: f"{ok} AND ({rule})" for code, rule in price.items()},
        "missing_date": f"{ok} AND raw_invoice_date IS NULL",
        "unparseable_date": unparseable("invoice_date", "invoice_ts"),
        "date_before_min_date": f"{ok} AND invoice_date < DATE '{silver.min_date.isoformat()}'",
        "date_after_ingestion": f"{ok} AND invoice_ts > {latest}",
        "zero_price": f"{ok} AND NOT is_cancellation AND unit_price = 0",
        "negative_price": f"{ok} AND NOT is_cancellation AND unit_price < 0",
        "zero_quantity": f"{ok} AND quantity = 0",
        "cancellation_with_positive_quantity": f"{ok} AND is_cancellation AND quantity > 0",
        "negative_quantity_without_cancellation":
            f"{ok} AND NOT is_cancellation AND quantity < 0",
        "amount_out_of_range": f"{ok} AND quantity IS NOT NULL AND unit_price IS NOT NULL "
                               "AND line_amount IS NULL",
    }
    if quarantine_missing_customer:
        rules["missing_customer"] = f"{ok} AND customer_id IS NULL"
    return rules


def reasons_expression(rules: Mapping[str, str]) -> str:
    """SQL list of the codes whose rule holds (NULL-safe: a NULL rule does not fire)."""
    cases = ", ".join(f"CASE WHEN coalesce({cond}, false) THEN {quote(code)} END"
                      for code, cond in rules.items())
    return f"list_filter([{cases}], lambda x: x IS NOT NULL)"


def silver_rows_sql(bronze: str, settings: Any, quarantine_checks: Sequence[Mapping],
                    ingested_at: datetime | None = None) -> str:
    """SQL: every bronze row typed, with its reject reasons (empty list: valid).
    `ingested_at` (naive UTC; default: now) stands for bronze's `_ingested_at`."""
    ingested_at = ingested_at or datetime.now(UTC).replace(tzinfo=None)
    rules = rejection_rules(
        quarantine_missing_customer=settings.silver.quarantine_missing_customer,
        silver=settings.silver, ingested_at=ingested_at)
    rules.update(quality_rules(quarantine_checks))
    return f"""
      WITH typed AS (SELECT {typed_select(settings.silver)} FROM {bronze}),
      amounts AS (
        SELECT *, try_cast(quantity * unit_price AS DECIMAL(18,3)) AS line_amount,
               CAST(invoice_ts AS DATE) AS invoice_date
        FROM typed)
      SELECT *, {reasons_expression(rules)} AS reject_reasons FROM amounts"""


def silver_table_sql(rows: str) -> str:
    """SQL: valid rows, one per duplicate key (every key field equal, NULLs equal, as the
    pipeline's row_key over to_json of the fields), with how many copies were seen."""
    keys = ", ".join(KEY_FIELDS)
    return f"""
      SELECT {keys}, any_value(line_amount) AS line_amount,
             any_value(invoice_date) AS invoice_date,
             any_value(is_cancellation) AS is_cancellation,
             min(_source_file) AS _source_file, count(*) AS copies
      FROM {rows} WHERE len(reject_reasons) = 0
      GROUP BY {keys}"""
