"""A running monitor with a small world of loopback sites, for the web page's tests.

The world: a portal whose homepage is up, whose news column is 20 days old (stale) and whose
notice page is hostile (its title is markup that tries to script whoever shows it); a bureau
whose site is down (nothing listens); an account whose feed posted two days ago. Thresholds
are 1, so every failure opens an incident at once; the store is the real test PostgreSQL.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from aiohttp import web

from monitor.config import Config, load_config
from monitor.runtime import Runtime
from tests.poll import wait_until
from tests.stack import free_port
from tests.targets import refused_port

SHANGHAI = ZoneInfo("Asia/Shanghai")
STALE_DAYS = 20
# The hostile page's title: markup that would change the monitor page's title if it ran.
HOSTILE = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>"
SECRET = "s3cret-header-value-77"  # an http check's header value, never to be shown


async def _column(_: web.Request) -> web.Response:
    now = datetime.now(SHANGHAI)
    rows = "".join(
        f'<li><a href="/n/{i}.html">国资要闻第{i}篇</a> '
        f"<span>{now - timedelta(days=STALE_DAYS + i):%Y-%m-%d %H:%M}</span></li>"
        for i in range(3)
    )
    page = f'<html><head><title>国资要闻</title></head><body><ul class="list">{rows}</ul></body></html>'
    return web.Response(text=page, content_type="text/html")


async def _home(_: web.Request) -> web.Response:
    return web.Response(
        text="<html><title>国资委</title><body>国资委首页</body></html>", content_type="text/html"
    )


async def _hostile(_: web.Request) -> web.Response:
    page = f"<html><head><title>{HOSTILE}</title></head><body>维护中</body></html>"
    return web.Response(text=page, content_type="text/html")


async def _feed(_: web.Request) -> web.Response:
    posted = (datetime.now(UTC) - timedelta(days=2)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    rss = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>国资小新</title>'
        f"<item><title>国资小新推送</title><link>http://x/1</link><pubDate>{posted}</pubDate></item>"
        "</channel></rss>"
    )
    return web.Response(text=rss, content_type="application/rss+xml")


def world_config(target: str, database_url: str, listen: str, **server: Any) -> dict[str, Any]:
    # A timeout with room: under load a page parse waits for its worker process.
    every = {"interval": "3s", "timeout": "3s"}
    return {
        "defaults": {"failure_threshold": 1, "success_threshold": 1},
        "storage": {"database_url": database_url, "flush_interval": "100ms"},
        "server": {"listen": listen, **server},
        "timezone": "Asia/Shanghai",
        "sites": [
            {
                "id": "portal",
                "name": "国务院国资委门户网站",
                "owner": "sasac-web",
                "checks": [
                    {
                        "id": "home",
                        "type": "http",
                        "url": f"{target}/",
                        **every,
                        "headers": {"X-Monitor-Token": "${WEB_TEST_SECRET}"},
                    },
                    {
                        "id": "gzyw",
                        "type": "freshness",
                        "url": f"{target}/column",
                        "category": "news",
                        "items": "ul.list li",
                        **every,
                    },
                    {
                        "id": "tzgg",
                        "type": "http",
                        "url": f"{target}/hostile",
                        "expect": {"body_contains": ["通知公告"]},
                        **every,
                    },
                ],
            },
            {
                "id": "petrochem-retirees",
                "name": "石化离退休干部局网站",
                "owner": "petrochem-it",
                "checks": [
                    {
                        "id": "home",
                        "type": "http",
                        "url": f"http://127.0.0.1:{refused_port()}/",
                        **every,
                    },
                ],
            },
            {
                "id": "guozi-xiaoxin",
                "name": "国资小新",
                "kind": "new_media",
                "owner": "sasac-newmedia",
                "checks": [{"id": "updates", "type": "feed", "url": f"{target}/feed.xml", **every}],
            },
        ],
    }


@dataclass
class World:
    base: str  # the monitor's http://127.0.0.1:PORT
    runtime: Runtime
    config_path: Path
    config: Config


@contextlib.asynccontextmanager
async def running_world(
    database_url: str, workdir: Path, monkeypatch: Any, **server: Any
) -> AsyncIterator[World]:
    """Targets and a monitor, yielded once every check has a result and the down site, the
    stale column and the hostile page each have an open incident in the store."""
    monkeypatch.setenv("WEB_TEST_SECRET", SECRET)
    app = web.Application()
    app.router.add_get("/", _home)
    app.router.add_get("/column", _column)
    app.router.add_get("/hostile", _hostile)
    app.router.add_get("/feed.xml", _feed)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    target = f"http://127.0.0.1:{runner.addresses[0][1]}"
    listen = f"127.0.0.1:{free_port()}"
    path = workdir / "monitor.yaml"
    path.write_text(
        yaml.safe_dump(world_config(target, database_url, listen, **server), allow_unicode=True),
        encoding="utf-8",
    )
    config = load_config(str(path))
    runtime = Runtime(config, config_path=str(path))
    await runtime.start()
    try:

        async def settled() -> bool:
            store = runtime.store
            if store is None or len(runtime.latest) != 5:
                return False
            opened = {(i.site, i.check) for i in await store.list_incidents(open_only=True)}
            return {
                ("portal", "gzyw"),
                ("portal", "tzgg"),
                ("petrochem-retirees", "home"),
            } <= opened

        try:
            await wait_until("the world to settle", settled, timeout=30)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {runtime.status()}") from None
        yield World(f"http://{listen}", runtime, path, config)
    finally:
        await runtime.stop()
        await runner.cleanup()


@pytest.fixture
async def world(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[World]:
    """A running monitor over this module's world, on a fresh schema of the test PostgreSQL."""
    async with running_world(pg_url, tmp_path, monkeypatch) as running:
        yield running
