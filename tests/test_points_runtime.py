"""Probe points in `monitor run`'s runtime, on loopback and the real PostgreSQL: one location
alone (every incident is confirmed, and blindness is its only guard), and locations that
report or go missing as the quorum is taken."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from monitor.config import parse_config
from monitor.runtime import Runtime


class Site:
    """A loopback site that answers 200, or 503 while `down`."""

    def __init__(self) -> None:
        self.down = False
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(status=503 if self.down else 200, text="portal-home")

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._page)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    server = Site()
    await server.start()
    yield server
    await server.stop()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config(
    database_url: str, port: int, location: str, points: dict[str, Any] | None, tmp: Any
) -> Any:
    data: dict[str, Any] = {
        "defaults": {"interval": "500ms", "timeout": "400ms", "failure_threshold": 2,
                     "success_threshold": 2},
        "storage": {"database_url": database_url, "data_dir": str(tmp / location),
                    "flush_interval": "100ms"},
        "location": location,
        "sites": [{"id": "portal", "name": "门户网站", "owner": "portal-team", "checks": [
            {"id": "home", "type": "http", "url": f"http://127.0.0.1:{port}/"}]}],
    }  # fmt: skip
    if points is not None:
        data["points"] = points
    return parse_config(data, "test-config")


def gauge(runtime: Runtime, name: str, **labels: str) -> float | None:
    text = runtime.metrics.exposition().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return float(sample.value)
    return None


async def until(predicate: Any, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.1)


async def test_one_location_alone_pages_its_incidents_and_blindness_is_its_guard(
    pg_url: str,
    site: Site,
    tmp_path: Any,
) -> None:
    """Alone, a location's incident is confirmed at once (the confirmed series follows its
    engine, and PostgreSQL records the check incident); while its canary fails it is blind: the
    site's failures open nothing, and once the canary answers they do."""
    canary = Site()
    canary_port = closed_port()
    points = {
        "canaries": [{"id": "net", "url": f"http://127.0.0.1:{canary_port}/", "interval": "500ms",
                      "timeout": "400ms"}],
        "refresh": "200ms",
    }  # fmt: skip
    runtime = Runtime(config(pg_url, site.port, "solo", points, tmp_path))
    await runtime.start(serve=False)
    try:
        await until(lambda: _true(runtime.blind.blind))
        assert gauge(runtime, "monitor_location_blind", location="solo") == 1
        site.down = True
        await asyncio.sleep(2.5)  # five failing probes, blind all along
        assert runtime.incidents is not None and runtime.incidents.open_incidents() == []
        assert gauge(runtime, "monitor_confirmed_incident_open") is None
        await canary.start(canary_port)
        await until(lambda: _true(not runtime.blind.blind))
        await until(lambda: _true(bool(runtime.incidents and runtime.incidents.open_incidents())))
        assert gauge(runtime, "monitor_confirmed_incident_open", site="portal", reason="http_error",
                     location="solo") == 1  # fmt: skip
        assert runtime.store is not None

        async def recorded() -> bool:
            assert runtime.store is not None
            view = await runtime.store.points_view()
            return [i.check for i in view.confirmed] == ["home"]

        await until(recorded)
        site.down = False
        await until(lambda: _true(gauge(runtime, "monitor_confirmed_incident_open") is None))

        async def resolved_there() -> bool:
            assert runtime.store is not None
            return (await runtime.store.points_view()).confirmed == ()

        await until(resolved_there)
        view = await runtime.store.points_view()
        assert [p.state for p in view.points] == ["up"]
        spans = view.blind_spans
        assert len(spans) == 1 and spans[0].ended_at is not None
    finally:
        await runtime.stop()
        await canary.stop()


async def test_three_runtimes_confirm_when_two_fail_and_one_missing_leaves_two(
    pg_url: str,
    tmp_path: Any,
) -> None:
    """Three locations in one database, each its own target: one failing is suspected (shown
    as such by that location, confirmed by none); once a second fails it is confirmed, and
    every location shows it; when one of the failing two stops, the last one failing among
    the two left is no majority of them."""
    sites = {name: Site() for name in ("ct", "cu", "cm")}
    for server in sites.values():
        await server.start()
    points = {"expected": ["ct", "cu", "cm"], "canaries": [], "refresh": "200ms",
              "missing_after": "2s", "settle_after": "1s"}  # fmt: skip
    runtimes = {
        name: Runtime(config(pg_url, sites[name].port, name, points, tmp_path)) for name in sites
    }
    try:
        for runtime in runtimes.values():
            await runtime.start(serve=False)

        async def confirmed(name: str) -> bool:
            return gauge(runtimes[name], "monitor_confirmed_incident_open", site="portal") == 1

        sites["cm"].down = True
        await until(lambda: _true(gauge(runtimes["cm"], "monitor_suspected_incident_open") == 1))
        await asyncio.sleep(1)
        assert not any([await confirmed(name) for name in runtimes])
        sites["cu"].down = True
        for name in runtimes:
            await until(lambda name=name: confirmed(name))  # type: ignore[misc]
        assert gauge(runtimes["cm"], "monitor_suspected_incident_open") is None
        await runtimes["cu"].stop()  # cu goes missing; cm alone fails of ct and cm
        del runtimes["cu"]

        async def resolved() -> bool:
            return not await confirmed("ct")

        await until(resolved, timeout=20)
        assert gauge(runtimes["ct"], "monitor_location_missing", point="cu") == 1
        assert gauge(runtimes["ct"], "monitor_location_up", point="cm") == 1
    finally:
        for runtime in runtimes.values():
            await runtime.stop()
        for server in sites.values():
            await server.stop()


async def _true(value: bool) -> bool:
    return value
