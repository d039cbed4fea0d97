"""The report's 安全、泄密事故 row and manual reviews: a fake site's injection probed for real,
its incident through the engine and the store, then reviews that confirm it (veto), exempt it
(an exemption) and are withdrawn, each shown beside the evidence it changed."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from monitor.clock import SystemClock
from monitor.config import Config
from monitor.incidents import IncidentEngine
from monitor.maintenance import MaintenanceSchedule
from monitor.probes.base import ProbeContext
from monitor.probes.httpclient import HttpClient
from monitor.probes.security import SecurityCheck, probe
from monitor.report import build_report, parse_period, render
from monitor.report.model import Report, Status, Verdict
from monitor.report.reviews import apply_reviews
from monitor.reviews import Decision, NewReview, Review, parse_span
from monitor.store import Store
from tests.fakesite import homepage
from tests.history import ReplayClock
from tests.pg import NoGauges, make_config
from tests.samples import new_review
from tests.targets import ServeApp

SHANGHAI = ZoneInfo("Asia/Shanghai")
INJECTED = '<div style="display:none"><a href="http://casino.test/">澳门娱乐城</a></div>'


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 7, day, hour, minute, tzinfo=SHANGHAI)


def config_for(url: str, base: str) -> Config:
    """One site with one security check of the fake site, storing to `url`."""
    check = {"id": "home-security", "type": "security", "url": base + "/", "interval": "5m"}
    site = {"id": "portal", "name": "门户网站", "owner": "portal-team", "checks": [check]}
    return make_config(url, sites=[site | {"checks": [check | {"success_threshold": 1}]}])


@pytest.fixture
async def world(
    pg_url: str,
    serve: ServeApp,
    http_client: HttpClient,
) -> AsyncIterator[tuple[Config, Store]]:
    """A fake site probed on 3 July at 10:00 (clean: the baseline), 10:05 and 10:10
    (injected), 10:15 (clean again); results through the incident engine into the store."""
    page = {"html": homepage()}

    async def handle(request: web.Request) -> web.Response:
        return web.Response(text=page["html"], content_type="text/html")

    app = web.Application()
    app.router.add_get("/", handle)
    base = await serve(app)
    config = config_for(pg_url, base)
    store = await Store.open(config, None, SystemClock())
    clock = ReplayClock(local(3, 10))
    engine = IncidentEngine(
        config.checks(), store, NoGauges(), clock, MaintenanceSchedule((), config.timezone)
    )
    (check,) = [c for c in config.checks() if isinstance(c, SecurityCheck)]
    ctx = ProbeContext(http=http_client, location="beijing", now=lambda: clock.at)
    for minute, html in (
        (0, homepage()),
        (5, homepage(inject=INJECTED)),
        (10, None),
        (15, homepage()),
    ):
        clock.at = local(3, 10, minute)
        page["html"] = html or page["html"]
        result = await probe(check, ctx)
        engine.observe(result)
        store.submit_result(result)
    assert await store.flush(30)
    try:
        yield config, store
    finally:
        await store.close()


async def report_of(config: Config, store: Store) -> Report:
    period = parse_period("Asia/Shanghai", from_text="2026-07-01", to_text="2026-07-31")
    return await build_report(config, store, period, now=datetime(2026, 8, 5, tzinfo=UTC))


def security_row(report: Report) -> Verdict:
    (site,) = report.sites
    (verdict,) = [v for v in site.verdicts if v.indicator == "security_incident"]
    return verdict


def review(decision: Decision, reason: str, **changes: Any) -> NewReview:
    """A review of 3 July (the day of the injection) of the check home-security."""
    start, end = parse_span("2026-07-03", "2026-07-03", SHANGHAI)
    fields: dict[str, Any] = {"start": start, "end": end, "decision": decision, "reason": reason}
    return new_review(**(fields | changes))


def texts(report: Report) -> tuple[str, str, dict[str, Any]]:
    markdown = render(report, "md", "zh")
    html = render(report, "html", "zh")
    data = render(report, "json", "zh")
    assert isinstance(markdown, bytes) and isinstance(html, bytes) and isinstance(data, bytes)
    return markdown.decode(), html.decode(), json.loads(data)


async def test_suspected_confirmed_exempted_withdrawn(world: tuple[Config, Store]) -> None:
    """The injection is a suspected finding (warning) naming the hidden link; a confirm review
    makes it a veto, a later exempt review an exemption, and withdrawing the exemption brings
    the veto back; each review is shown beside the evidence it changed."""
    config, store = world
    row = security_row(await report_of(config, store))
    assert row.status is Status.WARNING
    (finding,) = row.evidence["findings"]
    assert finding["status"] == "suspected" and finding["review"] is None
    assert (finding["opened_at"], finding["resolved_at"]) == (local(3, 10, 5), local(3, 10, 15))
    assert "hidden link http://casino.test/ 澳门娱乐城 (display:none on div" in finding["detail"]

    confirmed = await store.add_review(review(Decision.CONFIRM, "经核实确被植入暗链"))
    report = await report_of(config, store)
    row = security_row(report)
    assert row.status is Status.VETO
    assert report.sites[0].status is Status.VETO
    (finding,) = row.evidence["findings"]
    assert finding["status"] == "confirmed"
    assert finding["review"]["id"] == confirmed.id
    markdown, _, data = texts(report)
    assert "人工核查：确认，疑似改为已确认（第" in markdown
    assert "理由：经核实确被植入暗链" in markdown
    (json_row,) = [v for v in data["sites"][0]["verdicts"] if v["indicator"] == "security_incident"]
    assert json_row["status"] == "veto"
    assert json_row["evidence"]["findings"][0]["review"]["reviewer"] == "张三"

    exempt = await store.add_review(
        review(Decision.EXEMPT, "链接为本单位<script>alert(1)</script>测试页", reviewer="李四")
    )
    report = await report_of(config, store)
    row = security_row(report)
    assert row.status is Status.PASS
    assert row.evidence["findings"][0]["status"] == "exempted"
    assert row.evidence["findings"][0]["review"]["id"] == exempt.id
    markdown, html, _ = texts(report)
    assert "人工核查：豁免，疑似改为已豁免" in markdown and "李四" in markdown
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html

    await store.withdraw_review(exempt.id, "豁免依据不足，撤回", "王五")
    row = security_row(await report_of(config, store))
    assert row.status is Status.VETO
    assert row.evidence["findings"][0]["review"]["id"] == confirmed.id


async def test_rule_review_and_other_sites(world: tuple[Config, Store]) -> None:
    """A review of the rule covers every security check of its site; one of another site or
    another span changes nothing."""
    config, store = world
    elsewhere = review(Decision.CONFIRM, "其他站点", site="other")
    await store.add_review(elsewhere)
    start, end = parse_span("2026-07-04", "2026-07-05", SHANGHAI)
    await store.add_review(review(Decision.CONFIRM, "另一时段", start=start, end=end))
    assert security_row(await report_of(config, store)).status is Status.WARNING
    await store.add_review(
        review(Decision.REJECT, "页面正常，误报", check=None, rule="security_incident")
    )
    row = security_row(await report_of(config, store))
    assert row.status is Status.PASS
    assert row.evidence["findings"][0]["status"] == "rejected"


def _stored(review_id: int, decision: Decision, rule: str, day: int) -> Review:
    start, end = parse_span(f"2026-07-{day:02d}", f"2026-07-{day:02d}", SHANGHAI)
    return Review(
        "portal", None, rule, start, end, decision, "网络原因", "张三", id=review_id, created_at=start
    )


def test_exempt_rule_review_turns_any_veto_into_a_pass() -> None:
    """An exempt review of an indicator turns its veto into a pass, keeping the evidence and
    noting the machine's status; outside the period it does nothing."""
    period = parse_period("Asia/Shanghai", from_text="2026-07-01", to_text="2026-07-31")
    veto = Verdict("site_unreachable", Status.VETO, {"ratio": 0.06})
    (kept,) = apply_reviews(
        "portal", [veto], [_stored(1, Decision.EXEMPT, "blank_columns", 3)], period
    )
    assert kept is veto
    (changed,) = apply_reviews(
        "portal", [veto], [_stored(2, Decision.EXEMPT, "site_unreachable", 3)], period
    )
    assert changed.status is Status.PASS
    assert changed.evidence["ratio"] == 0.06
    assert changed.evidence["machine_status"] == "veto"
    assert changed.evidence["reviews"][0]["effect"] == "veto->pass"
    late = _stored(3, Decision.EXEMPT, "site_unreachable", 3)
    outside = dataclasses.replace(
        late, start=late.start + timedelta(days=60), end=late.end + timedelta(days=60)
    )
    (same,) = apply_reviews("portal", [veto], [outside], period)
    assert same is veto


def test_check_review_applies_to_the_verdict_it_decided() -> None:
    """A review naming the check that decided a verdict (its evidence's `check`) applies to it;
    one naming another check does not; the latest review in force wins."""
    period = parse_period("Asia/Shanghai", from_text="2026-07-01", to_text="2026-07-31")
    veto = Verdict("homepage_not_updated", Status.VETO, {"check": "home-fresh"})
    other = dataclasses.replace(_stored(1, Decision.EXEMPT, "x", 3), rule=None, check="news")
    (same,) = apply_reviews("portal", [veto], [other], period)
    assert same is veto
    exempt = dataclasses.replace(other, id=2, check="home-fresh")
    confirm = dataclasses.replace(exempt, id=3, decision=Decision.CONFIRM)
    (exempted,) = apply_reviews("portal", [veto], [exempt], period)
    assert exempted.status is Status.PASS
    (kept,) = apply_reviews("portal", [veto], [exempt, confirm], period)
    assert kept.status is Status.VETO and kept.evidence["reviews"][0]["id"] == 3
