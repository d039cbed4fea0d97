"""`feed`: a new-media account followed through its RSS, Atom or JSON Feed address.

WeChat and Weibo accounts have no public page to probe; they are followed through a feed
bridge (RSSHub and the like). The official rule for accounts is an update within two weeks;
the notice also faults accounts that "update too rarely, publish little", which `min_posts`
checks.

Keys (besides `url`, `headers`, `tls`, `max_body_size`, `encoding`, `timezone`):

- `max_age`: the newest entry must be younger than this (default 14 d) → else `stale`.
- `min_posts: {count, window}`: at least `count` entries dated within the last `window`
  → else `stale` ("3 posts in 30 d, expected ≥ 4"). A feed lists only its latest entries (often
  20): a window longer than the feed covers can only be judged on what the feed shows.

A body that is no feed is `content_mismatch`, and so is a feed with no entries (a bridge that
lost the account). Entries without a date are reported and never count as fresh. The feed's
own `updated`/`lastBuildDate` is ignored: bridges set it to the time of the request. The newest
post is the newest date among the entries, whatever their order (bridges list pinned posts
first).

A failing bridge is not a silent account. Its own failures have their own detail
("bridge failure: ...") and `extra.bridge_failure` (`refused`: 401/403, its login, cookie or
key was refused; `rate_limited`: 432/429, Weibo or WeChat turned it away; `captcha`: a captcha
or 环境异常 page instead of the feed; `login_expired`: a page asking to log in again). They are
`http_error` (a status) or `content_mismatch` (a page that is no feed), never `stale`, and they
carry no items, so the report never reads them as the account not updating.

Posting frequency needs enough entries: when the feed lists fewer than `min_posts.count`
entries and all of them fall inside the window (one bridge route returns a single item), how
often the account posts cannot be told from it. The result is then not `stale` on that count;
`extra.posting_frequency` is `not_assessable` (else `assessed`) and the detail says why.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import feedparser
from pydantic import Field

from monitor.configtypes import Duration, Model
from monitor.dates import parse_date, parse_exact, plausible
from monitor.measurements import FeedMeasurement
from monitor.probes.ages import DAY, FUTURE_SLACK, content_age, show_age, show_date
from monitor.probes.base import ProbeContext, ProbeRun
from monitor.probes.httpclient import FetchError
from monitor.probes.page import PageCheck, fetch_page, read_dated
from monitor.results import Outcome, ProbeResult

__all__ = ["FeedCheck", "FeedReading", "MinPosts", "probe", "read_feed"]

_JSON_FEED_VERSION = "https://jsonfeed.org/version/"

# Statuses with which a bridge (RSSHub, wewe-rss) says it, not the account, failed.
_BRIDGE_STATUS = {
    401: ("refused", "the bridge was refused (status 401): its login or cookie has expired"),
    403: ("refused", "the bridge was refused (status 403): its login, cookie or key"),
    429: ("rate_limited", "the bridge is rate-limited (status 429)"),
    432: ("rate_limited", "the platform turned the bridge away (status 432): it wants a fresh "
          "cookie or a captcha"),
}  # fmt: skip
# Text of a page a bridge passes on instead of a feed, and what it means.
_BRIDGE_PAGES = (
    ("环境异常", "captcha", "a 环境异常 (unusual environment) check page"),
    ("验证码", "captcha", "a captcha page"),
    ("captcha", "captcha", "a captcha page"),
    ("登录已过期", "login_expired", "a page saying its login has expired"),
    ("登录失效", "login_expired", "a page saying its login has expired"),
    ("请登录", "login_expired", "a page asking to log in"),
    ("cookie已过期", "login_expired", "a page saying its cookie has expired"),
    ("cookie 已过期", "login_expired", "a page saying its cookie has expired"),
    ("cookie expired", "login_expired", "a page saying its cookie has expired"),
)


class MinPosts(Model):
    """At least `count` posts within the last `window`."""

    count: int = Field(ge=1)
    window: Duration


class FeedCheck(PageCheck):
    type: str = "feed"
    max_age: Duration = 14 * DAY
    min_posts: MinPosts | None = None


@dataclass(frozen=True, slots=True)
class FeedReading:
    """What a feed says: its format, how many entries, and the date of each dated one."""

    format: str  # "rss20", "atom10", ... as feedparser names them, or "json"
    entries: int
    dates: tuple[datetime, ...]

    def usable_dates(self, now: datetime) -> list[datetime]:
        """The dates at most `FUTURE_SLACK` ahead of `now`; later ones count as no update."""
        latest = now + FUTURE_SLACK
        return [d for d in self.dates if d <= latest]


def _time_of(value: Any, zone: tzinfo, now: datetime) -> datetime | None:
    """A date out of a JSON Feed field or an RSS date feedparser could not read."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()[:100]
    # A date written without a zone is the site's local time (`2021-09-30 10:00`).
    if (local := parse_exact(text, now=now, zone=zone)) is not None:
        return local
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return parse_date(text, now=now, zone=zone)
    return plausible(parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone))


def _read_json_feed(body: bytes, zone: tzinfo, now: datetime) -> FeedReading | None:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    version, items = document.get("version"), document.get("items")
    if not (isinstance(version, str) and version.startswith(_JSON_FEED_VERSION)):
        return None
    if not isinstance(items, list):
        return None
    dates = []
    for item in items:
        if isinstance(item, dict):
            when = _time_of(item.get("date_published"), zone, now) or _time_of(
                item.get("date_modified"), zone, now
            )
            if when is not None:
                dates.append(when)
    return FeedReading("json", len(items), tuple(d.astimezone(zone) for d in dates))


def _entry_date(entry: Any, zone: tzinfo, now: datetime) -> datetime | None:
    for key in ("published", "updated", "created"):
        raw = entry.get(key)
        # feedparser reads a zone-less date as UTC; the site meant its own time.
        if isinstance(raw, str) and (local := parse_exact(raw[:100], now=now, zone=zone)):
            return local
        parsed = entry.get(f"{key}_parsed")
        if parsed is not None:
            try:
                year, month, day, hour, minute, second = parsed[:6]
                stamp = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
            except (TypeError, ValueError):
                continue
            # 9999-12-31 and the like stand for "no date": the entry is undated.
            return plausible(stamp)
        # feedparser reads RFC 822 and W3C dates; anything else, try ours.
        if (when := _time_of(raw, zone, now)) is not None:
            return when
    return None


def read_feed(
    body: bytes, content_type: str | None, *, now: datetime, zone: tzinfo
) -> FeedReading | None:
    """Read an RSS, Atom or JSON feed; None if the body is none of them. Never raises."""
    head = body[:64].lstrip()
    if head.startswith(b"{") or "json" in (content_type or "").lower():
        return _read_json_feed(body, zone, now)
    # A stream, never bytes or str: feedparser opens a str that looks like a URL, and bytes
    # that name a file, which a hostile body must not make it do.
    parsed = feedparser.parse(
        io.BytesIO(body),
        response_headers={"content-type": content_type or "application/xml"},
        resolve_relative_uris=False,
        sanitize_html=False,
    )
    if not parsed.get("version"):
        return None
    entries = parsed.get("entries") or []
    # Shown and reported in the site's zone, as the account's readers see them.
    dates = tuple(
        d.astimezone(zone) for e in entries if (d := _entry_date(e, zone, now)) is not None
    )
    return FeedReading(str(parsed["version"]), len(entries), dates)


def _read_body(
    check: FeedCheck, body: bytes, content_type: str | None, *, now: datetime, zone: tzinfo
) -> FeedReading | None:
    if check.encoding is not None:
        # The configured encoding wins over the document's own declaration.
        body = body.decode(check.encoding, errors="replace").encode("utf-8")
        content_type = f"{(content_type or 'application/xml').split(';')[0]}; charset=utf-8"
    return read_feed(body, content_type, now=now, zone=zone)


def bridge_page(body: bytes) -> tuple[str, str] | None:
    """(kind, what) when a body that is no feed is a bridge's captcha or login page."""
    text = body[:65536].decode("utf-8", errors="replace").lower()
    for marker, kind, what in _BRIDGE_PAGES:
        if marker in text:
            return kind, what
    return None


def judge(check: FeedCheck, reading: FeedReading, now: datetime) -> tuple[Outcome, str, int]:
    """Outcome, detail and the number of posts in the `min_posts` window (0 without one)."""
    dates = reading.usable_dates(now)
    undated = reading.entries - len(reading.dates)
    if reading.entries == 0:
        return Outcome.CONTENT_MISMATCH, "feed has no entries", 0
    if not dates:
        what = "none dated" if undated == reading.entries else "all dated in the future"
        return Outcome.STALE, f"{reading.entries} entries, {what}", 0
    newest = max(dates)
    age = max(0.0, (now - newest).total_seconds())
    problems: list[str] = []
    notes = [f"newest post {show_date(newest)} is {show_age(age)} old"]
    if age > check.max_age:
        problems.append(f"{notes[0]} (max {show_age(check.max_age)})")
    in_window = 0
    if check.min_posts is not None:
        since = now - timedelta(seconds=check.min_posts.window)
        in_window = sum(1 for d in dates if d > since)
        posts = f"{in_window} posts in {show_age(check.min_posts.window)}"
        if not frequency_assessable(check.min_posts, reading, dates, since):
            notes.append(
                f"posting frequency not assessable: the feed lists only {reading.entries} "
                f"{'entry' if reading.entries == 1 else 'entries'}, all within "
                f"{show_age(check.min_posts.window)}"
            )
        elif in_window < check.min_posts.count:
            problems.append(f"{posts}, expected ≥ {check.min_posts.count}")
        else:
            notes.append(posts)
    if undated:
        notes.append(f"{undated} entries undated")
    if problems:
        return Outcome.STALE, "; ".join(problems), in_window
    return Outcome.OK, ", ".join(notes), in_window


def frequency_assessable(
    rule: MinPosts, reading: FeedReading, dates: list[datetime], since: datetime
) -> bool:
    """Whether the feed shows enough to judge `min_posts`: fewer entries than the count, all
    inside the window, may be all the bridge lists, not all the account posted."""
    return reading.entries >= rule.count or min(dates) <= since


async def probe(check: FeedCheck, ctx: ProbeContext) -> ProbeResult:
    """Fetch the feed, find its newest entry and count recent posts."""
    run = ProbeRun(check, ctx)
    try:
        response = await fetch_page(ctx, check)
    except FetchError as error:
        bridge = _BRIDGE_STATUS.get(error.status_code or 0)
        if bridge is None:
            return run.failed(error)
        error.detail = f"bridge failure: {bridge[1]} ({error.detail})"
        figures = FeedMeasurement(bridge_failure=bridge[0])
        return run.failed(error, measurement=figures)
    now, reading = await read_dated(ctx, check, response, _read_body)
    fetched = response.transport
    if reading is None:
        page = bridge_page(response.body)
        if page is not None:
            kind, what = page
            return run.result(
                Outcome.CONTENT_MISMATCH,
                f"bridge failure: {what} instead of the feed",
                measurement=FeedMeasurement(bridge_failure=kind),
                transport=fetched,
            )
        return run.result(
            Outcome.CONTENT_MISMATCH, "not an RSS, Atom or JSON feed", transport=fetched
        )
    outcome, detail, in_window = judge(check, reading, now)
    newest = max(reading.usable_dates(now), default=None)
    figures = FeedMeasurement(feed_format=reading.format)
    if check.min_posts is not None:
        dates = reading.usable_dates(now)
        since = now - timedelta(seconds=check.min_posts.window)
        assessable = not dates or frequency_assessable(check.min_posts, reading, dates, since)
        figures = replace(
            figures,
            posts_in_window=in_window,
            posting_frequency="assessed" if assessable else "not_assessable",
        )
    return run.result(
        outcome,
        detail,
        content_age_seconds=content_age(newest, now),
        newest_item_at=newest,
        items=reading.entries,
        measurement=figures,
        transport=fetched,
    )
