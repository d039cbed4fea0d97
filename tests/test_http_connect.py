"""How HttpClient connects: one address straight through the loop, several through happy eyeballs."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from monitor.checkspec import CheckSpec
from monitor.clock import SystemClock
from monitor.probes.httpclient import FetchError, HttpClient
from monitor.results import Outcome, ProbeResult
from monitor.scheduler import Scheduler

PAGE = "<html><body>石化离退休干部局</body></html>"


async def _page(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html")


@contextlib.asynccontextmanager
async def site(host: str) -> AsyncIterator[int]:
    """A page served on `host`; yields its port."""
    app = web.Application()
    app.router.add_get("/", _page)
    runner = web.AppRunner(app)
    await runner.setup()
    listener = web.TCPSite(runner, host, 0)
    await listener.start()
    try:
        server = listener._server
        assert isinstance(server, asyncio.Server)
        yield int(server.sockets[0].getsockname()[1])
    finally:
        await runner.cleanup()


class TwoAddresses(AbstractResolver):
    """Resolves every name to two addresses: one where nothing listens, then 127.0.0.1."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            {"hostname": host, "host": address, "port": port, "family": socket.AF_INET}
            | {"proto": 0, "flags": socket.AI_NUMERICHOST}
            for address in ("127.0.0.2", "127.0.0.1")
        ]

    async def close(self) -> None:
        return None


async def test_a_name_with_two_addresses_reaches_the_one_that_answers() -> None:
    """Several addresses keep aiohttp's happy eyeballs: the dead one is passed over, and the
    answer, its peer and phases that add up to the total are those of the live one."""
    async with site("127.0.0.1") as port, HttpClient(resolver=TwoAddresses()) as client:
        started = time.perf_counter()
        response = await client.fetch(f"http://two.test:{port}/", timeout=5)
        wall = time.perf_counter() - started
    assert response.status == 200 and PAGE in response.text()
    assert response.transport.ip_protocol == 4
    assert response.phases.resolve > 0 and response.phases.connect > 0
    assert response.phases.processing > 0
    assert 0 < sum(response.phases.as_tuple()) <= wall


def _ipv6_loopback() -> bool:
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))
        return True
    return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
async def test_an_ipv6_literal_is_connected_to_directly() -> None:
    """An IPv6 address in the URL is one address: connected to by the loop, no lookup phase."""
    async with site("::1") as port, HttpClient() as client:
        started = time.perf_counter()
        response = await client.fetch(f"http://[::1]:{port}/", timeout=5)
        wall = time.perf_counter() - started
    assert response.status == 200
    assert response.transport.ip_protocol == 6
    assert response.phases.connect > 0 and response.phases.processing > 0
    assert response.phases.resolve == 0 and response.transport.dns_lookup_seconds == 0
    assert 0 < sum(response.phases.as_tuple()) <= wall


async def test_a_refused_lone_address_is_connect_error_naming_it() -> None:
    """The direct connect wraps a refusal as aiohttp does: connect_error, host and port named."""
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]  # bound, never listening: the connect is refused
        async with HttpClient() as client:
            with pytest.raises(FetchError) as caught:
                await client.fetch(f"http://127.0.0.1:{port}/", timeout=5)
    assert caught.value.outcome is Outcome.CONNECT_ERROR
    assert f"cannot connect to 127.0.0.1:{port}" in caught.value.detail
    assert caught.value.phases is not None and caught.value.phases.processing == 0


class Observer:
    def scheduler_lag(self, seconds: float) -> None:
        pass

    def probe_skipped(self, site: str, check: str) -> None:
        pass


async def test_on_the_system_clock_new_checks_and_stop_wake_the_scheduler() -> None:
    """With nothing scheduled the loop waits on its own timer-free future: a new check wakes it
    and is probed, and stop() ends run() without waiting for the next due time."""
    probed = asyncio.Event()

    async def run_probe(check: CheckSpec) -> ProbeResult:
        probed.set()
        raise RuntimeError("no result needed")

    scheduler = Scheduler(run_probe, lambda c, r: None, clock=SystemClock(), observer=Observer())
    running = asyncio.create_task(scheduler.run())
    await asyncio.sleep(0.05)  # run() is waiting, with no check at all
    scheduler.set_checks([CheckSpec(id="a", type="http", interval=0.2, timeout=0.1, site="s")])
    await asyncio.wait_for(probed.wait(), 10)
    scheduler.set_checks([CheckSpec(id="b", type="http", interval=3600, timeout=1, site="s")])
    await asyncio.sleep(0)
    scheduler.stop()
    await asyncio.wait_for(running, 10)  # not an hour: stop() woke the wait
    await scheduler.drain(0)
