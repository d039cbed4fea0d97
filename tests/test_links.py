"""The `links` probe against the fake site: working and broken links, HEAD fallback, the cache."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_config
from monitor.probes.base import ProbeContext, first_few
from monitor.probes.links import Link, LinksCheck, collect_links, probe
from monitor.results import Outcome, ProbeResult
from tests.fakeclock import WallClock
from tests.fakesite import FakeSite


def links_check(url: str, **settings: Any) -> LinksCheck:
    raw = {"id": "links", "site": "sasac", "url": url, "interval": 300, "timeout": 2}
    return LinksCheck.model_validate(raw | settings)


async def run(url: str, ctx: ProbeContext, **settings: Any) -> ProbeResult:
    return await probe(links_check(url, **settings), ctx)


def test_a_detail_lists_the_first_few_then_how_many_more() -> None:
    """All of them up to `most`; past it the first `most` and `and N more` (links, security)."""
    assert first_few(["a", "b"], 2, str.upper) == ["A", "B"]
    assert first_few(["a", "b", "c"], 2, str.upper) == ["A", "B", "and 1 more"]
    assert first_few([], 2, str.upper) == []


async def test_broken_links_and_images_are_found(site: str, ctx: ProbeContext) -> None:
    """A 404 link, a 410 external link and a 404 image are broken; the rest work."""
    result = await run(f"{site}/links", ctx)
    assert result.outcome is Outcome.BROKEN_LINKS
    other = site.replace("gov.test", "other.test")
    assert result.broken_links == (
        f"{site}/ok/missing.html?x=1",
        f"{other}/ok/gone.html",
        f"{site}/img/missing.png",
    )
    assert result.detail.startswith(
        f"3 of 11 links broken (max 0): {site}/ok/missing.html?x=1 (status 404), "
    )
    assert result.measurement.broken_link_reasons[f"{other}/ok/gone.html"] == "status 410"
    assert result.to_json()["broken_links"][2] == f"{site}/img/missing.png"


async def test_within_max_broken_is_ok(site: str, ctx: ProbeContext) -> None:
    """Three broken links with `max_broken: 3` is `ok`, still listing them."""
    result = await run(f"{site}/links", ctx, max_broken=3)
    assert result.outcome is Outcome.OK
    assert result.broken_links is not None and len(result.broken_links) == 3


@pytest.mark.parametrize(
    ("settings", "checked", "broken"),
    [
        ({"scope": "same_site"}, 9, 2),
        ({"scope": "external"}, 2, 1),
        ({"images": False}, 9, 2),
        ({"ignore": ["missing"]}, 9, 1),
        ({"within": "ul.list"}, 6, 2),
        ({"within": "ul.list", "max_links": 4}, 4, 1),
    ],
)
async def test_what_is_checked(
    site: str, ctx: ProbeContext, settings: dict[str, Any], checked: int, broken: int
) -> None:
    """`scope`, `images`, `ignore`, `within` and `max_links` choose which links are checked."""
    result = await run(f"{site}/links", ctx, max_broken=10, **settings)
    assert result.measurement.links_checked == checked
    assert result.broken_links is not None and len(result.broken_links) == broken


async def test_head_refused_falls_back_to_get(site: str, ctx: ProbeContext, fake: FakeSite) -> None:
    """A link whose server refuses HEAD (405) is asked again with GET and works."""
    result = await run(f"{site}/links", ctx)
    assert f"{site}/no-head" not in (result.broken_links or ())
    assert fake.hits["HEAD /no-head"] == 1 and fake.hits["GET /no-head"] == 1
    assert fake.hits["HEAD /ok/a.html"] == 1 and fake.hits["GET /ok/a.html"] == 0


async def test_verdicts_are_cached_for_recheck(
    site: str, ctx: ProbeContext, fake: FakeSite, clock: WallClock
) -> None:
    """Within `recheck` no link is fetched again; after it, every link is."""
    check = links_check(f"{site}/links", recheck="1h")
    first = await probe(check, ctx)
    asked = fake.hits["HEAD /ok/a.html"]
    clock.now += timedelta(minutes=30)
    second = await probe(check, ctx)
    assert fake.hits["HEAD /ok/a.html"] == asked
    assert second.measurement.links_cached == 11
    assert second.broken_links == first.broken_links
    clock.now += timedelta(minutes=31)
    third = await probe(check, ctx)
    assert fake.hits["HEAD /ok/a.html"] == asked + 1
    assert third.measurement.links_cached == 0


async def test_a_link_past_its_timeout_is_broken(site: str, ctx: ProbeContext) -> None:
    """A link that does not answer within `link_timeout` is broken, with the reason `timeout`."""
    result = await run(f"{site}/links?slow=1", ctx, link_timeout="300ms", max_broken=3)
    assert result.outcome is Outcome.BROKEN_LINKS
    assert result.measurement.broken_link_reasons[f"{site}/stalls"].startswith("timeout: ")


async def test_page_failure_is_its_transport_outcome(site: str, ctx: ProbeContext) -> None:
    """When the page itself fails, the outcome is that failure, not a link count."""
    result = await run(f"{site}/status/500", ctx)
    assert result.outcome is Outcome.HTTP_ERROR
    assert result.broken_links is None


def test_collect_links_resolves_and_skips() -> None:
    """Links resolve against <base>; fragments drop; mailto/javascript/data are skipped;
    an href no browser can follow is kept as a malformed (broken) link."""
    html = (
        '<base href="https://a.gov.cn/dir/"><a href="x.html#p">x</a><a href="x.html">again</a>'
        '<a href="mailto:a@b.cn">m</a><a href="javascript:;">j</a><a href="ftp://f/">f</a>'
        '<img src="data:image/png;base64,AA"><img src="/i.png"><a href="http://[bad">b</a>'
    )
    assert collect_links(html, "https://a.gov.cn/index.html") == [
        Link("https://a.gov.cn/dir/x.html", "link"),
        Link("https://a.gov.cn/i.png", "image"),
        Link("http://[bad", "link", malformed=True),
    ]


def test_example_config_is_valid() -> None:
    """examples/checks-links.yaml loads: every key it documents is a real key."""
    config = load_config(Path(__file__).parent.parent / "examples" / "checks-links.yaml")
    assert {check.type for check in config.checks()} == {"links"}
