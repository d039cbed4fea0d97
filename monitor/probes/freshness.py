"""`freshness`: a homepage or column list whose newest dated item must be young enough.

The official rule (首页不更新 / 栏目不更新): a homepage or news column with nothing new for two
weeks, or a notice/policy column with nothing new for six months, fails; items without a date
count as not updated; a column with no items at all is a blank column (栏目无内容).

Keys (besides `url`, `headers`, `tls`, `max_body_size`, `encoding`, `timezone`):

- `category`: `homepage` | `news` | `notice` | `custom` (default `news`); sets the allowed age
  (14 d, 14 d, 180 d; `custom` needs `max_age`).
- `max_age`: overrides the category's allowed age.
- `items`: CSS selector of the list's items (`ul.list > li`). Without it every `li`/`tr`/`dd`
  that holds a link and no nested list row is an item. Give it for column pages: only with it
  can an empty list be told apart from a page of navigation.
- `date`: where an item's date is: `{selector, attribute, regex, format}` looked up inside each
  item (or across the page without `items`).

Dates come from, in order: the `date` rule, `<meta name="PubDate">`, a scan of each item's text
for every form `monitor.dates` reads. A date more than a day in the future is ignored (a
mistyped year or an event date must not make a dead column look fresh).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Literal

from pydantic import model_validator
from selectolax.lexbor import LexborHTMLParser, LexborNode

from monitor.configtypes import Duration
from monitor.dates import DateScanner, parse_date
from monitor.measurements import FreshnessMeasurement
from monitor.probes.ages import DAY, FUTURE_SLACK, content_age, show_age, show_date
from monitor.probes.base import ProbeContext, ProbeRun
from monitor.probes.extract import Css, DateRule, innermost, node_text, parse_html
from monitor.probes.httpclient import FetchError
from monitor.probes.page import (
    PageCheck,
    body_text,
    fetch_page,
    read_dated,
)
from monitor.results import Outcome, ProbeResult

__all__ = ["CATEGORY_MAX_AGE", "ColumnReading", "FreshnessCheck", "probe", "read_column"]

CATEGORY_MAX_AGE = {"homepage": 14 * DAY, "news": 14 * DAY, "notice": 180 * DAY}
# An item's date is short and near its title; a row with more text than this is not a list row.
ITEM_TEXT_LIMIT = 4096
_DEFAULT_ITEMS = "li, tr, dd"


class FreshnessCheck(PageCheck):
    type: str = "freshness"
    category: Literal["homepage", "news", "notice", "custom"] = "news"
    max_age: Duration | None = None
    items: Css | None = None
    date: DateRule | None = None

    @model_validator(mode="after")
    def _custom_needs_max_age(self) -> FreshnessCheck:
        if self.category == "custom" and self.max_age is None:
            raise ValueError("category 'custom' needs max_age")
        return self

    @property
    def allowed_age(self) -> float:
        return self.max_age if self.max_age is not None else CATEGORY_MAX_AGE[self.category]


@dataclass(frozen=True, slots=True)
class ColumnReading:
    """What a column page says about its content."""

    items: int  # list items found
    dated: int  # items (or the page) with a usable date
    newest: datetime | None
    source: str  # where the newest date came from: "selector", "meta" or "scan"
    future: int = 0  # dates ignored for being in the future


def _default_items(doc: LexborHTMLParser) -> list[LexborNode]:
    # The innermost rows that link somewhere: article lists, not the menus wrapping them.
    return [node for node in innermost(doc.css(_DEFAULT_ITEMS)) if node.css_first("a")]


class _Newest:
    """The newest usable date seen so far, counting what was dated and what lay in the future."""

    __slots__ = ("dated", "future", "latest", "newest")

    def __init__(self, now: datetime) -> None:
        self.latest = now + FUTURE_SLACK
        self.newest: datetime | None = None
        self.dated = 0
        self.future = 0

    def add(self, dates: list[datetime]) -> None:
        usable = [d for d in dates if d <= self.latest]
        self.future += len(dates) - len(usable)
        if usable:
            self.dated += 1
            best = max(usable)
            if self.newest is None or best > self.newest:
                self.newest = best


def read_column(
    html: str,
    *,
    now: datetime,
    zone: tzinfo,
    items: str | None = None,
    date: DateRule | None = None,
) -> ColumnReading:
    """Count a column page's items and find its newest date; never raises for any page."""
    doc = parse_html(html)
    # Innermost only, so rows never overlap and reading them all stays linear in the page.
    rows = innermost(doc.css(items)) if items is not None else _default_items(doc)

    if date is not None:
        found = _Newest(now)
        for scope in rows if items is not None else [doc]:
            found.add(
                [d for v in date.read_all(scope) if (d := date.to_date(v, now=now, zone=zone))]
            )
        if found.newest is not None:
            return ColumnReading(len(rows), found.dated, found.newest, "selector", found.future)

    meta = doc.css_first('meta[name="pubdate" i]')
    content = meta.attributes.get("content") if meta is not None else None
    if content:
        published = parse_date(content[:200], now=now, zone=zone)
        if published is not None and published <= now + FUTURE_SLACK:
            return ColumnReading(len(rows), 1, published, "meta")

    found = _Newest(now)
    scanner = DateScanner(now=now, zone=zone)
    for row in rows:
        found.add(scanner.find(node_text(row, ITEM_TEXT_LIMIT)))
    return ColumnReading(len(rows), found.dated, found.newest, "scan", found.future)


def judge(check: FreshnessCheck, reading: ColumnReading, now: datetime) -> tuple[Outcome, str]:
    """The outcome and detail of one column reading against the check's allowed age."""
    future = f"; {reading.future} future dates ignored" if reading.future else ""
    if reading.items == 0 and (check.items is not None or reading.newest is None):
        return Outcome.CONTENT_MISMATCH, "blank column"
    if reading.newest is None:
        return Outcome.STALE, f"{reading.items} items, none dated{future}"
    age = max(0.0, (now - reading.newest).total_seconds())
    summary = (
        f"newest item {show_date(reading.newest)} is {show_age(age)} old "
        f"(max {show_age(check.allowed_age)}), "
        f"{reading.dated} of {reading.items} items dated{future}"
    )
    if age > check.allowed_age:
        return Outcome.STALE, summary
    return Outcome.OK, summary


def _read_page(
    check: FreshnessCheck, body: bytes, content_type: str | None, *, now: datetime, zone: tzinfo
) -> ColumnReading:
    text = body_text(check.encoding, body, content_type)
    return read_column(text, now=now, zone=zone, items=check.items, date=check.date)


async def probe(check: FreshnessCheck, ctx: ProbeContext) -> ProbeResult:
    """Fetch the page, read its newest date and judge it against the allowed age."""
    run = ProbeRun(check, ctx)
    try:
        response = await fetch_page(ctx, check)
    except FetchError as error:
        figures = FreshnessMeasurement(category=check.category)
        return run.failed(error, measurement=figures)
    now, reading = await read_dated(ctx, check, response, _read_page)
    outcome, detail = judge(check, reading, now)
    return run.result(
        outcome,
        detail,
        content_age_seconds=content_age(reading.newest, now),
        newest_item_at=reading.newest,
        items=reading.items,
        measurement=FreshnessMeasurement(category=check.category, date_source=reading.source),
        transport=response.transport,
    )
