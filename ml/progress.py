"""Progress lines for the training log: what runs now and how long it took."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("ml")


@contextmanager
def step(what: str) -> Iterator[None]:
    """Log `what` when it starts and its duration when it ends."""
    log.info("%s ...", what)
    started = time.perf_counter()
    yield
    log.info("%s: done in %.1f s", what, time.perf_counter() - started)
