"""Publication dates as Chinese government pages write them, read into aware datetimes.

Forms read (ASCII or full-width digits and punctuation): `2021-09-30`, `2021/9/30`,
`2021.09.30`, `2021年9月30日`, each optionally followed by a time (`14:05` or `14:05:33`,
after a space or `T`); and without a year, `[09-30]`, `(9-30)`, `【09-30】`, a bare `09-30`
and `9月30日`, whose year is inferred as the latest one that does not put the date in the
future. A date is in the site's time zone (Asia/Shanghai unless told otherwise).

A date outside 1900-2199 is no date: pages print `0001-01-01` for an unset value (ASP.NET's
default) and `9999-12-31` for "never", and such a date, moved to another zone, overflows
Python's datetime. `plausible()` is the one gate every parsed date passes.

Every pattern here is bounded (no nested or unbounded repetition), so a scan is linear in the
text, whatever a hostile page contains.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, tzinfo
from zoneinfo import ZoneInfo

__all__ = [
    "DEFAULT_TIMEZONE",
    "DateFormatError",
    "DateScanner",
    "find_dates",
    "normalize",
    "parse_date",
    "parse_exact",
    "plausible",
    "site_zone",
]

DEFAULT_TIMEZONE = "Asia/Shanghai"

# Full-width forms (U+FF10.. digits and the punctuation dates use) to ASCII, one character for
# one, so positions in the normalised text are positions in the original.
_FULL_WIDTH = str.maketrans(
    {
        **{chr(0xFF10 + i): str(i) for i in range(10)},
        "－": "-",
        "／": "/",
        "．": ".",
        "：": ":",
        "［": "[",
        "］": "]",
        "（": "(",
        "）": ")",
        "\u3000": " ",
        "\xa0": " ",
    }
)

_NEEDS_NORMALIZING = re.compile("[" + re.escape("".join(map(chr, _FULL_WIDTH))) + "]")

# One pattern, one pass. The leading lookahead lets the engine skip text that cannot start a
# date without trying every branch at every position (it halves the scan time of a list page).
_DATE = re.compile(
    r"""
    (?=[0-9\[(【])
    (?:
        (?<![0-9])
        (?P<y>(?:19|20)[0-9]{2}) [ ]{0,2} (?P<sep>[-/.]) [ ]{0,2}
        (?P<m>[0-9]{1,2}) [ ]{0,2} (?P=sep) [ ]{0,2} (?P<d>[0-9]{1,2}) (?![0-9])
      | (?<![0-9])
        (?P<cy>(?:19|20)[0-9]{2}) [ ]{0,2} 年 [ ]{0,2} (?P<cm>[0-9]{1,2}) [ ]{0,2} 月
        [ ]{0,2} (?P<cd>[0-9]{1,2}) (?![0-9]) (?:[ ]{0,2}[日号])?
      | [\[(【] [ ]{0,2} (?P<bm>[0-9]{1,2}) [-/.] (?P<bd>[0-9]{1,2}) [ ]{0,2} [\])】]
      | (?<![-/.:0-9]) (?P<nm>[0-9]{2}) - (?P<nd>[0-9]{2}) (?![-/.:0-9])
      | (?<![0-9年]) (?P<zm>[0-9]{1,2}) [ ]{0,2} 月 [ ]{0,2} (?P<zd>[0-9]{1,2}) (?![0-9])
        [ ]{0,2} [日号]
    )
    (?:
        (?:[ \t]{1,3}|T|[ \t]{0,2}[,，][ \t]{0,2})
        (?P<hh>[0-9]{1,2}) : (?P<mm>[0-9]{2}) (?: : (?P<ss>[0-9]{2}) )? (?![0-9])
    )?
    """,
    re.VERBOSE,
)

# The years a page's date can mean. Far enough from datetime's 1..9999 that no zone offset
# (at most ±24 h) can push a plausible date over either edge.
EARLIEST_YEAR = 1900
LATEST_YEAR = 2199

# A year-less date is read as the latest year that does not put it in the future; 29 February
# may need to look back to the last leap year.
_YEARS_BACK = 8


class DateFormatError(ValueError):
    """A configured strptime format that cannot read the text it was given."""


def site_zone(name: str | None) -> tzinfo:
    """The zone a site writes its dates in (raises ZoneInfoNotFoundError for unknown names)."""
    return ZoneInfo(name or DEFAULT_TIMEZONE)


def plausible(value: datetime) -> datetime | None:
    """`value` if its year is one a page can mean (1900-2199), else None: a placeholder such
    as 0001-01-01 or 9999-12-31 says the item is undated, not that the probe failed."""
    return value if EARLIEST_YEAR <= value.year <= LATEST_YEAR else None


def normalize(text: str) -> str:
    """Full-width digits and date punctuation to ASCII, one character for one."""
    # str.translate walks every character in Python-level lookups; most texts have nothing
    # to translate, and a one-class regex search finds that out ten times faster.
    if _NEEDS_NORMALIZING.search(text) is None:
        return text
    return text.translate(_FULL_WIDTH)


def _infer_year(month: int, day: int, today: date) -> date | None:
    for year in range(today.year, today.year - _YEARS_BACK, -1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            if month > 12 or day > 31:
                return None
            continue  # 29 February in a common year: look further back
        if candidate <= today:
            return candidate
    return None


class DateScanner:
    """Finds dates in many texts read at one moment in one zone (the items of one page).

    The same date written on many rows is converted once.
    """

    __slots__ = ("_seen", "today", "zone")

    def __init__(self, *, now: datetime, zone: tzinfo) -> None:
        self.zone = zone
        # `now` as the site sees it: what "not in the future" means for a year-less date.
        self.today = now.astimezone(zone).date()
        self._seen: dict[str, datetime | None] = {}

    def find(self, text: str, limit: int | None = None) -> list[datetime]:
        """Every date written in `text`, in order of appearance."""
        found: list[datetime] = []
        for match in _DATE.finditer(normalize(text)):
            written = match.group(0)
            if written in self._seen:
                value = self._seen[written]
            else:
                value = self._seen[written] = self._convert(match)
            if value is not None:
                found.append(value)
                if limit is not None and len(found) >= limit:
                    break
        return found

    def exact(self, text: str) -> datetime | None:
        """The date if `text` is one date and nothing else."""
        match = _DATE.fullmatch(normalize(text).strip())
        return None if match is None else self._convert(match)

    def _convert(self, match: re.Match[str]) -> datetime | None:
        group = match.group
        try:
            if group("y") is not None:
                day = date(int(group("y")), int(group("m")), int(group("d")))
            elif group("cy") is not None:
                day = date(int(group("cy")), int(group("cm")), int(group("cd")))
            else:
                month, mday = next(
                    (group(m), group(d))
                    for m, d in (("bm", "bd"), ("nm", "nd"), ("zm", "zd"))
                    if group(m) is not None
                )
                inferred = _infer_year(int(month), int(mday), self.today)
                if inferred is None:
                    return None
                day = inferred
            clock = time(0, 0)
            if group("hh") is not None:
                clock = time(int(group("hh")), int(group("mm")), int(group("ss") or 0))
        except ValueError:
            return None  # 2021-13-45 or 25:61: digits in a date's shape, but not a date
        return datetime.combine(day, clock, tzinfo=self.zone)


def find_dates(
    text: str, *, now: datetime, zone: tzinfo, limit: int | None = None
) -> list[datetime]:
    """Every date written in `text`, in order of appearance, as aware datetimes in `zone`.

    `now` decides the year of year-less dates. `limit` stops after that many dates.
    """
    return DateScanner(now=now, zone=zone).find(text, limit)


def parse_exact(text: str, *, now: datetime, zone: tzinfo) -> datetime | None:
    """The date if `text` is one date in a supported form and nothing else (no zone suffix)."""
    return DateScanner(now=now, zone=zone).exact(text)


def parse_date(
    text: str, *, now: datetime, zone: tzinfo, fmt: str | None = None
) -> datetime | None:
    """The date in `text`: read with the strptime `fmt` if given, else the first date found.

    Raises DateFormatError when `fmt` is given and does not fit the text; the caller words it.
    """
    if fmt is None:
        dates = find_dates(text, now=now, zone=zone, limit=1)
        return dates[0] if dates else None
    cleaned = normalize(text).strip()
    try:
        value = datetime.strptime(cleaned, fmt)
    except ValueError as exc:
        raise DateFormatError(f"{cleaned[:40]!r} does not match format {fmt!r}") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    if "%Y" not in fmt and "%y" not in fmt:
        inferred = _infer_year(value.month, value.day, now.astimezone(zone).date())
        if inferred is None:
            return None
        value = value.replace(year=inferred.year)
    return plausible(value)
