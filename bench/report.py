"""Benchmark results as text: the targets, a markdown table and a log-log plot.

Everything here works on the JSON-ready result dictionary written by bench.run_bench
(`runs`: one per size with `stages` and `duckdb`; `incremental`), so a results file
can be re-rendered without re-running anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STAGES = ("bronze", "silver", "gold", "train")
STARTUP = "startup"  # one-process runs: imports, JVM start and stop (see bench.stages)
TO_GOLD = ("bronze", "silver", "gold")
SMALL, LARGE = 1_000_000, 10_000_000
MIB_PER_GIB = 1024


@dataclass(frozen=True)
class Target:
    """One target of issue 11 and how the run did against it."""

    name: str
    measured: float | None
    limit: float
    detail: str

    @property
    def passed(self) -> bool | None:
        """True/False, or None when the run did not measure it."""
        return None if self.measured is None else self.measured <= self.limit

    def line(self) -> str:
        """`PASS name: measured <= limit (detail)`."""
        verdict = {True: "PASS", False: "MISS", None: "N/A "}[self.passed]
        value = "not measured" if self.measured is None else f"{self.measured:,.3g}"
        return f"{verdict} {self.name}: {value} (limit {self.limit:,.3g}); {self.detail}"


def seconds(stages: Mapping[str, Any], names: Iterable[str]) -> float | None:
    """Summed wall seconds of the named stages, None if one is missing; a one-process run
    adds its startup (the JVM starts once for all of them)."""
    found = [stages[n]["seconds"] for n in names if n in stages]
    if len(found) != len(tuple(names)):
        return None
    return sum(found) + stages.get(STARTUP, {}).get("seconds", 0.0)


def run_of(results: Mapping[str, Any], size: int) -> Mapping[str, Any] | None:
    """The run of a nominal size (generator rows), if measured."""
    return next((r for r in results.get("runs", []) if r["size"] == size), None)


def evaluate_targets(results: Mapping[str, Any]) -> list[Target]:
    """The targets of issue 11 against `results`."""
    small, large = run_of(results, SMALL), run_of(results, LARGE)
    small_stages = small["stages"] if small else {}
    large_stages = large["stages"] if large else {}
    targets = [Target("bronze+silver+gold+train on 1M rows, JVM starts included (s)",
                      seconds(small_stages, STAGES), 90, "from an empty lake")]
    duck = (large or {}).get("duckdb") or {}
    to_gold = seconds(large_stages, TO_GOLD)
    ratio = to_gold / duck["wall_seconds"] if to_gold and duck.get("wall_seconds") else None
    targets.append(Target("bronze..gold on 10M rows / DuckDB reference (x)", ratio, 5,
                          f"pipeline {_s(to_gold)} vs DuckDB {_s(duck.get('wall_seconds'))}"))
    growth = {s: large_stages[s]["seconds"] / small_stages[s]["seconds"]
              for s in STAGES if s in small_stages and s in large_stages}
    worst = max(growth, key=growth.get) if growth else None
    targets.append(Target("largest stage growth from 1M to 10M rows (x)",
                          growth[worst] if worst else None, 10,
                          ", ".join(f"{s} {g:.1f}x" for s, g in growth.items())))
    inc = results.get("incremental") or {}
    inc_s = seconds(inc.get("stages", {}), TO_GOLD)
    full = seconds((run_of(results, inc.get("size")) or {}).get("stages", {}), TO_GOLD)
    targets.append(Target("one new month on the 10M lake / full run (share)",
                          inc_s / full if inc_s and full else None, 0.2,
                          f"incremental {_s(inc_s)} vs full bronze..gold {_s(full)}"))
    gates = [(f"{r['size']:,} {name}", st["gate_share"])
             for r in results.get("runs", []) for name, st in r["stages"].items()]
    gates += [(f"incremental {name}", st["gate_share"])
              for name, st in inc.get("stages", {}).items()]
    gate = max(gates, key=lambda g: g[1]) if gates else None
    targets.append(Target("quality gate share of a stage (worst)", gate[1] if gate else None,
                          0.2, f"worst: {gate[0]}" if gate else "no stage ran"))
    drivers = {s: st["driver_mib"] for s, st in large_stages.items()}
    top = max(drivers, key=drivers.get) if drivers else None
    targets.append(Target("Python driver peak at 10M rows (GiB)",
                          drivers[top] / MIB_PER_GIB if top else None, 1.5,
                          f"worst: {top}" if top else "10M not run"))
    return targets


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} s"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _mib(value: float | None) -> str:
    return "-" if not value else f"{value:,.0f}"


def stage_rows(run: Mapping[str, Any], label: str) -> list[list[str]]:
    """Table rows of one run: one per stage, then the bronze..gold and all totals."""
    duck = run.get("duckdb") or {}
    duck_s = duck.get("seconds", {})
    rows = []
    for name in (STARTUP, *STAGES):
        st = run["stages"].get(name)
        if name == STARTUP and st is None:
            continue
        if st is None and name not in duck_s:
            continue
        st = st or {}
        ref = duck_s.get(name)
        ratio = st["seconds"] / ref if st and ref else None
        rows.append([label, name, f"{run['rows']:,}", _s(st.get("seconds")),
                     f"{st['rows_per_second']:,.0f}" if st else "-",
                     _mib(st.get("driver_mib")), _mib(st.get("jvm_mib")),
                     _mib(st.get("workers_mib")), _pct(st.get("gate_share")) if st else "-",
                     _pct(st.get("other_cpu_share")), _pct(st.get("stolen_cpu_share")),
                     _s(ref), f"{ratio:,.0f}x" if ratio else "-"])
    for names, title in ((TO_GOLD, "bronze..gold"), (STAGES, "all four")):
        total = seconds(run["stages"], names)
        if total is None:
            continue
        ref = duck.get("wall_seconds") if names == TO_GOLD else None
        rows.append([label, f"**{title}**", f"{run['rows']:,}", _s(total),
                     f"{run['rows'] / total:,.0f}", "", "", "", "", "", "",
                     _s(ref) + (" (process)" if ref else ""),
                     f"{total / ref:,.0f}x" if ref else "-"])
    return rows


HEADER = ["size", "stage", "rows", "wall", "rows/s", "driver MiB", "JVM MiB", "workers MiB",
          "gate", "other CPU", "stolen CPU", "DuckDB", "ratio"]


def markdown_table(rows: list[list[str]], header: list[str] = HEADER) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def markdown(results: Mapping[str, Any], targets: list[Target]) -> str:
    """The latest.md text: what ran, the table, the incremental run, the targets."""
    machine = results.get("machine", {})
    rows = [row for run in results.get("runs", [])
            for row in stage_rows(run, f"{run['size'] / 1e6:g}M")]
    inc = results.get("incremental")
    if inc:
        rows += stage_rows({**inc, "duckdb": inc.get("duckdb")}, f"+{inc['months']} month")
    checks = [f"- {r['size']:,}: pipeline and DuckDB agree: **{r['comparison']['agree']}**"
              for r in results.get("runs", []) if r.get("comparison")]
    if inc and inc.get("comparison"):
        checks.append(f"- incremental: agree: **{inc['comparison']['agree']}**")
    return "\n".join([
        f"# Pipeline benchmark {results.get('started_at', '')}", "",
        f"{machine.get('cpus')} CPUs, {machine.get('memory_gib', 0):.0f} GiB; "
        f"{results.get('note', '')}", "",
        "Wall seconds per stage: its own seconds when the stages share one process (as "
        "`make bronze silver gold train` runs them; `startup` = imports, JVM start and stop, "
        "counted once in the totals, and memory peaks are the whole process's), or the "
        "stage process's wall time with --processes per-stage; rows = CSV records of the "
        "run; peak resident memory (VmHWM) of the Python driver and the JVM, summed PSS of "
        "Python workers; gate = share of the stage in quality gates; other CPU = share of "
        "all CPUs used by other processes meanwhile (contention); stolen CPU = share of all "
        "CPU time the hypervisor gave to other virtual machines meanwhile (`steal` in "
        "/proc/stat; a busy host slows every stage by about that much or more); DuckDB = the "
        "same layer in bench/duckdb_reference.py; ratio = pipeline / DuckDB.", "",
        markdown_table(rows), "", "## Same results", "", *checks, "", "## Targets", "",
        *[f"- {t.line()}" for t in targets], ""])


def _duck_seconds(run: Mapping[str, Any], name: str) -> float | None:
    duck = run.get("duckdb") or {}
    if name == "bronze..gold":
        return duck.get("wall_seconds")
    return duck.get("seconds", {}).get(name)


def plot(results: Mapping[str, Any], path: Path) -> None:
    """Log-log plot of wall seconds against input rows, one line per stage (pipeline
    solid, DuckDB dashed), the incremental run as stars, and a slope-1 guide."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sorted(results.get("runs", []), key=lambda r: r["rows"])
    fig, ax = plt.subplots(figsize=(11, 6), dpi=120)
    colors = dict(zip((*STAGES, "bronze..gold"),
                      ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#222222"), strict=True))
    for name in (*STAGES, "bronze..gold"):
        names = TO_GOLD if name == "bronze..gold" else (name,)
        pts = [(r["rows"], seconds(r["stages"], names) if len(names) > 1
                else r["stages"].get(name, {}).get("seconds")) for r in runs]
        pts = [(x, y) for x, y in pts if y]
        if pts:
            ax.plot(*zip(*pts, strict=True), "o-", color=colors[name], lw=2, label=name)
        ref = [(r["rows"], _duck_seconds(r, name)) for r in runs]
        ref = [(x, y) for x, y in ref if y]
        if ref:
            ax.plot(*zip(*ref, strict=True), "s--", color=colors[name], lw=1, alpha=0.7,
                    label=f"{name} (DuckDB)")
    inc = results.get("incremental")
    if inc:
        for name, st in inc.get("stages", {}).items():
            ax.plot(inc["rows"], st["seconds"], "*", ms=14, color=colors.get(name, "k"),
                    label=f"{name}, +{inc['months']} month on the {inc['size'] / 1e6:g}M lake"
                          " (x = new rows)")
    if runs:
        x0, x1 = runs[0]["rows"], runs[-1]["rows"]
        ax.plot([x0, x1], [10, 10 * x1 / x0], ":", color="grey", label="∝ rows (from 10 s)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("input rows (CSV records)")
    ax.set_ylabel("wall seconds (log)")
    ax.set_title("Pipeline stages vs DuckDB reference: time against rows\n"
                 f"({results.get('machine', {}).get('cpus')} cores, JVM start included)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.report RESULTS.json [--out DIR]`: re-render latest.md and
    latest.png from a results file (targets re-evaluated)."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--out", type=Path, help="folder for latest.md and latest.png "
                        "[the results file's folder]")
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text(encoding="utf-8"))
    out = args.out or args.results.parent
    targets = evaluate_targets(results)
    (out / "latest.md").write_text(markdown(results, targets), encoding="utf-8")
    plot(results, out / "latest.png")
    print("\n".join(t.line() for t in targets))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
