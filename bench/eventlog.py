"""Which Spark jobs and stages dominate a stage run, from a Spark event log.

    .venv/bin/python -m bench.run_bench --sizes 1000000 --event-logs   # writes the logs
    .venv/bin/python -m bench.eventlog bench/cache/runs/<key>/eventlogs/<app-id>

A job is named by its call site (the pipeline line, e.g. `collect at silver/run.py:105`);
each stage by its name, with task time, shuffle and spill volumes. Only the event log's
JSON lines are read (no Spark needed).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path

METRICS = {  # accumulator name -> (field, divisor)
    "internal.metrics.executorRunTime": ("task_seconds", 1000),
    "internal.metrics.jvmGCTime": ("gc_seconds", 1000),
    "internal.metrics.shuffle.write.bytesWritten": ("shuffle_write_mib", 2**20),
    "internal.metrics.shuffle.read.localBytesRead": ("shuffle_read_mib", 2**20),
    "internal.metrics.shuffle.read.remoteBytesRead": ("shuffle_read_mib", 2**20),
    "internal.metrics.memoryBytesSpilled": ("spill_memory_mib", 2**20),
    "internal.metrics.diskBytesSpilled": ("spill_disk_mib", 2**20),
    "internal.metrics.input.recordsRead": ("input_records", 1),
}


def read_events(path: Path) -> Iterable[dict]:
    """The events of an event log file (one JSON object per line)."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def summarize(events: Iterable[dict], root: str = "") -> dict[str, list[dict]]:
    """Jobs grouped by call site (`call_sites`: jobs, seconds, longest), the single jobs
    and the stages (name, seconds, tasks, metrics), each sorted longest first. A job's call
    site is the pipeline line of its action (or, for jobs Spark starts itself, the
    description of their SQL execution, else the name of their last stage). Jobs may run
    at the same time: summed seconds can exceed the wall time. `root` is cut from paths."""
    jobs: dict[int, dict] = {}
    executions: dict[str, str] = {}
    stages: list[dict] = []
    for event in events:
        kind = event.get("Event", "")
        if kind.endswith("SparkListenerSQLExecutionStart"):
            executions[str(event.get("executionId"))] = event.get("description") or "?"
        elif kind == "SparkListenerJobStart":
            props = event.get("Properties") or {}
            infos = event.get("Stage Infos") or [{}]
            site = (props.get("callSite.short")
                    or executions.get(str(props.get("spark.sql.execution.id")))
                    or props.get("spark.job.description")
                    or max(infos, key=lambda i: i.get("Stage ID", -1)).get("Stage Name", "?"))
            jobs[event["Job ID"]] = {"job": event["Job ID"], "call_site": site.replace(root, ""),
                                     "start": event["Submission Time"],
                                     "stages": event.get("Stage IDs", [])}
        elif kind == "SparkListenerJobEnd" and event["Job ID"] in jobs:
            job = jobs[event["Job ID"]]
            job["seconds"] = (event["Completion Time"] - job.pop("start")) / 1000
        elif kind == "SparkListenerStageCompleted":
            stages.append(_stage(event["Stage Info"], root))
    done = [j for j in jobs.values() if "seconds" in j]
    sites: dict[str, dict] = {}
    for job in done:
        site = sites.setdefault(job["call_site"], {"call_site": job["call_site"], "jobs": 0,
                                                   "seconds": 0.0, "longest": 0.0})
        site["jobs"] += 1
        site["seconds"] += job["seconds"]
        site["longest"] = max(site["longest"], job["seconds"])
    return {"call_sites": sorted(sites.values(), key=lambda c: -c["seconds"]),
            "jobs": sorted(done, key=lambda j: -j["seconds"]),
            "stages": sorted(stages, key=lambda s: -s["seconds"])}


def _stage(info: dict, root: str) -> dict:
    stage = {"stage": info["Stage ID"], "name": info.get("Stage Name", "?").replace(root, ""),
             "tasks": info.get("Number of Tasks"),
             "seconds": (info.get("Completion Time", 0) - info.get("Submission Time", 0)) / 1000}
    for field, _ in METRICS.values():
        stage.setdefault(field, 0.0)
    for acc in info.get("Accumulables", []):
        if acc.get("Name") in METRICS:
            field, divisor = METRICS[acc["Name"]]
            stage[field] += float(acc.get("Value") or 0) / divisor
    return stage


def text(summary: dict[str, list[dict]], top: int = 12) -> str:
    """A readable report of the longest jobs and stages."""
    lines = [f"{'jobs s':>7} {'jobs':>5} {'longest':>7}  call site"]
    lines += [f"{c['seconds']:7.1f} {c['jobs']:5d} {c['longest']:7.1f}  {c['call_site']}"
              for c in summary["call_sites"][:top]]
    lines += ["", f"{'stage s':>7} {'tasks':>5} {'task s':>7} {'gc s':>5} {'shuf w':>7} "
              f"{'shuf r':>7} {'spill':>7} {'in rows':>11}  name"]
    for s in summary["stages"][:top]:
        lines.append(f"{s['seconds']:7.1f} {s['tasks'] or 0:5d} {s['task_seconds']:7.1f} "
                     f"{s['gc_seconds']:5.1f} {s['shuffle_write_mib']:7.0f} "
                     f"{s['shuffle_read_mib']:7.0f} {s['spill_disk_mib']:7.0f} "
                     f"{s['input_records']:11,.0f}  {s['name']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the summary of each event log given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", type=Path, nargs="+")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    root = str(Path(__file__).resolve().parent.parent) + "/"
    for path in args.logs:
        print(f"== {path}")
        print(text(summarize(read_events(path), root), args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
