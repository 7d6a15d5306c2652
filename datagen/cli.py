"""Command line: ``python -m datagen --landing DIR --truth DIR [options]``.

``main(argv, defaults, landing, truth)`` lets the project feed defaults from its config file;
flags given on the command line override them.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from .generator import extend, generate
from .spec import FORMATS, DirtRates, GeneratorSpec

_RATE_HELP = {
    "duplicate": "probability that a clean line is written twice in a row",
    "missing_customer": "probability that an invoice has no Customer ID (all its lines)",
    "bad_date": "lines with an unparseable InvoiceDate",
    "bad_number": "lines with a non-numeric Quantity or Price",
    "zero_price": "non-cancellation lines with Price 0.00",
    "negative_price": "non-cancellation lines with a negative Price",
    "extra_fields": "lines with too many fields (unquoted comma)",
    "missing_fields": "lines with too few fields (truncated)",
    "blank_line": "probability of a blank line after a record",
    "embedded_quote": "VALID lines whose Description has escaped double quotes",
    "embedded_newline": "VALID lines whose Description has an embedded newline",
}


def _count(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {value}")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"rate must be between 0 and 1: {value}")
    return value


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date in YYYY-MM-DD form: {text!r}") from None


def build_parser(defaults: GeneratorSpec) -> argparse.ArgumentParser:
    """Argument parser; every generation option defaults to None = keep ``defaults``."""
    p = argparse.ArgumentParser(
        prog="python -m datagen",
        description="Generate Online Retail (II) style transaction CSVs (one file per month) "
                    "with ground truth (customers.csv, manifest.json) and exactly counted dirt.",
        epilog="Defaults in [brackets] come from the caller (project config) or are built in. "
               "See datagen/README.md for the data model and the manifest.")
    p.add_argument("--landing", type=Path, metavar="DIR",
                   help="folder for the CSV files (created if missing)")
    p.add_argument("--truth", type=Path, metavar="DIR",
                   help="separate folder for customers.csv and manifest.json")
    g = p.add_argument_group("size and shape (defaults from the config or built in)")
    g.add_argument("--rows", type=_count, metavar="N",
                   help=f"about this many lines in total [{defaults.rows}]")
    g.add_argument("--customers", type=_count, metavar="N",
                   help="about this many distinct customers "
                        f"[{defaults.customers or 'rows/170 for a one-year run'}]")
    g.add_argument("--months", type=_count, metavar="N",
                   help=f"number of monthly files [{defaults.months}]")
    g.add_argument("--start-date", type=_date, metavar="YYYY-MM-DD",
                   help=f"first day [{defaults.start_date}]")
    g.add_argument("--seed", type=_count, metavar="N", help=f"random seed [{defaults.seed}]")
    g.add_argument("--format", choices=FORMATS,
                   help=f"online_retail_ii (yyyy-MM-dd HH:mm:ss) or the older online_retail "
                        f"(InvoiceNo/UnitPrice/CustomerID, M/d/yy H:mm) [{defaults.fmt}]")
    g.add_argument("--products", type=_count, metavar="N",
                   help=f"catalog size [{defaults.products}]")
    g.add_argument("--cancel-rate", type=_rate, metavar="P",
                   help="share of invoices later partly returned (C invoices) "
                        f"[{defaults.cancel_rate}]")
    g.add_argument("--float-customer-id-rate", type=_rate, metavar="P",
                   help=f"share of clean lines with Customer ID like 12345.0 (valid) "
                        f"[{defaults.float_customer_id_rate}]")
    g.add_argument("--drift-file-index", type=_count, metavar="N",
                   help="0-based month whose file gets an extra column "
                        f"[{defaults.drift_file_index}]")
    g.add_argument("--no-drift", action="store_true", help="no schema-drift file")
    g.add_argument("--drift-column", metavar="NAME",
                   help=f"name of the extra column [{defaults.drift_column}]")
    d = p.add_argument_group("dirt rates (each line gets at most one kind)")
    for name, text in _RATE_HELP.items():
        d.add_argument(f"--{name.replace('_', '-')}-rate", dest=name, type=_rate, metavar="P",
                       help=f"{text} [{getattr(defaults.dirt, name)}]")
    d.add_argument("--clean", action="store_true",
                   help="no dirt at all: all rates 0, no drift file, no float ids "
                        "(explicit rate flags still apply)")
    r = p.add_argument_group("run")
    r.add_argument("--force", action="store_true",
                   help="overwrite: delete earlier online_retail_*.csv files in the landing folder")
    r.add_argument("--extend-months", type=_count, metavar="N",
                   help="append N months to the sample in --landing/--truth (parameters come "
                        "from the manifest; only the new files are written)")
    r.add_argument("--if-empty", action="store_true",
                   help="do nothing (exit 0) if the landing folder already has CSV files")
    r.add_argument("--quiet", action="store_true", help="no summary line")
    return p


_SPEC_FLAGS = {"rows": "rows", "customers": "customers", "months": "months",
               "start_date": "start_date", "seed": "seed", "format": "fmt", "products": "products",
               "cancel_rate": "cancel_rate", "float_customer_id_rate": "float_customer_id_rate",
               "drift_file_index": "drift_file_index", "drift_column": "drift_column"}


def _spec_from_args(args: argparse.Namespace, defaults: GeneratorSpec) -> GeneratorSpec:
    changes = {field: getattr(args, flag) for flag, field in _SPEC_FLAGS.items()
               if getattr(args, flag) is not None}
    # --clean first, explicit flags on top of it
    dirt = DirtRates.none() if args.clean else defaults.dirt
    if args.clean:
        changes.setdefault("float_customer_id_rate", 0.0)
        changes.setdefault("drift_file_index", None)
    if args.no_drift:
        changes["drift_file_index"] = None
    rates = {k: getattr(args, k) for k in _RATE_HELP if getattr(args, k) is not None}
    changes["dirt"] = dataclasses.replace(dirt, **rates)
    return dataclasses.replace(defaults, **changes)


def main(argv: list[str] | None = None, defaults: GeneratorSpec | None = None,
         landing: Path | None = None, truth: Path | None = None,
         has_input: Callable[[Path], bool] | None = None) -> int:
    """Run the CLI; returns 0 on success, exits with status 2 and a message on bad input."""
    defaults = defaults or GeneratorSpec()
    parser = build_parser(defaults)
    args = parser.parse_args(argv)
    landing = args.landing or landing
    truth = args.truth or truth
    if landing is None or truth is None:
        parser.error("--landing and --truth are required")
    has_input = has_input or (lambda folder: any(Path(folder).glob("*.csv")))
    if args.if_empty and args.extend_months is None and has_input(Path(landing)):
        if not args.quiet:
            print(f"datagen: {landing} already has CSV files; nothing to do")
        return 0
    began = time.perf_counter()
    try:
        if args.extend_months is not None:
            given = [f for f in (*_SPEC_FLAGS, *_RATE_HELP) if getattr(args, f) is not None]
            if given or args.clean or args.no_drift:
                parser.error("--extend-months takes all parameters from the manifest; "
                             "drop the other generation options")
            if args.extend_months < 1:
                parser.error("--extend-months must be >= 1")
            manifest = extend(landing, truth, args.extend_months, overwrite=args.force)
            new = manifest["files"][-args.extend_months:]
        else:
            spec = _spec_from_args(args, defaults)
            manifest = generate(spec, landing, truth, overwrite=args.force)
            new = manifest["files"]
    except (ValueError, FileExistsError, FileNotFoundError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    if not args.quiet:
        records = sum(e["records"] for e in new)
        print(f"datagen: wrote {len(new)} file(s), {records:,} records "
              f"({sum(e['bytes'] for e in new) / 1e6:,.1f} MB) to {landing} in "
              f"{time.perf_counter() - began:.1f} s; truth in {truth}", file=sys.stdout)
    return 0
