"""map_in_threads: results in input order, errors surface, one worker runs inline."""

from __future__ import annotations

import threading
import time

import pytest

from ml.parallel import map_in_threads


def test_results_keep_the_input_order_whatever_finishes_first():
    def slow_for_small(n: int) -> int:
        time.sleep(0.02 * (5 - n))
        return n * n

    assert map_in_threads(slow_for_small, range(5), workers=3) == [0, 1, 4, 9, 16]


def test_calls_overlap_with_several_workers_and_not_with_one():
    running, peak, lock = [0], [0], threading.Lock()

    def track(_: int) -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1

    map_in_threads(track, range(4), workers=4)
    assert peak[0] > 1
    peak[0] = 0
    map_in_threads(track, range(4), workers=1)
    assert peak[0] == 1


def test_an_exception_in_one_call_is_raised():
    def fail_on_two(n: int) -> int:
        if n == 2:
            raise ValueError("bad candidate 2")
        return n

    with pytest.raises(ValueError, match="bad candidate 2"):
        map_in_threads(fail_on_two, range(4), workers=2)
