"""Inline SVG charts for the html report: daily availability bars, monthly latency bars.

Plain shapes and text, no script and no external reference, so the page prints and opens
offline. Colours follow the unreachable rule: under 3 % failed green, 3-5 % amber, 5 % and
more red; a day without probes is a grey stub.
"""

from __future__ import annotations

from html import escape

from monitor.report.render.blocks import DailyChart, LatencyChart

__all__ = ["daily_bars", "latency_bars", "title_width"]

GREEN, AMBER, RED, GREY = "#2e7d32", "#f9a825", "#c62828", "#bdbdbd"
LATENCY_COLOURS = ("#90caf9", "#1e88e5", "#0d47a1")


def title_width(title: str, size: float = 11) -> float:
    """Room a title needs: CJK glyphs are as wide as the font size, others about half."""
    return sum(size if ord(c) > 0x2E80 else size * 0.6 for c in title) + 8


def _colour(ratio: float | None) -> str:
    if ratio is None:
        return GREY
    failed = 1 - ratio
    return RED if failed >= 0.05 else AMBER if failed >= 0.03 else GREEN


def daily_bars(chart: DailyChart, no_data: str) -> str:
    """One bar per day, its height the day's availability (the axis starts at 0 %)."""
    days = chart.days
    bar, gap, height, top, left = 7, 1, 80, 18, 34
    # Never narrower than the title: a report of a few days must not cut it.
    width = max(left + len(days) * (bar + gap) + 4, title_width(chart.title))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top + height + 18}" '
        f'viewBox="0 0 {width} {top + height + 18}" role="img">',
        f"<title>{escape(chart.title)}</title>",
        f'<text x="0" y="12" font-size="11">{escape(chart.title)}</text>',
    ]
    for label, y in (("100%", top), ("50%", top + height / 2), ("0%", top + height)):
        parts.append(
            f'<text x="{left - 4}" y="{y + 3:.0f}" font-size="8" text-anchor="end">{label}</text>'
            f'<line x1="{left}" x2="{width - 4}" y1="{y:.0f}" y2="{y:.0f}" stroke="#e0e0e0"/>'
        )
    for i, (day, ratio, probes) in enumerate(days):
        x = left + i * (bar + gap)
        h = 2.0 if ratio is None else max(1.0, ratio * height)
        tip = f"{day.isoformat()}: " + (
            no_data if ratio is None else f"{ratio * 100:.2f}% ({probes})"
        )
        parts.append(
            f'<rect x="{x}" y="{top + height - h:.1f}" width="{bar}" height="{h:.1f}" '
            f'fill="{_colour(ratio)}"><title>{escape(tip)}</title></rect>'
        )
        # A label under its own bar (centred on it): each month's first day and the first day
        # shown, or every day of a period of two weeks or less.
        if day.day == 1 or i == 0 or len(days) <= 14:
            label = day.strftime("%m-%d")
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{top + height + 12}" font-size="8" '
                f'text-anchor="middle">{label}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def latency_bars(chart: LatencyChart, unit: str = " s") -> str:
    """P50, P95 and P99 side by side for each month, on one linear seconds axis (`unit`)."""
    months = chart.months
    values = [v for _, *vs in months for v in vs if v is not None]
    top_value = max(values, default=1.0) or 1.0
    bar, group_gap, height, top, left = 14, 18, 90, 18, 40
    group = 3 * bar + group_gap
    width = max(left + len(months) * group + 90, title_width(chart.title))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top + height + 20}" '
        f'viewBox="0 0 {width} {top + height + 20}" role="img">',
        f"<title>{escape(chart.title)}</title>",
        f'<text x="0" y="12" font-size="11">{escape(chart.title)}</text>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = top + height - fraction * height
        parts.append(
            f'<text x="{left - 4}" y="{y + 3:.0f}" font-size="8" text-anchor="end">'
            f"{top_value * fraction:.2f}{unit}</text>"
            f'<line x1="{left}" x2="{width - 90}" y1="{y:.0f}" y2="{y:.0f}" stroke="#e0e0e0"/>'
        )
    for i, (label, *vs) in enumerate(months):
        x0 = left + i * group + group_gap / 2
        for j, value in enumerate(vs):
            if value is None:
                continue
            h = max(1.0, value / top_value * height)
            name = ("P50", "P95", "P99")[j]
            parts.append(
                f'<rect x="{x0 + j * bar:.1f}" y="{top + height - h:.1f}" width="{bar - 2}" '
                f'height="{h:.1f}" fill="{LATENCY_COLOURS[j]}">'
                f"<title>{escape(label)} {name}: {value:.3f}{unit}</title></rect>"
            )
        parts.append(
            f'<text x="{x0:.1f}" y="{top + height + 12}" font-size="8">{escape(label)}</text>'
        )
    legend_x = width - 80
    for j, name in enumerate(("P50", "P95", "P99")):
        y = top + 10 + j * 14
        parts.append(
            f'<rect x="{legend_x}" y="{y - 8}" width="10" height="10" '
            f'fill="{LATENCY_COLOURS[j]}"/>'
            f'<text x="{legend_x + 14}" y="{y}" font-size="9">{name}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
