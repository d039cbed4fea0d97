"""The `feed` probe against the fake accounts: fresh, old, sparse, empty, undated, not a feed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_config
from monitor.probes.base import ProbeContext
from monitor.probes.feed import FeedCheck, probe
from monitor.results import Outcome, ProbeResult
from tests.fakesite import NOW, column_dates
from tests.targets import ServeApp, raw_server, truncated_chunked


async def run(url: str, ctx: ProbeContext, **settings: Any) -> ProbeResult:
    check = FeedCheck.model_validate(
        {"id": "gzxx", "site": "sasac", "url": url, "interval": 300, "timeout": 2} | settings
    )
    return await probe(check, ctx)


@pytest.mark.parametrize(("kind", "age_days"), [("fresh", 1), ("atom", 1), ("json", 2)])
async def test_fresh_feeds(site: str, ctx: ProbeContext, kind: str, age_days: int) -> None:
    """RSS, Atom and JSON Feed with a recent entry are `ok`, with the entry's date and count."""
    result = await run(f"{site}/feed/{kind}", ctx)
    assert result.outcome is Outcome.OK, result.detail
    assert result.newest_item_at == column_dates(age_days)[0]
    assert result.items == 5
    assert result.content_age_seconds == pytest.approx(age_days * 86400)


async def test_zone_less_dates_are_the_sites_local_time(site: str, ctx: ProbeContext) -> None:
    """An RSS date written `2026-06-23 12:00:00` (no zone) is Shanghai time, not UTC."""
    result = await run(f"{site}/feed/old", ctx)
    # Entry 1 of /feed/old is written without a zone; entry 0 (RFC 822) is the newest.
    assert result.newest_item_at == column_dates(40)[0]
    assert result.to_json()["feed_format"] == "rss20"


async def test_an_old_feed_is_stale(site: str, ctx: ProbeContext) -> None:
    """An account whose newest post is 40 days old is `stale` against the 14-day rule."""
    result = await run(f"{site}/feed/old", ctx)
    assert result.outcome is Outcome.STALE
    assert result.detail == "newest post 2026-05-22 12:00 is 40 d old (max 14 d)"


async def test_too_few_posts_in_the_window(site: str, ctx: ProbeContext) -> None:
    """Posts 2, 12 and 25 days ago are 3 in 30 d: `stale` when 4 are expected."""
    result = await run(f"{site}/feed/sparse", ctx, min_posts={"count": 4, "window": "30d"})
    assert result.outcome is Outcome.STALE
    assert result.detail == "3 posts in 30 d, expected ≥ 4"
    assert result.to_json()["posts_in_window"] == 3
    assert result.newest_item_at == NOW - timedelta(days=2)


async def test_enough_posts_in_the_window(site: str, ctx: ProbeContext) -> None:
    """The same feed meets `min_posts: {count: 3, window: 30d}`."""
    result = await run(f"{site}/feed/sparse", ctx, min_posts={"count": 3, "window": "30d"})
    assert result.outcome is Outcome.OK
    assert "3 posts in 30 d" in result.detail


async def test_old_and_sparse_both_reported(site: str, ctx: ProbeContext) -> None:
    """A feed that is both too old and too sparse says both."""
    result = await run(
        f"{site}/feed/old", ctx, max_age="14d", min_posts={"count": 2, "window": "30d"}
    )
    assert result.outcome is Outcome.STALE
    assert "(max 14 d)" in result.detail
    assert "0 posts in 30 d, expected ≥ 2" in result.detail


async def test_not_a_feed(site: str, ctx: ProbeContext) -> None:
    """An HTML maintenance page where the feed should be is `content_mismatch`."""
    result = await run(f"{site}/feed/notafeed", ctx)
    assert result.outcome is Outcome.CONTENT_MISMATCH
    assert result.detail == "not an RSS, Atom or JSON feed"


async def test_an_empty_feed(site: str, ctx: ProbeContext) -> None:
    """A feed without entries (a bridge that lost the account) is `content_mismatch`."""
    result = await run(f"{site}/feed/empty", ctx)
    assert result.outcome is Outcome.CONTENT_MISMATCH
    assert result.detail == "feed has no entries"


async def test_undated_entries_are_not_fresh(site: str, ctx: ProbeContext) -> None:
    """Entries without dates are `stale`, never fresh; the channel's lastBuildDate is ignored."""
    result = await run(f"{site}/feed/undated", ctx)
    assert result.outcome is Outcome.STALE
    assert result.detail == "3 entries, none dated"


async def test_http_error(site: str, ctx: ProbeContext) -> None:
    """A feed bridge answering 503 is `http_error`."""
    result = await run(f"{site}/status/503", ctx)
    assert result.outcome is Outcome.HTTP_ERROR
    assert result.status_code == 503


async def test_dropout(ctx: ProbeContext) -> None:
    """A chunked feed cut short is `dropout`."""
    async with raw_server(truncated_chunked()) as port:
        result = await run(f"http://gov.test:{port}/feed", ctx)
    assert result.outcome is Outcome.DROPOUT


def test_example_config_is_valid() -> None:
    """examples/checks-feed.yaml loads: every key it documents is a real key."""
    config = load_config(Path(__file__).parent.parent / "examples" / "checks-feed.yaml")
    assert {check.type for check in config.checks()} == {"feed"}


def _rss(*days_ago: float) -> str:
    """An RSS feed whose entries, in this order, are `days_ago` old."""
    items = "".join(
        f"<item><title>post {i}</title><pubDate>"
        f"{(NOW - timedelta(days=d)).strftime('%a, %d %b %Y %H:%M:%S %z')}</pubDate></item>"
        for i, d in enumerate(days_ago)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>a</title>{items}</channel></rss>'
    )


@pytest.fixture
async def bridge(serve: ServeApp) -> str:
    """A feed bridge (RSSHub-like) with failing routes, a one-item route and a pinned post."""
    from aiohttp import web

    pages = {
        "/weibo/432": (432, "text/plain", "432"),
        "/wechat/403": (403, "text/html", "<h1>Forbidden</h1>"),
        "/wechat/env": (
            200,
            "text/html",
            "<html><body>环境异常，请完成验证后继续访问</body></html>",
        ),
        "/wechat/login": (200, "text/html", "<html><body>登录已过期，请重新扫码登录</body></html>"),
        "/wechat/one": (200, "application/rss+xml", _rss(3)),
        "/weibo/pinned": (200, "application/rss+xml", _rss(200, 1, 4, 9)),
    }

    async def route(request: web.Request) -> web.Response:
        status, kind, text = pages[request.path]
        return web.Response(status=status, text=text, content_type=kind)

    app = web.Application()
    for path in pages:
        app.router.add_get(path, route)
    return str(await serve(app))


@pytest.mark.parametrize(
    ("route", "outcome", "kind", "words"),
    [
        ("/weibo/432", Outcome.HTTP_ERROR, "rate_limited", "status 432"),
        ("/wechat/403", Outcome.HTTP_ERROR, "refused", "status 403"),
        ("/wechat/env", Outcome.CONTENT_MISMATCH, "captcha", "环境异常"),
        ("/wechat/login", Outcome.CONTENT_MISMATCH, "login_expired", "login has expired"),
    ],
)
async def test_a_failing_bridge_is_its_own_failure(
    bridge: str, ctx: ProbeContext, route: str, outcome: Outcome, kind: str, words: str
) -> None:
    """A bridge refused, rate-limited or shown a captcha is a bridge failure, never `stale`."""
    result = await run(f"{bridge}{route}", ctx)
    assert result.outcome is outcome
    assert result.detail.startswith("bridge failure: ") and words in result.detail
    assert result.measurement.bridge_failure == kind
    assert result.items is None and result.newest_item_at is None


async def test_one_item_feed_cannot_tell_posting_frequency(bridge: str, ctx: ProbeContext) -> None:
    """A route that lists one post (3 days old) is fresh; 4 posts in 30 d is not assessable."""
    result = await run(f"{bridge}/wechat/one", ctx, min_posts={"count": 4, "window": "30d"})
    assert result.outcome is Outcome.OK, result.detail
    assert result.measurement.posting_frequency == "not_assessable"
    assert "posting frequency not assessable: the feed lists only 1 entry" in result.detail


async def test_the_newest_post_is_the_newest_date_whatever_the_order(
    bridge: str, ctx: ProbeContext
) -> None:
    """A pinned 200-day-old post listed first does not hide the post of yesterday."""
    result = await run(f"{bridge}/weibo/pinned", ctx, min_posts={"count": 3, "window": "30d"})
    assert result.outcome is Outcome.OK, result.detail
    assert result.newest_item_at == NOW - timedelta(days=1)
    # Four entries, one of them older than the window: the frequency is judged (3 in 30 d).
    assert result.measurement.posting_frequency == "assessed"
    assert result.measurement.posts_in_window == 3
