"""`make mlflow-ui`: the MLflow UI over the local tracking store, on 127.0.0.1 only.

Starts `mlflow ui` with the SQLite store and artifact folder under paths.mlflow (the same
ones `make train` writes), usage telemetry off. No Spark session is started.
"""

from __future__ import annotations

import argparse
import os
import sys

from lakehouse.config import add_config_arguments, settings_from_args
from lakehouse.errors import LakehouseError
from lakehouse.settings import Settings
from ml import OFFLINE_ENV
from ml.tracking import artifact_root, tracking_uri

# No background job workers (GenAI features this project does not use; they also outlive
# a stopped server), no telemetry.
UI_ENV = {**OFFLINE_ENV, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def ui_command(settings: Settings, *, host: str | None = None, port: int | None = None
               ) -> list[str]:
    """The `mlflow ui` command line for the configured local store."""
    artifacts = artifact_root(settings) or ""
    return [sys.executable, "-m", "mlflow", "ui",
            "--backend-store-uri", tracking_uri(settings),
            "--default-artifact-root", artifacts,
            "--host", host or settings.mlflow.ui_host,
            "--port", str(port or settings.mlflow.ui_port)]


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m ml.ui`: becomes the MLflow server until interrupted."""
    parser = argparse.ArgumentParser(prog="ml.ui", description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    parser.add_argument("--host", help="address to listen on (default mlflow.ui_host)")
    parser.add_argument("--port", type=int, help="port (default mlflow.ui_port)")
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
    except LakehouseError as err:
        print(f"ml.ui: error: {err}", file=sys.stderr)
        return 1
    if settings.mlflow.tracking_uri:
        print(f"ml.ui: runs are tracked at {settings.mlflow.tracking_uri}; open that "
              "server's UI instead", file=sys.stderr)
        return 1
    settings.paths.mlflow.mkdir(parents=True, exist_ok=True)
    command = ui_command(settings, host=args.host, port=args.port)
    host, port = command[command.index("--host") + 1], command[command.index("--port") + 1]
    print(f"MLflow UI on http://{host}:{port} (store {tracking_uri(settings)}); Ctrl+C stops it",
          flush=True)
    # Replace this process: Ctrl+C and SIGTERM reach the server itself, nothing is orphaned.
    os.execve(command[0], command, {**os.environ, **UI_ENV})
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
