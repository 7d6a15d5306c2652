"""How much history a gold snapshot needs: the rule gold schedules snapshots by, and the
explanation both gold (which can build none) and train (which finds gold empty) give."""

from __future__ import annotations

from datetime import date


def too_short(first: date, last: date, *, min_history_days: int) -> str | None:
    """Why no snapshot fits transactions spanning `first`..`last`, or None when one does:
    a snapshot needs `min_history_days` of history before it (gold.min_history_days)."""
    days = (last - first).days
    if days >= min_history_days:
        return None
    return (f"silver's transactions span {first}..{last}, {days} days of history, and a "
            f"snapshot needs gold.min_history_days ({min_history_days}) days before it: no "
            f"snapshot can be built; load more history or lower it (e.g. ARGS='--set "
            f"gold.min_history_days={_suggested(days)}')")


def _suggested(days: int) -> int:
    """A minimum history that leaves room for a few monthly snapshots after it."""
    return max(0, (days - 90) // 30 * 30) if days > 90 else 0
