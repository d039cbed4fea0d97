"""The `freshness` probe against the fake site: every date form, both encodings, every outcome."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from monitor.config import ConfigError, load_config, parse_config
from monitor.probes.base import ProbeContext
from monitor.probes.freshness import FreshnessCheck, probe
from monitor.results import Outcome, ProbeResult
from tests.fakesite import DATE_FORMS, NOW, column_dates
from tests.targets import ServeApp, raw_server, reset_mid_body


def freshness(url: str, **settings: Any) -> FreshnessCheck:
    return FreshnessCheck.model_validate(
        {"id": "tzgg", "site": "sasac", "url": url, "interval": 300, "timeout": 2} | settings
    )


async def run(url: str, ctx: ProbeContext, **settings: Any) -> ProbeResult:
    return await probe(freshness(url, **settings), ctx)


@pytest.mark.parametrize("form", sorted(DATE_FORMS))
@pytest.mark.parametrize("encoding", ["column", "gbk/column", "gbk-meta/column"])
async def test_every_date_form_in_every_encoding_is_fresh(
    site: str, ctx: ProbeContext, form: str, encoding: str
) -> None:
    """A column three days old is `ok`, read from UTF-8, GBK and meta-declared GB2312 alike."""
    result = await run(f"{site}/{encoding}/{form}", ctx, items="ul.list li")
    assert result.outcome is Outcome.OK, result.detail
    newest = column_dates(3)[0]
    assert result.newest_item_at is not None
    assert result.newest_item_at.date() == newest.date()
    if form == "datetime":
        assert result.newest_item_at == newest
    assert result.items == 5
    assert result.content_age_seconds is not None
    assert 3 * 86400 <= result.content_age_seconds < 4 * 86400
    assert result.status_code == 200
    assert result.to_json()["category"] == "news"


async def test_a_large_gbk_page_is_read_in_the_parser_process(
    site: str, ctx: ProbeContext, serve: ServeApp
) -> None:
    """A large page in GBK is read in the parser process as the small one is: the check, the
    page and the time zone cross the process boundary."""
    small = await run(f"{site}/gbk/column/iso", ctx, items="ul.list li")
    page = await ctx.http.fetch(f"{site}/gbk/column/iso", timeout=5)
    body, content_type = page.body, page.headers["Content-Type"]
    padding = b"<!-- " + b"x" * 256 * 1024 + b" -->"
    large_page = body.replace(b"</body>", padding + b"</body>")

    async def large(request: web.Request) -> web.Response:
        return web.Response(body=large_page, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get("/", large)
    result = await run(f"{await serve(app)}/", ctx, items="ul.list li")
    assert result.outcome is Outcome.OK, result.detail
    assert (result.newest_item_at, result.items) == (small.newest_item_at, small.items)
    assert result.items == 5


async def test_default_item_scan_finds_the_list_without_a_selector(
    site: str, ctx: ProbeContext
) -> None:
    """Without `items`, the link rows are found and the menu's undated rows do not hide the date."""
    result = await run(f"{site}/column/chinese", ctx)
    assert result.outcome is Outcome.OK
    assert result.newest_item_at is not None
    assert result.newest_item_at.date() == column_dates(3)[0].date()
    assert result.to_json()["date_source"] == "scan"


async def test_an_old_news_column_is_stale(site: str, ctx: ProbeContext) -> None:
    """A news column whose newest item is 40 days old is `stale` against the 14-day rule."""
    result = await run(f"{site}/column/iso?age=40", ctx, items="ul.list li")
    assert result.outcome is Outcome.STALE
    assert "(max 14 d)" in result.detail
    assert result.content_age_seconds is not None
    assert result.content_age_seconds > 40 * 86400


async def test_a_notice_column_may_be_older(site: str, ctx: ProbeContext) -> None:
    """The same 40-day-old column is fine as a notice column (通知公告, 180 days)."""
    result = await run(f"{site}/column/iso?age=40", ctx, items="ul.list li", category="notice")
    assert result.outcome is Outcome.OK
    assert "(max 180 d)" in result.detail


async def test_max_age_overrides_the_category(site: str, ctx: ProbeContext) -> None:
    """`max_age: 2d` makes a 3-day-old homepage stale."""
    result = await run(f"{site}/column/dot", ctx, category="homepage", max_age="2d")
    assert result.outcome is Outcome.STALE


async def test_a_blank_column(site: str, ctx: ProbeContext) -> None:
    """A list with no items is `content_mismatch` "blank column" (栏目无内容)."""
    result = await run(f"{site}/blank", ctx, items="ul.list li")
    assert result.outcome is Outcome.CONTENT_MISMATCH
    assert result.detail == "blank column"
    assert result.items == 0


async def test_undated_items_are_never_fresh(site: str, ctx: ProbeContext) -> None:
    """Items without dates are reported as such, and the column is `stale`, not `ok`."""
    result = await run(f"{site}/undated", ctx, items="ul.list li")
    assert result.outcome is Outcome.STALE
    assert result.detail == "4 items, none dated"
    assert result.newest_item_at is None
    assert result.content_age_seconds is None


async def test_meta_pubdate(site: str, ctx: ProbeContext) -> None:
    """An article's `<meta name="PubDate">` gives its date, time included."""
    result = await run(f"{site}/pubdate?age=2", ctx, category="homepage")
    assert result.outcome is Outcome.OK
    assert result.newest_item_at == (NOW - timedelta(days=2)).replace(second=0)
    assert result.to_json()["date_source"] == "meta"


async def test_configured_selector_regex_and_format(site: str, ctx: ProbeContext) -> None:
    """A date in an attribute, day first, is read through selector, attribute, regex, format."""
    date = {
        "selector": "em",
        "attribute": "data-published",
        "regex": "发布于(.+)",
        "format": "%d/%m/%Y",
    }
    result = await run(f"{site}/selector?age=5", ctx, items="div.item", date=date)
    assert result.outcome is Outcome.OK, result.detail
    assert result.newest_item_at is not None
    assert result.newest_item_at.date() == column_dates(5)[0].date()
    assert result.items == 3
    without = await run(f"{site}/selector?age=5", ctx, items="div.item")
    assert without.outcome is Outcome.STALE  # the scan cannot read 发布于28/06/2026


async def test_encoding_override_for_a_lying_charset(site: str, ctx: ProbeContext) -> None:
    """GBK under a UTF-8 header loses 年月日 unless `encoding: gbk` says what the bytes are."""
    url = f"{site}/lying-charset/column/chinese"
    lied_to = await run(url, ctx, items="ul.list li")
    assert lied_to.outcome is Outcome.STALE
    told = await run(url, ctx, items="ul.list li", encoding="gbk")
    assert told.outcome is Outcome.OK


async def test_http_error(site: str, ctx: ProbeContext) -> None:
    """A column answering 404 is `http_error` with its status."""
    result = await run(f"{site}/status/404", ctx)
    assert result.outcome is Outcome.HTTP_ERROR
    assert result.status_code == 404


async def test_timeout(site: str, ctx: ProbeContext) -> None:
    """A column that does not answer within the timeout is `timeout`."""
    result = await run(f"{site}/slow?delay=5", ctx, timeout=0.3)
    assert result.outcome is Outcome.TIMEOUT


async def test_dropout(ctx: ProbeContext) -> None:
    """A connection reset mid-body is `dropout`, not a stale or blank column."""
    async with raw_server(reset_mid_body()) as port:
        result = await run(f"http://gov.test:{port}/", ctx)
    assert result.outcome is Outcome.DROPOUT


def test_custom_category_needs_max_age() -> None:
    """`category: custom` without `max_age` is a config error naming the check."""
    raw = {
        "sites": [
            {
                "id": "s",
                "checks": [
                    {
                        "id": "c",
                        "type": "freshness",
                        "url": "https://a.gov.cn/",
                        "category": "custom",
                    }
                ],
            }
        ]
    }
    with pytest.raises(ConfigError, match=r"sites\[0\]\.checks\[0\].*custom.*max_age"):
        parse_config(raw, "test.yaml")


def test_bad_selector_is_a_config_error() -> None:
    """An invalid CSS selector is refused when the config loads, with its path."""
    raw = {
        "sites": [
            {
                "id": "s",
                "checks": [
                    {
                        "id": "c",
                        "type": "freshness",
                        "url": "https://a.gov.cn/",
                        "items": "ul.list li[",
                    }
                ],
            }
        ]
    }
    with pytest.raises(ConfigError, match=r"checks\[0\]\.items: invalid CSS selector"):
        parse_config(raw, "test.yaml")


def test_example_config_is_valid() -> None:
    """examples/checks-freshness.yaml loads: every key it documents is a real key."""
    config = load_config(Path(__file__).parent.parent / "examples" / "checks-freshness.yaml")
    assert {check.type for check in config.checks()} == {"freshness"}
