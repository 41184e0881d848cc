"""HuFi cycles: 24 h windows counted from a campaign's ``start_date``, not UTC days.

Cycle *k* is ``[start + k·24h, min(start + (k+1)·24h, limit))`` where ``limit`` is the end date,
or the cancellation request when that came first; the last cycle may be short.
"""

from __future__ import annotations

from hufimm.core.timesource import NS_PER_SECOND

DAY_NS = 86_400 * NS_PER_SECOND


def cycles_limit_ns(end_ns: int, cancellation_requested_ns: int | None = None) -> int:
    if cancellation_requested_ns is None:
        return end_ns
    return min(end_ns, cancellation_requested_ns)


def cycle_count(start_ns: int, end_ns: int, cancellation_requested_ns: int | None = None) -> int:
    span = cycles_limit_ns(end_ns, cancellation_requested_ns) - start_ns
    return max(0, -(-span // DAY_NS))


def cycle_index(start_ns: int, ts_ns: int) -> int:
    """The cycle ``ts_ns`` falls in (negative before the start)."""
    return (ts_ns - start_ns) // DAY_NS


def cycle_bounds(
    start_ns: int, end_ns: int, index: int, cancellation_requested_ns: int | None = None
) -> tuple[int, int]:
    if not 0 <= index < cycle_count(start_ns, end_ns, cancellation_requested_ns):
        raise ValueError(f"cycle {index} is outside the campaign")
    cycle_start = start_ns + index * DAY_NS
    return cycle_start, min(
        cycle_start + DAY_NS, cycles_limit_ns(end_ns, cancellation_requested_ns)
    )


def duration_days(start_ns: int, end_ns: int) -> int:
    """Days the fund is spread over: ``ceil((end − start) / 24h)`` (cancellation aside)."""
    return -(-(end_ns - start_ns) // DAY_NS)
