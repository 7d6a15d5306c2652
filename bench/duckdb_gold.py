"""The gold layer in DuckDB SQL: the definitions of gold/events.py, gold/features.py and
gold/labels.py, written as joins of as-of dates with customer days instead of windows.

Same as-of dates (monthly month ends from first date + min_history_days to the last
date), same snapshot keys (customers with a purchase on or before the as-of date), same
arithmetic (exact decimal sums cast to double, the population variance of purchase
gaps from exact integer sums), so features match to floating-point rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from gold.snapshots import month_ends  # the schedule is shared; the SQL is independent
from lakehouse.contracts import TREND_DAYS, WINDOWS_DAYS


def snapshot_dates(first: date, last: date, *, min_history_days: int,
                   horizon_days: int) -> tuple[list[date], list[date]]:
    """(feature as-of dates, labelable as-of dates) of the monthly schedule."""
    dates = month_ends(first + timedelta(days=min_history_days), last)
    return dates, [d for d in dates if d + timedelta(days=horizon_days) <= last]


def _date_list(dates: Sequence[date]) -> str:
    return "[" + ", ".join(f"DATE '{d.isoformat()}'" for d in dates) + "]::DATE[]"


def days_sql(silver: str) -> str:
    """SQL: one row per customer and day with activity (gold.events.customer_days), plus
    `gap`: days since the previous purchase day, on purchase days after the first."""
    return f"""
      WITH lines AS (
        SELECT customer_id, invoice, stock_code, quantity, line_amount, invoice_ts,
               invoice_date, country, is_cancellation
        FROM {silver} WHERE customer_id IS NOT NULL AND is_cancellation IS NOT NULL),
      invoices AS (
        SELECT customer_id, invoice, is_cancellation, invoice_date, count(*) AS lines,
               sum(quantity) AS quantity, sum(line_amount) AS amount,
               max({{'ts': invoice_ts, 'invoice': invoice, 'country': country}})
                 FILTER (WHERE country IS NOT NULL) AS latest
        FROM lines GROUP BY ALL),
      daily AS (
        SELECT customer_id, invoice_date AS day,
               count(*) FILTER (WHERE NOT is_cancellation) AS invoices,
               coalesce(sum(lines) FILTER (WHERE NOT is_cancellation), 0) AS lines,
               coalesce(sum(quantity) FILTER (WHERE NOT is_cancellation), 0) AS items,
               coalesce(sum(-quantity) FILTER (WHERE is_cancellation), 0) AS returned_items,
               sum(amount) AS net_amount,
               max(latest) FILTER (WHERE NOT is_cancellation) AS latest_purchase
        FROM invoices GROUP BY ALL),
      first_products AS (
        SELECT customer_id, day, count(*) AS new_products
        FROM (SELECT customer_id, stock_code, min(invoice_date) AS day FROM lines
              WHERE NOT is_cancellation AND stock_code IS NOT NULL GROUP BY ALL)
        GROUP BY ALL)
      SELECT d.*, coalesce(p.new_products, 0) AS new_products,
             CASE WHEN d.invoices > 0 THEN d.day - lag(d.day) OVER (
               PARTITION BY d.customer_id, d.invoices > 0 ORDER BY d.day) END AS gap
      FROM daily d LEFT JOIN first_products p USING (customer_id, day)"""


def keys_sql(days: str, dates: Sequence[date]) -> str:
    """SQL: (customer_id, as_of) for each as-of date on or after the first purchase."""
    if not dates:
        return "SELECT NULL::VARCHAR AS customer_id, NULL::DATE AS as_of WHERE false"
    return f"""
      SELECT f.customer_id, s.as_of
      FROM (SELECT customer_id, min(day) AS first_day FROM {days} WHERE invoices > 0
            GROUP BY ALL) f
      JOIN (SELECT unnest({_date_list(dates)}) AS as_of) s ON s.as_of >= f.first_day"""


def features_sql(days: str, keys: str) -> str:
    """SQL: the feature rows (the GOLD_FEATURES contract minus version and time)."""
    windowed = []
    for n in WINDOWS_DAYS:
        recent = f"d.day > k.as_of - {n}"
        windowed += [f"sum(d.invoices) FILTER (WHERE {recent}) AS invoices_{n}d",
                     f"sum(d.net_amount) FILTER (WHERE {recent}) AS net_{n}d"]
    before = (f"d.day BETWEEN k.as_of - {2 * TREND_DAYS - 1} AND k.as_of - {TREND_DAYS}")
    trend_recent, trend_before = f"coalesce(net_{TREND_DAYS}d, 0)", "coalesce(net_before, 0)"
    outputs = []
    for n in WINDOWS_DAYS:
        outputs += [f"coalesce(invoices_{n}d, 0)::BIGINT AS transactions_{n}d"]
    outputs += [f"coalesce(net_{n}d, 0)::DOUBLE AS spend_{n}d" for n in WINDOWS_DAYS]
    return f"""
      WITH totals AS (
        SELECT k.customer_id, k.as_of,
               min(d.day) FILTER (WHERE d.invoices > 0) AS first_day,
               max(d.day) FILTER (WHERE d.invoices > 0) AS last_day,
               max(d.latest_purchase) AS latest,
               sum(d.invoices) AS invoices_total, sum(d.lines) AS lines_total,
               sum(d.items) AS items_total, sum(d.returned_items) AS returned_total,
               sum(d.net_amount) AS net_total, sum(d.new_products) AS products_total,
               count(d.gap)::HUGEINT AS gap_count, sum(d.gap)::HUGEINT AS gap_sum,
               sum(d.gap::HUGEINT * d.gap) AS gap_squares,
               {', '.join(windowed)},
               sum(d.net_amount) FILTER (WHERE {before}) AS net_before
        FROM {keys} k JOIN {days} d ON d.customer_id = k.customer_id AND d.day <= k.as_of
        GROUP BY ALL)
      SELECT customer_id, as_of AS as_of_date, latest.country AS country,
             (as_of - last_day)::INTEGER AS recency_days,
             invoices_total::BIGINT AS frequency,
             net_total::DOUBLE AS total_spend,
             {_ratio('net_total', 'invoices_total')} AS avg_transaction_value,
             (as_of - first_day)::INTEGER AS tenure_days,
             {_ratio('gap_sum', 'gap_count')} AS interpurchase_mean_days,
             sqrt({_ratio('gap_count * gap_squares - gap_sum * gap_sum',
                          'gap_count * gap_count')}) AS interpurchase_std_days,
             {', '.join(outputs)},
             {_ratio(f'{trend_recent} - {trend_before}',
                     f'abs({trend_recent}) + abs({trend_before})')} AS spend_trend,
             least(greatest({_ratio('returned_total', 'items_total')}, 0.0), 1.0)
               AS return_rate,
             products_total::BIGINT AS distinct_products,
             {_ratio('lines_total', 'invoices_total')} AS avg_basket_size
      FROM totals"""


def _ratio(numerator: str, denominator: str) -> str:
    """numerator / denominator as DOUBLE, 0.0 when the denominator is 0 (as gold)."""
    return (f"(CASE WHEN ({denominator})::DOUBLE <> 0 THEN ({numerator})::DOUBLE / "
            f"({denominator})::DOUBLE ELSE 0.0 END)")


def labels_sql(days: str, keys: str, *, horizon_days: int) -> str:
    """SQL: churn labels (the GOLD_LABELS contract) of the keys: churned = no purchase
    day in (as_of, as_of + horizon_days]; next_purchase_date the first one."""
    return f"""
      WITH nxt AS (
        SELECT k.customer_id, k.as_of, min(d.day) AS next_day
        FROM {keys} k JOIN {days} d ON d.customer_id = k.customer_id
          AND d.invoices > 0 AND d.day > k.as_of AND d.day <= k.as_of + {horizon_days}
        GROUP BY ALL)
      SELECT k.customer_id, k.as_of AS as_of_date, {horizon_days}::INTEGER AS horizon_days,
             CASE WHEN n.next_day IS NULL THEN 1 ELSE 0 END::INTEGER AS churned,
             n.next_day AS next_purchase_date
      FROM {keys} k LEFT JOIN nxt n USING (customer_id, as_of)"""
