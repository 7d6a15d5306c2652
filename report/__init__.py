"""The static HTML report of the latest run: pipeline flow, quality, Delta versions, the
churn model against its baselines, segments, customers at risk and feature drift.

`make report` (`python -m report`); the pipeline also builds it after `train` and `score`.
It sits above the layers: it reads their tables and MLflow runs, never their internals.
"""
