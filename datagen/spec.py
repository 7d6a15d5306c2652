"""Generator parameters: frozen dataclasses shared by the API, the CLI and the project config.

Field names mirror the project's YAML section ``generator:`` (``format`` there is ``fmt`` here,
``dirt`` is a nested mapping with the :class:`DirtRates` field names).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date
from typing import Any

FORMATS = ("online_retail_ii", "online_retail")

# Line-level kinds, drawn exclusively per line in this order (see dirt.py); missing_customer,
# duplicate and blank_line are drawn separately (per invoice / per clean line / between lines).
LINE_KINDS = (
    "bad_date",
    "bad_number",
    "zero_price",
    "negative_price",
    "extra_fields",
    "missing_fields",
    "embedded_quote",
    "embedded_newline",
)


@dataclass(frozen=True)
class DirtRates:
    """Probabilities of each kind of bad (or awkward) row. Every line gets at most one kind.

    ``missing_customer`` is drawn per invoice (all lines of the invoice lose the id, as in the
    real file). ``duplicate`` is the probability that a clean line is written twice in a row.
    ``blank_line`` is the probability of an empty line after a record. The remaining kinds are
    per-line probabilities among lines that still have a customer. ``embedded_quote`` and
    ``embedded_newline`` produce VALID records (quoted fields with ``""`` / a line break).
    """

    duplicate: float = 0.005
    missing_customer: float = 0.10
    bad_date: float = 0.002
    bad_number: float = 0.002
    zero_price: float = 0.002
    negative_price: float = 0.001
    extra_fields: float = 0.001
    missing_fields: float = 0.001
    blank_line: float = 0.001
    embedded_quote: float = 0.002
    embedded_newline: float = 0.001

    @classmethod
    def none(cls) -> DirtRates:
        """All rates zero: a perfectly clean sample."""
        return cls(**{f.name: 0.0 for f in dataclasses.fields(cls)})

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"dirt rate {f.name} must be a number (got {value!r})")
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"dirt rate {f.name} must be between 0 and 1 (got {value})")
        total = sum(getattr(self, k) for k in LINE_KINDS)
        if total > 1.0:
            kinds = ", ".join(LINE_KINDS)
            raise ValueError(f"line-level dirt rates sum to {total:.3f} > 1 ({kinds})")


@dataclass(frozen=True)
class GeneratorSpec:
    """Everything that determines a generated sample (same spec => byte-identical files).

    ``rows`` and ``customers`` are totals for ``months`` months; internally the generator works
    with per-month densities (``rows / months`` lines per month, new customers per month chosen
    so that about ``customers`` distinct customers exist over the run). Set ``rows_per_month``
    and ``new_customers_per_month`` to fix the densities explicitly: runs with equal densities
    and seed produce identical month files for their common months (prefix stability).
    ``customers=None`` derives the customer density from the row density: about one customer
    per 170 rows in a one-year run, as in Online Retail II (and prefix-stable like ``rows``).
    """

    rows: int = 100_000
    customers: int | None = None
    months: int = 12
    start_date: date = date(2009, 12, 1)
    seed: int = 42
    fmt: str = "online_retail_ii"
    dirt: DirtRates = field(default_factory=DirtRates)
    drift_file_index: int | None = 1
    drift_column: str = "Channel"
    float_customer_id_rate: float = 0.02
    cancel_rate: float = 0.04
    products: int = 4000
    rows_per_month: float | None = None
    new_customers_per_month: float | None = None

    def __post_init__(self) -> None:
        _check_int("rows", self.rows, 1)
        if self.customers is not None:
            _check_int("customers", self.customers, 1)
        _check_int("months", self.months, 1)
        _check_int("seed", self.seed, 0)
        _check_int("products", self.products, 50, 50_000)
        if not isinstance(self.start_date, date):
            raise ValueError(f"start_date must be a date (got {self.start_date!r})")
        if self.start_date.year < 1971 or self.start_date.year > 2099:
            raise ValueError(f"start_date year must be 1971..2099 (got {self.start_date})")
        if self.fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)} (got {self.fmt!r})")
        if not isinstance(self.dirt, DirtRates):
            raise ValueError("dirt must be a DirtRates")
        if self.drift_file_index is not None:
            _check_int("drift_file_index", self.drift_file_index, 0)
        if not self.drift_column or not self.drift_column.replace("_", "").isalnum():
            raise ValueError(f"drift_column must be a plain identifier (got {self.drift_column!r})")
        for name in ("float_customer_id_rate", "cancel_rate"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1 (got {value!r})")
        for name in ("rows_per_month", "new_customers_per_month"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, float)) or value <= 0):
                raise ValueError(f"{name} must be a positive number (got {value!r})")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping using the YAML names (``format``, ISO ``start_date``)."""
        d = dataclasses.asdict(self)
        d["format"] = d.pop("fmt")
        d["start_date"] = self.start_date.isoformat()
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratorSpec:
        """Build a spec from a config mapping (YAML ``generator:`` section or manifest).

        Accepts ``format`` or ``fmt``, an ISO string for ``start_date`` and a nested ``dirt``
        mapping; unknown keys raise ``ValueError`` so typos in the config are not ignored.
        """
        d = dict(data)
        if "format" in d:
            d["fmt"] = d.pop("format")
        if isinstance(d.get("start_date"), str):
            try:
                d["start_date"] = date.fromisoformat(d["start_date"])
            except ValueError:
                raise ValueError(
                    f"start_date must be YYYY-MM-DD (got {d['start_date']!r})") from None
        if isinstance(d.get("dirt"), dict):
            unknown = set(d["dirt"]) - {f.name for f in dataclasses.fields(DirtRates)}
            if unknown:
                raise ValueError(f"unknown dirt rate(s): {', '.join(sorted(unknown))}")
            d["dirt"] = DirtRates(**d["dirt"])
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown generator option(s): {', '.join(sorted(unknown))}")
        return cls(**d)


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer (got {value!r})")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{name} must be {bound} (got {value})")
