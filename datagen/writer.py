"""CSV formatting: a simulated month plus its dirt as Online Retail (II) text, written in chunks.

Lines are assembled with one f-string per line from pre-formatted per-invoice and per-product
strings (no per-row objects beyond the strings themselves); dirt rows are patched in a short
Python loop, since they are few.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import numpy as np

from .catalog import Catalog, csv_field
from .dirt import (
    BAD_DATE,
    BAD_NUMBER,
    CHANNELS,
    EMBEDDED_NEWLINE,
    EMBEDDED_QUOTE,
    EXTRA_FIELDS,
    MISSING_FIELDS,
    NEGATIVE_PRICE,
    ZERO_PRICE,
    Dirt,
)
from .population import COUNTRY_NAMES, Population
from .simulate import Month
from .timeaxis import format_iso, format_us, month_label

HEADERS = {
    "online_retail_ii": ("Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price",
                         "Customer ID", "Country"),
    "online_retail": ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate",
                      "UnitPrice", "CustomerID", "Country"),
}
CHUNK_LINES = 200_000  # bounds the memory held in Python strings
_BAD_DATES = {
    "online_retail_ii": ("{y}-13-45 25:61:00", "not a date", "", "N/A", "{y}-00-00 00:00:00",
                         "{y}/99/99 99:99"),
    "online_retail": ("13/45/{yy} 25:61", "not a date", "", "N/A", "0/0/{yy} 0:00", "99/99/{yy}"),
}
_QUOTE_TAGS = ("NEW", "SALE", "XMAS", "LARGE", "GIFT", "OFFER")


def file_name(start: date, m: int) -> str:
    """``online_retail_YYYY_MM.csv`` for month ``m``."""
    return f"online_retail_{month_label(start, m)}.csv"


def _money(cents: np.ndarray) -> list[str]:
    # Few distinct prices: format each once, then index.
    uniq, inv = np.unique(cents, return_inverse=True)
    table = np.array([f"{c // 100}.{c % 100:02d}" for c in uniq.tolist()], dtype=object)
    return table[inv].tolist()


def _bad_number(var: int, q: int, pr: str) -> tuple[str | None, str | None]:
    """(quantity, price) replacement for a bad_number variant; None keeps the field."""
    return (("abc", None), ('"1,5"', None), (f"--{abs(q)}", None), (None, f"--{pr}"),
            (None, '"' + pr.replace(".", ",") + '"'), (None, "N/A"))[var]


def write_month(path: Path, month: Month, dirt: Dirt, catalog: Catalog, pop: Population,
                fmt: str, drift_column: str | None) -> dict:
    """Write one month file; returns its size in bytes and SHA-256."""
    header = HEADERS[fmt] + ((drift_column,) if dirt.channel is not None else ())
    inv_head = np.array([f"C{n}" if c else str(n) for n, c in
                         zip(month.inv_no.tolist(), month.inv_cancel.tolist(), strict=True)],
                        dtype=object)
    dates = np.array((format_iso if fmt == "online_retail_ii" else format_us)(month.inv_time),
                     dtype=object)
    years = month.inv_time.astype("datetime64[m]").astype("datetime64[Y]").astype(np.int64) + 1970
    cust = np.array([str(x) for x in pop.ids[month.inv_cust].tolist()], dtype=object)
    cust[dirt.inv_missing] = ""
    tail = COUNTRY_NAMES[pop.country[month.inv_cust]]
    if dirt.channel is not None:
        tail = np.array([f"{c},{CHANNELS[k]}" for c, k in
                         zip(tail.tolist(), dirt.channel.tolist(), strict=True)], dtype=object)
    bad_dates = _BAD_DATES[fmt]
    digest = hashlib.sha256()
    size = 0
    with open(path, "wb") as f:
        for lo in range(0, max(month.n_lines, 1), CHUNK_LINES):
            hi = min(lo + CHUNK_LINES, month.n_lines)
            li = month.line_inv[lo:hi]
            prod = month.line_prod[lo:hi].tolist()
            H = inv_head[li].tolist()
            P = catalog.field[month.line_prod[lo:hi]].tolist()
            Q = month.line_qty[lo:hi].tolist()
            D = dates[li].tolist()
            PR = _money(month.line_cents[lo:hi])
            C = cust[li].tolist()
            T = tail[li].tolist()
            kind = dirt.kind[lo:hi]
            var = dirt.variant[lo:hi].tolist()
            for i in np.flatnonzero(dirt.float_id[lo:hi]).tolist():
                C[i] += ".0"
            for i in np.flatnonzero(kind == BAD_DATE).tolist():
                y = int(years[li[i]])
                D[i] = bad_dates[var[i]].format(y=y, yy=f"{y % 100:02d}")
            for i in np.flatnonzero(kind == BAD_NUMBER).tolist():
                q, pr = _bad_number(var[i], Q[i], PR[i])
                Q[i], PR[i] = (Q[i] if q is None else q), (PR[i] if pr is None else pr)
            for i in np.flatnonzero(kind == ZERO_PRICE).tolist():
                PR[i] = "0.00"
            for i in np.flatnonzero(kind == NEGATIVE_PRICE).tolist():
                PR[i] = "-" + PR[i]
            for i in np.flatnonzero(kind == EXTRA_FIELDS).tolist():
                if var[i] % 2:
                    T[i] += ","  # trailing comma: one empty extra field
                else:
                    PR[i] = PR[i].replace(".", ",")  # unquoted decimal comma splits the price
            for i in np.flatnonzero(kind == EMBEDDED_QUOTE).tolist():
                desc = f'{catalog.descriptions[prod[i]]} "{_QUOTE_TAGS[var[i]]}"'
                P[i] = f"{catalog.codes[prod[i]]},{csv_field(desc)}"
            for i in np.flatnonzero(kind == EMBEDDED_NEWLINE).tolist():
                head, _, last = catalog.descriptions[prod[i]].rpartition(" ")
                P[i] = f"{catalog.codes[prod[i]]},{csv_field(head + chr(10) + last)}"
            lines = [f"{h},{p},{q},{d},{pr},{c},{t}" for h, p, q, d, pr, c, t in
                     zip(H, P, Q, D, PR, C, T, strict=True)]
            for i in np.flatnonzero(kind == MISSING_FIELDS).tolist():
                # Truncated line: without Country (and drift column), or also without Customer ID.
                cut = "" if var[i] % 2 else f",{C[i]}"
                lines[i] = f"{H[i]},{P[i]},{Q[i]},{D[i]},{PR[i]}{cut}"
            dup, blank = dirt.dup[lo:hi], dirt.blank[lo:hi]
            if dup.any() or blank.any():
                reps = 1 + dup.astype(np.int64)
                out = np.repeat(np.array(lines, dtype=object), reps)
                for pos in (np.cumsum(reps) - 1)[blank].tolist():
                    out[pos] += "\n"  # the blank line follows the last copy
                lines = out.tolist()
            text = ("\n".join(lines) + "\n") if lines else ""
            if lo == 0:
                text = ",".join(header) + "\n" + text
            data = text.encode("utf-8")
            f.write(data)
            digest.update(data)
            size += len(data)
    return {"bytes": size, "sha256": digest.hexdigest()}
