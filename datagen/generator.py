"""Orchestration: generate a sample month by month, extend it, and keep the manifest.

Prefix stability: month m is a function of (seed, per-month densities, m, the invoice number
it starts at) only -- the population is built from one random stream per join month, each
month's invoices and dirt from their own streams. So the first N files of a run of N+k months
equal the files of a run of N months with the same densities, and :func:`extend` (which keeps
the densities and the next invoice number in the manifest) writes exactly the files a fresh
run with more months would have written.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .catalog import Catalog, build_catalog, expected_lines
from .dirt import assign_dirt, count_month
from .population import build_population, mean_alive_months, write_customers
from .simulate import simulate_month
from .spec import GeneratorSpec
from .timeaxis import month_start, period_end
from .writer import HEADERS, file_name, write_month

MANIFEST = "manifest.json"
CUSTOMERS = "customers.csv"
MANIFEST_VERSION = 1
FIRST_INVOICE = 489_434  # first invoice number of Online Retail II
ROWS_PER_CUSTOMER_YEAR = 170  # Online Retail II: ~1M lines, ~5.9k customers (2 years)
NOTES = {
    "records": "CSV records: a quoted field with an embedded newline is one record; blank lines "
               "and the header are not records; duplicate copies are records",
    "expected_clean_rows": "well-formed (field count = header), Customer ID present, parseable "
                           "date and numbers, Price > 0 or cancellation; one per duplicate group",
    "expected_duplicates": "extra verbatim copies of clean lines (right after the original)",
    "expected_rejected": "every other record; records = clean + duplicates + rejected",
    "customer_id_float_format": "valid lines whose Customer ID is written like 12345.0",
    "rows_with_quoted_comma": "valid or not, records with a field containing a comma (quoted)",
    "truth": "customers.csv: churn_date is the last day a customer can buy; empty if active",
}


@dataclass(frozen=True)
class _Context:
    spec: GeneratorSpec
    catalog: Catalog
    rows_per_month: float
    new_customers_per_month: float
    lines_per_invoice: float
    purchase_invoices_per_month: float


def _context(spec: GeneratorSpec) -> _Context:
    catalog = build_catalog(spec.seed, spec.products)
    lines, ret_lines = expected_lines(catalog)
    rpm = spec.rows_per_month or spec.rows / spec.months
    if spec.new_customers_per_month:
        a = spec.new_customers_per_month
    elif spec.customers is not None:  # ~customers distinct: the base at start plus arrivals
        a = spec.customers / (spec.months + mean_alive_months())
    else:  # from the row density alone, so that rows/months fixes everything
        a = max(rpm * 12 / ROWS_PER_CUSTOMER_YEAR / (12 + mean_alive_months()), 0.2)
    return _Context(spec, catalog, rpm, a, lines, rpm / (lines + spec.cancel_rate * ret_lines))


def first_invoice_number(ctx: _Context) -> int:
    """First invoice number: Online Retail II's 489434 if two years of invoices stay 6-digit.

    Bigger samples start at 100000 (room for ~900k invoices, ~16M lines). Depends only on the
    density, never on the number of months, to keep prefix stability.
    """
    two_years = 24 * ctx.rows_per_month / ctx.lines_per_invoice
    return FIRST_INVOICE if FIRST_INVOICE + two_years < 1_000_000 else 100_000


def _write_months(ctx: _Context, landing: Path, months: range, first_invoice: int):
    """Simulate, dirty and write ``months``; returns (file entries, next invoice, population)."""
    spec = ctx.spec
    pop = build_population(spec.seed, spec.start_date, months.stop, ctx.new_customers_per_month,
                           ctx.purchase_invoices_per_month)
    entries = []
    for m in months:
        month = simulate_month(spec.seed, spec.start_date, m, pop, ctx.catalog, spec.cancel_rate,
                               first_invoice)
        drift = spec.drift_file_index == m
        dirt = assign_dirt(spec, month, drift)
        path = landing / file_name(spec.start_date, m)
        entry = {"file": path.name, "month": str(month_start(spec.start_date, m)),
                 "columns": list(HEADERS[spec.fmt]) + ([spec.drift_column] if drift else []),
                 "extra_column": spec.drift_column if drift else None}
        entry.update(count_month(month, dirt, ctx.catalog))
        entry["first_invoice"] = first_invoice
        entry["last_invoice"] = first_invoice + month.n_invoices - 1
        entry.update(write_month(path, month, dirt, ctx.catalog, pop, spec.fmt,
                                 spec.drift_column if drift else None))
        entries.append(entry)
        first_invoice += month.n_invoices
    return entries, first_invoice, pop


def _totals(entries: list[dict]) -> dict:
    totals: dict = {"files": len(entries)}
    for e in entries:
        for key, value in e.items():
            if isinstance(value, dict):
                sub = totals.setdefault(key, {})
                for k, v in value.items():
                    sub[k] = sub.get(k, 0) + v
            elif type(value) is int and key not in ("first_invoice", "last_invoice"):
                totals[key] = totals.get(key, 0) + value
    return totals


def _finish(ctx: _Context, truth: Path, entries: list[dict], next_invoice: int, pop) -> dict:
    spec = ctx.spec
    end = period_end(spec.start_date, spec.months)
    n_customers = write_customers(truth / CUSTOMERS, pop, end)
    in_run = pop.join < end
    drift = next((e for e in entries if e["extra_column"]), None)
    manifest = {
        "generator": "datagen",
        "manifest_version": MANIFEST_VERSION,
        "seed": spec.seed,
        "format": spec.fmt,
        "parameters": spec.to_dict(),
        "derived": {
            "rows_per_month": ctx.rows_per_month,
            "new_customers_per_month": ctx.new_customers_per_month,
            "purchase_rate_scale": pop.theta,
            "mean_alive_months": mean_alive_months(),
            "expected_lines_per_invoice": ctx.lines_per_invoice,
        },
        "period": {"start": spec.start_date.isoformat(),
                   "end_exclusive": str(np.datetime64(end, "m").astype("datetime64[D]")),
                   "months": spec.months},
        "truth": {"customers_file": CUSTOMERS, "customers": n_customers,
                  "churned": int((in_run & (pop.churn < end)).sum())},
        "drift": {"file": drift["file"], "column": drift["extra_column"]} if drift else None,
        "files": entries,
        "totals": _totals(entries),
        "state": {"next_invoice": next_invoice},
        "notes": NOTES,
    }
    (truth / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _prepare_dirs(landing: Path, truth: Path) -> None:
    landing, truth = Path(landing), Path(truth)
    if landing.resolve() == truth.resolve() or landing.resolve() in truth.resolve().parents:
        raise ValueError("the truth folder must be separate from (and not inside) the landing "
                         "folder")
    landing.mkdir(parents=True, exist_ok=True)
    truth.mkdir(parents=True, exist_ok=True)


def generate(spec: GeneratorSpec, landing_dir: Path, truth_dir: Path, *,
             overwrite: bool = False) -> dict:
    """Write ``spec.months`` month files to ``landing_dir`` and the truth to ``truth_dir``.

    Refuses (FileExistsError) if ``landing_dir`` already holds CSV files unless ``overwrite``,
    which deletes earlier ``online_retail_*.csv`` files first. Returns the manifest.
    """
    landing, truth = Path(landing_dir), Path(truth_dir)
    _prepare_dirs(landing, truth)
    existing = sorted(landing.glob("*.csv"))
    if existing and not overwrite:
        raise FileExistsError(f"landing folder {landing} already has {len(existing)} CSV file(s) "
                              f"(e.g. {existing[0].name}); use --force / overwrite=True")
    for p in landing.glob("online_retail_*.csv"):
        p.unlink()
    ctx = _context(spec)
    entries, next_invoice, pop = _write_months(ctx, landing, range(spec.months),
                                               first_invoice_number(ctx))
    return _finish(ctx, truth, entries, next_invoice, pop)


def load_manifest(truth_dir: Path) -> dict:
    """Read ``manifest.json`` from a truth folder."""
    path = Path(truth_dir) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"no {MANIFEST} in {truth_dir}: generate a sample first")
    return json.loads(path.read_text(encoding="utf-8"))


def extend(landing_dir: Path, truth_dir: Path, months: int = 1, *, overwrite: bool = False) -> dict:
    """Append ``months`` month files to an existing sample and update truth and manifest.

    Same customers, rates and latent churn times as the original run (they are re-derived from
    the stored seed and densities); earlier files are neither read nor touched, so they may
    already have been moved away by the pipeline. Returns the updated manifest.
    """
    if isinstance(months, bool) or not isinstance(months, int) or months < 1:
        raise ValueError(f"months to extend by must be an integer >= 1 (got {months!r})")
    landing, truth = Path(landing_dir), Path(truth_dir)
    old = load_manifest(truth)
    if old.get("manifest_version") != MANIFEST_VERSION:
        raise ValueError(f"unsupported manifest version {old.get('manifest_version')!r}")
    _prepare_dirs(landing, truth)
    base = GeneratorSpec.from_dict(old["parameters"])
    d = old["derived"]
    total = base.months + months
    spec = dataclasses.replace(
        base, months=total, rows_per_month=d["rows_per_month"],
        new_customers_per_month=d["new_customers_per_month"],
        rows=max(1, round(d["rows_per_month"] * total)),
        customers=max(1, round(d["new_customers_per_month"] * (total + mean_alive_months()))))
    new = range(base.months, total)
    clash = [file_name(spec.start_date, m) for m in new
             if (landing / file_name(spec.start_date, m)).exists()]
    if clash and not overwrite:
        raise FileExistsError(f"{clash[0]} already exists in {landing}; "
                              "use --force / overwrite=True")
    ctx = _context(spec)
    entries, next_invoice, pop = _write_months(ctx, landing, new, old["state"]["next_invoice"])
    return _finish(ctx, truth, old["files"] + entries, next_invoice, pop)

