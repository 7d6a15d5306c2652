"""Logging for entry points: one format, quiet third-party libraries."""

from __future__ import annotations

import logging
import os

NOISY = ("py4j", "great_expectations", "urllib3", "mlflow.utils", "alembic", "matplotlib")


def configure_logging(level: str | None = None) -> None:
    """Log to stderr at `level` (default $LAKEHOUSE_LOG_LEVEL or INFO)."""
    level = (level or os.environ.get("LAKEHOUSE_LOG_LEVEL") or "INFO").upper()
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        force=True,
    )
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
