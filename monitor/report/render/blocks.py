"""What a report is laid out as: headings, paragraphs, tables and charts, for md and html."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

__all__ = ["Block", "DailyChart", "Heading", "LatencyChart", "Paragraph", "Table"]


@dataclass(frozen=True, slots=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True, slots=True)
class Paragraph:
    text: str
    items: tuple[str, ...] = ()  # a bulleted list after the text


@dataclass(frozen=True, slots=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    # Column indexes holding statuses: html colours them.
    status_columns: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class DailyChart:
    """Availability per day of one check (None: no probes that day)."""

    title: str
    days: tuple[tuple[date, float | None, int], ...]


@dataclass(frozen=True, slots=True)
class LatencyChart:
    """p50/p95/p99 per month of one check (seconds; None: no data)."""

    title: str
    months: tuple[tuple[str, float | None, float | None, float | None], ...]


Block = Heading | Paragraph | Table | DailyChart | LatencyChart
