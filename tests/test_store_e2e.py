"""End to end at the library level: a local site goes down and comes back; the real HTTP probe,
the incident engine and the store turn that into one incident in PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from monitor.incidents import IncidentEngine
from monitor.maintenance import MaintenanceSchedule
from monitor.probes import CHECK_TYPES, ProbeContext
from monitor.probes.httpclient import HttpClient
from monitor.results import ProbeResult
from monitor.store import Store
from tests.fakeclock import FakeClock
from tests.pg import CountingSink, NoGauges, make_config, select
from tests.targets import LoopbackResolver


class SwitchedSite:
    """A loopback web site that can be taken down and brought back on the same port."""

    def __init__(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._home)
        self._runner = web.AppRunner(app)
        self._site: web.TCPSite | None = None
        self.port = 0

    async def _home(self, request: web.Request) -> web.Response:
        return web.Response(text="<title>国资委</title>欢迎", content_type="text/html")

    async def up(self) -> None:
        if self._site is None and self.port == 0:
            await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await self._site.start()
        if self.port == 0:
            server = self._site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def down(self) -> None:
        assert self._site is not None
        await self._site.stop()
        self._site = None

    async def close(self) -> None:
        await self._runner.cleanup()


@pytest.fixture
async def switched() -> AsyncIterator[SwitchedSite]:
    site = SwitchedSite()
    await site.up()
    yield site
    await site.close()


async def test_site_down_opens_and_recovery_resolves_one_incident(
    switched: SwitchedSite,
    pg_url: str,
) -> None:
    """Connection refused three times opens a connect_error incident dated at the first
    refusal; two good answers resolve it, dated at the first; all of it lands in Postgres."""
    clock = FakeClock(start=datetime(2026, 7, 1, 8, 0, tzinfo=UTC))
    config = make_config(
        pg_url,
        sites=[
            {
                "id": "sasac",
                "owner": "sasac-it",
                "checks": [
                    {
                        "id": "home",
                        "type": "http",
                        "url": f"http://127.0.0.1:{switched.port}/",
                        "interval": "1m",
                        "timeout": "5s",
                        "expect": {"status": [200], "body_contains": ["国资委"]},
                    }
                ],
            }
        ],
    )
    [check] = list(config.checks())
    store = await Store.open(config, None, clock)
    sink = CountingSink(store)
    engine = IncidentEngine(
        config.checks(), sink, NoGauges(), clock, MaintenanceSchedule([], config.timezone)
    )
    results: list[ProbeResult] = []
    async with HttpClient(resolver=LoopbackResolver()) as http:
        ctx = ProbeContext(http=http, now=clock.now)

        async def probe_times(count: int) -> None:
            for _ in range(count):
                result = await CHECK_TYPES["http"].probe(check, ctx)
                results.append(result)
                engine.observe(result)
                store.submit_result(result)
                await clock.advance(60)

        try:
            await probe_times(3)
            await switched.down()
            await probe_times(2)
            assert sink.events == []
            await probe_times(2)
            assert [e.kind for e in sink.events] == ["opened", "updated"]
            await switched.up()
            await probe_times(3)
            assert [e.kind for e in sink.events] == ["opened", "updated", "resolved"]
            assert await store.flush(30)

            outcomes = [str(r.outcome) for r in results]
            assert outcomes == ["ok"] * 3 + ["connect_error"] * 4 + ["ok"] * 3
            [incident] = await store.list_incidents()
            assert incident.site == "sasac" and incident.check == "home"
            assert incident.owner == "sasac-it"
            assert incident.reason == "connect_error"
            assert incident.opened_at == results[3].started_at
            assert incident.resolved_at == results[7].started_at
            assert incident.failures == 4
            assert dict(incident.outcome_counts) == {"connect_error": 4}
            assert incident.resolution == "recovered"
            stored = await select(
                store, "SELECT outcome, started_at FROM probe_results ORDER BY started_at"
            )
            assert [r["outcome"] for r in stored] == outcomes
            hour = results[0].started_at.replace(minute=0)
            [rollup] = await store.rollups(hour, hour + timedelta(hours=1))
            assert (rollup.probes, rollup.failures) == (10, 4)
            assert rollup.outcomes == {"ok": 6, "connect_error": 4}
        finally:
            await store.close()
