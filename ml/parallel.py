"""Fitting several models at once: Spark runs jobs from several threads side by side.

Training on a gold snapshot is many small Spark jobs (one per optimiser iteration), each
too small to keep every core busy; fitting the candidates of a search in parallel
threads overlaps them. Results come back in input order, so searches stay deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_in_threads(fn: Callable[[T], R], items: Iterable[T], *, workers: int) -> list[R]:
    """`[fn(item) for item in items]`, up to `workers` at a time; the first exception is
    raised after the running calls finish."""
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items)),
                            thread_name_prefix="fit") as pool:
        return list(pool.map(fn, items))
