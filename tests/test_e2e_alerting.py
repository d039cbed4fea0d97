"""End to end: a site goes down, its owner is paged through the project's rules and routes,
and hears when it is back.

Real programs on loopback, with second-long intervals: `monitor run` probes a local target and
stores to the test PostgreSQL; Debian's Prometheus scrapes it with deploy/prometheus/rules
loaded; Debian's Alertmanager runs deploy/alertmanager/alertmanager.yml (only the gateway and
SMTP addresses point at loopback receivers, and its waits are 1 s); the receivers are a webhook
and an SMTP server in this test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.pg import fresh_schema
from tests.stack import (
    RULES_DIR,
    SmtpSink,
    Webhook,
    alertmanager_config,
    body_text,
    dump,
    free_port,
    process_group,
    prom_query,
    prometheus_config,
    start_alertmanager,
    start_monitor,
    start_prometheus,
    wait_until,
)


class Target:
    """The monitored site: answers 200 with its marker, or 503 while `down`."""

    def __init__(self) -> None:
        self.down = False
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _page(self, request: web.Request) -> web.Response:
        if self.down:
            return web.Response(status=503, text="维护中")
        return web.Response(
            text="<html><body>石化离退休干部局</body></html>", content_type="text/html"
        )

    async def start(self) -> int:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._page)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    server = Target()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def webhook() -> AsyncIterator[Webhook]:
    hook = Webhook()
    await hook.start()
    yield hook
    await hook.stop()


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpSink]:
    sink = SmtpSink()
    await sink.start()
    yield sink
    await sink.stop()


def monitor_config(target_port: int, monitor_port: int, database_url: str) -> dict[str, Any]:
    """Two sites of two owners (one routed to a webhook, one to e-mail too), probed every second."""
    return {
        "defaults": {"interval": "1s", "timeout": "1s", "failure_threshold": 2,
                     "success_threshold": 2},
        "storage": {"database_url": database_url},
        "server": {"listen": f"127.0.0.1:{monitor_port}"},
        "scheduler": {"shutdown_grace": "2s"},
        "location": "e2e",
        "sites": [
            {
                "id": "e2e-portal",
                "name": "石化离退休干部局网站",
                "owner": "petrochem-it",
                "checks": [{"id": "home", "type": "http",
                            "url": f"http://127.0.0.1:{target_port}/"}],
            },
            {
                "id": "e2e-account",
                "name": "国资小新",
                "kind": "new_media",
                "owner": "sasac-newmedia",
                "checks": [{"id": "feed", "type": "http",
                            "url": f"http://127.0.0.1:{target_port}/feed.xml"}],
            },
        ],
    }  # fmt: skip


async def test_site_down_pages_its_owner_and_the_recovery_is_delivered(
    tmp_path: Path, target: Target, webhook: Webhook, smtp: SmtpSink
) -> None:
    """A target that goes down fires SiteDown in Prometheus, reaches each site's owner through Alertmanager (webhook; e-mail with the Chinese summary), and its recovery is delivered as resolved."""
    monitor_port = free_port()
    async with (
        fresh_schema() as database_url,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
        process_group(tmp_path) as group,
    ):
        _, am_port = await start_alertmanager(
            group, http, alertmanager_config(webhook.port, smtp.port)
        )
        prometheus = await start_prometheus(
            group,
            http,
            prometheus_config(monitor_port, am_port, [str(RULES_DIR / "*.yml")]),
        )
        await start_monitor(group, http, monitor_config(target.port, monitor_port, database_url))

        async def up(site: str) -> bool:
            rows = await prom_query(http, prometheus, f'probe_success{{site="{site}"}} == 1')
            return bool(rows)

        await wait_until(group, "Prometheus seeing e2e-portal up", lambda: up("e2e-portal"))
        await wait_until(group, "Prometheus seeing e2e-account up", lambda: up("e2e-account"))
        assert webhook.received == []

        # --- the target goes down --------------------------------------------------------
        target.down = True

        async def firing_in_prometheus() -> list[dict[str, Any]] | None:
            async with http.get(f"{prometheus}/api/v1/alerts") as response:
                alerts = (await response.json())["data"]["alerts"]
            down = [a for a in alerts if a["labels"]["alertname"] == "SiteDown"
                    and a["state"] == "firing"]  # fmt: skip
            return down if len(down) == 2 else None

        alerts = await wait_until(group, "SiteDown firing in Prometheus", firing_in_prometheus)
        labels = {a["labels"]["site"]: a["labels"] for a in alerts}
        assert labels["e2e-portal"]["owner"] == "petrochem-it"
        assert labels["e2e-portal"]["reason"] == "http_error"
        assert labels["e2e-portal"]["severity"] == "critical"
        assert labels["e2e-account"]["owner"] == "sasac-newmedia"

        async def delivered(path: str, status: str, site: str) -> Any:
            return webhook.find(path, status, alertname="SiteDown", site=site)

        page = await wait_until(
            group,
            "the page to petrochem-it's webhook",
            lambda: delivered("/alerts/petrochem-it", "firing", "e2e-portal"),
        )
        [alert] = [a for a in page.body["alerts"] if a["labels"]["site"] == "e2e-portal"]
        assert alert["labels"]["owner"] == "petrochem-it"
        assert alert["labels"]["check"] == "home"
        assert (
            alert["annotations"]["summary_zh"]
            == "站点 e2e-portal 的检查 home 无法访问（http_error）"
        )
        assert page.body["receiver"] == "petrochem-it"
        assert page.body["groupLabels"] == {"site": "e2e-portal"}
        await wait_until(
            group,
            "the page to sasac-newmedia's webhook",
            lambda: delivered("/alerts/sasac-newmedia", "firing", "e2e-account"),
        )

        async def mail(marker: str) -> Any:
            for message in smtp.messages:
                if marker in str(message["Subject"]):
                    return message
            return None

        message = await wait_until(group, "the page by e-mail", lambda: mail("【告警】"))
        assert message["To"] == "newmedia@example.gov.cn"
        assert "站点 e2e-account 的检查 feed 无法访问" in str(message["Subject"])
        text = body_text(message)
        assert "站点 e2e-account 的检查 feed 无法访问（http_error）" in text
        assert "原因：HTTP 状态异常（http_error）" in text

        # Each owner heard only about its own site.
        for note in webhook.received:
            owners = {a["labels"]["owner"] for a in note.body["alerts"]}
            assert owners == {note.path.rsplit("/", 1)[1]}, dump(note.body)

        # --- the target recovers -----------------------------------------------------------
        target.down = False
        resolved = await wait_until(
            group,
            "the resolution at petrochem-it's webhook",
            lambda: delivered("/alerts/petrochem-it", "resolved", "e2e-portal"),
        )
        assert resolved.body["status"] == "resolved"
        await wait_until(
            group,
            "the resolution at sasac-newmedia's webhook",
            lambda: delivered("/alerts/sasac-newmedia", "resolved", "e2e-account"),
        )
        recovery = await wait_until(group, "the recovery e-mail", lambda: mail("【恢复】"))
        assert "站点 e2e-account" in str(recovery["Subject"])
