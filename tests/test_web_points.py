"""The web page with probe points: suspected only when the data says so, confirmed incidents
with the locations that agreed, a blind location as the monitor's trouble, a missing one as
missing, and one location as before.

The pages run against a real store in the test PostgreSQL; the other locations' heartbeats and
incidents are written as their `monitor run` would write them (the migration's trigger then
confirms or not), this process's latest results are given directly.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from monitor.clock import SystemClock
from monitor.config import Config, parse_config
from monitor.results import Outcome, ProbeResult
from monitor.server import make_app
from monitor.store import Store
from monitor.web import access, web_routes
from tests.pg import RecordingStoreMetrics, fresh_schema

NOW = datetime.now(UTC)
LOCATIONS = ["ct", "cu", "cm"]


def _config(url: str, points: bool = True) -> Config:
    def site(site_id: str) -> dict[str, Any]:
        return {
            "id": site_id,
            "name": f"{site_id} 网站",
            "kind": "website",
            "owner": "web",
            "checks": [{"id": "home", "type": "http", "url": f"http://{site_id}.invalid/"}],
        }

    data: dict[str, Any] = {
        "location": "ct",
        "storage": {"database_url": url},
        "server": {"listen": "127.0.0.1:9108"},
        "sites": [site("portal"), site("bureau"), site("gov")],
    }
    if points:
        data["points"] = {"expected": LOCATIONS, "quorum": 2, "canaries": []}
    return parse_config(data, "points.yaml")


class _Source:
    def __init__(self, config: Config, store: Store, latest: dict[str, ProbeResult]) -> None:
        self.config = config
        self.store = store
        self.latest = latest
        self.clock = SystemClock()


def _result(site: str, outcome: Outcome) -> ProbeResult:
    return ProbeResult(site, "home", "http", outcome, NOW - timedelta(seconds=30), 0.2, "x", "ct")


LATEST = {
    # portal: this location fails, and so does cu: confirmed.
    "portal/home": _result("portal", Outcome.TIMEOUT),
    # bureau: this location sees it up, cu has an incident open: suspected.
    "bureau/home": _result("bureau", Outcome.OK),
    # gov: this location's latest failed, no incident anywhere yet: down, as today.
    "gov/home": _result("gov", Outcome.CONNECT_ERROR),
}


async def _heartbeat(conn: asyncpg.Connection, location: str, age: float, blind: bool) -> None:
    await conn.execute(
        """INSERT INTO probe_points (location, shard, started_at, last_seen_at, blind, blind_since)
           VALUES ($1, '0/1', now(), now() - make_interval(secs => $2), $3,
                   CASE WHEN $3 THEN now() END)
           ON CONFLICT (location, shard) DO UPDATE SET last_seen_at = excluded.last_seen_at,
               blind = excluded.blind, blind_since = excluded.blind_since""",
        location,
        age,
        blind,
    )


async def _incident(conn: asyncpg.Connection, site: str, location: str) -> str:
    incident = uuid.uuid4()
    await conn.execute(
        """INSERT INTO incidents (id, site, check_id, location, owner, reason, opened_at,
               failures, outcome_counts, first_error, last_failure_at, revision)
           VALUES ($1, $2, 'home', $3, 'web', 'timeout', $4, 3, '{}', $5, $4, 1)""",
        incident,
        site,
        location,
        NOW - timedelta(minutes=5),
        f"timeout at {location}",
    )
    return str(incident)


async def _client(source: _Source) -> TestClient[web.Request, web.Application]:
    config = source.config

    async def no_reload() -> tuple[bool, str]:
        return False, "no"

    app = make_app(
        registry=CollectorRegistry(),
        status=lambda: [],
        ready=lambda: (True, "ok"),
        reload=no_reload,
        routes=web_routes(source),
        api_guard=lambda request: access.api_refusal(request, config.server),
    )
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


def _row(page: str, attribute: str, value: str) -> str:
    """The table row (or chip) whose `attribute` is `value`."""
    match = re.search(rf'<tr {attribute}="{re.escape(value)}"[^>]*>.*?</tr>', page, re.S)
    assert match is not None, f"no row {attribute}={value}"
    return match.group(0)


async def test_overview_shows_confirmed_suspected_blind_and_missing() -> None:
    async with fresh_schema() as url:
        config = _config(url)
        store = await Store.open(config, RecordingStoreMetrics(), SystemClock())
        conn = await asyncpg.connect(url)
        client = await _client(_Source(config, store, dict(LATEST)))
        try:
            # ct and cu report; cm has been silent for 10 minutes: missing.
            await _heartbeat(conn, "ct", 0, blind=False)
            await _heartbeat(conn, "cu", 0, blind=False)
            await _heartbeat(conn, "cm", 600, blind=False)
            confirmed = [await _incident(conn, "portal", loc) for loc in ("ct", "cu")]
            suspected = await _incident(conn, "bureau", "cu")

            page = await (await client.get("/")).text()
            # Who sees what: each expected location's state.
            assert 'data-location="ct" data-point-state="up"' in page
            assert 'data-location="cu" data-point-state="up"' in page
            assert 'data-location="cm" data-point-state="missing"' in page
            assert "缺席（未报告）" in page
            # portal: confirmed by the two that agreed, down.
            portal = _row(page, "data-site", "portal")
            assert 'data-state="down"' in portal and 'data-confirmed-by="ct,cu"' in portal
            assert "已确认（ct, cu）" in portal
            agreed = re.search(r'<tr data-check-incident="[^"]+" data-agreed="([^"]+)"', page)
            assert agreed is not None and agreed.group(1) == "ct,cu"
            # bureau: up here, but cu has an incident no quorum confirms: suspected.
            bureau = _row(page, "data-site", "bureau")
            assert 'data-state="suspected"' in bureau and 'data-suspected-at="cu"' in bureau
            assert "疑似不连通（cu）" in bureau
            # gov: failed here, no incident anywhere: down as before, never called suspected.
            gov = _row(page, "data-site", "gov")
            assert 'data-state="down"' in gov and "data-suspected-at" not in gov
            # Each location's open incident says whether it was confirmed.
            for incident in confirmed:
                assert f'<tr data-incident="{incident}" data-mark="confirmed">' in page
            assert f'<tr data-incident="{suspected}" data-mark="suspected">' in page
            assert 'id="blind-here"' not in page

            # This location goes blind: its own failures are the monitor's, not the sites'.
            await _heartbeat(conn, "ct", 0, blind=True)
            page = await (await client.get("/?lang=en")).text()
            assert 'id="blind-here" data-location="ct"' in page
            assert "the monitor&#39;s trouble, not the sites&#39;" in page
            assert 'data-location="ct" data-point-state="blind"' in page
            gov = _row(page, "data-site", "gov")
            assert 'data-state="pending"' in gov and 'data-blind-here="1"' in gov
            # cu's incident of bureau is still the only one: suspected, whatever ct sees.
            bureau = _row(page, "data-site", "bureau")
            assert 'data-state="suspected"' in bureau

            site = await (await client.get("/sites/bureau")).text()
            assert 'data-suspected-at="cu"' in site
            assert f'<tr data-incident="{suspected}" data-mark="suspected">' in site
            assert 'id="blind-here"' in site
        finally:
            await client.close()
            await conn.close()
            await store.close()


async def test_one_location_pages_read_as_before() -> None:
    """Without a points section: no locations table, no marks, this location's states."""
    async with fresh_schema() as url:
        config = _config(url, points=False)
        store = await Store.open(config, RecordingStoreMetrics(), SystemClock())
        conn = await asyncpg.connect(url)
        client = await _client(_Source(config, store, dict(LATEST)))
        try:
            await _heartbeat(conn, "ct", 0, blind=False)
            incident = await _incident(conn, "portal", "ct")
            page = await (await client.get("/")).text()
            assert 'id="points"' not in page and 'id="confirmed-incidents"' not in page
            assert f'<tr data-incident="{incident}">' in page
            assert 'data-state="up"' in _row(page, "data-site", "bureau")
            assert "data-confirmed-by" not in page and "data-suspected-at" not in page
            # Alone and blind: the one guard there is, said on the page.
            await _heartbeat(conn, "ct", 0, blind=True)
            page = await (await client.get("/")).text()
            assert 'id="blind-here"' in page and 'id="points"' not in page
            assert 'data-state="pending"' in _row(page, "data-site", "gov")
        finally:
            await client.close()
            await conn.close()
            await store.close()
