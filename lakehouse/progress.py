"""Progress lines: what a run is doing now, and how long it took.

Each step logs one line when it starts and one with its seconds when it ends (INFO: on the
terminal and in the run's log file), so a long stage never sits silent. Spark's own console
progress bar is on only when stderr is a terminal outside CI (lakehouse/spark.py).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("lakehouse.progress")


@contextmanager
def step(what: str) -> Iterator[None]:
    """Log `what` when it starts and its duration when it ends."""
    log.info("%s ...", what)
    started = time.perf_counter()
    yield
    log.info("%s: done in %.1f s", what, time.perf_counter() - started)


def interactive() -> bool:
    """True when a person watches: stderr is a terminal and this is not a CI run."""
    return sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("true", "1")
