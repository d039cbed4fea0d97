"""Small charts as inline SVG: the geometry is computed here, the templates draw it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.store.reader import StepHour

WIDTH, HEIGHT = 720, 160
_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    width: float
    colour: str
    title: str


def availability_colour(ratio: float | None) -> str:
    """Green at 99.9 % and up, then yellow, orange (below the 3 % warning) and red (below 95 %,
    the veto); grey without probes."""
    if ratio is None:
        return "#d0d0d0"
    if ratio >= 0.999:
        return "#2e9d4f"
    if ratio >= 0.97:
        return "#e3c22b"
    if ratio >= 0.95:
        return "#f08a24"
    return "#d23a2f"


def day_strip(days: Sequence[dict[str, Any]], no_data: str) -> list[Bar]:
    """One bar per day (the report's `checks[].days`), its title the day and its ratio."""
    if not days:
        return []
    width = WIDTH / len(days)
    bars = []
    for i, day in enumerate(days):
        probes, failures = day["probes"], day["failures"] + day.get("slow", 0)
        ratio = None if probes == 0 else max(0.0, (probes - failures) / probes)
        label = no_data if ratio is None else f"{ratio * 100:.2f} % ({probes - failures}/{probes})"
        bars.append(
            Bar(i * width, max(width - 1, 1), availability_colour(ratio), f"{day['day']}: {label}")
        )
    return bars


@dataclass(frozen=True, slots=True)
class Line:
    name: str
    colour: str
    points: str  # "x,y x,y ..." for <polyline>
    dots: tuple[tuple[float, float], ...]  # the same points, drawn too (one hour is one dot)
    last: float | None


@dataclass(frozen=True, slots=True)
class LineChart:
    lines: list[Line]
    top: float  # seconds at the top of the chart
    start: datetime
    end: datetime


def step_chart(history: dict[tuple[str, str], list[StepHour]]) -> LineChart | None:
    """Each login step's hourly mean latency as a line; None without any measured hour."""
    measured = [h for hours in history.values() for h in hours if h.mean_seconds is not None]
    if not measured:
        return None
    start = min(h.hour for h in measured)
    end = max(h.hour for h in measured)
    span = max((end - start).total_seconds(), 1.0)
    top = max(h.mean_seconds or 0.0 for h in measured) * 1.1 or 1.0
    lines = []
    for i, ((check, step), hours) in enumerate(history.items()):
        points = [
            (
                (h.hour - start).total_seconds() / span * WIDTH,
                HEIGHT - (h.mean_seconds / top) * HEIGHT,
            )
            for h in hours
            if h.mean_seconds is not None
        ]
        lines.append(
            Line(
                name=f"{check} · {step}",
                colour=_PALETTE[i % len(_PALETTE)],
                points=" ".join(f"{x:.1f},{y:.1f}" for x, y in points),
                dots=tuple(points),
                last=hours[-1].mean_seconds,
            )
        )
    return LineChart(lines, top, start, end)
