"""The generated files, parsed independently with the csv module, match format and manifest."""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest

from datagen import DirtRates, GeneratorSpec, generate

HEADER_II = ["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price",
             "Customer ID", "Country"]
HEADER_OLD = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
              "CustomerID", "Country"]
DATE_FORMATS = {"online_retail_ii": "%Y-%m-%d %H:%M:%S", "online_retail": "%m/%d/%y %H:%M"}
REJECTED = ("missing_customer", "bad_date", "bad_number", "zero_price", "negative_price",
            "extra_fields", "missing_fields")
# Raised rates so that every kind occurs in a small sample.
NOISY = DirtRates(duplicate=0.02, missing_customer=0.08, bad_date=0.01, bad_number=0.01,
                  zero_price=0.01, negative_price=0.01, extra_fields=0.01, missing_fields=0.01,
                  blank_line=0.01, embedded_quote=0.01, embedded_newline=0.01)
SPEC = GeneratorSpec(rows=24_000, customers=300, months=3, start_date=date(2010, 11, 1), seed=7,
                     dirt=NOISY, float_customer_id_rate=0.05)


def parse_date(text: str, fmt: str) -> datetime | None:
    try:
        return datetime.strptime(text, DATE_FORMATS[fmt])
    except ValueError:
        return None


def defects(row: list[str], width: int, fmt: str) -> list[str]:
    """Every way a record violates the obvious cleaning rules (no generator code involved)."""
    if len(row) < width:
        return ["missing_fields"]
    if len(row) > width:
        return ["extra_fields"]
    inv, _, _, qty, when, price, cust = row[:7]
    found = []
    if parse_date(when, fmt) is None:
        found.append("bad_date")
    try:
        quantity, amount = int(qty), float(price)
    except ValueError:
        found.append("bad_number")
        quantity = amount = None
    if cust == "":
        found.append("missing_customer")
    if amount is not None and not inv.startswith("C"):
        if amount == 0:
            found.append("zero_price")
        elif amount < 0:
            found.append("negative_price")
    if quantity is not None and amount is not None and not found:
        # A clean line must look exactly like the documented format.
        assert re.fullmatch(r"C?\d{6}", inv), row
        assert re.fullmatch(r"\d{5}[A-F]?", row[1]), row
        assert row[2] and row[2] == row[2].upper(), row
        assert (quantity < 0) == inv.startswith("C") and quantity != 0, row
        assert re.fullmatch(r"\d+\.\d{2}", price) and amount > 0, row
        assert re.fullmatch(r"\d{5}(\.0)?", cust), row
        assert re.fullmatch(r"[A-Za-z ]+", row[7]), row
    return found


def audit(path: Path, fmt: str) -> dict:
    """Count everything the manifest claims, from the file alone."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    raw = path.read_bytes()
    header, body = rows[0], rows[1:]
    width = len(header)
    c: Counter = Counter()
    seen: set[tuple[str, ...]] = set()
    previous = None
    for row in body:
        if row == []:
            c["blank_lines"] += 1
            continue
        c["records"] += 1
        key = tuple(row)
        if key == previous:
            c["duplicate"] += 1
            assert defects(row, width, fmt) == [], f"duplicate of a dirty line: {row}"
            continue
        assert key not in seen, f"accidental duplicate: {row}"
        seen.add(key)
        previous = key
        found = defects(row, width, fmt)
        assert len(found) <= 1, f"more than one dirt kind: {found} {row}"
        c[found[0] if found else "clean"] += 1
    for row in body:
        if row:
            c["cancellations"] += row[0].startswith("C")
            c["comma"] += any("," in f for f in row)
            c["quote"] += any('"' in f for f in row)
            c["newline"] += any("\n" in f for f in row)
            c["float_id"] += len(row) >= 7 and bool(re.fullmatch(r"\d+\.0", row[6]))
    return {"header": header, "counts": c, "physical_lines": raw.count(b"\n"),
            "records": [r for r in body if r]}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    root = tmp_path_factory.mktemp("sample")
    manifest = generate(SPEC, root / "landing", root / "truth")
    return manifest, root


def test_files_and_header(sample):
    manifest, root = sample
    names = sorted(p.name for p in (root / "landing").iterdir())
    assert names == ["online_retail_2010_11.csv", "online_retail_2010_12.csv",
                     "online_retail_2011_01.csv"]
    assert [e["file"] for e in manifest["files"]] == names
    assert not list((root / "landing").glob("*.json"))  # truth never lands in landing
    for entry in manifest["files"]:
        header = audit(root / "landing" / entry["file"], "online_retail_ii")["header"]
        expected = HEADER_II + (["Channel"] if entry["file"].endswith("2010_12.csv") else [])
        assert header == expected


def test_every_count_matches_manifest(sample):
    manifest, root = sample
    totals: Counter = Counter()
    for entry in manifest["files"]:
        got = audit(root / "landing" / entry["file"], "online_retail_ii")
        c = got["counts"]
        totals.update(c)
        assert c["records"] == entry["records"]
        assert c["blank_lines"] == entry["blank_lines"] == entry["dirt"]["blank_line"]
        assert got["physical_lines"] == entry["physical_lines"]
        for kind in REJECTED:
            assert c[kind] == entry["dirt"][kind], kind
        assert c["duplicate"] == entry["dirt"]["duplicate"] == entry["expected_duplicates"]
        assert c["clean"] == entry["expected_clean_rows"]
        assert sum(c[k] for k in REJECTED) == entry["expected_rejected"]
        assert c["cancellations"] == entry["cancellations"]
        assert c["float_id"] == entry["customer_id_float_format"]
        assert c["comma"] == entry["rows_with_quoted_comma"]
        assert c["quote"] == entry["rows_with_quoted_quote"]
        assert c["newline"] == entry["rows_with_embedded_newline"]
        assert entry["records"] == (entry["expected_clean_rows"] + entry["expected_duplicates"]
                                    + entry["expected_rejected"])
    t = manifest["totals"]
    assert t["records"] == totals["records"] == sum(e["records"] for e in manifest["files"])
    assert t["records"] == (t["expected_clean_rows"] + t["expected_duplicates"]
                            + t["expected_rejected"])
    # With these rates every kind must actually occur, or the test proves nothing.
    for kind in (*REJECTED, "duplicate", "blank_lines", "cancellations", "float_id", "comma",
                 "quote", "newline"):
        assert totals[kind] > 0, kind
    assert 0.05 < totals["missing_customer"] / totals["records"] < 0.12


def test_drift_file(sample):
    manifest, root = sample
    assert manifest["drift"] == {"file": "online_retail_2010_12.csv", "column": "Channel"}
    got = audit(root / "landing" / "online_retail_2010_12.csv", "online_retail_ii")
    well_formed = [r for r in got["records"] if len(r) == 9]
    assert len(well_formed) > 0.95 * len(got["records"])
    assert {r[8] for r in well_formed} == {"web", "store", "phone"}
    other = audit(root / "landing" / "online_retail_2010_11.csv", "online_retail_ii")
    assert sum(len(r) == 8 for r in other["records"]) > 0.95 * len(other["records"])


def test_invoices_increase_with_time(sample):
    manifest, root = sample
    last_no, last_time = 0, datetime.min
    for entry in manifest["files"]:
        for row in audit(root / "landing" / entry["file"], "online_retail_ii")["records"]:
            number = int(row[0].lstrip("C"))
            assert number >= last_no
            when = parse_date(row[4], "online_retail_ii") if len(row) >= 5 else None
            if when is not None:
                assert when >= last_time
                assert 7 <= when.hour <= 20
                last_time = when
            last_no = number
        assert last_no == entry["last_invoice"]


def test_truth_churn_is_respected(sample):
    manifest, root = sample
    with open(root / "truth" / "customers.csv", newline="") as fh:
        truth = {r["customer_id"]: r for r in csv.DictReader(fh)}
    assert len(truth) == manifest["truth"]["customers"]
    assert list(next(iter(truth.values()))) == ["customer_id", "join_date", "purchase_rate",
                                                 "churn_date", "country"]
    seen = 0
    for entry in manifest["files"]:
        for row in audit(root / "landing" / entry["file"], "online_retail_ii")["records"]:
            if defects(row, len(entry["columns"]), "online_retail_ii"):
                continue
            who = truth[row[6].removesuffix(".0")]
            day = row[4][:10]
            assert day >= who["join_date"]
            assert who["churn_date"] == "" or day <= who["churn_date"], (row, who)
            assert row[7] == who["country"]
            seen += 1
    churned = [t for t in truth.values() if t["churn_date"]]
    assert seen > 10_000 and 0 < len(churned) < len(truth)
    assert manifest["truth"]["churned"] == len(churned)
    # Learnable: customers who leave buy less often on average.
    active = [t for t in truth.values() if not t["churn_date"]]

    def mean_rate(group):
        return sum(float(t["purchase_rate"]) for t in group) / len(group)

    assert mean_rate(churned) < mean_rate(active)


def test_realistic_shape(tmp_path):
    spec = GeneratorSpec(rows=40_000, months=12, start_date=date(2010, 1, 1), seed=3,
                         dirt=DirtRates.none(), drift_file_index=None, float_customer_id_rate=0)
    manifest = generate(spec, tmp_path / "l", tmp_path / "t")
    assert 0.6 * spec.rows < manifest["totals"]["records"] < 1.4 * spec.rows
    per_month = {e["month"]: e["records"] for e in manifest["files"]}
    assert per_month["2010-11"] > 1.3 * per_month["2010-02"]
    with open(tmp_path / "t" / "customers.csv", newline="") as fh:
        countries = Counter(r["country"] for r in csv.DictReader(fh))
    assert 0.8 < countries["United Kingdom"] / sum(countries.values()) < 0.95
    weekdays: Counter = Counter()
    bought: set[tuple[str, str, str]] = set()
    returns = 0
    lines_per_invoice: Counter = Counter()
    for entry in manifest["files"]:
        for row in audit(tmp_path / "l" / entry["file"], "online_retail_ii")["records"]:
            weekdays[parse_date(row[4], "online_retail_ii").weekday()] += 1
            lines_per_invoice[row[0]] += 1
            if row[0].startswith("C"):
                returns += 1  # a return refers to an earlier purchase, at the same price
                assert (row[6], row[1], row[5]) in bought, row
            else:
                bought.add((row[6], row[1], row[5]))
    assert returns > 0
    assert weekdays[5] < 0.03 * sum(weekdays.values())  # Saturdays are quiet
    sizes = sorted(lines_per_invoice.values())
    assert 8 <= sizes[len(sizes) // 2] <= 25 and sizes[-1] > 60  # long-tailed baskets


def test_old_online_retail_format(tmp_path):
    spec = replace(SPEC, rows=6000, months=2, fmt="online_retail")
    manifest = generate(spec, tmp_path / "l", tmp_path / "t")
    path = tmp_path / "l" / manifest["files"][0]["file"]
    assert path.read_text().splitlines()[0] == ",".join(HEADER_OLD)
    got = audit(path, "online_retail")
    dates = [r[4] for r in got["records"] if len(r) == 8 and parse_date(r[4], "online_retail")]
    assert all(re.fullmatch(r"[1-9]\d?/[1-9]\d?/\d\d [1-9]?\d:\d\d", d) for d in dates)
    assert any(re.search(r"/\d/10 \d:", d) for d in dates)  # single-digit day and hour
    assert got["counts"]["clean"] == manifest["files"][0]["expected_clean_rows"]
    assert got["counts"]["bad_date"] == manifest["files"][0]["dirt"]["bad_date"] > 0


def test_clean_sample_has_no_dirt(tmp_path):
    spec = replace(SPEC, dirt=DirtRates.none(), drift_file_index=None, float_customer_id_rate=0)
    manifest = generate(spec, tmp_path / "l", tmp_path / "t")
    assert manifest["drift"] is None
    assert manifest["totals"]["expected_rejected"] == 0
    assert manifest["totals"]["expected_duplicates"] == 0
    for entry in manifest["files"]:
        got = audit(tmp_path / "l" / entry["file"], "online_retail_ii")
        assert got["counts"]["clean"] == got["counts"]["records"] == entry["records"]
        assert got["counts"]["blank_lines"] == 0
