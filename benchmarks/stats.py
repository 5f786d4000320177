"""Small statistics: nearest-rank percentiles and the count/p50/p99/max summary."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["percentile", "rounded", "summary"]


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile of `values` (already sorted), None when empty."""
    if not values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(values)))
    return values[min(rank, len(values)) - 1]


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "p50": percentile(ordered, 50),
        "p99": percentile(ordered, 99),
        "max": ordered[-1] if ordered else None,
    }


def rounded(stats: dict[str, float | int | None]) -> dict[str, float | int | None]:
    """The summary with its floats rounded to 2 places, for the report."""
    return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in stats.items()}
