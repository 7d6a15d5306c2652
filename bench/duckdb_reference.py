"""DuckDB reference: the pipeline's bronze, silver and gold work on the same CSV files.

    .venv/bin/python -m bench.duckdb_reference --set paths.landing=DIR --out DIR [--json FILE]

Each layer reads the previous layer's Parquet output and writes its own, as the Spark
stages do with Delta tables, and is timed on its own:

- bronze: every CSV record as raw strings. Records whose number of fields differs from
  their file's header are malformed (kept, flagged), exactly as bronze/parse.py. DuckDB's
  reader silently accepts one trailing delimiter and pads short records only on request,
  so each file group is read with one column more than its header, `null_padding` and a
  NULL string that never occurs: a field that exists is never NULL, so the number of
  non-NULL columns is the record's field count. Records with two or more extra fields are
  rejected by the reader and taken from its rejects table. Blank lines are no records.
- silver: the typing, rejection rules (with the silver suite's quarantine checks) and
  exact-duplicate removal of silver/transform.py (see bench/duckdb_sql.py).
- gold: features and churn labels per customer and month end (bench/duckdb_gold.py).

Prints one JSON object: seconds per layer, counts, and where the outputs are.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb
import yaml

from bench.duckdb_gold import days_sql, features_sql, keys_sql, labels_sql, snapshot_dates
from bench.duckdb_sql import RAW_COLUMNS, quote, silver_rows_sql, silver_table_sql
from lakehouse.config import add_config_arguments, settings_from_args
from lakehouse.settings import Settings

NULL_MARK = "\x1f\x1e"  # the reader's NULL string: never in the data, so fields stay ''


def header_groups(landing: Path, pattern: str, aliases: dict[str, list[str]],
                  encoding: str = "utf-8-sig") -> dict[tuple, list[Path]]:
    """Landing files grouped by header layout: (width, positions of the canonical
    columns, (index, name) of extra columns) -> files. Empty files are left out;
    hidden files and folders are skipped as bronze does."""
    lookup = {a.strip().lower(): c for c, names in aliases.items() for a in (c, *names)}
    groups: dict[tuple, list[Path]] = defaultdict(list)
    for path in sorted(landing.rglob(pattern)):
        rel = path.relative_to(landing)
        if not path.is_file() or any(p.startswith((".", "_")) for p in rel.parts):
            continue
        with open(path, encoding=encoding, newline="") as handle:
            header = next(csv.reader(handle), None)
        if not header:
            continue
        positions, extras = {}, []
        for index, name in enumerate(header):
            column = lookup.get(name.strip().lower())
            if column is None:
                extras.append((index, name.strip() or f"_c{index}"))
            else:
                positions[column] = index
        key = (len(header), tuple(sorted(positions.items())), tuple(extras))
        groups[key].append(path)
    return dict(groups)


def bronze_group_sql(key: tuple, files: list[Path], landing: Path) -> str:
    """SQL: the records of files sharing one header layout as bronze rows."""
    width, positions, extras = key
    columns = "{" + ", ".join(f"'f{i}': 'VARCHAR'" for i in range(width + 1)) + "}"
    paths = "[" + ", ".join(quote(str(f)) for f in files) + "]"
    fields = " + ".join(f"(f{i} IS NOT NULL)::INT" for i in range(width + 1))
    position = dict(positions)
    raw = [f"CASE WHEN NOT corrupt THEN nullif(f{position[c]}, '') END AS {c}"
           if c in position else f"NULL::VARCHAR AS {c}" for c in RAW_COLUMNS]
    rescued = "NULL::VARCHAR"
    if extras:
        pairs = ", ".join(f"{quote(name)}, f{index}" for index, name in extras)
        rescued = f"CASE WHEN NOT corrupt THEN json_object({pairs})::VARCHAR END"
    text = " || ',' || ".join(f"coalesce(f{i}, '')" for i in range(width + 1))
    prefix = quote(str(landing).rstrip("/") + "/")
    return f"""
      SELECT {', '.join(raw)},
             CASE WHEN corrupt THEN rtrim({text}, ',') END AS _corrupt_record,
             {rescued} AS _rescued, replace(filename, {prefix}, '') AS _source_file
      FROM (SELECT *, ({fields}) <> {width} AS corrupt
            FROM read_csv({paths}, header = true, auto_detect = false, delim = ',',
                          quote = '"', escape = '"', columns = {columns},
                          null_padding = true, nullstr = {quote(NULL_MARK)},
                          parallel = false, store_rejects = true, filename = true))"""


def rejected_sql(landing: Path) -> str:
    """SQL: records the reader rejected (too many fields) as malformed bronze rows."""
    prefix = quote(str(landing).rstrip("/") + "/")
    nulls = ", ".join(f"NULL::VARCHAR AS {c}" for c in RAW_COLUMNS)
    return f"""
      SELECT {nulls}, any_value(e.csv_line) AS _corrupt_record, NULL::VARCHAR AS _rescued,
             replace(s.file_path, {prefix}, '') AS _source_file
      FROM reject_errors e JOIN reject_scans s USING (scan_id, file_id)
      GROUP BY e.scan_id, e.file_id, e.line, s.file_path"""


def load_bronze(con: duckdb.DuckDBPyConnection, landing: Path, pattern: str,
                aliases: dict[str, list[str]]) -> None:
    """Create the temporary table `bronze`: every record of the landing files."""
    groups = header_groups(landing, pattern, aliases)
    parts = [bronze_group_sql(k, f, landing) for k, f in groups.items()]
    if not parts:
        raise ValueError(f"no CSV file with a header under {landing}")
    con.execute(f"CREATE TEMP TABLE bronze AS {' UNION ALL '.join(parts)}")
    con.execute(f"INSERT INTO bronze {rejected_sql(landing)}")


def timed(con: duckdb.DuckDBPyConnection, statements: list[str]) -> float:
    """Seconds to run the statements."""
    started = time.perf_counter()
    for statement in statements:
        con.execute(statement)
    return time.perf_counter() - started


def quarantine_checks(settings: Settings) -> list[dict[str, Any]]:
    """The silver suite's checks of severity `quarantine`, from its YAML file."""
    data = yaml.safe_load((settings.paths.expectations / "silver.yml").read_text("utf-8"))
    return [e for e in data.get("expectations", []) if e.get("severity") == "quarantine"]


def run_reference(settings: Settings, out: Path) -> dict:
    """Run bronze, silver and gold in DuckDB on settings.paths.landing; outputs are
    Parquet files under `out`. Returns seconds per layer and the counts to compare."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    landing, p = settings.paths.landing, {n: quote(str(out / f"{n}.parquet")) for n in (
        "bronze", "silver", "quarantine", "features", "labels")}
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    load_bronze(con, landing, settings.bronze.file_pattern, settings.bronze.header_aliases)
    con.execute(f"COPY bronze TO {p['bronze']} (FORMAT parquet)")
    seconds["bronze"] = time.perf_counter() - started
    con.execute("DROP TABLE bronze")
    rows = silver_rows_sql(f"read_parquet({p['bronze']})", settings, quarantine_checks(settings))
    seconds["silver"] = timed(con, [
        f"CREATE TEMP TABLE silver_rows AS {rows}",
        f"COPY ({silver_table_sql('silver_rows')}) TO {p['silver']} (FORMAT parquet)",
        f"COPY (SELECT * FROM silver_rows WHERE len(reject_reasons) > 0) "
        f"TO {p['quarantine']} (FORMAT parquet)",
    ])
    counts = silver_counts(con, p)
    con.execute("DROP TABLE silver_rows")
    seconds["gold"] = gold(con, settings, p, counts)
    counts.update(gold_counts(con, p))
    seconds["total"] = sum(seconds.values())
    return {"seconds": {k: round(v, 3) for k, v in seconds.items()}, "counts": counts,
            "outputs": {k: v.strip("'") for k, v in p.items()}}


def gold(con: duckdb.DuckDBPyConnection, settings: Settings, p: dict[str, str],
         counts: dict) -> float:
    """Seconds to write the features and labels of the monthly schedule."""
    cfg = settings.gold
    if cfg.schedule != "monthly":
        raise ValueError("the DuckDB reference supports gold.schedule monthly only")
    started = time.perf_counter()
    first, last = con.execute(f"SELECT min(invoice_date), max(invoice_date) "
                              f"FROM read_parquet({p['silver']})").fetchall()[0]
    dates, labelable = snapshot_dates(first, last, min_history_days=cfg.min_history_days,
                                      horizon_days=cfg.horizon_days)
    silver = f"read_parquet({p['silver']})"
    features = features_sql("days", f"({keys_sql('days', dates)})")
    labels = labels_sql("days", f"({keys_sql('days', labelable)})",
                        horizon_days=cfg.horizon_days)
    con.execute(f"CREATE TEMP TABLE days AS {days_sql(silver)}")
    con.execute(f"COPY ({features}) TO {p['features']} (FORMAT parquet)")
    con.execute(f"COPY ({labels}) TO {p['labels']} (FORMAT parquet)")
    con.execute("DROP TABLE days")
    counts.update(first_date=str(first), last_date=str(last), as_of_dates=len(dates),
                  labelable_dates=len(labelable))
    return time.perf_counter() - started


def silver_counts(con: duckdb.DuckDBPyConnection, p: dict[str, str]) -> dict:
    """Bronze and silver counts of the reference's outputs."""
    bronze = con.execute(f"SELECT count(*), count(_corrupt_record), count(_rescued) "
                         f"FROM read_parquet({p['bronze']})").fetchall()[0]
    silver = con.execute(f"SELECT count(*), sum(copies - 1) "
                         f"FROM read_parquet({p['silver']})").fetchall()[0]
    reasons = con.execute("SELECT r, count(*) FROM (SELECT unnest(reject_reasons) AS r "
                          "FROM silver_rows) GROUP BY r ORDER BY r").fetchall()
    quarantined = con.execute("SELECT count(*) FROM silver_rows "
                              "WHERE len(reject_reasons) > 0").fetchall()[0][0]
    return {"bronze_rows": bronze[0], "corrupt_records": bronze[1],
            "rescued_records": bronze[2], "silver_rows": silver[0],
            "duplicates": int(silver[1] or 0), "quarantined": quarantined,
            "reasons": dict(reasons)}


def gold_counts(con: duckdb.DuckDBPyConnection, p: dict[str, str]) -> dict:
    """Feature rows, sum of total_spend, label rows and churn rate of the outputs."""
    rows, spend = con.execute(f"SELECT count(*), sum(total_spend) "
                              f"FROM read_parquet({p['features']})").fetchall()[0]
    labels, rate = con.execute(f"SELECT count(*), avg(churned) "
                               f"FROM read_parquet({p['labels']})").fetchall()[0]
    return {"feature_rows": rows, "total_spend_sum": spend, "label_rows": labels,
            "churn_rate": rate}


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the reference and print (and optionally write) its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, help="folder for the Parquet outputs")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    result = run_reference(settings_from_args(args), args.out)
    text = json.dumps(result, default=str)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
