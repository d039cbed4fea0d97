"""Probe points in `monitor run`'s runtime, on loopback and the real PostgreSQL: one location
alone (every incident is confirmed, and blindness is its only guard), and locations that
report or go missing as the quorum is taken."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from monitor.runtime import Runtime
from tests.locations import Site, config, gauge
from tests.poll import wait_until


@pytest.fixture
async def portal() -> AsyncIterator[Site]:
    """The portal site every location probes."""
    server = Site()
    await server.start()
    yield server
    await server.stop()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_one_location_alone_pages_its_incidents_and_blindness_is_its_guard(
    pg_url: str,
    portal: Site,
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
    runtime = Runtime(config(pg_url, portal.port, "solo", points, tmp_path))
    await runtime.start(serve=False)
    try:
        await wait_until("blind", lambda: runtime.blind.blind, timeout=20)
        assert gauge(runtime, "monitor_location_blind", location="solo") == 1
        portal.down = True
        await wait_until(
            "five failing probes, blind all along",
            lambda: gauge(runtime, "monitor_probe_results_total", outcome="http_error"),
            until=lambda failed: failed >= 5,
            timeout=20,
        )
        assert runtime.incidents is not None and runtime.incidents.open_incidents() == []
        assert gauge(runtime, "monitor_confirmed_incident_open") is None
        await canary.start(canary_port)
        await wait_until("seeing again", lambda: not runtime.blind.blind, timeout=20)
        await wait_until(
            "an open incident",
            lambda: bool(runtime.incidents and runtime.incidents.open_incidents()),
            timeout=20,
        )
        assert gauge(runtime, "monitor_confirmed_incident_open", site="portal", reason="http_error",
                     location="solo") == 1  # fmt: skip
        assert runtime.store is not None

        async def recorded() -> bool:
            assert runtime.store is not None
            view = await runtime.store.points_view()
            return [i.check for i in view.confirmed] == ["home"]

        await wait_until("the check incident recorded", recorded, timeout=20)
        portal.down = False
        await wait_until(
            "the confirmed series gone",
            lambda: gauge(runtime, "monitor_confirmed_incident_open") is None,
            timeout=20,
        )

        async def resolved_there() -> bool:
            assert runtime.store is not None
            return (await runtime.store.points_view()).confirmed == ()

        await wait_until("the check incident resolved", resolved_there, timeout=20)
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
        await wait_until(
            "cm suspected",
            lambda: gauge(runtimes["cm"], "monitor_suspected_incident_open") == 1,
            timeout=20,
        )
        await asyncio.sleep(1)
        assert not any([await confirmed(name) for name in runtimes])
        sites["cu"].down = True
        for name in runtimes:
            await wait_until(f"confirmed at {name}", lambda name=name: confirmed(name), timeout=20)
        assert gauge(runtimes["cm"], "monitor_suspected_incident_open") is None
        await runtimes["cu"].stop()  # cu goes missing; cm alone fails of ct and cm
        del runtimes["cu"]

        async def resolved() -> bool:
            return not await confirmed("ct")

        await wait_until("resolved at ct", resolved, timeout=20)
        assert gauge(runtimes["ct"], "monitor_location_missing", point="cu") == 1
        assert gauge(runtimes["ct"], "monitor_location_up", point="cm") == 1
    finally:
        for runtime in runtimes.values():
            await runtime.stop()
        for server in sites.values():
            await server.stop()
