"""Customer population: arrivals, heterogeneous purchase rates, latent churn, countries.

Model (times in mean calendar months of 30.4375 days):

* rate lambda_i = theta * G_i with G_i ~ Gamma(RATE_SHAPE, 1): invoices per 30 days, theta set
  so the customers present at the start make the wanted number of invoices (see rate_scale);
* churn hazard h_i = CHURN_BASE * (G_i / RATE_SHAPE) ** -CHURN_RATE_EXP * exp(CHURN_NOISE * e_i),
  e_i ~ N(0, 1): low-rate customers leave sooner, but noisily; the latent churn time is
  join + Exp(h_i), fixed at creation so it never depends on the run length;
* new customers arrive as a (seasonal) Poisson process, ``a`` per month, and make their first
  purchase on joining; the customers already there at the start are drawn from the stationary
  distribution of that process (size-biased by lifetime: G ~ Gamma(k + beta), e ~ N(-sigma, 1),
  age and residual life ~ Exp(h)), so the active base and the rows per month stay level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from .timeaxis import (
    ARRIVALS,
    DAYS_PER_MONTH,
    INITIAL,
    MINUTES_PER_MONTH,
    format_day,
    month_slots,
    stream,
    to_minutes,
)

RATE_SHAPE = 0.9
CHURN_BASE = 0.10
CHURN_RATE_EXP = 0.6
CHURN_NOISE = 0.6
MAX_AGE_MONTHS = 120  # the oldest customers joined ten years before the start
MAX_LIFE_MINUTES = 100 * 12 * MINUTES_PER_MONTH
FIRST_CUSTOMER_ID = 12346  # as in Online Retail II; ids grow with join time
QTY_MULTIPLIERS = np.array([1, 2, 6])  # retail, small trade, wholesale buyers
QTY_MULTIPLIER_P = [0.8, 0.15, 0.05]

COUNTRIES = (
    ("United Kingdom", 0.880), ("Germany", 0.018), ("France", 0.017), ("EIRE", 0.006),
    ("Netherlands", 0.006), ("Spain", 0.006), ("Belgium", 0.005), ("Switzerland", 0.004),
    ("Portugal", 0.004), ("Australia", 0.004), ("Norway", 0.003), ("Italy", 0.003),
    ("Channel Islands", 0.003), ("Finland", 0.003), ("Cyprus", 0.002), ("Sweden", 0.002),
    ("Austria", 0.002), ("Denmark", 0.002), ("Japan", 0.002), ("Poland", 0.002), ("USA", 0.002),
    ("Israel", 0.002), ("Unspecified", 0.002), ("Singapore", 0.002), ("Iceland", 0.002),
    ("Canada", 0.002), ("Greece", 0.002), ("Malta", 0.002), ("United Arab Emirates", 0.002),
    ("Lithuania", 0.002), ("Brazil", 0.001), ("RSA", 0.001),
)
COUNTRY_NAMES = np.array([c for c, _ in COUNTRIES], dtype=object)
_COUNTRY_P = np.array([p for _, p in COUNTRIES]) / sum(p for _, p in COUNTRIES)


@dataclass(frozen=True)
class Population:
    """Customers ordered by id (= join order); times are minutes since the epoch."""

    ids: np.ndarray  # int64
    join: np.ndarray  # int64, first purchase (or earlier, for the initial base)
    churn: np.ndarray  # int64, latent time of leaving; no purchase at or after it
    rate: np.ndarray  # float64, expected invoices per 30 days (before seasonality)
    country: np.ndarray  # int64 index into COUNTRY_NAMES
    qty_mult: np.ndarray  # int64 quantity multiplier
    arrived: np.ndarray  # bool: joined during the run (gets a purchase at its join time)
    theta: float  # the rate scale: rate = theta * G


def mean_alive_months() -> float:
    """Expected stationary active base per unit arrival rate: E[1/h] in months."""
    k, b, s = RATE_SHAPE, CHURN_RATE_EXP, CHURN_NOISE
    return math.exp(math.lgamma(k + b) - math.lgamma(k)) / k**b * math.exp(s * s / 2) / CHURN_BASE


def rate_scale(new_per_month: float, purchase_invoices_per_month: float,
               base_mass: float | None = None) -> float:
    """theta such that the customer base makes the wanted purchase invoices per mean month.

    Invoices = a (joining purchases) + theta * M * 30.4375 / 30, with M the summed G of the
    customers present at the start. Its expectation is a * E[G / h]; passing the realised M
    removes most of the sample-to-sample spread of small runs (a few heavy buyers dominate).
    """
    if not base_mass:
        k, b, s = RATE_SHAPE, CHURN_RATE_EXP, CHURN_NOISE
        mass = math.exp(math.lgamma(k + 1 + b) - math.lgamma(k)) / k**b * math.exp(s * s / 2)
        base_mass = new_per_month * mass / CHURN_BASE
    theta = (purchase_invoices_per_month - new_per_month) / (base_mass * DAYS_PER_MONTH / 30)
    return max(theta, 0.01)  # more customers than invoices: fall back to very light buyers


def _hazard(g: np.ndarray, eps: np.ndarray) -> np.ndarray:
    g = np.maximum(g, 1e-9)  # a Gamma draw can underflow to 0
    return CHURN_BASE * (g / RATE_SHAPE) ** -CHURN_RATE_EXP * np.exp(CHURN_NOISE * eps)


def _attributes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    country = rng.choice(len(COUNTRIES), size=n, p=_COUNTRY_P)
    mult = QTY_MULTIPLIERS[rng.choice(len(QTY_MULTIPLIERS), size=n, p=QTY_MULTIPLIER_P)]
    return country.astype(np.int64), mult.astype(np.int64)


def _months_to_minutes(x: np.ndarray) -> np.ndarray:
    return np.minimum(np.floor(x * MINUTES_PER_MONTH), MAX_LIFE_MINUTES).astype(np.int64)


def build_population(seed: int, start: date, months: int, new_per_month: float,
                     invoices_per_month: float) -> Population:
    """All customers who exist at ``start`` or join during the first ``months`` months.

    The initial base and each month's arrivals come from their own random streams and ids are
    handed out in join order, so the customers of a shorter run are a prefix of a longer one
    (theta only depends on the initial base).
    """
    k, b, s = RATE_SHAPE, CHURN_RATE_EXP, CHURN_NOISE
    t_start = to_minutes(start)
    rng = stream(seed, INITIAL)
    n0 = int(rng.poisson(new_per_month * mean_alive_months()))
    g = rng.gamma(k + b, 1.0, n0)
    h = _hazard(g, rng.normal(-s, 1.0, n0))
    # Age since joining ~ Exp(h) truncated at MAX_AGE_MONTHS (inverse CDF: no pile-up at the cap).
    age = _months_to_minutes(-np.log1p(rng.random(n0) * np.expm1(-h * MAX_AGE_MONTHS)) / h)
    join = t_start - 1 - age  # strictly before the start: no joining purchase in the data
    churn = t_start + 1 + _months_to_minutes(rng.exponential(1.0 / h))
    country, mult = _attributes(rng, n0)
    order = np.argsort(join, kind="stable")
    theta = rate_scale(new_per_month, invoices_per_month, float(g.sum()))
    parts = [(join[order], churn[order], theta * g[order], country[order], mult[order],
              np.zeros(n0, dtype=bool))]
    for m in range(months):
        rng = stream(seed, ARRIVALS, m)
        t0, w = month_slots(start, m)
        n = int(rng.poisson(new_per_month * w.sum() / DAYS_PER_MONTH))
        cw = np.cumsum(w)
        slot = np.minimum(np.searchsorted(cw, rng.random(n) * cw[-1], side="right"), len(w) - 1)
        join = t0 + slot * 60 + rng.integers(0, 60, n)
        g = rng.gamma(k, 1.0, n)
        h = _hazard(g, rng.normal(0.0, 1.0, n))
        churn = join + 1 + _months_to_minutes(rng.exponential(1.0 / h))
        country, mult = _attributes(rng, n)
        order = np.argsort(join, kind="stable")
        parts.append((join[order], churn[order], theta * g[order], country[order], mult[order],
                      np.ones(n, dtype=bool)))
    cols = [np.concatenate(c) for c in zip(*parts, strict=True)]
    ids = FIRST_CUSTOMER_ID + np.arange(len(cols[0]), dtype=np.int64)
    return Population(ids, *cols, theta=theta)


def write_customers(path: Path, pop: Population, end: int) -> int:
    """Write the ground-truth ``customers.csv`` for a run ending at minute ``end``.

    ``churn_date`` is the day of the latent churn time if it falls before ``end`` (no purchase
    happens after that day), else empty. Returns the number of customers written.
    """
    sel = np.flatnonzero(pop.join < end)
    churned = pop.churn[sel] < end
    join_day = format_day(pop.join[sel])
    churn_day = format_day(np.where(churned, pop.churn[sel], pop.join[sel]))
    rows = ["customer_id,join_date,purchase_rate,churn_date,country"]
    cols = (pop.ids[sel].tolist(), join_day, pop.rate[sel].tolist(), churned.tolist(), churn_day,
            pop.country[sel].tolist())
    for cid, jd, rate, gone, cd, c in zip(*cols, strict=True):
        rows.append(f"{cid},{jd},{rate:.4f},{cd if gone else ''},{COUNTRY_NAMES[c]}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return len(sel)
