"""One month of invoices: purchase times, baskets, quantities, prices and returns (vectorised)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from .catalog import BASKET_MEAN_EXTRA, BASKET_R, MAX_LINES, RETURN_LINE_P, Catalog
from .population import Population
from .timeaxis import MONTH, month_slots, stream

QTY_P = 0.55  # quantity = pack * Geometric(QTY_P) * customer multiplier
MAX_QTY = 12_000
DISCOUNT_P = 0.03  # occasional line sold below list price (returns keep the line's price)
DISCOUNT = 0.85
RETURN_WINDOW_SLOTS = 14 * 24  # returns happen within two weeks (and within the same month)
FULL_RETURN_P = 0.6  # otherwise part of the line's quantity comes back


@dataclass(frozen=True)
class Month:
    """Invoices sorted by time (invoice numbers increase with time) and their lines."""

    index: int
    inv_no: np.ndarray  # int64 invoice numbers
    inv_time: np.ndarray  # int64 minutes
    inv_cust: np.ndarray  # int64 index into the Population
    inv_cancel: np.ndarray  # bool, written as C<number> with negative quantities
    inv_origin: np.ndarray  # int64 position of the purchase a return refers to, else -1
    line_inv: np.ndarray  # int64 invoice position of each line (non-decreasing)
    line_prod: np.ndarray  # int64 product index
    line_qty: np.ndarray  # int64, negative on cancellations
    line_cents: np.ndarray  # int64 unit price in pence

    @property
    def n_lines(self) -> int:
        return len(self.line_inv)

    @property
    def n_invoices(self) -> int:
        return len(self.inv_no)


def _pick_slots(rng: np.random.Generator, cum0: np.ndarray, lo: np.ndarray,
                hi: np.ndarray) -> np.ndarray:
    """Hour slots in [lo, hi) drawn by intensity (inverse CDF; cum0 has a leading 0)."""
    u = cum0[lo] + rng.random(len(lo)) * (cum0[hi] - cum0[lo])
    return np.clip(np.searchsorted(cum0[1:], u, side="right"), lo, hi - 1)


def _first_occurrence(keys: np.ndarray) -> np.ndarray:
    """Mask keeping the first occurrence of each key, preserving the original order."""
    order = np.argsort(keys, kind="stable")
    repeat = np.zeros(len(keys), dtype=bool)
    repeat[order[1:]] = keys[order[1:]] == keys[order[:-1]]
    return ~repeat


def simulate_month(seed: int, start: date, m: int, pop: Population, catalog: Catalog,
                   cancel_rate: float, first_invoice: int) -> Month:
    """Simulate calendar month ``m``; invoices are numbered from ``first_invoice``.

    Uses only the stream (MONTH, m), the population and the catalog, so a month never depends
    on later months. Purchases fall strictly between a customer's join and latent churn time.
    """
    rng = stream(seed, MONTH, m)
    t0, w = month_slots(start, m)
    n_slots = len(w)
    cum0 = np.concatenate([[0.0], np.cumsum(w)])
    act = np.flatnonzero((pop.join < t0 + 60 * n_slots) & (pop.churn > t0))
    # Exposure in whole hour slots: from the first slot starting at/after joining up to (not
    # including) the slot holding the churn time, so no purchase can land after churn.
    s_a = np.clip(-((t0 - pop.join[act]) // 60), 0, n_slots)
    s_b = np.maximum(np.clip((pop.churn[act] - t0) // 60, 0, n_slots), s_a)
    n = rng.poisson(pop.rate[act] / 30.0 * (cum0[s_b] - cum0[s_a]))
    pos = np.repeat(np.arange(len(act)), n)
    slot = _pick_slots(rng, cum0, s_a[pos], s_b[pos])
    time = t0 + slot * 60 + rng.integers(0, 60, len(pos))
    # Customers who join this month buy at their join time: that purchase is their join date.
    new = np.flatnonzero(pop.arrived[act] & (pop.join[act] >= t0))
    pos = np.concatenate([pos, new])
    time = np.concatenate([time, pop.join[act[new]]])
    cust = act[pos]
    n_inv = len(time)

    size = np.minimum(1 + rng.negative_binomial(BASKET_R, BASKET_R / (BASKET_R + BASKET_MEAN_EXTRA),
                                                n_inv), MAX_LINES)
    line_inv = np.repeat(np.arange(n_inv, dtype=np.int64), size)
    prod = catalog.sample(rng, len(line_inv))
    # One line per product and invoice: keeps every clean line unique by (invoice, StockCode).
    keep = _first_occurrence(line_inv * len(catalog.codes) + prod)
    line_inv, prod = line_inv[keep], prod[keep]
    size = np.bincount(line_inv, minlength=n_inv)
    qty = np.minimum(catalog.pack[prod] * rng.geometric(QTY_P, len(prod))
                     * pop.qty_mult[cust[line_inv]], MAX_QTY)
    cents = catalog.price_cents[prod]
    cents = np.where(rng.random(len(prod)) < DISCOUNT_P,
                     np.maximum(1, np.round(cents * DISCOUNT)).astype(np.int64), cents)

    # Returns: a later C invoice of the same customer with some of the lines, same price.
    p_slot = (time - t0) // 60
    lo = p_slot + 1
    hi = np.maximum(np.minimum(p_slot + 1 + RETURN_WINDOW_SLOTS, s_b[pos]), lo)
    ret = np.flatnonzero((rng.random(n_inv) < cancel_rate) & (cum0[hi] > cum0[lo]))
    r_time = t0 + _pick_slots(rng, cum0, lo[ret], hi[ret]) * 60 + rng.integers(0, 60, len(ret))
    returned = np.zeros(n_inv, dtype=bool)
    returned[ret] = True
    line_sel = returned[line_inv] & (rng.random(len(line_inv)) < RETURN_LINE_P)
    has_line = np.bincount(line_inv[line_sel], minlength=n_inv) > 0
    line_sel[(np.cumsum(size) - size)[returned & ~has_line]] = True  # at least the first line
    rl = np.flatnonzero(line_sel)
    q = qty[rl]
    r_qty = -np.where(rng.random(len(rl)) < FULL_RETURN_P, q,
                      1 + (rng.random(len(rl)) * q).astype(np.int64))
    ret_pos = np.full(n_inv, -1, dtype=np.int64)
    ret_pos[ret] = n_inv + np.arange(len(ret))

    all_time = np.concatenate([time, r_time])
    all_cust = np.concatenate([cust, cust[ret]])
    order = np.lexsort((all_cust, all_time))  # by time, then customer; stable otherwise
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    l_inv = rank[np.concatenate([line_inv, ret_pos[line_inv[rl]]])]
    lorder = np.argsort(l_inv, kind="stable")  # group lines by new invoice, keep line order
    return Month(
        index=m,
        inv_no=first_invoice + np.arange(len(order), dtype=np.int64),
        inv_time=all_time[order],
        inv_cust=all_cust[order],
        inv_cancel=np.concatenate([np.zeros(n_inv, bool), np.ones(len(ret), bool)])[order],
        inv_origin=np.concatenate([np.full(n_inv, -1, np.int64), rank[ret]])[order],
        line_inv=l_inv[lorder],
        line_prod=np.concatenate([prod, prod[rl]])[lorder],
        line_qty=np.concatenate([qty, r_qty])[lorder],
        line_cents=np.concatenate([cents, cents[rl]])[lorder],
    )
