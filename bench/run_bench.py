"""Per-stage and end-to-end throughput against DuckDB, with scaling and incremental costs.

    make bench                                   # 1M and 10M rows (many minutes)
    .venv/bin/python -m bench.run_bench --sizes 100000 --skip-train
    .venv/bin/python -m bench.run_bench --only duckdb   # re-check against the kept lakes

For each size: a sample from the project's generator (cached under bench/cache/samples
by its parameters), then bronze, silver, gold and train on a fresh lake in one process
exactly as `make bronze silver gold train` runs them (JVM start included), polled for
memory; then the DuckDB reference of the same work on the same files, checked
against the pipeline's Delta tables. On the largest size one more month is generated
and bronze, silver and gold run again (the incremental cost). Results go to
bench/results/<timestamp>.json, latest.md and latest.png; the targets are printed as
PASS/MISS lines at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.compare import compare
from bench.procmon import wait_for_quiet
from bench.report import STAGES, TO_GOLD, evaluate_targets, markdown, plot
from bench.samples import (
    SampleSpec,
    default_customers,
    ensure_sample,
    extend,
    records,
    working_copy,
)
from bench.stages import STARTUP, StageRun, run_stage, split_pipeline_run
from lakehouse.config import PROJECT_ROOT, load_settings

BENCH = PROJECT_ROOT / "bench"
BIG_DRIVER_ROWS = 5_000_000  # from this size on, the JVM gets --driver-memory


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m bench.run_bench",
                                description=__doc__.splitlines()[0])
    p.add_argument("--env", default="local", help="configuration overlay of every stage")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="SECTION.KEY=VALUE", help="extra setting for every stage")
    p.add_argument("--sizes", default="1000000,10000000",
                   help="generator rows per run, comma-separated [1000000,10000000]")
    p.add_argument("--months", type=int, default=24, help="months of data [24]")
    p.add_argument("--customers", type=int, help="customers per sample [rows / 200]")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--only", choices=("pipeline", "duckdb"),
                   help="run only the pipeline or only the DuckDB reference (compared "
                        "with the lake kept from the last pipeline run)")
    p.add_argument("--skip-train", action="store_true", help="bronze, silver and gold only")
    p.add_argument("--skip-incremental", action="store_true")
    p.add_argument("--extend-months", type=int, default=1, help="months of the incremental run")
    p.add_argument("--driver-memory", help="spark.driver_memory of every stage "
                   f"[project default below {BIG_DRIVER_ROWS:,} rows, 12g from there]")
    p.add_argument("--quiet-cpu", type=float, default=0.5,
                   help="before each timed process wait until the CPUs are less busy "
                        "than this share (other users' load) [0.5]")
    p.add_argument("--quiet-timeout", type=float, default=120,
                   help="longest wait for a quiet machine, seconds [120]")
    p.add_argument("--processes", choices=("pipeline", "per-stage"), default="pipeline",
                   help="pipeline: the stages in one process, as `make bronze silver gold "
                        "train` runs them (one JVM start); per-stage: each stage its own "
                        "process, as `make bronze` alone runs it [pipeline]")
    p.add_argument("--cache", type=Path, default=BENCH / "cache")
    p.add_argument("--results", type=Path, default=BENCH / "results")
    return p.parse_args(argv)


def stage_overrides(work: Path, landing: Path, truth: Path, size: int,
                    args: argparse.Namespace) -> list[str]:
    """--set values that point a stage at one run's folders."""
    paths = {"landing": landing, "truth": truth, "lake": work / "lake",
             "reports": work / "reports", "mlflow": work / "mlruns"}
    sets = [f"paths.{k}={v}" for k, v in paths.items()]
    memory = args.driver_memory or ("12g" if size >= BIG_DRIVER_ROWS else None)
    if memory:
        sets.append(f"spark.driver_memory={memory}")
    return sets + list(args.overrides)


def timed_process(stage: str, *, rows: int, overrides: list[str], log_dir: Path,
                  args: argparse.Namespace, extra: tuple[str, ...] = (),
                  name: str | None = None) -> StageRun:
    """Wait for a quiet machine, then run and measure one process; prints one line."""
    busy, waited = wait_for_quiet(args.quiet_cpu, args.quiet_timeout)
    run = run_stage(stage, rows=rows, overrides=overrides, log_dir=log_dir, env_name=args.env,
                    extra=extra, name=name)
    other = "?" if run.other_cpu_share is None else f"{100 * run.other_cpu_share:.0f}%"
    stolen = "?" if run.stolen_cpu_share is None else f"{100 * run.stolen_cpu_share:.0f}%"
    print(f"  {run.stage:<8} {run.seconds:8.1f} s {run.rows_per_second:>11,.0f} rows/s  "
          f"driver {run.driver_mib:6,.0f} MiB  JVM {run.jvm_mib:6,.0f} MiB  "
          f"gate {100 * run.gate_share:4.0f}%  other CPU {other}  stolen {stolen} "
          f"(machine {100 * busy:.0f}% busy before, waited {waited:.0f} s)", flush=True)
    return run


def run_pipeline(stages: tuple[str, ...], *, rows: int, overrides: list[str], log_dir: Path,
                 args: argparse.Namespace) -> dict[str, dict]:
    """Run the stages in order (one process, or one each with --processes per-stage);
    their measurements by stage name."""
    if args.processes == "pipeline":
        return _one_process(stages, rows=rows, overrides=overrides, log_dir=log_dir, args=args)
    return {stage: timed_process(stage, rows=rows, overrides=overrides, log_dir=log_dir,
                                 args=args).as_dict() for stage in stages}


def _one_process(stages: tuple[str, ...], *, rows: int, overrides: list[str], log_dir: Path,
                 args: argparse.Namespace) -> dict[str, dict]:
    """`python -m pipeline <stages>` as one measured process, split into its
    stages (plus `startup`) by the timing lines it prints."""
    run = timed_process("pipeline", rows=rows, overrides=overrides, log_dir=log_dir,
                        args=args, extra=stages, name="pipeline")
    measured = split_pipeline_run(run, stages)
    for name in (STARTUP, *stages):
        st = measured[name]
        print(f"    {name:<8} {st['seconds']:8.1f} s  gate {100 * st['gate_share']:4.0f}%",
              flush=True)
    return measured


def run_duckdb(work: Path, *, rows: int, overrides: list[str], log_dir: Path,
               args: argparse.Namespace, lake: Path | None) -> dict[str, Any]:
    """The DuckDB reference as its own process on the same files, compared with the
    pipeline's tables in `lake` (when they exist)."""
    work.mkdir(parents=True, exist_ok=True)
    out = work / "duckdb.json"
    proc = timed_process("bench.duckdb_reference", rows=rows, overrides=overrides,
                         log_dir=log_dir, args=args, name="duckdb",
                         extra=("--out", str(work / "duckdb"), "--json", str(out)))
    reference = json.loads(out.read_text(encoding="utf-8"))
    result = {**reference, "wall_seconds": proc.seconds, "peak_mib": proc.driver_mib,
              "other_cpu_share": proc.other_cpu_share,
              "stolen_cpu_share": proc.stolen_cpu_share}
    if lake is not None and (lake / "gold").is_dir():
        names = load_settings(args.env, overrides=overrides).tables.names.model_dump()
        result["comparison"] = compare(reference, lake, names)
        verdict = "agree" if result["comparison"]["agree"] else "DISAGREE"
        print(f"  pipeline and DuckDB {verdict}: "
              f"{json.dumps(result['comparison']['differences'], default=str)}"
              f" features {result['comparison']['feature_row_mismatches']}"
              f" labels {result['comparison']['label_row_mismatches']}", flush=True)
    return result


def bench_size(size: int, args: argparse.Namespace, incremental: bool) -> tuple[dict, dict]:
    """One size: sample, pipeline, DuckDB, and (when asked) the incremental run."""
    spec = SampleSpec(size, args.months, args.customers or default_customers(size), args.seed)
    sample = ensure_sample(args.cache, spec, args.env)
    print(f"\n== {size:,} rows requested: {sample.records:,} CSV records, "
          f"{spec.customers:,} customers, {spec.months} months "
          f"({'cached' if sample.generate_seconds is None else 'generated'})", flush=True)
    work = args.cache / "runs" / spec.key
    if args.only != "duckdb":
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        copy = working_copy(sample, work / "input")
    elif (work / "input" / "truth" / "manifest.json").is_file():
        copy = replace(sample, landing=work / "input" / "landing",  # what the lake ingested
                       truth=work / "input" / "truth", records=records(work / "input" / "truth"))
    else:
        copy = working_copy(sample, work / "input")
    sets = stage_overrides(work, copy.landing, copy.truth, size, args)
    run: dict[str, Any] = {"size": size, "rows": copy.records, "sample": vars(spec),
                           "generate_seconds": sample.generate_seconds, "stages": {}}
    stages = TO_GOLD if args.skip_train else STAGES
    if args.only != "duckdb":
        run["stages"] = run_pipeline(stages, rows=copy.records, overrides=sets,
                                     log_dir=work / "logs", args=args)
    if args.only != "pipeline":
        run["duckdb"] = run_duckdb(work, rows=copy.records, overrides=sets,
                                   log_dir=work / "logs", args=args, lake=work / "lake")
        run["comparison"] = run["duckdb"].pop("comparison", None)
    inc: dict[str, Any] = {}
    if incremental and args.only != "duckdb":
        extended, new_rows, gen_s = extend(copy, args.extend_months, args.env)
        print(f"  -- incremental: +{args.extend_months} month(s), {new_rows:,} new records "
              f"(generated in {gen_s:.1f} s)", flush=True)
        inc = {"size": size, "months": args.extend_months, "rows": new_rows,
               "total_rows": extended.records,
               "stages": run_pipeline(TO_GOLD, rows=new_rows, overrides=sets,
                                      log_dir=work / "logs-incremental", args=args)}
        if args.only is None:
            check = run_duckdb(work / "incremental", rows=extended.records, overrides=sets,
                               log_dir=work / "logs-incremental", args=args,
                               lake=work / "lake")
            inc["comparison"] = check.pop("comparison", None)
            inc["duckdb_full_recompute_seconds"] = check["wall_seconds"]
    return run, inc


def machine() -> dict[str, Any]:
    """CPUs, memory and load of this machine."""
    meminfo = Path("/proc/meminfo").read_text().split()
    kib = int(meminfo[meminfo.index("MemTotal:") + 1])
    return {"cpus": os.cpu_count(), "memory_gib": round(kib / 2**20, 1),
            "load_at_start": os.getloadavg(), "python": sys.version.split()[0]}


def code_version() -> dict[str, str]:
    """A fingerprint of the pipeline code and configuration the run measured (other
    people may be changing it while the benchmark runs)."""
    files = sorted([*(p for pkg in ("bronze", "silver", "gold", "ml", "lakehouse", "conf")
                      for p in (PROJECT_ROOT / pkg).rglob("*") if p.suffix in (".py", ".yml")),
                    *(p for p in [PROJECT_ROOT / "pipeline.py"] if p.is_file())])
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(PROJECT_ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    newest = max(files, key=lambda p: p.stat().st_mtime)
    return {"sha256": digest.hexdigest()[:16], "newest_file": str(newest.relative_to(
        PROJECT_ROOT)), "newest_mtime": datetime.fromtimestamp(newest.stat().st_mtime, UTC)
        .strftime("%Y-%m-%dT%H:%M:%SZ")}


def write_results(results: dict[str, Any], folder: Path) -> Path:
    """<timestamp>.json, latest.md and latest.png under `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    targets = evaluate_targets(results)
    results["targets"] = [{"name": t.name, "measured": t.measured, "limit": t.limit,
                           "passed": t.passed, "detail": t.detail} for t in targets]
    stamp = results["started_at"].replace(":", "").replace("-", "")
    path = folder / f"{stamp}.json"
    path.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    (folder / "latest.md").write_text(markdown(results, targets), encoding="utf-8")
    plot(results, folder / "latest.png")
    return path


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m bench.run_bench`."""
    args = parse_args(argv)
    sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip())
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "machine": machine(),
        "options": {k: str(v) for k, v in vars(args).items()}, "code": code_version(),
        "runs": [],
        "note": "other engineers' tests may share the CPUs: see the 'other CPU' column"}
    print(f"bench: sizes {sizes}, {results['machine']['cpus']} CPUs, load "
          f"{results['machine']['load_at_start'][0]:.1f}", flush=True)
    for size in sizes:
        run, inc = bench_size(size, args, incremental=not args.skip_incremental
                              and size == sizes[-1])
        results["runs"].append(run)
        if inc:
            results["incremental"] = inc
    results["code_at_end"] = code_version()
    if results["code_at_end"] != results["code"]:
        print("note: pipeline code changed while the benchmark ran (see code, code_at_end)")
    path = write_results(results, args.results)
    print("\n" + (args.results / "latest.md").read_text(encoding="utf-8"))
    print(f"results: {path}, {args.results / 'latest.md'}, {args.results / 'latest.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
