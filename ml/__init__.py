"""Churn model and customer segmentation on the gold tables, tracked in MLflow.

Entry points: `python -m ml.train`, `python -m ml.score`, `python -m ml.ui`.

MLflow must never reach the network from here (local stores only). Its usage telemetry is
switched on at `import mlflow` time, so the opt-outs are set when this package is imported,
before any `ml` module imports mlflow. Values already in the environment win.
"""

from __future__ import annotations

import os

OFFLINE_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",  # no usage telemetry (read at `import mlflow`)
    "DO_NOT_TRACK": "true",  # the cross-tool opt-out mlflow also honours
    "GIT_PYTHON_REFRESH": "quiet",  # no warning when git is missing
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",  # errors surface where they happen
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # no download bars on the terminal
}

for _key, _value in OFFLINE_ENV.items():
    os.environ.setdefault(_key, _value)
