"""`make bench`: the pipeline against a DuckDB reference of the same work, and one new month.

    make bench                                   # 1M and 10M rows (many minutes)
    .venv/bin/python -m bench.run_bench --sizes 100000 --skip-train

For each size: a sample from the project's generator (cached under <cache>/samples by its
parameters); bronze, silver, gold and train on a fresh lake in one process, exactly as
`make bronze silver gold train` runs them (JVM start included), split into stages by the
`pipeline: <stage> X s` lines it prints; then the DuckDB reference on the same files,
checked row by row against the pipeline's tables. On the largest size one more month is
generated and bronze, silver and gold run again on that lake (the incremental cost).
Results: <results>/<timestamp>.json, latest.md and latest.png.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench.compare import compare
from bench.procmon import measure
from bench.report import STAGES, STARTUP, TO_GOLD, render
from bench.samples import Sample, SampleSpec, default_customers, ensure_sample, extend, working_copy
from lakehouse.config import PROJECT_ROOT, load_settings
from ml.tracking import git_commit
from tools import cluster as local_cluster

BENCH = PROJECT_ROOT / "bench"
PIPELINE_LINE = re.compile(r"^pipeline: (?:ml\.)?(\w+) (\d+(?:\.\d+)?) s$")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m bench.run_bench",
                                description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000000,10000000",
                   help="generator rows per run, comma-separated [%(default)s]")
    p.add_argument("--months", type=int, default=24, help="months of data [%(default)s]")
    p.add_argument("--customers", type=int, help="customers per sample [rows / 200]")
    p.add_argument("--seed", type=int, default=42, help="generator seed [%(default)s]")
    p.add_argument("--skip-train", action="store_true", help="bronze, silver and gold only")
    p.add_argument("--skip-incremental", action="store_true",
                   help="no new month on the largest size")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="SECTION.KEY=VALUE", help="a setting for every stage (repeatable)")
    p.add_argument("--cluster", action="store_true",
                   help="also run each size on the local standalone cluster (conf/cluster.yml, "
                        "started here if it is not running) and print cluster / local")
    p.add_argument("--cache", type=Path, default=BENCH / "cache",
                   help="samples, lakes and logs [bench/cache]")
    p.add_argument("--results", type=Path, default=BENCH / "results",
                   help="JSON, latest.md and latest.png [bench/results]")
    return p.parse_args(argv)


def stage_overrides(work: Path, sample: Sample, size: int, extra: list[str]) -> list[str]:
    """--set values of one run: its folders, a 12g driver from 5M rows on (local[*] holds
    the data in the driver's JVM), then the command line's (the last value wins)."""
    paths = {"landing": sample.landing, "truth": sample.truth, "lake": work / "lake",
             "reports": work / "reports", "mlflow": work / "mlruns"}
    memory = ["spark.driver_memory=12g"] if size >= 5_000_000 else []
    return [*(f"paths.{k}={v}" for k, v in paths.items()), *memory, *extra]


def module(name: str, sets: list[str], *args: str, env: str = "local") -> list[str]:
    """`python -m <name> --env <env> --set ... <args>`."""
    return [sys.executable, "-m", name, "--env", env,
            *(a for s in sets for a in ("--set", s)), *args]


def stage_seconds(log: str, stages: tuple[str, ...]) -> dict[str, dict]:
    """Each stage's seconds from the `pipeline: <stage> X s` lines of a pipeline log."""
    found = {}
    for line in Path(log).read_text(encoding="utf-8", errors="replace").splitlines():
        match = PIPELINE_LINE.match(line.strip())
        if match and match[1] in stages:
            found[match[1]] = {"seconds": float(match[2])}
    missing = [s for s in stages if s not in found]
    if missing:
        raise RuntimeError(f"pipeline log {log} has no timing line for {missing}")
    return found


def run_pipeline(stages: tuple[str, ...], sets: list[str], log: Path, *, env: str = "local"
                 ) -> tuple[dict, dict]:
    """`python -m pipeline <stages>` as one measured process: seconds per stage, with
    `startup` the rest of its wall time (imports, JVM start and stop), and the process
    (on a cluster its tree is the driver: python and the driver's JVM)."""
    proc = measure(module("pipeline", sets, *stages, env=env), log)
    seconds = stage_seconds(proc["log"], stages)
    startup = round(proc["seconds"] - sum(s["seconds"] for s in seconds.values()), 2)
    seconds = {STARTUP: {"seconds": startup}, **seconds}
    print(f"  pipeline {proc['seconds']:7.1f} s ("
          + ", ".join(f"{k} {v['seconds']:.1f}" for k, v in seconds.items())
          + f"); driver {proc['driver_mib']:,.0f} MiB, JVM {proc['jvm_mib']:,.0f} MiB, other "
          f"CPU {proc['other_cpu_share']:.0%}, stolen {proc['stolen_cpu_share']:.0%}", flush=True)
    return seconds, proc


def run_duckdb(work: Path, sets: list[str], lake: Path) -> tuple[dict, dict]:
    """The DuckDB reference as its own process on the same files, and its comparison with
    the pipeline's tables in `lake`."""
    out = work / "duckdb.json"
    proc = measure(module("bench.duckdb_reference", sets, "--out", str(work / "duckdb"),
                          "--json", str(out)), work / "duckdb.log")
    reference = {**json.loads(out.read_text(encoding="utf-8")), "wall_seconds": proc["seconds"],
                 "peak_mib": proc["driver_mib"], "other_cpu_share": proc["other_cpu_share"],
                 "stolen_cpu_share": proc["stolen_cpu_share"]}
    comparison = compare(reference, lake, load_settings("local", overrides=sets)
                         .tables.names.model_dump())
    print(f"  duckdb   {proc['seconds']:7.1f} s; pipeline and DuckDB "
          f"{'agree' if comparison['agree'] else 'DISAGREE'}: "
          f"{json.dumps(comparison['differences'], default=str)} features "
          f"{comparison['feature_row_mismatches']} labels {comparison['label_row_mismatches']}",
          flush=True)
    return reference, comparison


# Executors of the local cluster: the 2 workers' memory, most of it for the executor's heap.
CLUSTER_MEMORY = ("6g", "spark.conf.spark.executor.memory=5g")


def run_on_cluster(work: Path, sample: Sample, args: argparse.Namespace, local: dict) -> dict:
    """The same stages on the local standalone cluster, on a lake of their own, with the
    cluster overlay's driver (the data stays in the executors): seconds per stage, the
    driver's peak memory, and the ratio to the `local` run of the same sitting."""
    paths = {"landing": sample.landing, "truth": sample.truth, "lake": work / "lake",
             "reports": work / "reports", "mlflow": work / "mlruns"}
    sets = [*(f"paths.{k}={v}" for k, v in paths.items()), f"spark.master={args.cluster_url}",
            CLUSTER_MEMORY[1], *args.overrides]
    stages, proc = run_pipeline(TO_GOLD if args.skip_train else STAGES, sets,
                                work / "logs" / "pipeline.log", env="cluster")
    ratio = proc["seconds"] / local["process"]["seconds"]
    print(f"  cluster / local[*]: {ratio:.2f}x wall time; driver peak "
          f"{proc['driver_mib'] + proc['jvm_mib']:,.0f} MiB (python + JVM)", flush=True)
    return {"stages": stages, "process": proc, "ratio_to_local": round(ratio, 3)}


def bench_size(size: int, args: argparse.Namespace, incremental: bool) -> tuple[dict, dict]:
    """One size: sample, pipeline, DuckDB, and (when asked) the incremental run."""
    spec = SampleSpec(size, args.months, args.customers or default_customers(size), args.seed)
    sample = ensure_sample(args.cache, spec)
    print(f"\n== {size:,} rows requested: {sample.records:,} CSV records, "
          f"{spec.customers:,} customers, {spec.months} months "
          f"({'cached' if sample.generate_seconds is None else 'generated'})", flush=True)
    work = args.cache / "runs" / spec.key
    shutil.rmtree(work, ignore_errors=True)
    copy = working_copy(sample, work / "input")
    sets = stage_overrides(work, copy, size, args.overrides)
    run: dict[str, Any] = {"size": size, "rows": copy.records, "sample": vars(spec),
                           "generate_seconds": sample.generate_seconds}
    run["stages"], run["process"] = run_pipeline(TO_GOLD if args.skip_train else STAGES, sets,
                                                 work / "logs" / "pipeline.log")
    run["duckdb"], run["comparison"] = run_duckdb(work, sets, work / "lake")
    if args.cluster_url:
        run["cluster"] = run_on_cluster(work / "cluster", copy, args, run)
    if not incremental:
        return run, {}
    extended, new_rows, gen_s = extend(copy)
    print(f"  -- one new month: {new_rows:,} new records (generated in {gen_s:.1f} s)",
          flush=True)
    inc: dict[str, Any] = {"size": size, "months": 1, "rows": new_rows,
                           "total_rows": extended.records}
    inc["stages"], inc["process"] = run_pipeline(TO_GOLD, sets,
                                                 work / "logs" / "incremental.log")
    check, inc["comparison"] = run_duckdb(work / "incremental", sets, work / "lake")
    inc["duckdb_full_recompute_seconds"] = check["wall_seconds"]
    return run, inc


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m bench.run_bench`."""
    args = parse_args(argv)
    sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip())
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpus": psutil.cpu_count(), "python": sys.version.split()[0],
                    "memory_gib": round(psutil.virtual_memory().total / 2**30, 1)},
        "commit": git_commit(PROJECT_ROOT), "runs": [],
        "options": {k: str(v) for k, v in vars(args).items()}}
    print(f"bench: sizes {sizes}, {results['machine']['cpus']} CPUs, commit "
          f"{results['commit']}", flush=True)
    with _cluster(args.cluster, args.cache) as args.cluster_url:
        for size in sizes:
            run, inc = bench_size(size, args, not args.skip_incremental and size == sizes[-1])
            results["runs"].append(run)
            if inc:
                results["incremental"] = inc
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"{results['started_at'].replace(':', '').replace('-', '')}.json"
    path.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    print("\n" + render(results, args.results))
    print(f"results: {path}, {args.results / 'latest.md'}, {args.results / 'latest.png'}")
    return 0


@contextmanager
def _cluster(wanted: bool, cache: Path) -> Iterator[str | None]:
    """For --cluster, a local cluster of the benchmark's own (its state under `cache`, a
    free port, workers big enough for its sizes), stopped at the end: its URL."""
    if not wanted:
        yield None
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    state = cache / "cluster"
    cluster, _ = local_cluster.up(f"spark://127.0.0.1:{port}", state=state,
                                  worker_memory=CLUSTER_MEMORY[0])
    print(f"cluster at {cluster.url} (logs: {state / 'logs'})", flush=True)
    try:
        yield cluster.url
    finally:
        local_cluster.down(state=state)


if __name__ == "__main__":
    raise SystemExit(main())
