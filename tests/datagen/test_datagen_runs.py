"""Determinism, prefix stability, extension by more months, and the command line."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from datagen import DirtRates, GeneratorSpec, extend, generate
from datagen.cli import main

SPEC = GeneratorSpec(rows=9_000, customers=200, months=3, start_date=date(2011, 1, 1), seed=11)
REPO = Path(__file__).resolve().parents[2]


def snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def customers(truth: Path) -> dict[str, dict[str, str]]:
    with open(truth / "customers.csv", newline="") as fh:
        return {r["customer_id"]: r for r in csv.DictReader(fh)}


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    generate(SPEC, tmp_path / "a" / "l", tmp_path / "a" / "t")
    generate(SPEC, tmp_path / "b" / "l", tmp_path / "b" / "t")
    generate(replace(SPEC, seed=12), tmp_path / "c" / "l", tmp_path / "c" / "t")
    a, b, c = (snapshot(tmp_path / x / "l") for x in "abc")
    assert len(a) == 3 and a == b
    assert a.keys() == c.keys() and all(a[k] != c[k] for k in a)
    assert snapshot(tmp_path / "a" / "t") == snapshot(tmp_path / "b" / "t")
    manifest = json.loads((tmp_path / "a" / "t" / "manifest.json").read_text())
    assert [e["sha256"] for e in manifest["files"]] == list(a.values())
    assert manifest["seed"] == 11 and manifest["parameters"]["dirt"]["duplicate"] == 0.005


def test_dirt_rates_do_not_change_the_clean_transactions(tmp_path):
    clean = generate(replace(SPEC, dirt=DirtRates.none()), tmp_path / "a" / "l",
                     tmp_path / "a" / "t")
    dirty = generate(SPEC, tmp_path / "b" / "l", tmp_path / "b" / "t")
    for e_clean, e_dirty in zip(clean["files"], dirty["files"], strict=True):
        assert e_clean["invoices"] == e_dirty["invoices"]
        assert e_clean["records"] == e_dirty["records"] - e_dirty["expected_duplicates"]
    assert customers(tmp_path / "a" / "t") == customers(tmp_path / "b" / "t")


def test_prefix_stability_with_equal_densities(tmp_path):
    dense = replace(SPEC, rows_per_month=3_000.0, new_customers_per_month=15.0)
    short = generate(replace(dense, months=2), tmp_path / "s" / "l", tmp_path / "s" / "t")
    long = generate(dense, tmp_path / "g" / "l", tmp_path / "g" / "t")
    s, g = snapshot(tmp_path / "s" / "l"), snapshot(tmp_path / "g" / "l")
    assert len(g) == 3 and s == {k: g[k] for k in s}
    assert short["files"] == long["files"][:2]
    # Same customers with the same latent churn: the longer truth only adds information.
    cs, cg = customers(tmp_path / "s" / "t"), customers(tmp_path / "g" / "t")
    assert cs.keys() <= cg.keys() and len(cg) > len(cs)
    for cid, row in cs.items():
        other = cg[cid]
        assert (row["join_date"], row["purchase_rate"], row["country"]) == (
            other["join_date"], other["purchase_rate"], other["country"])
        assert row["churn_date"] == "" or row["churn_date"] == other["churn_date"]


def test_prefix_stability_with_row_totals(tmp_path):
    short = replace(SPEC, rows=6_000, customers=None, months=2)
    generate(short, tmp_path / "s" / "l", tmp_path / "s" / "t")
    generate(replace(short, rows=9_000, months=3), tmp_path / "g" / "l", tmp_path / "g" / "t")
    s, g = snapshot(tmp_path / "s" / "l"), snapshot(tmp_path / "g" / "l")
    assert len(g) == 3 and s == {k: g[k] for k in s}
    # ...and other row totals really do change the data
    generate(replace(short, rows=9_000), tmp_path / "o" / "l", tmp_path / "o" / "t")
    assert snapshot(tmp_path / "o" / "l") != s


def test_extend_equals_a_longer_run_and_leaves_old_files_alone(tmp_path):
    landing, truth = tmp_path / "l", tmp_path / "t"
    first = generate(replace(SPEC, months=2), landing, truth)
    before = snapshot(landing)
    manifest = extend(landing, truth, months=1)
    after = snapshot(landing)
    assert {k: after[k] for k in before} == before
    assert sorted(after.keys() - before.keys()) == ["online_retail_2011_03.csv"]
    assert manifest["files"][:2] == first["files"] and len(manifest["files"]) == 3
    assert manifest["parameters"]["months"] == 3 and manifest["period"]["months"] == 3
    assert manifest["totals"]["records"] == sum(e["records"] for e in manifest["files"])
    assert manifest["files"][2]["first_invoice"] == first["files"][1]["last_invoice"] + 1
    # Identical to generating three months with the same densities in one go.
    d = first["derived"]
    fresh = generate(replace(SPEC, rows_per_month=d["rows_per_month"],
                             new_customers_per_month=d["new_customers_per_month"]),
                     tmp_path / "f" / "l", tmp_path / "f" / "t")
    assert snapshot(tmp_path / "f" / "l") == after
    assert (tmp_path / "f" / "t" / "customers.csv").read_bytes() == (
        truth / "customers.csv").read_bytes()
    assert fresh["files"] == manifest["files"]
    # Extending twice by one month equals extending once by two.
    extend(landing, truth, months=1)
    generate(replace(SPEC, months=2), tmp_path / "x" / "l", tmp_path / "x" / "t")
    extend(tmp_path / "x" / "l", tmp_path / "x" / "t", months=2)
    assert snapshot(tmp_path / "x" / "l") == snapshot(landing)
    with pytest.raises(FileExistsError):
        generate(SPEC, landing, truth)


def test_extend_works_after_files_were_moved_and_refuses_clashes(tmp_path):
    landing, truth = tmp_path / "l", tmp_path / "t"
    generate(replace(SPEC, months=1), landing, truth)
    kept = snapshot(landing)
    for p in landing.iterdir():
        p.unlink()  # the pipeline archived the ingested files
    extend(landing, truth, months=1)
    assert list(snapshot(landing)) == ["online_retail_2011_02.csv"]
    assert "online_retail_2011_01.csv" in kept
    manifest = json.loads((truth / "manifest.json").read_text())
    manifest["parameters"]["months"] = 1  # pretend month 2 is still to come: it exists
    (truth / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(FileExistsError, match="already exists"):
        extend(landing, truth, months=1)


def run_cli(capsys, *argv: str, **kwargs) -> tuple[int, str, str]:
    try:
        code = main(list(argv), **kwargs)
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_help_documents_every_option(capsys):
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    for flag in ("--landing", "--truth", "--rows", "--customers", "--months", "--start-date",
                 "--seed", "--format", "--extend-months", "--clean", "--force", "--if-empty",
                 "--duplicate-rate", "--missing-customer-rate", "--bad-date-rate",
                 "--bad-number-rate", "--zero-price-rate", "--negative-price-rate",
                 "--extra-fields-rate", "--missing-fields-rate", "--blank-line-rate",
                 "--embedded-quote-rate", "--embedded-newline-rate", "--drift-file-index",
                 "--float-customer-id-rate", "--cancel-rate", "--no-drift"):
        assert flag in out, flag


@pytest.mark.parametrize(("args", "message"), [
    (["--rows", "-5"], "must not be negative"),
    (["--rows", "lots"], "not an integer"),
    (["--duplicate-rate", "1.5"], "between 0 and 1"),
    (["--months", "0"], "months must be >= 1"),
    (["--start-date", "2023-02-30"], "not a date"),
    (["--format", "xlsx"], "invalid choice"),
    (["--bad-date-rate", "0.6", "--bad-number-rate", "0.6"], "sum to"),
    (["--extend-months", "1", "--rows", "10"], "--extend-months takes all parameters"),
])
def test_cli_rejects_bad_options_with_a_message(tmp_path, capsys, args, message):
    code, _, err = run_cli(capsys, "--landing", str(tmp_path / "l"), "--truth",
                           str(tmp_path / "t"), *args)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "l").exists() or not list((tmp_path / "l").glob("*.csv"))


def test_cli_runs_refuses_to_overwrite_and_extends(tmp_path, capsys):
    base = ["--landing", str(tmp_path / "l"), "--truth", str(tmp_path / "t")]
    code, out, _ = run_cli(capsys, *base, "--rows", "4000", "--months", "2", "--clean")
    assert code == 0 and "2 file(s)" in out and "records" in out
    manifest = json.loads((tmp_path / "t" / "manifest.json").read_text())
    assert manifest["totals"]["expected_rejected"] == 0 and manifest["drift"] is None
    code, _, err = run_cli(capsys, *base, "--rows", "4000")
    assert code == 2 and "already has 2 CSV file(s)" in err and "--force" in err
    code, out, _ = run_cli(capsys, *base, "--if-empty")
    assert code == 0 and "nothing to do" in out
    code, _, _ = run_cli(capsys, *base, "--extend-months", "1")
    assert code == 0 and len(list((tmp_path / "l").glob("*.csv"))) == 3
    code, _, _ = run_cli(capsys, *base, "--rows", "3000", "--months", "1", "--force", "--quiet")
    assert code == 0 and len(list((tmp_path / "l").glob("*.csv"))) == 1


def test_cli_defaults_come_from_the_caller_and_flags_override(tmp_path, capsys):
    defaults = GeneratorSpec(rows=3_000, customers=90, months=2, seed=5, fmt="online_retail")
    code, _, _ = run_cli(capsys, "--months", "1", "--duplicate-rate", "0.1", defaults=defaults,
                         landing=tmp_path / "l", truth=tmp_path / "t")
    assert code == 0
    params = json.loads((tmp_path / "t" / "manifest.json").read_text())["parameters"]
    assert params["rows"] == 3_000 and params["months"] == 1 and params["seed"] == 5
    assert params["format"] == "online_retail" and params["dirt"]["duplicate"] == 0.1
    assert params["dirt"]["bad_date"] == DirtRates().bad_date
    assert GeneratorSpec.from_dict(params) == replace(defaults, months=1,
                                                      dirt=replace(DirtRates(), duplicate=0.1))


def test_python_m_datagen(tmp_path):
    done = subprocess.run([sys.executable, "-m", "datagen", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--extend-months" in done.stdout
    done = subprocess.run([sys.executable, "-m", "datagen", "--landing", str(tmp_path / "l"),
                           "--truth", str(tmp_path / "l" / "truth")], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "truth folder must be separate" in done.stderr


def test_spec_from_config_mapping():
    spec = GeneratorSpec.from_dict({"rows": 300_000, "customers": 4_000, "months": 24,
                                    "start_date": "2023-01-01", "seed": 42,
                                    "format": "online_retail_ii", "dirt": {"duplicate": 0.01}})
    assert spec.start_date == date(2023, 1, 1) and spec.dirt.duplicate == 0.01
    with pytest.raises(ValueError, match="unknown generator option"):
        GeneratorSpec.from_dict({"rowz": 1})
    with pytest.raises(ValueError, match="between 0 and 1"):
        DirtRates(bad_date=-0.1)


def test_make_sample_step_uses_the_configured_landing_and_ignores_stage_flags(tmp_path):
    """`make bronze ARGS='--set paths.landing=...'` generates into that folder, not the
    default one; a folder holding only a compressed CSV is not empty."""
    landing, truth = tmp_path / "mine", tmp_path / "truth"

    def sample() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "datagen", "--env", "test", "--if-empty",
             f"--set=paths.landing={landing}", "--set", f"paths.truth={truth}",
             "--set=generator.rows=2000", "--set=generator.months=2",
             "--reingest-changed"],  # a bronze flag in ARGS: not the generator's
            capture_output=True, text=True)

    first = sample()
    assert first.returncode == 0, first.stderr
    files = sorted(p.name for p in landing.glob("*.csv"))
    assert len(files) == 2
    for path in landing.glob("*.csv"):
        path.unlink()
    (landing / "old.csv.gz").write_bytes(b"\x1f\x8b")
    second = sample()
    assert second.returncode == 0 and "nothing to do" in second.stdout
    assert not list(landing.glob("*.csv"))
