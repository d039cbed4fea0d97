"""The range a report covers: a quarter (`2026Q3`) or `--from/--to`, in the configured zone.

A quarter runs from 00:00 on its first day to 00:00 on the first day of the next, local time
(2026Q3 in Asia/Shanghai is 2026-06-30T16:00Z to 2026-09-30T16:00Z). `--to` given as a date
includes that whole day; given as a time it is the exclusive end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

__all__ = ["Period", "PeriodError", "month_starts", "parse_period", "quarter", "quarter_of"]

_QUARTER = re.compile(r"^\s*(\d{4})\s*-?\s*[Qq]([1-4])\s*$")


class PeriodError(ValueError):
    """`--quarter`/`--from`/`--to` that cannot be read; `str()` is one line for the person."""


@dataclass(frozen=True, slots=True)
class Period:
    """`start <= t < end`, both aware; `label` names it (`2026Q3`, `2026-07-01 – 2026-07-31`)."""

    start: datetime
    end: datetime
    timezone: str
    label: str
    quarter: tuple[int, int] | None = None  # (year, quarter) when it is one

    @property
    def zone(self) -> tzinfo:
        return ZoneInfo(self.timezone)

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def days(self) -> list[date]:
        """The local days the period touches, in order."""
        zone = self.zone
        first = self.start.astimezone(zone).date()
        last = (self.end - timedelta(microseconds=1)).astimezone(zone).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    def months(self) -> list[date]:
        """The local months the period touches (their first days), in order."""
        return list(dict.fromkeys(day.replace(day=1) for day in self.days()))


def _local_midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def quarter_of(day: date) -> tuple[int, int]:
    """The (year, number) of the quarter `day` is in."""
    return day.year, (day.month - 1) // 3 + 1


def quarter(year: int, number: int, timezone: str) -> Period:
    """The quarter `number` (1-4) of `year`, in `timezone`."""
    zone = ZoneInfo(timezone)
    first = date(year, 3 * number - 2, 1)
    after = date(year + 1, 1, 1) if number == 4 else date(year, 3 * number + 1, 1)
    return Period(
        _local_midnight(first, zone),
        _local_midnight(after, zone),
        timezone,
        f"{year}Q{number}",
        (year, number),
    )


def _moment(text: str, zone: tzinfo, what: str, *, end: bool) -> datetime:
    text = text.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return _local_midnight(day + timedelta(days=1) if end else day, zone)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise PeriodError(
            f"invalid {what} {text!r} (use a date like 2026-07-01 or a time like 2026-07-01T08:00)"
        ) from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def parse_period(
    timezone: str,
    *,
    quarter_text: str | None = None,
    from_text: str | None = None,
    to_text: str | None = None,
    now: datetime | None = None,
) -> Period:
    """The period of `--quarter 2026Q3`, or of `--from`/`--to` (dates or ISO times).

    Without `--to` the range ends now; `--from` is required unless a quarter is given.
    Raises PeriodError with one line naming the option at fault.
    """
    zone = ZoneInfo(timezone)
    if quarter_text is not None:
        if from_text is not None or to_text is not None:
            raise PeriodError("give either --quarter or --from/--to, not both")
        match = _QUARTER.match(quarter_text)
        if match is None:
            raise PeriodError(f"invalid --quarter {quarter_text!r} (use e.g. 2026Q3)")
        return quarter(int(match.group(1)), int(match.group(2)), timezone)
    if from_text is None:
        raise PeriodError("give --quarter (e.g. 2026Q3) or --from (and optionally --to)")
    start = _moment(from_text, zone, "--from", end=False)
    if to_text is not None:
        end = _moment(to_text, zone, "--to", end=True)
    else:
        end = (now or datetime.now(zone)).astimezone(zone)
    if end <= start:
        raise PeriodError(f"--to ({end.isoformat()}) is not after --from ({start.isoformat()})")
    shown_end = end - timedelta(days=1) if _is_midnight(end, zone) else end
    label = f"{_show(start, zone)} – {_show(shown_end, zone)}"
    return Period(start, end, timezone, label)


def _is_midnight(moment: datetime, zone: tzinfo) -> bool:
    return moment.astimezone(zone).time() == time(0)


def _show(moment: datetime, zone: tzinfo) -> str:
    local = moment.astimezone(zone)
    return local.strftime("%Y-%m-%d") if local.time() == time(0) else local.isoformat()


def month_starts(period: Period) -> list[datetime]:
    """The local month starts that cut the period into months, the period's start first."""
    zone = period.zone
    local = period.start.astimezone(zone)
    starts = [period.start]
    cursor = date(local.year, local.month, 1)
    while True:
        cursor = date(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1)
        moment = _local_midnight(cursor, zone)
        if moment >= period.end:
            return starts
        starts.append(moment)
