"""The web page served by `monitor run`: what it shows, what it escapes, who may read it."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import zipfile
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from monitor.clock import SystemClock
from monitor.config import Config, parse_config
from monitor.results import ProbeResult
from monitor.server import make_app
from monitor.store import Store
from monitor.web import access, web_routes
from monitor.web.views import quarter_so_far
from tests.webworld import SECRET, STALE_DAYS, World


async def _get(url: str, **kwargs: Any) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.get(url, **kwargs) as response:
        return response.status, await response.text(), dict(response.headers)


def _cli(world: World, *args: str) -> bytes:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "report", "-c", str(world.config_path), *args],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout


async def test_overview_states_incidents_and_escaping(world: World) -> None:
    """The overview shows the down site as down, the stale column with its age, open incidents,
    the hostile title as inert text, and never a secret."""
    status, page, headers = await _get(f"{world.base}/")
    assert status == 200
    assert "script-src" not in headers["Content-Security-Policy"]  # default-src 'none' covers it
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert '<tr data-site="petrochem-retirees" data-state="down">' in page
    assert '<span class="badge state-down" data-state="down">故障</span>' in page
    assert f"{STALE_DAYS} 天 未更新" in page
    assert 'id="open-incidents"' in page
    assert "<img" not in page and "<script" not in page
    assert "&lt;img src=x onerror=" in page
    assert SECRET not in page
    _, english, _ = await _get(f"{world.base}/?lang=en")
    assert '<span class="badge state-down" data-state="down">down</span>' in english
    assert f"{STALE_DAYS} d since the newest item" in english


async def test_site_page_shows_checks_history_and_incidents(world: World) -> None:
    """A site's page lists its checks with state and age, a day strip and its incidents with the
    reason and the error; an unknown site is a 404 page."""
    status, page, _ = await _get(f"{world.base}/sites/portal")
    assert status == 200
    assert '<tr data-check="gzyw" data-state="stale">' in page
    assert f"{STALE_DAYS} 天 / 14 天" in page
    assert '<div class="strip" data-check="home">' in page
    assert "内容异常" in page and "&lt;script&gt;document.title" in page
    assert "<script" not in page
    assert SECRET not in page
    missing, body, _ = await _get(f"{world.base}/sites/%3Cscript%3E")
    assert missing == 404 and "&lt;script&gt;" in body and "<script" not in body


async def test_report_downloads_are_the_report_command_output(world: World) -> None:
    """The reports page offers md, html, csv and json; each download is what `monitor report`
    writes for the same period (the generation time aside)."""
    label, _ = quarter_so_far(world.config.timezone, world.runtime.clock.now())
    status, page, _ = await _get(f"{world.base}/reports?quarter={label}")
    assert status == 200
    for fmt in ("md", "html", "csv", "json"):
        assert f'data-format="{fmt}"' in page
    assert f'src="/reports/download?format=html&amp;inline=1&amp;quarter={label}"' in page
    # Probing stops, so both see the same facts; the range ends at a fixed moment.
    world.runtime.scheduler.stop()
    await world.runtime.scheduler.drain(5)
    assert world.runtime.store is not None and await world.runtime.store.flush()
    day = world.runtime.clock.now().astimezone(ZoneInfo(world.config.timezone))
    period = {"from": day.date().isoformat(), "to": day.replace(tzinfo=None).isoformat()}
    period_args = ("--from", period["from"], "--to", period["to"])
    status, body, headers = await _get(
        f"{world.base}/reports/download", params={**period, "format": "json", "lang": "en"}
    )
    assert status == 200
    name = f"report-{day:%Y%m%d}-{day:%Y%m%d}"
    assert headers["Content-Disposition"] == f'attachment; filename="{name}.json"'
    served = json.loads(body)
    expected = json.loads(_cli(world, *period_args, "--format", "json", "--lang", "en"))
    served.pop("generated_at"), expected.pop("generated_at")
    assert served == expected
    assert [s["id"] for s in served["sites"]] == ["portal", "petrochem-retirees", "guozi-xiaoxin"]
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{world.base}/reports/download", params={**period, "format": "csv"}
        ) as response,
    ):
        assert response.headers["Content-Type"] == "application/zip"
        archive = zipfile.ZipFile(io.BytesIO(await response.read()))
    incidents = archive.read(f"{name}-incidents.csv")
    assert incidents == _cli(world, *period_args, "--format", "csv", "--table", "incidents")
    assert "石化离退休干部局网站" in incidents.decode()
    bad, text, _ = await _get(f"{world.base}/reports/download?quarter=2026Q9&format=md")
    assert bad == 400 and "--quarter" in text


# -- access control, against the pages alone (no store) ----------------------------------------


class _Source:
    """The read side of a runtime with no results yet and no store."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.latest: dict[str, ProbeResult] = {}
        self.store: Store | None = None
        self.clock = SystemClock()


def _config(listen: str, **access: Any) -> Config:
    data: dict[str, Any] = {
        "server": {"listen": listen, **({"access": access} if access else {})},
        "sites": [
            {
                "id": "portal",
                "name": "门户<网站>",
                "checks": [{"id": "home", "type": "http", "url": "http://127.0.0.1:9/"}],
            }
        ],
    }
    return parse_config(data, "test")


async def _client(config: Config) -> TestClient[web.Request, web.Application]:
    app = make_app(
        registry=CollectorRegistry(),
        status=lambda: [],
        ready=lambda: (True, "ok"),
        reload=_no_reload,
        routes=web_routes(_Source(config)),
        api_guard=lambda request: access.api_refusal(request, config.server),
    )
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


async def _no_reload() -> tuple[bool, str]:
    return False, "no"


async def test_pages_need_access_control_off_loopback() -> None:
    """Listening beyond loopback with no `server.access`, pages are refused with the rule said;
    /metrics stays open; `public: true` or a loopback address serves them."""
    client = await _client(_config("0.0.0.0:9108"))
    try:
        response = await client.get("/")
        text = await response.text()
        assert response.status == 403
        assert "server.access" in text and "public: true" in text
        assert (await client.get("/metrics")).status == 200
    finally:
        await client.close()
    for config in (_config("0.0.0.0:9108", public=True), _config("127.0.0.1:9108")):
        client = await _client(config)
        try:
            response = await client.get("/")
            page = await response.text()
            assert response.status == 200
            assert "门户&lt;网站&gt;" in page and '<span class="badge state-pending"' in page
            assert 'id="no-store"' in page
        finally:
            await client.close()


async def test_the_api_follows_the_pages_access_rule() -> None:
    """Off loopback the JSON API (status, incidents, reviews) carries the pages' details, so it
    asks for `server.access` like them (JSON 403 or 401), while /metrics and /healthz stay open
    to scrapers and a token opens the API as it opens the pages."""
    token = "tok-api-5d21"
    client = await _client(_config("0.0.0.0:9108"))
    try:
        response = await client.get("/api/v1/status")
        assert response.status == 403
        assert "server.access" in (await response.json())["error"]
        assert (await client.get("/metrics")).status == 200
        assert (await client.get("/healthz")).status == 200
    finally:
        await client.close()
    client = await _client(_config("0.0.0.0:9108", token=token))
    try:
        response = await client.get("/api/v1/status")
        assert response.status == 401 and token not in await response.text()
        ok = await client.get("/api/v1/status", headers={"Authorization": f"Bearer {token}"})
        assert ok.status == 200 and await ok.json() == []
    finally:
        await client.close()
    client = await _client(_config("127.0.0.1:9108"))
    try:
        assert (await client.get("/api/v1/status")).status == 200
    finally:
        await client.close()


async def test_token_and_basic_auth() -> None:
    """A token opens the pages by query (then a cookie), or as a bearer; basic auth asks with
    WWW-Authenticate; wrong credentials are refused and no credential is ever echoed."""
    token, password = "tok-8c1f0e", "pw-office-2026"
    client = await _client(_config("0.0.0.0:9108", token=token))
    try:
        assert (await client.get("/")).status == 401
        assert (await client.get("/", params={"token": "wrong"})).status == 401
        response = await client.get("/", params={"token": token})
        assert response.status == 200 and token not in await response.text()
        assert (await client.get("/sites/portal")).status == 200  # the cookie carries it
        client.session.cookie_jar.clear()
        assert (await client.get("/reports")).status == 401
        ok = await client.get("/", headers={"Authorization": f"Bearer {token}"})
        assert ok.status == 200
    finally:
        await client.close()
    client = await _client(_config("0.0.0.0:9108", username="office", password=password))
    try:
        refused = await client.get("/")
        assert refused.status == 401
        assert refused.headers["WWW-Authenticate"].startswith("Basic ")
        wrong = base64.b64encode(b"office:nope").decode()
        assert (await client.get("/", headers={"Authorization": f"Basic {wrong}"})).status == 401
        right = base64.b64encode(f"office:{password}".encode()).decode()
        response = await client.get("/", headers={"Authorization": f"Basic {right}"})
        assert response.status == 200 and password not in await response.text()
    finally:
        await client.close()


async def test_an_empty_token_is_no_token() -> None:
    """`token: ${MONITOR_WEB_TOKEN:-}` left empty opens nothing off loopback: no token, an
    empty `?token=` or an empty bearer all get the 403 that states the rule."""
    client = await _client(_config("0.0.0.0:9108", token=""))
    try:
        for kwargs in ({}, {"params": {"token": ""}}, {"headers": {"Authorization": "Bearer "}}):
            response = await client.get("/", **kwargs)
            assert response.status == 403
            assert "server.access" in await response.text()
    finally:
        await client.close()


def test_username_without_password_is_a_config_error() -> None:
    """Basic auth needs both halves; one alone is refused at load with its config path."""
    from monitor.config import ConfigError

    with pytest.raises(ConfigError, match=r"server\.access: .*username and password"):
        _config("0.0.0.0:9108", username="office")


def test_content_age_levels_at_their_boundaries() -> None:
    """A 14-day column is `ok` below 10 days, `near` from exactly 10 days, `over` only past
    14 days (the probe's own rule: stale when older than allowed); 180 days likewise."""
    from monitor.web.state import State
    from monitor.web.views import CheckView

    day = 86400.0

    def level(age: float, allowed: float) -> str | None:
        view = CheckView(
            "c", "", "freshness", "news", State.UP, "ok", "", None, None, age, allowed, None, None
        )
        return view.age_level

    assert level(10 * day - 1, 14 * day) == "ok"
    assert level(10 * day, 14 * day) == "near"
    assert level(14 * day, 14 * day) == "near"
    assert level(14 * day + 1, 14 * day) == "over"
    assert level(176 * day - 1, 180 * day) == "ok"
    assert level(176 * day, 180 * day) == "near"
    assert level(180 * day + 1, 180 * day) == "over"


def test_ages_read_as_the_probes_details_say_them() -> None:
    """The pages round an age as a probe's detail does (15 s, 59 s, 1 min, 5.5 h, 45 d), in
    English word for word, in Chinese with its units."""
    from monitor.probes.ages import show_age
    from monitor.web.texts import Texts

    zone = ZoneInfo("Asia/Shanghai")
    for seconds in (15, 59.4, 60, 1199, 3600, 5.5 * 3600, 86399, 86400, 45 * 86400):
        assert Texts("en", zone).age(seconds) == show_age(seconds)
    zh = Texts("zh", zone)
    assert [zh.age(s) for s in (8, 720, 5.5 * 3600, 20 * 86400)] == [
        "8 秒",
        "12 分钟",
        "5.5 小时",
        "20 天",
    ]


def test_the_quarter_so_far_starts_on_its_first_local_day() -> None:
    """Mar 31 16:00 UTC is Apr 1 00:00 in Shanghai: 2026Q2 has begun there."""
    from datetime import UTC, datetime

    label, period = quarter_so_far("Asia/Shanghai", datetime(2026, 3, 31, 16, 0, 1, tzinfo=UTC))
    assert label == "2026Q2"
    assert period.start == datetime(2026, 3, 31, 16, tzinfo=UTC)
    label, _ = quarter_so_far("Asia/Shanghai", datetime(2026, 3, 31, 15, 59, tzinfo=UTC))
    assert label == "2026Q1"


def test_states_of_outcomes() -> None:
    """Access failures are down, stale is stale, findings on a page that opens need attention,
    no result or the monitor's own error is pending, and nothing here is ever `suspected`."""
    from datetime import UTC, datetime

    from monitor.results import Outcome
    from monitor.web.state import State, state_of, worst

    def result(outcome: Outcome) -> ProbeResult:
        return ProbeResult("s", "c", "http", outcome, datetime(2026, 7, 1, tzinfo=UTC), 0.1)

    assert state_of(None) is State.PENDING
    assert state_of(result(Outcome.PROBE_ERROR)) is State.PENDING
    assert state_of(result(Outcome.OK)) is State.UP
    assert state_of(result(Outcome.STALE)) is State.STALE
    for outcome in (Outcome.BROKEN_LINKS, Outcome.UNANSWERED, Outcome.COMPROMISED):
        assert state_of(result(outcome)) is State.FINDING
    access = set(Outcome) - {
        Outcome.OK,
        Outcome.STALE,
        Outcome.PROBE_ERROR,
        Outcome.BROKEN_LINKS,
        Outcome.UNANSWERED,
        Outcome.COMPROMISED,
    }
    assert {state_of(result(o)) for o in access} == {State.DOWN}
    assert {state_of(result(o)) for o in Outcome} <= set(State) - {State.SUSPECTED}
    assert worst([State.UP, State.STALE, State.DOWN]) is State.DOWN
    assert worst([]) is State.PENDING
