"""Product catalog: stock codes, upper-case names, stable prices, pack sizes, Zipf popularity."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .timeaxis import CATALOG, stream

# Basket (lines per invoice) before removing repeated products: 1 + NegBin, mean ~19, long tail.
BASKET_R = 1.3
BASKET_MEAN_EXTRA = 18.0
MAX_LINES = 250
# Zipf-like popularity p(rank) ~ (rank + q) ** -s: the top product gets well under 1 % of lines.
ZIPF_S = 0.9
ZIPF_Q = 20.0
RETURN_LINE_P = 0.35  # chance that each line of a returned invoice is part of the return

_PREFIX = ["", "", "", "SET OF 3 ", "SET OF 6 ", "PACK OF 12 ", "PACK OF 72 ", "JUMBO ", "MINI ",
           "LARGE ", "SMALL ", "VINTAGE ", "RETRO ", "HANGING ", "SET 2 "]
_STYLE = ["RED RETROSPOT", "WHITE", "PINK", "BLUE", "IVORY", "BLACK", "GREEN", "PANTRY",
          "WOODLAND", "SPACEBOY", "DOLLY GIRL", "PAISLEY", "POLKADOT", "HEART", "STAR", "BIRD",
          "ROSE", "REGENCY", "CHRISTMAS", "SKULL", "ALPHABET", "FLORAL", "LOVE", "GINGHAM",
          "STRAWBERRY", "CHERRY", "PARISIENNE", "ENGLISH ROSE", "SWEETHEART", "GARDEN", "PEACE",
          "JAM MAKING", "BAROQUE", "ANTIQUE SILVER", "GLASS", "ZINC", "WICKER", "ENAMEL",
          "FELTCRAFT", "LANTERN"]
_ITEM = ["T-LIGHT HOLDER", "CAKE CASES", "LUNCH BOX", "LUNCH BAG", "SHOPPER BAG", "MUG",
         "TEA TOWEL", "CANDLE", "NOTEBOOK", "PHOTO FRAME", "DOORMAT", "CUSHION COVER",
         "HOT WATER BOTTLE", "WALL CLOCK", "BUNTING", "PEG BAG", "STORAGE TIN", "TEACUP AND SAUCER",
         "CAKESTAND 3 TIER", "GIFT WRAP", "PENCILS", "CHILDRENS APRON", "WATER BOTTLE",
         "HANGING DECORATION", "TRINKET BOX", "STICKERS", "PARTY BAGS", "PAPER NAPKINS",
         "PAPER PLATES", "JAM JAR", "MILK JUG", "BISCUIT TIN", "COAT RACK", "KEY RING",
         "HAND WARMER", "NIGHT LIGHT", "ALARM CLOCK", "PICNIC BASKET", "RECIPE BOX", "SIGN",
         "WRAPPING PAPER", "CHOPSTICKS", "BAKING SET", "FRYING PAN", "PURSE", "UMBRELLA",
         "SNACK BOXES", "CHALKBOARD", "BELL", "WREATH", "ORNAMENT", "BOOKMARK", "PLASTERS IN TIN",
         "TISSUES", "MAGNETS", "PHOTO ALBUM", "SPONGE", "TRAY", "BOWL", "PLATE"]
# About 3 % of products have commas in their names, like "SET 3 RETROSPOT TEA,COFFEE,SUGAR".
_COMMA_ITEM = ["TEA,COFFEE,SUGAR", "KNIFE,FORK,SPOON", "SALT,PEPPER,VINEGAR", "BOWL,PLATE,CUP",
               "PEN,PENCIL,RULER", "HAT,SCARF,GLOVES"]
_COMMA_SUFFIX = [", LARGE", ", SMALL", ", ASSORTED", ", 2 COLOURS"]
_PACKS = np.array([1, 2, 3, 4, 6, 12, 24])


@dataclass(frozen=True)
class Catalog:
    """Products in index order; ``field`` is the ready-to-write ``StockCode,Description`` pair."""

    codes: list[str]
    descriptions: list[str]
    field: np.ndarray  # object array of str
    has_comma: np.ndarray  # bool: description contains a comma (written quoted)
    price_cents: np.ndarray  # int64, stable list price
    pack: np.ndarray  # int64, typical multiple of the quantity
    cum_prob: np.ndarray  # float64 cumulative popularity

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` product indices drawn by popularity (inverse CDF, vectorised)."""
        idx = np.searchsorted(self.cum_prob, rng.random(n) * self.cum_prob[-1], side="right")
        return np.minimum(idx, len(self.codes) - 1)


def csv_field(value: str) -> str:
    """Quote a CSV field if needed (RFC 4180: commas, quotes, line breaks; quotes doubled)."""
    if any(c in value for c in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def build_catalog(seed: int, n: int) -> Catalog:
    """Deterministic catalog of ``n`` products for ``seed`` (independent of the run length)."""
    rng = stream(seed, CATALOG)
    names: list[str] = []
    seen: set[str] = set()
    draws = 0
    while len(names) < n:
        draws += 1
        # Python-level loop is fine: a few thousand products, done once per run.
        style = _STYLE[rng.integers(len(_STYLE))]
        item = _ITEM[rng.integers(len(_ITEM))]
        form = rng.random()
        if form < 0.015:
            name = f"SET 3 {style} {_COMMA_ITEM[rng.integers(len(_COMMA_ITEM))]}"
        elif form < 0.03:
            name = f"{style} {item}{_COMMA_SUFFIX[rng.integers(len(_COMMA_SUFFIX))]}"
        else:
            name = f"{_PREFIX[rng.integers(len(_PREFIX))]}{style} {item}"
        if name in seen and draws > 4 * n:
            name = f"{name} DESIGN {len(names)}"  # combinations running out: force uniqueness
        if name not in seen:
            seen.add(name)
            names.append(name)
    base = rng.choice(np.arange(10_000, 90_000), size=n, replace=False)
    suffix = np.where(rng.random(n) < 0.2, rng.integers(0, 6, n), -1)
    codes = [f"{b}{'ABCDEF'[s] if s >= 0 else ''}"
             for b, s in zip(base.tolist(), suffix.tolist(), strict=True)]
    # Log-normal list prices around 2.50 snapped to 5 pence; cheap items come in bigger packs.
    cents = np.clip(np.round(np.exp(rng.normal(math.log(250), 0.85, n)) / 5) * 5, 10, 50_000)
    cents = cents.astype(np.int64)
    cheap = cents < 100
    pack = np.where(cheap, rng.choice(_PACKS[3:], n, p=[0.2, 0.3, 0.3, 0.2]),
                    rng.choice(_PACKS[:6], n, p=[0.45, 0.15, 0.05, 0.1, 0.15, 0.1]))
    rank = rng.permutation(n)  # popularity rank of each product, unrelated to its code
    prob = (rank + 1 + ZIPF_Q) ** -ZIPF_S
    field_ = np.array([f"{c},{csv_field(d)}" for c, d in zip(codes, names, strict=True)],
                      dtype=object)
    return Catalog(codes, names, field_, np.array(["," in d for d in names]),
                   cents, pack.astype(np.int64), np.cumsum(prob / prob.sum()))


def basket_pmf() -> np.ndarray:
    """P(L = l) for l = 0..MAX_LINES of the drawn basket size L = min(1 + NegBin, MAX_LINES)."""
    p = BASKET_R / (BASKET_R + BASKET_MEAN_EXTRA)
    k = np.arange(MAX_LINES)
    logpmf = np.array([math.lgamma(x + BASKET_R) - math.lgamma(BASKET_R) - math.lgamma(x + 1)
                       for x in k.tolist()]) + BASKET_R * math.log(p) + k * math.log1p(-p)
    pmf = np.zeros(MAX_LINES + 1)
    pmf[1:] = np.exp(logpmf)
    pmf[MAX_LINES] += max(0.0, 1.0 - pmf.sum())
    return pmf


def expected_lines(catalog: Catalog) -> tuple[float, float]:
    """Expected distinct lines of a purchase invoice and of a return invoice.

    A basket of L draws holds sum_j 1 - (1 - p_j)^L distinct products; a return keeps each line
    with probability RETURN_LINE_P but at least one. Used to calibrate purchase rates to rows.
    """
    p = np.diff(catalog.cum_prob, prepend=0.0)
    pmf = basket_pmf()
    sizes = np.arange(MAX_LINES + 1)
    log_q = np.log1p(-np.minimum(p, 1 - 1e-12))
    distinct = np.array([np.sum(-np.expm1(log_q * s)) for s in sizes.tolist()])
    lines = float(np.dot(pmf, distinct))
    ret = float(np.dot(pmf[1:], RETURN_LINE_P * distinct[1:] + (1 - RETURN_LINE_P) ** distinct[1:]))
    return lines, ret
