"""DingTalk and Feishu robots through deploy/alertmanager/robot_bridge.py, from the real Alertmanager.

Debian's Alertmanager runs the project's config with every webhook pointed at the bridge
(as deploy/alertmanager/alertmanager.yml points sasac-youth and sasac-reform at it); the bridge
runs as its own process; loopback stand-ins of the two robots check each request's signature
the way DingTalk and Feishu document it, and keep the messages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.poll import wait_until
from tests.stack import (
    ALERTMANAGER_DIR,
    LoopbackApp,
    alertmanager_config,
    free_port,
    process_group,
    start_alertmanager,
)

DINGTALK_SECRET = "SECdingtalk-test-secret"
FEISHU_SECRET = "feishu-test-secret"
NAME = "国资委团委网站"


class Robots(LoopbackApp):
    """Loopback DingTalk and Feishu robots that verify signatures and keep what they got."""

    def __init__(self) -> None:
        super().__init__()
        self.dingtalk: list[dict[str, Any]] = []
        self.feishu: list[dict[str, Any]] = []
        self.refused: list[str] = []

    async def _dingtalk(self, request: web.Request) -> web.Response:
        stamp, sign = request.query["timestamp"], request.query["sign"]
        key = DINGTALK_SECRET.encode()
        expected = base64.b64encode(
            hmac.new(key, f"{stamp}\n{DINGTALK_SECRET}".encode(), hashlib.sha256).digest()
        ).decode()
        fresh = abs(time.time() * 1000 - int(stamp)) < 3_600_000  # DingTalk allows an hour
        if request.query.get("access_token") != "dt-token" or sign != expected or not fresh:
            self.refused.append("dingtalk")
            return web.json_response({"errcode": 310000, "errmsg": "sign not match"})
        self.dingtalk.append(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _feishu(self, request: web.Request) -> web.Response:
        body = await request.json()
        key = f"{body['timestamp']}\n{FEISHU_SECRET}".encode()
        expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
        if body["sign"] != expected:
            self.refused.append("feishu")
            return web.json_response({"code": 19021, "msg": "sign match fail"})
        self.feishu.append(body)
        return web.json_response({"code": 0, "msg": "success", "data": {}})

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/robot/send", self._dingtalk),
            web.post("/open-apis/bot/v2/hook/fs-hook", self._feishu),
        ]


@pytest.fixture
async def robots() -> AsyncIterator[Robots]:
    stand_in = Robots()
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


def alert(owner: str, check: str, ends_at: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "labels": {"alertname": "SiteDown", "severity": "critical", "owner": owner,
                   "site": owner, "site_name": NAME, "check": check, "reason": "timeout"},
        "annotations": {"summary_zh": f"{NAME}的检查 {check} 无法访问",
                        "summary": f"{owner}/{check} is down (timeout)"},
        "startsAt": "2026-07-01T08:00:00+08:00",
    }  # fmt: skip
    if ends_at:
        body["endsAt"] = ends_at
    return body


async def test_alertmanager_reaches_dingtalk_and_feishu_robots_through_the_bridge(
    tmp_path: Path, robots: Robots
) -> None:
    """A page of each owner reaches its DingTalk or Feishu robot, signed, in Chinese with the site's name; the recovery follows as 已恢复."""
    (tmp_path / "dingtalk").write_text(DINGTALK_SECRET + "\n", encoding="utf-8")
    (tmp_path / "feishu").write_text(FEISHU_SECRET, encoding="utf-8")
    bridge_port = free_port()
    robot = f"http://127.0.0.1:{robots.port}"
    config = {
        "listen": f"127.0.0.1:{bridge_port}",
        "grafana": "https://grafana.example.gov.cn",
        "robots": {
            "sasac-youth": {"kind": "dingtalk", "url": f"{robot}/robot/send?access_token=dt-token",
                            "secret_file": str(tmp_path / "dingtalk")},
            "sasac-reform": {"kind": "feishu", "url": f"{robot}/open-apis/bot/v2/hook/fs-hook",
                             "secret_file": str(tmp_path / "feishu")},
        },
    }  # fmt: skip
    (tmp_path / "robots.json").write_text(json.dumps(config), encoding="utf-8")
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
        process_group(tmp_path) as group,
    ):
        group.start(
            "robot-bridge",
            [sys.executable, str(ALERTMANAGER_DIR / "robot_bridge.py"),
             "--config", str(tmp_path / "robots.json")],
            env={"TZ": "Asia/Shanghai"},  # times as the deployments show them
        )  # fmt: skip
        # Every webhook of the shipped config to the bridge (the SMTP port is unused here).
        base, _ = await start_alertmanager(
            group, http, alertmanager_config(bridge_port, free_port())
        )
        pages = [alert("sasac-youth", "home"), alert("sasac-reform", "home"),
                 alert("sasac-reform", "zwgk")]  # fmt: skip
        async with http.post(f"{base}/api/v2/alerts", json=pages) as response:
            assert response.status == 200, await response.text()

        async def both() -> bool:
            return bool(robots.dingtalk and robots.feishu)

        await wait_until("a message at each robot", both, watch=group)
        assert robots.refused == []
        dingtalk = robots.dingtalk[0]
        assert dingtalk["msgtype"] == "text"
        text = dingtalk["text"]["content"]
        assert text.startswith(f"【告警·严重】{NAME}（1 条）")
        assert f"● {NAME}的检查 home 无法访问，超时，07-01 08:00 起" in text
        assert "https://grafana.example.gov.cn/d/monitor-site/?var-site=sasac-youth" in text
        assert "/#/silences/new?filter=" in text
        feishu = robots.feishu[0]
        assert feishu["msg_type"] == "text"
        assert feishu["content"]["text"].startswith(f"【告警·严重】{NAME}（2 条）")
        assert feishu["content"]["text"].count("●") == 2

        resolved = [alert(a["labels"]["owner"], a["labels"]["check"],
                          ends_at="2026-07-01T09:00:00+08:00") for a in pages]  # fmt: skip
        async with http.post(f"{base}/api/v2/alerts", json=resolved) as response:
            assert response.status == 200, await response.text()

        async def recovered() -> bool:
            texts = [m["text"]["content"] for m in robots.dingtalk]
            texts += [m["content"]["text"] for m in robots.feishu]
            return sum(t.startswith("【已恢复】") for t in texts) == 2

        await wait_until("the recoveries at the robots", recovered, watch=group)
        last = robots.dingtalk[-1]["text"]["content"]
        assert "○ 已恢复：" in last and "●" not in last and "静默" not in last
