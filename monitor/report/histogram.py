"""Percentiles out of the rollups' latency histograms, with the error the buckets allow.

The rollups keep counts per latency bucket, not the latencies. The buckets are log-spaced
(migration 0006: adjacent bounds a factor of at most 1.09 apart), as DDSketch's are, so a
percentile has a bounded *relative* error: locate the bucket (l, u] holding the rank and
estimate 2lu/(l+u), which is within (u - l)/(u + l) of every value in the bucket (4.31 % at
most). The rank is the nearest rank: the ceil(q*n)-th smallest observation. In the first
bucket (0, u] the estimate is u/2, within u/2 of the value (no relative bound); in the +Inf
bucket nothing can be estimated: the value is the last finite bound and only known to be
above it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Quantile", "add_counts", "quantile", "relative_error_bound"]


@dataclass(frozen=True, slots=True)
class Quantile:
    """An estimated percentile: `value` seconds, the true one within [low, high].

    Above the last bound (`above_range`) `value` is `low`, that bound: nothing to estimate.
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
    def relative_error(self) -> float | None:
        """The largest possible error as a share of the true value; None when unbounded."""
        if self.low <= 0 or self.above_range:
            return None
        return (self.high - self.low) / (self.high + self.low)

    @property
    def above_range(self) -> bool:
        return math.isinf(self.high)


def relative_error_bound(bounds: Sequence[float]) -> float:
    """The largest relative error of a percentile anywhere from the first to the last bound."""
    return max(
        ((high - low) / (high + low) for low, high in itertools.pairwise(bounds)),
        default=1.0,
    )


def _estimate(low: float, high: float) -> float:
    return high / 2 if low <= 0 else 2 * low * high / (low + high)


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
    last = 0
    for i, count in enumerate(counts):
        if count <= 0:
            continue
        last = i
        if seen + count >= rank:
            break
        seen += count
    # Rounding may put the rank past the last count: then the last non-empty bucket holds it.
    low = bounds[last - 1] if last > 0 else 0.0
    if last >= len(bounds):
        return Quantile(q, low, low, math.inf)
    high = bounds[last]
    return Quantile(q, _estimate(low, high), low, high)
