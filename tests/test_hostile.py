"""Hostile sites: pages built to stall the parser, pages with too many links, parsers that must
die with the monitor. Real loopback servers, the real parser worker processes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from aiohttp import web

from monitor.probes import freshness, links
from monitor.probes.base import ProbeContext, probe_within_deadline
from monitor.probes.extract import MAX_NESTING, bound_nesting
from monitor.probes.parser import ParseFailedError, ParserPool
from monitor.results import Outcome
from tests.poll import wait_until
from tests.targets import ServeApp

ROOT = Path(__file__).resolve().parents[1]
N = 40_000
DEEP = "<div>" * MAX_NESTING

# Pages whose tags a count of `<` and `</` takes for balanced, and which nest N deep.
NESTING_TRICKS = {
    "end tags inside a comment": "<div>" * N + "<!--" + "</" * N + "-->",
    "end tags of elements never opened": "<div>" * N + "</b>" * N,
    "balanced but deep": "<div>" * N + "</div>" * N,
    "end tags inside a script": "<div>" * N + "<script>" + "</div>" * N + "</script>",
    "upper case": "<DIV>" * N + "<!--" + "</" * N + "-->",
}


def spin_forever() -> None:
    """A parse that never ends (what a page could make of a slower parser)."""
    while True:
        pass


def answer(value: int) -> int:
    return value


@pytest.mark.parametrize("page", NESTING_TRICKS.values(), ids=NESTING_TRICKS.keys())
def test_nesting_tricks_are_cut_at_the_nesting_bound(page: str) -> None:
    """Every trick is cut right before the tag that would nest deeper than MAX_NESTING."""
    assert bound_nesting(page).lower() == DEEP


def test_deep_but_closed_pages_and_comments_are_not_cut() -> None:
    """Nesting up to the bound, thousands of flat elements and `<` in comments stay whole."""
    flat = "<html><body>" + "<div><a href=x>t</a></div>" * 5000 + "<!--" + "<" * 9000 + "-->"
    nested = "<div>" * MAX_NESTING + "</div>" * MAX_NESTING + "<p>x</p>" * 3000
    assert bound_nesting(flat) == flat
    assert bound_nesting(nested) == nested


async def page_site(serve: ServeApp, body: str) -> str:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    return f"{await serve(app)}/"


async def test_a_stalling_page_small_enough_for_the_loop_is_parsed_in_a_worker(
    serve: ServeApp, ctx: ProbeContext
) -> None:
    """A 120 KiB nesting trick is read by a worker, never on the event loop: cut at the bound,
    the column is blank (its date came after the cut), an outcome about the site."""
    n = 12_000
    body = "<div>" * n + "<!--" + "</" * n + "-->" + "<p>发布日期：2026-06-30</p>"
    assert len(body.encode()) < 128 * 1024
    check = freshness.FreshnessCheck.model_validate(
        {"id": "f", "site": "s", "url": await page_site(serve, body), "interval": 60, "timeout": 5}
    )
    result = await probe_within_deadline(freshness.probe, check, ctx)
    assert ctx.parser.jobs == 1
    assert result.outcome is Outcome.CONTENT_MISMATCH, result.detail
    ctx.parser.close()


async def test_a_100000_link_page_ends_at_the_probe_deadline(
    serve: ServeApp, ctx: ProbeContext
) -> None:
    """100,000 links that each answer slowly: the probe ends as a `timeout` naming its deadline."""

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response(text="ok")

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="text/html")

    body = "".join(f'<a href="/l/{i}">{i}</a>' for i in range(100_000))
    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/l/{n}", slow)
    url = f"{await serve(app)}/"
    check = links.LinksCheck.model_validate(
        {"id": "l", "site": "s", "url": url, "interval": 60, "timeout": 2, "link_timeout": 1}
    )
    result = await asyncio.wait_for(probe_within_deadline(links.probe, check, ctx), 60)
    assert result.outcome is Outcome.TIMEOUT
    assert "probe deadline" in result.detail and "2s" in result.detail
    ctx.parser.close()


async def test_a_stuck_parse_is_abandoned_its_worker_killed_and_the_next_page_parsed() -> None:
    """A parse past its deadline kills its worker; the job queued behind it runs on a fresh one."""
    pool = ParserPool(size=1)
    try:
        assert await pool.run(answer, 1) == 1
        [first] = pool.pids()
        stuck = asyncio.create_task(pool.run(spin_forever))
        queued = asyncio.create_task(pool.run(answer, 2))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(stuck, 0.5)
        assert await asyncio.wait_for(queued, 30) == 2
        assert pool.replaced == 1
        assert first not in pool.pids()
        assert not _alive(first)
    finally:
        pool.close()


async def test_closing_the_pool_ends_a_parse_in_progress() -> None:
    """Shutdown does not wait for a stuck parse: the worker is killed and the caller told."""
    pool = ParserPool(size=1)
    running = asyncio.create_task(pool.run(spin_forever))
    [pid] = await wait_until("a parser worker", pool.pids, interval=0.01)
    await asyncio.sleep(0.2)
    pool.close()
    with pytest.raises(ParseFailedError):
        await asyncio.wait_for(running, 30)
    assert not _alive(pid)


def _alive(pid: int, wait: float = 10.0) -> bool:
    """Whether `pid` still runs after up to `wait` seconds (a zombie counts as gone)."""
    end = time.monotonic() + wait
    while time.monotonic() < end:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            return False
        time.sleep(0.05)
    return True


def test_a_parser_worker_dies_when_the_monitor_is_killed(tmp_path: Path) -> None:
    """SIGKILL the process that owns a worker stuck in a parse: the worker does not outlive it."""
    script = textwrap.dedent(
        """
        import asyncio, sys
        from monitor.probes.parser import ParserPool
        from tests.test_hostile import spin_forever

        async def main():
            pool = ParserPool(size=1)
            task = asyncio.create_task(pool.run(spin_forever))
            while not pool.pids():
                await asyncio.sleep(0.01)
            print(pool.pids()[0], flush=True)
            await task

        asyncio.run(main())
        """
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout is not None
        worker = int(owner.stdout.readline())
        assert _alive(worker, wait=0.3)
    finally:
        os.kill(owner.pid, signal.SIGKILL)
        owner.communicate()
    assert not _alive(worker)


async def test_a_job_asked_for_while_the_workers_start_waits_for_them() -> None:
    """A parse asked for during the warm-up runs on a warmed worker: no extra one is started."""
    pool = ParserPool(size=2)
    try:
        warming = pool.start_warming()
        assert await pool.run(answer, 3) == 3
        assert warming.done() and len(pool.pids()) == 2
    finally:
        pool.close()


class _HeldWarmUp(ParserPool):
    """The real pool, whose warm-up waits for `release` first: a machine slow to fork."""

    def __init__(self) -> None:
        super().__init__(size=1)
        self.release = asyncio.Event()

    async def warm(self) -> None:
        await self.release.wait()
        await super().warm()


async def test_checks_that_parse_nothing_probe_while_the_parser_starts(serve: ServeApp) -> None:
    """The scheduler does not wait for the parser's workers: an http check is probed on time
    while they are still starting (no start-up burst of late probes once they are up)."""
    from monitor.config import parse_config
    from monitor.runtime import Runtime
    from tests.targets import TEST_HOST, LoopbackResolver

    async def home(request: web.Request) -> web.Response:
        return web.Response(text="<html>石化</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", home)
    base = await serve(app)
    config = parse_config(
        {
            "sites": [
                {
                    "id": "s",
                    "checks": [
                        {"id": "home", "type": "http", "url": base, "interval": 1, "timeout": 1}
                    ],
                }
            ]
        }
    )
    runtime = Runtime(config, resolver=LoopbackResolver([TEST_HOST]))
    held = runtime.ctx.parser = _HeldWarmUp()
    await runtime.start(serve=False, store=False)
    try:
        # The warm-up is held until the end: a probe that waited for it would never come.
        await wait_until("a first result", lambda: runtime.latest, timeout=10, interval=0.01)
        [result] = runtime.latest.values()
        assert result.success and not held.pids()  # probed, the warm-up still held
    finally:
        held.release.set()
        await runtime.stop()
