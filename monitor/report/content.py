"""A page's update history over a period: gaps without updates, stale spans, posts per month.

The history is the sequence of newest-item dates a check saw, each with when it was first
seen (content_versions). While a date is the newest, the page's age grows from that date; it
ends when a newer item is first seen (or at the last observation). Observations whose items
carry no date leave the previous date current: an undated item is not an update.

Time nobody observed proves nothing. When the page could not be read for longer than
`blind_after` (a feed bridge that failed for days, a monitor that was down) and a newer item
is seen afterwards, the old item's stretch ends at its last observation: whether the account
posted in between cannot be told, and the blind time is never counted as not updated.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from monitor.report.gather import ContentHour, Version
from monitor.report.model import Gap
from monitor.report.period import Period

__all__ = ["Segment", "longest_gap", "max_age", "posts_per_month", "stale_spans", "timeline"]

HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of observations during which `newest` was the newest item."""

    newest: datetime | None  # None: no dated item had been seen yet
    start: datetime  # first observation of the stretch
    end: datetime  # a newer item first seen, or the last observation
    updated: bool  # True when it ended because a newer item was seen


def _blind_from(
    since: datetime, until: datetime, seen: Sequence[datetime], blind_after: float | None
) -> datetime | None:
    """The last observation before the first unobserved stretch longer than `blind_after`
    between `since` and `until`, or None when the page was observed throughout."""
    if blind_after is None:
        return None
    limit = timedelta(seconds=blind_after)
    previous = since
    for moment in [*(t for t in seen if since < t < until), until]:
        if moment - previous > limit:
            return previous
        previous = moment
    return None


def timeline(
    versions: Sequence[Version],
    hours: Sequence[ContentHour],
    period: Period,
    blind_after: float | None = None,
) -> list[Segment]:
    """The page's segments that overlap `period` (ends clipped to the period's end)."""
    observed = [h for h in hours if h.observations > 0]
    last_obs = max([v.last_seen_at for v in versions] + [h.hour for h in observed], default=None)
    if last_obs is None:
        return []
    last_obs = min(last_obs, period.end)
    segments: list[Segment] = []
    ordered = sorted(versions, key=lambda v: v.first_seen_at)
    if observed and (not ordered or observed[0].hour + HOUR <= ordered[0].first_seen_at):
        # Observed before any dated item: the page had nothing dated (undated or blank).
        until = ordered[0].first_seen_at if ordered else last_obs
        segments.append(Segment(None, observed[0].hour, until, bool(ordered)))
    # Hours are to the hour: an observed hour counts as observed at its end too.
    seen = sorted({h.hour for h in observed} | {h.hour + HOUR for h in observed})
    for i, version in enumerate(ordered):
        if i + 1 < len(ordered):
            end, updated = ordered[i + 1].first_seen_at, True
            blind = _blind_from(version.last_seen_at, end, seen, blind_after)
            if blind is not None:
                end, updated = blind, False
        else:
            end, updated = max(version.last_seen_at, last_obs), False
        if end > period.end:
            end, updated = period.end, False
        segments.append(Segment(version.newest_item_at, version.first_seen_at, end, updated))
    return [s for s in segments if s.end > period.start or s.start >= period.start]


def _since(segment: Segment) -> datetime:
    return segment.newest if segment.newest is not None else segment.start


def max_age(segments: Sequence[Segment], period: Period) -> tuple[float, Segment] | None:
    """The greatest age reached within the period, and the segment that reached it."""
    best: tuple[float, Segment] | None = None
    for segment in segments:
        reached = min(segment.end, period.end)
        if reached < period.start:
            continue
        age = max(0.0, (reached - _since(segment)).total_seconds())
        if best is None or age > best[0]:
            best = (age, segment)
    return best


def longest_gap(segments: Sequence[Segment], period: Period) -> Gap | None:
    """The longest time without updates that overlaps the period."""
    found = max_age(segments, period)
    if found is None:
        return None
    _, segment = found
    return Gap(segment.newest, _since(segment), segment.end, segment.updated)


def stale_spans(
    segments: Sequence[Segment], period: Period, allowed: float
) -> list[tuple[datetime, datetime]]:
    """Where, within the period, the page's age reached `allowed` seconds (half-open spans)."""
    spans: list[tuple[datetime, datetime]] = []
    limit = timedelta(seconds=allowed)
    for segment in segments:
        start = max(_since(segment) + limit, segment.start, period.start)
        end = min(segment.end, period.end)
        if start < end:
            spans.append((start, end))
    return spans


def posts_per_month(versions: Sequence[Version], period: Period) -> list[tuple[date, int]]:
    """New items per local month of their date (distinct newest-item dates seen)."""
    zone = period.zone
    counts: Counter[date] = Counter()
    for version in versions:
        if period.start <= version.newest_item_at < period.end:
            local = version.newest_item_at.astimezone(zone)
            counts[date(local.year, local.month, 1)] += 1
    return [(month, counts.get(month, 0)) for month in period.months()]
