"""A Spark standalone cluster on this machine: `make cluster-up`, `make cluster-down`.

One master and two workers (one core and `--worker-memory` each), every one its own JVM on
127.0.0.1, started from the pinned pyspark installation with `spark-class`. The master's
address is `spark.master` of the environment (`conf/cluster.yml`: spark://127.0.0.1:7077),
so `make bronze silver gold train ENV=cluster` runs the stages on it (the Makefile starts
it first when it is not running). Logs, work folders and the process ids are kept under
`--state` (default `.cluster/`, ignored by git); `down` stops exactly the recorded
processes (checking each is still the Spark daemon it started) and nothing else.

The workers are started without the project on their PYTHONPATH and in their own work
folders: the executors get the code the way a real cluster gives it, from the session
(lakehouse/spark.py ships the project as a zip with `addPyFile`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlparse

import psutil
import pyspark

from lakehouse.config import PROJECT_ROOT, add_config_arguments, settings_from_args
from lakehouse.errors import LakehouseError

STATE = PROJECT_ROOT / ".cluster"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 20


class ClusterError(LakehouseError):
    """The local cluster could not be started or stopped."""


@dataclass(frozen=True)
class Cluster:
    """What `up` started (saved as `<state>/cluster.json`)."""

    url: str  # spark://127.0.0.1:7077
    master_pid: int
    worker_pids: tuple[int, ...]

    @property
    def pids(self) -> tuple[int, ...]:
        return (self.master_pid, *self.worker_pids)


def master_address(url: str) -> tuple[str, int]:
    """Host and port of a `spark://host:port` URL; ClusterError for anything else."""
    parsed = urlparse(url)
    if parsed.scheme != "spark" or not parsed.hostname or not parsed.port:
        raise ClusterError(f"spark.master is {url!r}: the local cluster needs a "
                           "spark://127.0.0.1:PORT address (conf/cluster.yml)")
    return parsed.hostname, parsed.port


def spark_class() -> Path:
    """`bin/spark-class` of the installed pyspark (the version requirements.lock pins)."""
    return Path(pyspark.__file__).parent / "bin" / "spark-class"


def load(state: Path) -> Cluster | None:
    """The cluster recorded under `state`, or None."""
    try:
        data = json.loads((state / "cluster.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return Cluster(data["url"], data["master_pid"], tuple(data["worker_pids"]))


def _ours(pid: int) -> psutil.Process | None:
    """The process `pid` if it is still a Spark master or worker JVM (pids are reused)."""
    try:
        process = psutil.Process(pid)
        command = " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return process if MASTER_CLASS in command or WORKER_CLASS in command else None


def running(state: Path) -> Cluster | None:
    """The recorded cluster if every one of its processes is alive."""
    cluster = load(state)
    if cluster is None or not all(_ours(pid) for pid in cluster.pids):
        return None
    return cluster


def _daemon_env(state: Path) -> dict[str, str]:
    """The daemons' environment: no PYTHONPATH (executors get the code from the session),
    their own folders, Spark's defaults for everything else."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SPARK_HOME")}
    env.update(SPARK_LOG_DIR=str(state / "logs"), SPARK_WORKER_DIR=str(state / "work"),
               SPARK_NO_DAEMONIZE="1")
    return env


def _start(state: Path, name: str, args: list[str]) -> subprocess.Popen:
    log = (state / "logs" / f"{name}.log").open("ab")
    return subprocess.Popen([str(spark_class()), *args], cwd=state / "work",
                            env=_daemon_env(state), stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def _wait(state: Path, what: str, ready, processes: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        for process in processes:
            if process.poll() is not None:
                raise ClusterError(f"the cluster's {what} stopped at start (exit code "
                                   f"{process.returncode}): see {state / 'logs'}")
        if time.monotonic() > deadline:
            raise ClusterError(f"the cluster's {what} did not start in {START_TIMEOUT_S} s: "
                               f"see {state / 'logs'}")
        time.sleep(0.5)


def _listening(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


def _registered_workers(state: Path) -> int:
    try:
        text = (state / "logs" / "master.log").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return 0
    return len(re.findall(r"Registering worker ", text))


def up(url: str, *, state: Path = STATE, workers: int = 2, worker_memory: str = "2g"
       ) -> tuple[Cluster, bool]:
    """Start the master and `workers` workers (one core each) unless they run already.
    Returns the cluster and whether it was started now."""
    current = running(state)
    if current is not None and current.url == url:
        return current, False
    if current is not None:
        down(state=state)
    host, port = master_address(url)
    if _listening(host, port):
        raise ClusterError(f"{host}:{port} is taken by another process (not a cluster "
                           f"started from {state}): stop it, or set spark.master to a free "
                           "port")
    for folder in ("logs", "work"):
        (state / folder).mkdir(parents=True, exist_ok=True)
    (state / "logs" / "master.log").unlink(missing_ok=True)
    master = _start(state, "master", [MASTER_CLASS, "--host", host, "--port", str(port),
                                      "--webui-port", "0"])
    started = [master]
    try:
        _wait(state, "master", lambda: _listening(host, port), started)
        for i in range(workers):
            started.append(_start(state, f"worker-{i + 1}", [
                WORKER_CLASS, url, "--host", host, "--cores", "1", "--memory", worker_memory,
                "--webui-port", "0", "--work-dir", str(state / "work" / f"worker-{i + 1}")]))
        _wait(state, "workers", lambda: _registered_workers(state) >= workers, started)
    except BaseException:
        _stop([p.pid for p in started])
        raise
    cluster = Cluster(url, master.pid, tuple(p.pid for p in started[1:]))
    (state / "cluster.json").write_text(json.dumps(asdict(cluster)), encoding="utf-8")
    return cluster, True


def _stop(pids: list[int]) -> list[int]:
    """Terminate the given Spark daemons (then kill what is left); the pids stopped."""
    processes = [p for p in map(_ours, pids) if p is not None]
    for process in processes:
        process.terminate()
    _, alive = psutil.wait_procs(processes, timeout=STOP_TIMEOUT_S)
    for process in alive:
        process.kill()
    psutil.wait_procs(alive, timeout=STOP_TIMEOUT_S)
    return [p.pid for p in processes]


def down(*, state: Path = STATE) -> list[int]:
    """Stop the recorded cluster's processes; the pids that were stopped."""
    cluster = load(state)
    if cluster is None:
        return []
    stopped = _stop(list(cluster.pids))
    (state / "cluster.json").unlink(missing_ok=True)
    return stopped


def main(argv: list[str] | None = None) -> int:
    """`python -m tools.cluster up|down|status [--env cluster]`."""
    parser = argparse.ArgumentParser(prog="python -m tools.cluster",
                                     description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    parser.add_argument("action", choices=("up", "down", "status"))
    parser.add_argument("--state", type=Path, default=STATE,
                        help="folder of the logs, work folders and process ids (.cluster/)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-memory", default="2g")
    args = parser.parse_args(argv)
    try:
        if args.action == "down":
            stopped = down(state=args.state)
            print(f"cluster stopped (pids {', '.join(map(str, stopped))})" if stopped
                  else "no cluster was running")
            return 0
        url = settings_from_args(args).spark.master
        if args.action == "status":
            cluster = running(args.state)
            print(f"cluster at {cluster.url} (pids {', '.join(map(str, cluster.pids))})"
                  if cluster else "no cluster running")
            return 0 if cluster else 1
        cluster, started = up(url, state=args.state, workers=args.workers,
                              worker_memory=args.worker_memory)
        verb = "started" if started else "already running"
        print(f"Spark cluster {verb} at {cluster.url}: master pid {cluster.master_pid}, "
              f"workers {', '.join(map(str, cluster.worker_pids))} (logs: "
              f"{args.state / 'logs'}; stop it with `make cluster-down`)")
        return 0
    except LakehouseError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
