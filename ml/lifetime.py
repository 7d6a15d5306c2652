"""Customer-lifetime features for the churn model: BG/NBD (ml/bgnbd.py) fitted on the
training rows, applied to any gold row by one SQL stage of the saved pipeline.

The BG/NBD sufficient statistics of a customer at an as-of date, in days, follow exactly
from one gold row (gold/features.py): the age T = tenure_days; the time of the last
purchase t_x = tenure_days - recency_days (last minus first purchase day); and the repeat
purchase days x = t_x / interpurchase_mean_days, because the mean gap is the sum of the gaps
between consecutive purchase days (= t_x) over their count (= x); x = 0 when there is no
gap. So the features are as point-in-time as gold's own, and gold's leakage test covers
them (tests/unit/test_gold_features.py).

The fitted model becomes a `SQLTransformer` with its four parameters inlined: P(alive) is
closed form; the expected purchases in the next t days need Gauss's hypergeometric function
2F1(r+x, b+x; a+b+x-1; z), z = t / (alpha+T+t). Euler's transformation turns it into
(1-z)^(a-1-r-x) 2F1(a+b-1-r, a-1; a+b+x-1; z), whose series has x only in the lower
parameter (so it converges no slower for heavy buyers) and whose prefactor cancels with the
formula's ((alpha+T)/(alpha+T+t))^(r+x) into (1-z)^(a-1). The series is summed in SQL
(AGGREGATE over SEQUENCE) with a term count fixed at fit time for the worst row (x = 0,
T = 0: the largest z).
"""

from __future__ import annotations

import math

import numpy as np
from pyspark.ml.feature import SQLTransformer
from pyspark.sql import DataFrame

from lakehouse.errors import LakehouseError
from ml import bgnbd
from ml.bgnbd import BgNbd

REPEATS, LAST, AGE = "bgnbd_x", "bgnbd_t_x", "bgnbd_T"
P_ALIVE, EXPECTED = "bgnbd_p_alive", "bgnbd_expected_purchases"
SOURCES = ("recency_days", "tenure_days", "interpurchase_mean_days")  # gold columns read
FEATURES = (P_ALIVE, EXPECTED)  # what the fitted model adds (REPEATS is an input too)


class LifetimeFitError(LakehouseError):
    """The BG/NBD model cannot be fitted on the training rows."""


def statistics_sql() -> list[str]:
    """SQL expressions of x, t_x and T (doubles, days) over a gold row's SOURCES."""
    last = "CAST(`tenure_days` - `recency_days` AS DOUBLE)"
    repeats = (f"IF(`interpurchase_mean_days` > 0D AND {last} > 0D, "
               f"ROUND({last} / `interpurchase_mean_days`), 0D)")
    return [f"{repeats} AS `{REPEATS}`", f"{last} AS `{LAST}`",
            f"CAST(`tenure_days` AS DOUBLE) AS `{AGE}`"]


def statistics(df: DataFrame) -> DataFrame:
    """`df` (gold rows) with the BG/NBD statistics x, t_x and T added."""
    return df.selectExpr("*", *statistics_sql())


def fit(train: DataFrame, *, max_customers: int, seed: int) -> BgNbd:
    """BG/NBD fitted on the training rows (customer x snapshot, each one observation), a
    seeded sample of about `max_customers` of them when there are more. Identical
    (x, t_x, T) are counted in Spark and fitted as weights, so the driver gets at most
    one row per distinct triple."""
    stats = statistics(train.select(*SOURCES)).select(REPEATS, LAST, AGE)

    def counted(rows: DataFrame):
        return rows.groupBy(REPEATS, LAST, AGE).count().orderBy(REPEATS, LAST, AGE).toPandas()

    grouped = counted(stats)  # one job; a second only when there are too many rows
    total = int(grouped["count"].sum())
    if total > max_customers:
        grouped = counted(stats.sample(fraction=max_customers / total, seed=seed))
    x, t_x, T = (grouped[c].to_numpy(dtype=float) for c in (REPEATS, LAST, AGE))
    weights = grouped["count"].to_numpy(dtype=float)
    repeat_buyers = int(weights[x > 0].sum())
    if weights.sum() < 10 or repeat_buyers < 10:
        raise LifetimeFitError(
            f"BG/NBD needs customers with repeat purchases in the training snapshots: "
            f"{int(weights.sum()):,} rows, {repeat_buyers:,} with a repeat purchase day (at "
            "least 10 needed); drop the bgnbd_* features from ml.churn.features")
    try:
        params = bgnbd.fit(x, t_x, T, weights=weights)
    except bgnbd.FitError as err:
        raise LifetimeFitError(f"BG/NBD fit failed on the training snapshots: {err}") from err
    fitted = np.array([params.r, params.alpha, params.a, params.b])
    loss = -np.sum(weights * bgnbd.log_likelihood(fitted, x, t_x, T))
    if not (np.all(np.isfinite(fitted)) and np.isfinite(loss)):
        raise LifetimeFitError(f"BG/NBD likelihood did not converge on the training "
                               f"snapshots (parameters {describe(params)})")
    if abs(params.a - 1.0) < 1e-6:
        raise LifetimeFitError(f"BG/NBD fitted a = {params.a:.8f}, where the expected "
                               "purchases are undefined (a = 1)")
    return params


def terms_needed(params: BgNbd, horizon_days: float, *, tolerance: float = 1e-12,
                 cap: int = 5000) -> int:
    """Series terms for the worst row (x = 0, T = 0: the largest z) to converge to
    `tolerance`, relative to the sum."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = horizon_days / (alpha + horizon_days)
    big_a, big_b, c = a + b - 1 - r, a - 1, a + b - 1
    term, total = 1.0, 1.0
    for k in range(1, cap + 1):
        term *= (big_a + k - 1) * (big_b + k - 1) / ((c + k - 1) * k) * z
        total += term
        if term == 0.0 or abs(term) <= tolerance * abs(total):
            return k
    raise LifetimeFitError(f"BG/NBD expected purchases need more than {cap} series terms "
                           f"(alpha {alpha:.3g} days is small against the "
                           f"{horizon_days:.0f}-day horizon)")


def _literal(value: float) -> str:
    if not math.isfinite(value):
        raise LifetimeFitError(f"BG/NBD parameter {value} is not finite")
    return f"CAST('{value!r}' AS DOUBLE)"


def transformer(params: BgNbd, horizon_days: int) -> SQLTransformer:
    """One SQL stage adding x, t_x, T, P(alive) and the expected purchases in the next
    `horizon_days` days to gold rows, with `params` inlined (saved with the pipeline)."""
    r, alpha, a, b = (_literal(v) for v in (params.r, params.alpha, params.a, params.b))
    t = _literal(float(horizon_days))
    n = terms_needed(params, horizon_days)
    x, t_x, age = f"`{REPEATS}`", f"`{LAST}`", f"`{AGE}`"
    odds = (f"IF({x} > 0D, {a} / ({b} + {x} - 1D) * "
            f"POW(({alpha} + {age}) / ({alpha} + {t_x}), {r} + {x}), 0D)")
    z = f"({t} / ({alpha} + {age} + {t}))"
    ratio = (f"({a} + {b} - 2D - {r} + k) * ({a} - 2D + k) / (({a} + {b} + {x} - 2D + k) * k)"
             f" * {z}")  # term k / term k-1 of 2F1(a+b-1-r, a-1; a+b+x-1; z)
    # State (t, s): t the next term, s the sum of the terms before it; n steps add terms
    # 0..n-1 to s and leave term n in t.
    series = (f"AGGREGATE(SEQUENCE(1, {n}), NAMED_STRUCT('t', 1D, 's', 0D), "
              f"(acc, k) -> NAMED_STRUCT('t', acc.t * {ratio}, 's', acc.s + acc.t), "
              f"acc -> acc.s + acc.t)")
    # A customer long inactive has infinite odds of being dead: P(alive) 0, nothing expected.
    expected = (f"IF(`_odds` = CAST('Infinity' AS DOUBLE), 0D, ({a} + {b} + {x} - 1D) / "
                f"({a} - 1D) * (1D - POW(1D - {z}, {a} - 1D) * {series}) / (1D + `_odds`))")
    inner = f"SELECT *, {', '.join(statistics_sql())} FROM __THIS__"
    middle = f"SELECT *, {odds} AS `_odds` FROM ({inner})"
    outer = (f"SELECT *, 1D / (1D + `_odds`) AS `{P_ALIVE}`, {expected} AS `{EXPECTED}` "
             f"FROM ({middle})")
    return SQLTransformer(statement=f"SELECT * EXCEPT (`_odds`) FROM ({outer})")


def describe(params: BgNbd) -> dict[str, float]:
    """The parameters as MLflow params."""
    return {"bgnbd_r": params.r, "bgnbd_alpha": params.alpha, "bgnbd_a": params.a,
            "bgnbd_b": params.b}

