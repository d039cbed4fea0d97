"""Percentiles out of the rollups' latency histograms, with the error the buckets allow.

The rollups keep counts per latency bucket, not the latencies. A percentile is found the way
Prometheus' `histogram_quantile` finds it: locate the bucket holding the rank, then
interpolate linearly inside it (the first bucket starts at 0). The true value lies in the same
bucket, so the estimate is off by less than that bucket's width; `Quantile` carries the bucket
so the report can say so. In the +Inf bucket nothing can be interpolated: the estimate is the
last finite bound and the value is only known to be above it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Quantile", "add_counts", "quantile"]


@dataclass(frozen=True, slots=True)
class Quantile:
    """An estimated percentile: `value` seconds, the true one within [low, high].

    Above the last bound (`above_range`) `value` is `low`, that bound: nothing to interpolate.
    """

    q: float
    value: float
    low: float
    high: float  # math.inf for the +Inf bucket

    @property
    def error(self) -> float:
        """The largest possible distance between `value` and the true percentile."""
        return max(self.value - self.low, self.high - self.value)

    @property
    def above_range(self) -> bool:
        return math.isinf(self.high)


def add_counts(total: list[int], counts: Sequence[int]) -> None:
    """Add `counts` into `total` element-wise, growing it as needed."""
    if len(total) < len(counts):
        total.extend([0] * (len(counts) - len(total)))
    for i, count in enumerate(counts):
        total[i] += count


def quantile(q: float, bounds: Sequence[float], counts: Sequence[int]) -> Quantile | None:
    """The `q` quantile (0 < q < 1) of a histogram; None without observations.

    `counts[i]` is the number of observations in (bounds[i-1], bounds[i]]; `counts[-1]` (index
    `len(bounds)`) the ones above the last bound.
    """
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(counts):
        if count <= 0:
            continue
        if seen + count >= rank:
            low = bounds[i - 1] if i > 0 else 0.0
            if i >= len(bounds):
                return Quantile(q, low, low, math.inf)
            high = bounds[i]
            value = low + (high - low) * (rank - seen) / count
            return Quantile(q, value, low, high)
        seen += count
    # Rounding put the rank past the last count: the top of the last non-empty bucket.
    last = max(i for i, c in enumerate(counts) if c > 0)
    low = bounds[last - 1] if last > 0 else 0.0
    high = bounds[last] if last < len(bounds) else math.inf
    return Quantile(q, high if not math.isinf(high) else low, low, high)
