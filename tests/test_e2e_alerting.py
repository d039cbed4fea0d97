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
from tests.poll import wait_until
from tests.stack import (
    RULES_DIR,
    LoopbackApp,
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

        await wait_until("Prometheus seeing e2e-portal up", lambda: up("e2e-portal"), watch=group)
        await wait_until("Prometheus seeing e2e-account up", lambda: up("e2e-account"), watch=group)
        assert webhook.received == []

        # --- the target goes down --------------------------------------------------------
        target.down = True

        async def firing_in_prometheus() -> list[dict[str, Any]] | None:
            async with http.get(f"{prometheus}/api/v1/alerts") as response:
                alerts = (await response.json())["data"]["alerts"]
            down = [a for a in alerts if a["labels"]["alertname"] == "SiteDown"
                    and a["state"] == "firing"]  # fmt: skip
            return down if len(down) == 2 else None

        alerts = await wait_until(
            "SiteDown firing in Prometheus", firing_in_prometheus, watch=group
        )
        labels = {a["labels"]["site"]: a["labels"] for a in alerts}
        assert labels["e2e-portal"]["owner"] == "petrochem-it"
        assert labels["e2e-portal"]["site_name"] == "石化离退休干部局网站"
        assert labels["e2e-portal"]["reason"] == "http_error"
        assert labels["e2e-portal"]["severity"] == "critical"
        assert labels["e2e-account"]["owner"] == "sasac-newmedia"

        async def delivered(path: str, status: str, site: str) -> Any:
            return webhook.find(path, status, alertname="SiteDown", site=site)

        page = await wait_until(
            "the page to petrochem-it's webhook",
            lambda: delivered("/alerts/petrochem-it", "firing", "e2e-portal"),
            watch=group,
        )
        [alert] = [a for a in page.body["alerts"] if a["labels"]["site"] == "e2e-portal"]
        assert alert["labels"]["owner"] == "petrochem-it"
        assert alert["labels"]["check"] == "home"
        assert alert["annotations"]["summary_zh"] == "石化离退休干部局网站的检查 home 无法访问"
        assert page.body["receiver"] == "petrochem-it"
        assert page.body["groupLabels"] == {"site": "e2e-portal"}
        await wait_until(
            "the page to sasac-newmedia's webhook",
            lambda: delivered("/alerts/sasac-newmedia", "firing", "e2e-account"),
            watch=group,
        )

        async def mail(marker: str) -> Any:
            for message in smtp.messages:
                if marker in str(message["Subject"]):
                    return message
            return None

        message = await wait_until("the page by e-mail", lambda: mail("【告警·严重】"), watch=group)
        assert message["To"] == "newmedia@example.gov.cn"
        assert str(message["Subject"]) == "【告警·严重】国资小新的检查 feed 无法访问"
        text = body_text(message)
        assert "【告警·严重】国资小新的检查 feed 无法访问" in text
        assert "原因：HTTP 状态异常（http_error）" in text
        assert "站点：国资小新（e2e-account）" in text
        assert "/#/silences/new?filter=" in text

        # Each owner heard only about its own site.
        for note in webhook.received:
            owners = {a["labels"]["owner"] for a in note.body["alerts"]}
            assert owners == {note.path.rsplit("/", 1)[1]}, dump(note.body)

        # --- the target recovers -----------------------------------------------------------
        target.down = False
        resolved = await wait_until(
            "the resolution at petrochem-it's webhook",
            lambda: delivered("/alerts/petrochem-it", "resolved", "e2e-portal"),
            watch=group,
        )
        assert resolved.body["status"] == "resolved"
        await wait_until(
            "the resolution at sasac-newmedia's webhook",
            lambda: delivered("/alerts/sasac-newmedia", "resolved", "e2e-account"),
            watch=group,
        )
        recovery = await wait_until("the recovery e-mail", lambda: mail("【已恢复】"), watch=group)
        assert str(recovery["Subject"]) == "【已恢复】国资小新的检查 feed 无法访问"
        recovered = body_text(recovery)
        assert "已恢复正常" in recovered and "持续：" in recovered
        assert "已开启故障事件" not in recovered


class WeComStandIn(LoopbackApp):
    """A loopback stand-in of the WeCom API that Alertmanager's wechat_configs call.

    `gettoken` hands out a token for the configured corp id and secret; `message/send` keeps
    each message (and refuses a wrong token), answering as WeCom does.
    """

    TOKEN = "stand-in-access-token"

    def __init__(self) -> None:
        super().__init__()
        self.token_requests: list[dict[str, str]] = []
        self.messages: list[dict[str, Any]] = []

    async def _gettoken(self, request: web.Request) -> web.Response:
        self.token_requests.append(dict(request.query))
        return web.json_response(
            {"errcode": 0, "errmsg": "ok", "access_token": self.TOKEN, "expires_in": 7200}
        )

    async def _send(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") != self.TOKEN:
            return web.json_response({"errcode": 40014, "errmsg": "invalid access_token"})
        self.messages.append(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok", "invaliduser": ""})

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/cgi-bin/gettoken", self._gettoken),
            web.post("/cgi-bin/message/send", self._send),
        ]


@pytest.fixture
async def wecom() -> AsyncIterator[WeComStandIn]:
    stand_in = WeComStandIn()
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


def site_down_alert(check: str, ends_at: str | None = None) -> dict[str, Any]:
    """A SiteDown alert of the petrochem site as Prometheus posts it to Alertmanager."""
    alert: dict[str, Any] = {
        "labels": {"alertname": "SiteDown", "severity": "critical", "owner": "petrochem-it",
                   "site": "e2e-portal", "site_name": "中国石油化工集团有限公司离退休干部管理局网站",
                   "check": check, "reason": "timeout", "location": "e2e"},
        "annotations": {
            "summary": f"e2e-portal/{check} is down (timeout)",
            "summary_zh": f"中国石油化工集团有限公司离退休干部管理局网站的检查 {check} 无法访问",
            "description_zh": "连续探测失败，已开启故障事件。" * 20,  # long: not in WeCom
        },
        "startsAt": "2026-07-01T08:00:00+08:00",
    }  # fmt: skip
    if ends_at is not None:
        alert["endsAt"] = ends_at
    return alert


async def test_wecom_receives_a_group_of_three_and_its_recovery(
    tmp_path: Path, webhook: Webhook, smtp: SmtpSink, wecom: WeComStandIn
) -> None:
    """Alertmanager's own wechat_configs deliver a group of 3 pages to a WeCom stand-in within 2048 bytes, naming the site in Chinese, then the recovery as a different message."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
        process_group(tmp_path) as group,
    ):
        base, _ = await start_alertmanager(
            group, http, alertmanager_config(webhook.port, smtp.port, wecom.port)
        )
        checks = ("home", "member-login", "news-column")
        async with http.post(
            f"{base}/api/v2/alerts", json=[site_down_alert(c) for c in checks]
        ) as response:
            assert response.status == 200, await response.text()

        async def message(marker: str) -> dict[str, Any] | None:
            for sent in wecom.messages:
                if sent["text"]["content"].startswith(marker):
                    return sent
            return None

        page = await wait_until("the page at WeCom", lambda: message("【告警"), watch=group)
        assert wecom.token_requests[0] == {
            "corpid": "ww0000000000000000",
            "corpsecret": "CHANGE-ME-wecom-application-secret",
        }
        assert page["msgtype"] == "text"
        assert page["agentid"] == "1000002" and page["toparty"] == "2"
        content = page["text"]["content"]
        assert len(content.encode()) <= 2048, len(content.encode())
        assert content.startswith(
            "【告警·严重】中国石油化工集团有限公司离退休干部管理局网站（3 条）"
        )
        assert content.count("●") == 3 and "超时" in content
        assert "连续探测失败" not in content
        assert "/d/monitor-site/?var-site=e2e-portal" in content
        assert "/#/silences/new?filter=" in content

        # The checks recover: Alertmanager sends the resolution as its own message.
        async with http.post(
            f"{base}/api/v2/alerts",
            json=[site_down_alert(c, ends_at="2026-07-01T09:00:00+08:00") for c in checks],
        ) as response:
            assert response.status == 200, await response.text()
        recovery = await wait_until(
            "the recovery at WeCom", lambda: message("【已恢复】"), watch=group
        )
        text = recovery["text"]["content"]
        assert text != content and len(text.encode()) <= 2048
        assert text.count("○ 已恢复：") == 3 and "●" not in text and "静默" not in text
        assert "中国石油化工集团有限公司离退休干部管理局网站" in text
