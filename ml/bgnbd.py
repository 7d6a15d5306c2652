"""The BG/NBD customer-lifetime model ("buy till you die"; Fader, Hardie and Lee 2005,
"Counting your customers the easy way", Marketing Science 24(2)).

A customer buys at Poisson rate lambda while alive and dies right after any purchase with
probability p; across customers lambda ~ Gamma(r, alpha) and p ~ Beta(a, b). What it needs
of a customer are three sufficient statistics, in days, at an as-of date: `x` repeat
purchases (purchase days after the first), `t_x` the age at the last purchase, `T` the
age at the as-of date (both from the first purchase). Fitted by maximum likelihood of the
published closed form with scipy; `p_alive` and `expected_purchases` are its conditional
expectations for a customer.

No maintained library does this with numpy 2 (`lifetimes` is archived; PyMC-Marketing
brings PyMC): the closed forms are a few lines, tested by recovering known parameters from
simulated customers (tests/unit/test_ml_bgnbd.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

ArrayLike = np.ndarray | list[float]


@dataclass(frozen=True)
class BgNbd:
    """Fitted BG/NBD parameters (rates per day)."""

    r: float
    alpha: float
    a: float
    b: float

    def p_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> np.ndarray:
        """P(alive at T | x, t_x, T): 1 for a customer with no repeat purchase yet."""
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        return 1.0 / (1.0 + self._dead_odds(x, t_x, T))

    def expected_purchases(self, t: float, x: ArrayLike, t_x: ArrayLike,
                           T: ArrayLike) -> np.ndarray:
        """E[purchases in (T, T + t] | x, t_x, T]."""
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
        head = (a + b + x - 1) / (a - 1)
        body = 1.0 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp
        return head * body / (1.0 + self._dead_odds(x, t_x, T))

    def _dead_odds(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        with np.errstate(divide="ignore", invalid="ignore"):
            odds = a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x)
        return np.where(x > 0, odds, 0.0)


class FitError(ValueError):
    """The likelihood could not be maximised (too few customers, or no repeat purchase)."""


def log_likelihood(params: ArrayLike, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
                   ) -> np.ndarray:
    """Each customer's log-likelihood under (r, alpha, a, b) (equation 6 of the paper)."""
    r, alpha, a, b = params
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = (special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b)
          - special.gammaln(a + b + x))
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300))
                      - (r + x) * np.log(alpha + t_x), -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


def fit(x: ArrayLike, t_x: ArrayLike, T: ArrayLike, *, weights: ArrayLike | None = None
        ) -> BgNbd:
    """Maximum-likelihood BG/NBD parameters of customers (x, t_x, T in days), optionally
    weighted (e.g. counts of identical rows). Optimised over the parameters' logarithms
    (all four are positive) by L-BFGS-B."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    if x.size < 10 or not np.any(x > 0):
        raise FitError(f"BG/NBD needs customers with repeat purchases; got {x.size} "
                       f"customer(s), {int(np.sum(x > 0))} with a repeat purchase")
    if np.any(t_x > T) or np.any(x < 0) or np.any((x == 0) & (t_x != 0)):
        raise FitError("BG/NBD statistics must satisfy x >= 0, 0 <= t_x <= T, t_x = 0 when "
                       "x = 0")
    scale = float(np.mean(T)) or 1.0  # a starting alpha of the data's time scale

    def objective(log_params: np.ndarray) -> float:
        value = -np.sum(w * log_likelihood(np.exp(log_params), x, t_x, T)) / np.sum(w)
        return float(value) if np.isfinite(value) else 1e12

    start = np.log([1.0, scale, 1.0, 1.0])
    result = optimize.minimize(objective, start, method="L-BFGS-B",
                               bounds=[(-12.0, 12.0)] * 4)
    if not np.isfinite(result.fun):
        raise FitError(f"BG/NBD likelihood did not converge: {result.message}")
    r, alpha, a, b = np.exp(result.x)
    return BgNbd(float(r), float(alpha), float(a), float(b))


def simulate(params: BgNbd, T: ArrayLike, *, seed: int = 0
             ) -> tuple[np.ndarray, np.ndarray]:
    """(x, t_x) of customers observed for T days each, drawn from the BG/NBD process: the
    ground truth of the parameter-recovery test."""
    rng = np.random.default_rng(seed)
    T = np.asarray(T, dtype=float)
    lam = rng.gamma(params.r, 1.0 / params.alpha, T.size)
    p = rng.beta(params.a, params.b, T.size)
    x, t_x = np.zeros(T.size), np.zeros(T.size)
    for i in range(T.size):
        now = 0.0
        while True:
            now += rng.exponential(1.0 / lam[i])
            if now > T[i]:
                break
            x[i], t_x[i] = x[i] + 1, now
            if rng.random() < p[i]:
                break
    return x, t_x
