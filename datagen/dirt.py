"""Dirt injection: which lines go bad and how, and the exact counts for the manifest.

Every line gets at most one kind, drawn from its own random stream (DIRT, month) so dirt rates
never change the underlying clean transactions. Codes index KIND_NAMES.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .catalog import Catalog
from .simulate import Month
from .spec import LINE_KINDS, GeneratorSpec
from .timeaxis import DIRT, stream

KIND_NAMES = ("clean", "missing_customer", *LINE_KINDS)
(CLEAN, MISSING_CUSTOMER, BAD_DATE, BAD_NUMBER, ZERO_PRICE, NEGATIVE_PRICE, EXTRA_FIELDS,
 MISSING_FIELDS, EMBEDDED_QUOTE, EMBEDDED_NEWLINE) = range(len(KIND_NAMES))
REJECTED_KINDS = KIND_NAMES[MISSING_CUSTOMER:EMBEDDED_QUOTE]
N_VARIANTS = 6  # how a kind shows up, interpreted by writer.py
COMMA_NUMBER_VARIANTS = (1, 4)  # bad_number written as a quoted decimal comma, e.g. "1,5"
CHANNELS = ("web", "store", "phone")


@dataclass(frozen=True)
class Dirt:
    """Per-line kind/variant and flags; per-invoice missing customer and drift channel."""

    kind: np.ndarray  # int8 code per line
    variant: np.ndarray  # int8 in [0, N_VARIANTS)
    dup: np.ndarray  # bool: write the (clean) line twice in a row
    blank: np.ndarray  # bool: blank line after the record
    float_id: np.ndarray  # bool: Customer ID written as 12345.0 (valid)
    inv_missing: np.ndarray  # bool per invoice: empty Customer ID on all its lines
    channel: np.ndarray | None  # int8 per invoice for the schema-drift file, else None


def assign_dirt(spec: GeneratorSpec, month: Month, drift: bool) -> Dirt:
    """Draw the dirt of one month (deterministic for seed and month index)."""
    rng = stream(spec.seed, DIRT, month.index)
    r = spec.dirt
    n = month.n_lines
    inv_missing = rng.random(month.n_invoices) < r.missing_customer
    # A return of an anonymous (guest) purchase is anonymous too.
    is_return = month.inv_origin >= 0
    inv_missing[is_return] = inv_missing[month.inv_origin[is_return]]
    thresholds = np.cumsum([getattr(r, k) for k in LINE_KINDS])
    k = np.searchsorted(thresholds, rng.random(n), side="right")
    kind = np.where(k < len(LINE_KINDS), k + BAD_DATE, CLEAN).astype(np.int8)
    # Zero/negative prices are only dirt outside cancellations; leave cancellations clean.
    cancel = month.inv_cancel[month.line_inv]
    kind[((kind == ZERO_PRICE) | (kind == NEGATIVE_PRICE)) & cancel] = CLEAN
    kind[inv_missing[month.line_inv]] = MISSING_CUSTOMER
    variant = rng.integers(0, N_VARIANTS, n).astype(np.int8)
    valid = (kind == CLEAN) | (kind == EMBEDDED_QUOTE) | (kind == EMBEDDED_NEWLINE)
    float_id = valid & (rng.random(n) < spec.float_customer_id_rate)
    dup = valid & (rng.random(n) < r.duplicate)  # only clean lines are ever duplicated
    blank = rng.random(n) < r.blank_line
    if n:
        blank[-1] = False  # blank lines only between records
    channel = rng.integers(0, len(CHANNELS), month.n_invoices).astype(np.int8) if drift else None
    return Dirt(kind, variant, dup, blank, float_id, inv_missing, channel)


def count_month(month: Month, dirt: Dirt, catalog: Catalog) -> dict:
    """Exact record-level counts of one file (duplicate copies included where they occur)."""
    copies = 1 + dirt.dup.astype(np.int64)

    def records(mask: np.ndarray) -> int:
        return int(np.dot(mask.astype(np.int64), copies))

    kinds = np.bincount(dirt.kind, minlength=len(KIND_NAMES))
    duplicates = int(dirt.dup.sum())
    rejected = int(sum(kinds[KIND_NAMES.index(k)] for k in REJECTED_KINDS))
    comma = catalog.has_comma[month.line_prod] | (
        (dirt.kind == BAD_NUMBER) & np.isin(dirt.variant, COMMA_NUMBER_VARIANTS))
    newline_rows = records(dirt.kind == EMBEDDED_NEWLINE)
    blank = int(dirt.blank.sum())
    return {
        "records": month.n_lines + duplicates,
        "blank_lines": blank,
        # header + records + one extra line per embedded newline + blank lines
        "physical_lines": 1 + month.n_lines + duplicates + newline_rows + blank,
        "invoices": month.n_invoices,
        "cancellation_invoices": int(month.inv_cancel.sum()),
        "dirt": {"duplicate": duplicates, "blank_line": blank,
                 **{k: int(kinds[KIND_NAMES.index(k)]) for k in REJECTED_KINDS}},
        "cancellations": records(month.inv_cancel[month.line_inv]),
        "customer_id_float_format": records(dirt.float_id),
        "rows_with_quoted_comma": records(comma),
        "rows_with_quoted_quote": records(dirt.kind == EMBEDDED_QUOTE),
        "rows_with_embedded_newline": newline_rows,
        "expected_clean_rows": month.n_lines - rejected,
        "expected_duplicates": duplicates,
        "expected_rejected": rejected,
    }
