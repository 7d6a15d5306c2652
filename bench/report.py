"""latest.md and latest.png from the results of bench.run_bench (`runs`: one per size with
`stages`, `process` and `duckdb`; `incremental`), so a results file can be re-rendered:

    .venv/bin/python -m bench.report bench/results/<timestamp>.json [--out DIR]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

STAGES = ("bronze", "silver", "gold", "train")
TO_GOLD = STAGES[:3]
STARTUP = "startup"  # imports, JVM start and stop: the process's wall time outside the stages
ROWS = (STARTUP, *STAGES, "bronze..gold", "all stages")
COLORS = {STARTUP: "#7f7f7f", "bronze": "#1f77b4", "silver": "#ff7f0e", "gold": "#2ca02c",
          "train": "#9467bd", "bronze..gold": "#222222", "all stages": "#d62728"}


def seconds(run: Mapping[str, Any], name: str) -> float | None:
    """The pipeline's seconds of a stage, or of a total (its stages plus the one startup)."""
    stages = run["stages"]
    names = {"bronze..gold": TO_GOLD, "all stages": STAGES}.get(name)
    if names is None:
        return stages.get(name, {}).get("seconds")
    if any(n not in stages for n in names):
        return None
    return sum(stages[n]["seconds"] for n in (*names, STARTUP) if n in stages)


def duckdb_seconds(run: Mapping[str, Any], name: str) -> float | None:
    """The reference's seconds of a layer; for bronze..gold its whole process."""
    duck = run.get("duckdb") or {}
    return duck.get("wall_seconds") if name == "bronze..gold" else \
        duck.get("seconds", {}).get(name)


def ratio(run: Mapping[str, Any], name: str) -> float | None:
    """Pipeline seconds / DuckDB seconds."""
    mine, ref = seconds(run, name), duckdb_seconds(run, name)
    return mine / ref if mine and ref else None


def measured(run: Mapping[str, Any], key: str) -> float | None:
    """A measurement of the pipeline process (older results repeat it in every stage)."""
    values = [p[key] for p in (run.get("process", {}), *run["stages"].values()) if key in p]
    return max(values) if values else None


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} s"


def _size(size: int) -> str:
    return f"{size / 1e6:g}M"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _mib(value: float | None) -> str:
    return "-" if not value else f"{value:,.0f} MiB"


def markdown(results: Mapping[str, Any]) -> str:
    """The latest.md text: stage x size seconds, DuckDB and the ratio at the largest size,
    the new month, memory peaks, contention and agreement."""
    runs = sorted(results["runs"], key=lambda r: r["size"])
    big, inc = runs[-1], results.get("incremental")
    at = _size(big["size"])
    header = ["stage", *(f"{_size(r['size'])} ({r['rows']:,} rows)" for r in runs),
              f"DuckDB at {at}", f"ratio at {at}"]
    header += [f"new month at {_size(inc['size'])} ({inc['rows']:,} rows)"] if inc else []
    table = []
    for name in ROWS:
        cells = [seconds(r, name) for r in runs]
        if not any(cells):
            continue
        r = ratio(big, name)
        row = [name, *map(_s, cells), _s(duckdb_seconds(big, name)),
               "-" if r is None else f"{r:.1f}x"]
        if inc:
            new, full = seconds(inc, name), seconds(run_of(runs, inc["size"]), name)
            share = f" = **{new / full:.0%}** of {_s(full)}" if name == "bronze..gold" \
                and new and full else ""
            row.append(_s(new) + share)
        table.append(row)
    for key, title in (("driver_mib", "driver peak"), ("jvm_mib", "JVM peak")):
        mib = [_mib(measured(r, key)) for r in runs]
        table.append([title, *mib, "", "", *([_mib(measured(inc, key))] if inc else [])])
    others = [(_size(r["size"]), measured(r, "other_cpu_share"),
               (r.get("duckdb") or {}).get("other_cpu_share")) for r in runs]
    others += [("new month", measured(inc, "other_cpu_share"), None)] if inc else []
    checks = [(_size(r["size"]), r.get("comparison")) for r in runs]
    checks += [("new month", inc.get("comparison"))] if inc else []
    machine = results.get("machine", {})
    return "\n".join([
        f"# Pipeline benchmark {results.get('started_at', '')}", "",
        f"{machine.get('cpus')} CPUs, {machine.get('memory_gib', 0):.0f} GiB"
        + (f", commit {results['commit']}" if results.get("commit") else "") + ".", "",
        "Seconds per stage of one `python -m pipeline` process per size, as `make bronze "
        "silver gold train` runs them; `startup` (imports, JVM start and stop) is counted "
        "once in the totals. DuckDB: the same layer in bench/duckdb_reference.py on the same "
        "files, its bronze..gold the whole process. Ratio: pipeline / DuckDB. Peaks: resident "
        "memory of the pipeline process's Python driver and JVM.", "",
        "| " + " | ".join(header) + " |", "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in table), "",
        "- Share of all CPUs other processes used meanwhile (pipeline / DuckDB): "
        + ", ".join(f"{n} {_pct(p)}" + ("" if d is None else f" / {_pct(d)}")
                    for n, p, d in others) + "; stolen by the hypervisor: "
        + ", ".join(f"{_size(r['size'])} {_pct(measured(r, 'stolen_cpu_share'))}"
                    for r in runs) + ".",
        "- Pipeline and DuckDB agree: "
        + ", ".join(f"{n} **{c['agree']}**" for n, c in checks if c) + ".", ""])


def run_of(runs: list[Mapping[str, Any]], size: int) -> Mapping[str, Any]:
    """The run of a size (generator rows)."""
    return next((r for r in runs if r["size"] == size), {"stages": {}})


def plot(results: Mapping[str, Any], path: Path) -> None:
    """Left: seconds against input rows per stage, log-log (pipeline solid, DuckDB dashed,
    the new month as stars at its new rows). Right: pipeline / DuckDB per layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sorted(results["runs"], key=lambda r: r["rows"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5), dpi=110)
    for ax, get, style, suffix in ((left, seconds, "o-", ""),
                                   (left, duckdb_seconds, "s--", " (DuckDB)"),
                                   (right, ratio, "o-", "")):
        for name in ROWS:
            pts = [(r["rows"], get(r, name)) for r in runs]
            pts = [(x, y) for x, y in pts if y]
            if pts:
                ax.plot(*zip(*pts, strict=True), style, color=COLORS[name],
                        label=name + suffix, lw=1 if suffix else 2)
    inc = results.get("incremental")
    if inc:
        for name in (*inc["stages"], "bronze..gold"):
            left.plot(inc["rows"], seconds(inc, name), "*", ms=13, color=COLORS[name],
                      label=f"{name}, new month" if name == "bronze..gold" else None)
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("input rows (CSV records; new month: its new rows)")
        ax.grid(True, which="both", alpha=0.3)
    left.set_yscale("log")
    left.set_ylabel("seconds (log)")
    left.set_title("Time per stage, JVM start included")
    left.legend(fontsize=7, ncol=2)
    right.set_ylim(bottom=0)
    right.set_ylabel("pipeline seconds / DuckDB seconds")
    right.set_title("Ratio to the DuckDB reference")
    right.legend(fontsize=8)
    fig.suptitle(f"Pipeline benchmark {results.get('started_at', '')} "
                 f"({results.get('machine', {}).get('cpus')} CPUs)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def render(results: Mapping[str, Any], folder: Path) -> str:
    """Write latest.md and latest.png into `folder`; returns the markdown."""
    text = markdown(results)
    (folder / "latest.md").write_text(text, encoding="utf-8")
    plot(results, folder / "latest.png")
    return text


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.report RESULTS.json [--out DIR]`."""
    parser = argparse.ArgumentParser(description="re-render latest.md and latest.png")
    parser.add_argument("results", type=Path)
    parser.add_argument("--out", type=Path, help="folder [the results file's folder]")
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text(encoding="utf-8"))
    print(render(results, args.out or args.results.parent))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
