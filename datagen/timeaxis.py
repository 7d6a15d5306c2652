"""Calendar helpers: month boundaries, hourly purchase intensity, timestamp formatting, RNG streams.

Times are int64 minutes since 1970-01-01 (naive local shop time, no DST): whole minutes are all
the Online Retail formats can show, and integers keep everything exact and vectorisable.
"""

from __future__ import annotations

from datetime import date

import numpy as np

MINUTES_PER_MONTH = 43_830  # 30.4375 days, the mean calendar month
DAYS_PER_MONTH = MINUTES_PER_MONTH / 1440

# Relative intensity Mon..Sun; the real shop hardly trades on Saturdays.
_WEEKDAY = np.array([1.10, 1.15, 1.15, 1.25, 0.95, 0.06, 0.70])
WEEKDAY_WEIGHTS = _WEEKDAY / _WEEKDAY.mean()
# Business hours 07:00-20:59 with a lunchtime peak; weights of one day sum to 1.
_HOUR = np.zeros(24)
_HOUR[7:21] = [0.2, 0.6, 1.0, 1.4, 1.5, 1.6, 1.5, 1.3, 1.1, 0.7, 0.4, 0.2, 0.15, 0.05]
HOUR_WEIGHTS = _HOUR / _HOUR.sum()
# Jan..Dec: pre-Christmas peak in Nov/early Dec; closed Dec 24 - Jan 3 like the real shop.
_YEAR = np.array([0.85, 0.75, 0.90, 0.85, 0.90, 0.90, 0.90, 0.90, 1.10, 1.25, 1.55, 1.55])
_OPEN_DAYS = np.array([28, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 23])
YEAR_WEIGHTS = _YEAR / (np.dot(_YEAR, _OPEN_DAYS) / 365)  # a year's weights sum to 365 days

# Stream purposes for stream(); never renumber them, or every sample changes.
CATALOG, INITIAL, ARRIVALS, MONTH, DIRT = 1, 2, 3, 4, 5


def stream(seed: int, *key: int) -> np.random.Generator:
    """Independent random generator for purpose ``key`` (e.g. ``(MONTH, m)``) of ``seed``.

    One stream per (purpose, month) makes month m independent of how many months follow it
    (prefix stability) and keeps dirt draws from perturbing the clean transactions.
    """
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def to_minutes(d: date) -> int:
    """Minutes since the epoch of midnight at the start of ``d``."""
    return int(np.datetime64(d, "m").astype(np.int64))


def month_start(start: date, m: int) -> np.datetime64:
    """First day (datetime64[M]) of calendar month ``m`` of a run starting at ``start``."""
    return np.datetime64(start, "M") + m


def month_label(start: date, m: int) -> str:
    """``YYYY_MM`` of month ``m``, as used in file names."""
    return str(month_start(start, m)).replace("-", "_")


def period_end(start: date, months: int) -> int:
    """Minute at which a run of ``months`` months ends (start of the following month)."""
    return int(month_start(start, months).astype("datetime64[m]").astype(np.int64))


def month_slots(start: date, m: int) -> tuple[int, np.ndarray]:
    """Start minute and hourly intensity weights (in days) of calendar month ``m``.

    The weights of an average day sum to 1 so that a rate per 30 days times the summed weights
    is an expected count. Hours before ``start`` (a start_date mid-month) get weight 0.
    """
    first = month_start(start, m)
    t0 = int(first.astype("datetime64[m]").astype(np.int64))
    t1 = int((first + 1).astype("datetime64[m]").astype(np.int64))
    hours = np.arange(t0, t1, 60, dtype=np.int64)
    weekday = (hours // 1440 + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    hour = (hours // 60) % 24
    month_of_year = int(str(first)[5:7]) - 1
    w = WEEKDAY_WEIGHTS[weekday] * HOUR_WEIGHTS[hour] * YEAR_WEIGHTS[month_of_year]
    day = (hours - t0) // 1440 + 1
    if month_of_year == 11:
        w[day >= 24] = 0.0  # Christmas closure
    elif month_of_year == 0:
        w[day <= 3] = 0.0
    w[hours < to_minutes(start)] = 0.0
    return t0, w


def _parts(minutes: np.ndarray) -> tuple[np.ndarray, ...]:
    t = np.asarray(minutes, dtype=np.int64).astype("datetime64[m]")
    y = t.astype("datetime64[Y]")
    mo = t.astype("datetime64[M]")
    d = t.astype("datetime64[D]")
    minute_of_day = (t - d).astype(np.int64)
    return (
        y.astype(np.int64) + 1970,
        (mo - y).astype(np.int64) + 1,
        (d - mo).astype(np.int64) + 1,
        minute_of_day // 60,
        minute_of_day % 60,
    )


def format_iso(minutes: np.ndarray) -> list[str]:
    """``yyyy-MM-dd HH:mm:ss`` strings (Online Retail II)."""
    s = np.datetime_as_string(np.asarray(minutes, dtype=np.int64).astype("datetime64[m]"), unit="s")
    return [x.replace("T", " ") for x in s.tolist()]


def format_us(minutes: np.ndarray) -> list[str]:
    """``M/d/yy H:mm`` strings without zero padding (older Online Retail)."""
    y, mo, d, h, mi = (a.tolist() for a in _parts(minutes))
    return [f"{a}/{b}/{c % 100:02d} {e}:{f:02d}"
            for a, b, c, e, f in zip(mo, d, y, h, mi, strict=True)]


def format_day(minutes: np.ndarray) -> list[str]:
    """``yyyy-MM-dd`` of each minute."""
    d = np.asarray(minutes, dtype=np.int64).astype("datetime64[m]").astype("datetime64[D]")
    return np.datetime_as_string(d).tolist()
