"""`links`: the links and images of a page, each checked, broken ones listed.

Broken links (链接不可用) on the homepage and other pages cost points in the official
inspection. Each link is asked with HEAD, and with GET when HEAD is refused or fails (many
government CMSes answer HEAD with 403, 404 or 405); a status of 400 or more, or a transport
failure, makes it broken.

Keys (besides `url`, `headers`, `tls`, `max_body_size`, `encoding`):

- `max_broken`: broken links allowed before the outcome is `broken_links` (default 0).
- `scope`: `all` (default), `same_site` or `external`: which links are checked.
- `images`: check `<img src>` too (default true).
- `within`: CSS selector of the part of the page whose links count (default: all of it).
- `ignore`: regexes; a link whose absolute URL matches one is not checked.
- `concurrency` (default 4), `link_timeout` (default 10 s), `max_links` (default 500, the
  first ones on the page).
- `recheck`: a link's verdict is reused for this long (default 1 h), so a page probed every
  5 minutes does not fetch each of its links every 5 minutes.

A probe's run time grows with the links it must check: about `link_timeout` times the number
of unresponsive links divided by `concurrency`. The check's `timeout` bounds all of it (the
page and every link); past it the probe is a `timeout`. Give the check a timeout and an
interval to match.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field
from yarl import URL

from monitor.configtypes import Duration, Pattern
from monitor.measurements import LinksMeasurement
from monitor.probes.base import ProbeContext, ProbeRun, first_few
from monitor.probes.extract import Css, parse_html
from monitor.probes.httpclient import FetchError
from monitor.probes.page import (
    PageCheck,
    body_text,
    fetch_page,
    read_fetched,
)
from monitor.results import Outcome, ProbeResult

__all__ = ["Link", "LinksCheck", "collect_links", "probe"]

STATE_KEY = "links"
_SKIPPED_SCHEMES = ("javascript:", "mailto:", "tel:", "data:", "about:", "#", "sms:")
# An href longer than this is junk, not a link to check.
_MAX_HREF = 2048
# A GET fallback reads at most this much: enough to know the link answers.
_GET_MAX_BODY = 256 * 1024
# HEAD failures worth a GET: the server may just mishandle HEAD. Timeouts and connection
# failures are not retried (a GET would fail the same way, twice as slowly).
_RETRY_WITH_GET = (Outcome.HTTP_ERROR, Outcome.DROPOUT, Outcome.CONTENT_MISMATCH)
# Shown in the detail; all of them are in `broken_links`.
_DETAIL_LIST = 10


class LinksCheck(PageCheck):
    type: str = "links"
    max_broken: int = Field(default=0, ge=0)
    scope: Literal["all", "same_site", "external"] = "all"
    images: bool = True
    within: Css | None = None
    ignore: tuple[Pattern, ...] = ()
    concurrency: int = Field(default=4, ge=1, le=64)
    link_timeout: Duration = 10.0
    max_links: int = Field(default=500, ge=1, le=10_000)
    recheck: Duration = 3600.0


@dataclass(frozen=True, slots=True)
class Link:
    """One link of the page: its absolute URL (no fragment), or why it cannot be one."""

    url: str
    kind: Literal["link", "image"]
    malformed: bool = False


def _same_site(host: str | None, page_host: str | None) -> bool:
    def bare(name: str | None) -> str:
        return (name or "").lower().removeprefix("www.")

    return bare(host) == bare(page_host)


def collect_links(
    html: str, page_url: str, *, images: bool = True, within: str | None = None
) -> list[Link]:
    """The page's links (and images), absolute, deduplicated, in page order. Never raises."""
    doc = parse_html(html)
    base = URL(page_url)
    base_tag = doc.css_first("base[href]")
    if base_tag is not None:
        # A broken <base> is ignored: links resolve against the page, as browsers do.
        with contextlib.suppress(ValueError, TypeError):
            base = base.join(URL((base_tag.attributes.get("href") or "").strip()))
    roots = doc.css(within) if within is not None else [doc]
    selector = "a[href], area[href], img[src]" if images else "a[href], area[href]"
    seen: set[str] = set()
    links: list[Link] = []
    for root in roots:
        for node in root.css(selector):
            is_image = node.tag == "img"
            raw = (node.attributes.get("src" if is_image else "href") or "").strip()
            if not raw or len(raw) > _MAX_HREF or raw.lower().startswith(_SKIPPED_SCHEMES):
                continue
            kind: Literal["link", "image"] = "image" if is_image else "link"
            try:
                url = base.join(URL(raw)).with_fragment(None)
            except (ValueError, TypeError):
                absolute, malformed = raw, True  # a link no browser could follow: broken
            else:
                if url.scheme not in ("http", "https"):
                    continue  # another scheme (ftp:, weixin:): not ours to check
                absolute, malformed = str(url), not url.host
            if absolute not in seen:
                seen.add(absolute)
                links.append(Link(absolute, kind, malformed))
    return links


def _in_scope(check: LinksCheck, link: Link, page_host: str | None) -> bool:
    if any(re.search(pattern, link.url) for pattern in check.ignore):
        return False
    if check.scope == "all" or link.malformed:
        return True
    same = _same_site(URL(link.url).host, page_host)
    return same if check.scope == "same_site" else not same


async def _verdict(check: LinksCheck, ctx: ProbeContext, url: str) -> str | None:
    """Why the link is broken, or None if it works."""
    fetch: dict[str, Any] = {"timeout": check.link_timeout, "tls": check.tls}
    try:
        head = await ctx.http.fetch(url, method="HEAD", max_body=_GET_MAX_BODY, **fetch)
    except FetchError as error:
        if error.outcome is Outcome.CONTENT_MISMATCH and (error.status_code or 600) < 400:
            return None  # HEAD announced a body larger than we read: a working large file
        if error.outcome not in _RETRY_WITH_GET:
            return f"{error.outcome}: {error.detail}"
    else:
        if head.status < 400:
            return None
    try:
        got = await ctx.http.fetch(url, method="GET", max_body=_GET_MAX_BODY, **fetch)
    except FetchError as error:
        if error.outcome is Outcome.CONTENT_MISMATCH and (error.status_code or 600) < 400:
            return None  # a working link to a large file
        return f"{error.outcome}: {error.detail}"
    return None if got.status < 400 else f"status {got.status}"


class _Cache:
    """Verdicts kept between probes (in the probe state), each valid for `recheck`."""

    def __init__(self, state: dict[str, Any], now: datetime, recheck: float) -> None:
        entries: dict[str, tuple[datetime, str | None]] = state.setdefault(STATE_KEY, {})
        oldest = now - timedelta(seconds=recheck)
        for url in [u for u, (at, _) in entries.items() if at <= oldest or at > now]:
            del entries[url]  # expired (or from a clock that went back)
        self.entries = entries
        self.now = now

    def get(self, url: str) -> tuple[bool, str | None]:
        hit = self.entries.get(url)
        return (False, None) if hit is None else (True, hit[1])

    def put(self, url: str, verdict: str | None) -> None:
        self.entries[url] = (self.now, verdict)


async def _check_all(
    check: LinksCheck, ctx: ProbeContext, links: list[Link]
) -> tuple[dict[str, str], int]:
    """Broken links with their reasons, and how many verdicts came from the cache."""
    cache = _Cache(ctx.state(check), ctx.now(), check.recheck)
    gate = asyncio.Semaphore(check.concurrency)
    verdicts: dict[str, str | None] = {}
    cached = 0

    async def one(link: Link) -> None:
        async with gate:
            verdicts[link.url] = await _verdict(check, ctx, link.url)
        cache.put(link.url, verdicts[link.url])

    pending = []
    for link in links:
        if link.malformed:
            verdicts[link.url] = "malformed URL"
            continue
        hit, verdict = cache.get(link.url)
        if hit:
            cached += 1
            verdicts[link.url] = verdict
        else:
            pending.append(one(link))
    await asyncio.gather(*pending)
    broken = {link.url: why for link in links if (why := verdicts.get(link.url)) is not None}
    return broken, cached


def _collect(check: LinksCheck, body: bytes, content_type: str | None, page_url: str) -> list[Link]:
    text = body_text(check.encoding, body, content_type)
    return collect_links(text, page_url, images=check.images, within=check.within)


async def probe(check: LinksCheck, ctx: ProbeContext) -> ProbeResult:
    """Fetch the page, check its links and images, report the broken ones."""
    run = ProbeRun(check, ctx)
    try:
        response = await fetch_page(ctx, check)
    except FetchError as error:
        return run.failed(error)
    page_url = response.url
    found = await read_fetched(ctx, check, response, _collect, page_url=page_url)
    page_host = URL(page_url).host
    links = [link for link in found if _in_scope(check, link, page_host)][: check.max_links]
    broken, cached = await _check_all(check, ctx, links)
    listed = first_few(list(broken.items()), _DETAIL_LIST, lambda item: f"{item[0]} ({item[1]})")
    summary = f"{len(broken)} of {len(links)} links broken (max {check.max_broken})"
    detail = f"{summary}: {', '.join(listed)}" if listed else summary
    outcome = Outcome.BROKEN_LINKS if len(broken) > check.max_broken else Outcome.OK
    return run.result(
        outcome,
        detail,
        broken_links=tuple(broken),
        measurement=LinksMeasurement(
            links_checked=len(links), links_cached=cached, broken_link_reasons=broken
        ),
        transport=response.transport,
    )
