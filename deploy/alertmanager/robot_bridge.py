#!/usr/bin/env python3
"""A webhook bridge from Alertmanager to DingTalk (钉钉) and Feishu (飞书) group robots.

Alertmanager posts its webhook JSON here; the bridge writes one short Chinese text message
per notification (as templates/monitor.tmpl's "monitor.wechat" does: 【告警·严重】 or 【已恢复】,
the site's name, one line per alert, the dashboard and a silence link) and posts it to the
robot, signed with the robot's secret. Python 3.11 standard library only, so it runs beside
Alertmanager anywhere:

    python3 robot_bridge.py --config robots.json

robots.json (the secrets are files, so the config holds none):

    {"listen": "127.0.0.1:8060",
     "grafana": "https://grafana.example.gov.cn",
     "robots": {
       "sasac-youth":  {"kind": "dingtalk",
                        "url": "https://oapi.dingtalk.com/robot/send?access_token=...",
                        "secret_file": "/run/secrets/dingtalk-sasac-youth"},
       "sasac-reform": {"kind": "feishu",
                        "url": "https://open.feishu.cn/open-apis/bot/v2/hook/...",
                        "secret_file": "/run/secrets/feishu-sasac-reform"}}}

Alertmanager's receivers post to /dingtalk/<name>/send and /feishu/<name> (see
alertmanager.yml). A robot that refuses the message makes the bridge answer 502, so
Alertmanager retries; an unknown robot name is 404.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SEVERITY_ZH = {"critical": "严重", "warning": "警告"}
REASON_ZH = {
    "dns_error": "域名解析失败",
    "connect_error": "无法建立连接",
    "timeout": "超时",
    "tls_error": "证书或 TLS 错误",
    "dropout": "连接中断",
    "http_error": "HTTP 状态异常",
    "content_mismatch": "页面内容异常",
    "login_failed": "登录失败",
    "session_dropped": "会话掉线",
    "stale": "内容未更新",
    "broken_links": "链接不可用",
    "unanswered": "留言未答复",
    "compromised": "疑似安全事故",
}
SHOWN = 3  # alerts listed per message, as in monitor.wechat
TIMEOUT = 10.0  # seconds for the robot to answer


def _when(stamp: str) -> str:
    """'07-01 08:00' in the bridge's local time zone, from Alertmanager's RFC 3339 time."""
    try:
        return (
            datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            .astimezone()
            .strftime("%m-%d %H:%M")
        )
    except ValueError:
        return stamp


def message(note: dict[str, Any], grafana: str) -> str:
    """The text of one Alertmanager notification."""
    alerts = note.get("alerts") or []
    common = note.get("commonLabels") or {}
    firing = note.get("status") == "firing"
    if firing:
        severity = SEVERITY_ZH.get(common.get("severity", ""), common.get("severity", ""))
        head = f"【告警·{severity}】" if severity else "【告警】"
    else:
        head = "【已恢复】"
    lines = [f"{head}{common.get('site_name', '')}（{len(alerts)} 条）"]
    for alert in alerts[:SHOWN]:
        labels, notes = alert.get("labels") or {}, alert.get("annotations") or {}
        summary = notes.get("summary_zh") or notes.get("summary") or labels.get("alertname", "")
        if alert.get("status") == "firing":
            mixed = (
                ""
                if "severity" in common
                else f"〔{SEVERITY_ZH.get(labels.get('severity', ''), '')}〕"
            )
            reason = REASON_ZH.get(labels.get("reason", ""), labels.get("reason", ""))
            why = f"，{reason}" if reason else ""
            lines.append(f"● {mixed}{summary}{why}，{_when(alert.get('startsAt', ''))} 起")
        else:
            span = f"{_when(alert.get('startsAt', ''))} 至 {_when(alert.get('endsAt', ''))}"
            lines.append(f"○ 已恢复：{summary}（{span}）")
    if len(alerts) > SHOWN:
        lines.append("……其余见仪表盘")
    site = common.get("site")
    if site:
        lines.append(f"仪表盘：{grafana}/d/monitor-site/?var-site={urllib.parse.quote(site)}")
        if firing:
            query = urllib.parse.quote(f'{{site="{site}"}}', safe="")
            lines.append(f"静默：{note.get('externalURL', '')}/#/silences/new?filter={query}")
    return "\n".join(lines)


def _signature(key: bytes, text: bytes) -> str:
    return base64.b64encode(hmac.new(key, text, hashlib.sha256).digest()).decode()


def dingtalk_request(url: str, secret: str, text: str, now: float) -> tuple[str, dict[str, Any]]:
    """(URL, body) of a DingTalk robot text message, signed as DingTalk's 加签 requires."""
    stamp = str(int(now * 1000))
    sign = _signature(secret.encode(), f"{stamp}\n{secret}".encode())
    signed = f"{url}&timestamp={stamp}&sign={urllib.parse.quote_plus(sign)}"
    return signed, {"msgtype": "text", "text": {"content": text}}


def feishu_request(url: str, secret: str, text: str, now: float) -> tuple[str, dict[str, Any]]:
    """(URL, body) of a Feishu robot text message, signed as Feishu's 签名校验 requires."""
    stamp = str(int(now))
    sign = _signature(f"{stamp}\n{secret}".encode(), b"")
    return url, {"timestamp": stamp, "sign": sign, "msg_type": "text", "content": {"text": text}}


def robot_accepted(kind: str, answer: dict[str, Any]) -> bool:
    """DingTalk answers errcode 0, Feishu code 0 (StatusCode 0 in older answers)."""
    if kind == "dingtalk":
        return answer.get("errcode") == 0
    return answer.get("code", answer.get("StatusCode")) == 0


class Bridge:
    """The configured robots, and how one notification reaches one of them."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.grafana = str(config.get("grafana", "http://127.0.0.1:3000")).rstrip("/")
        self.robots: dict[str, dict[str, str]] = {}
        for name, robot in (config.get("robots") or {}).items():
            if robot.get("kind") not in ("dingtalk", "feishu"):
                raise SystemExit(f"error: robots.{name}.kind: use dingtalk or feishu")
            if not str(robot.get("url", "")).startswith(("https://", "http://")):
                raise SystemExit(f"error: robots.{name}.url: an http(s) URL of the robot")
            with open(robot["secret_file"], encoding="utf-8") as handle:
                secret = handle.read().strip()
            self.robots[name] = {"kind": robot["kind"], "url": robot["url"], "secret": secret}

    def deliver(self, kind: str, name: str, note: dict[str, Any]) -> int:
        """Post the notification to robot `name`; the HTTP status to answer Alertmanager."""
        robot = self.robots.get(name)
        if robot is None or robot["kind"] != kind:
            return 404
        build = dingtalk_request if kind == "dingtalk" else feishu_request
        url, body = build(robot["url"], robot["secret"], message(note, self.grafana), time.time())
        request = urllib.request.Request(  # noqa: S310 - the URL is checked to be http(s)
            url, data=json.dumps(body, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json; charset=utf-8"}, method="POST",
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
                answer = json.loads(response.read() or b"{}")
        except (OSError, ValueError) as exc:
            print(f"robot {name}: {exc}", file=sys.stderr)
            return 502
        if not robot_accepted(kind, answer):
            print(f"robot {name} refused the message: {answer}", file=sys.stderr)
            return 502
        return 200


def handler(bridge: Bridge) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            parts = self.path.split("?", 1)[0].strip("/").split("/")
            if len(parts) == 3 and parts[0] == "dingtalk" and parts[2] == "send":
                kind, name = "dingtalk", parts[1]
            elif len(parts) == 2 and parts[0] == "feishu":
                kind, name = "feishu", parts[1]
            else:
                self.send_error(404)
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                note = json.loads(self.rfile.read(length))
            except ValueError:
                self.send_error(400, "not Alertmanager's webhook JSON")
                return
            status = bridge.deliver(kind, name, note)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return  # Alertmanager logs its failed deliveries; keep ours for failures

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="the robots' JSON config")
    args = parser.parse_args()
    with open(args.config, encoding="utf-8") as handle:
        config = json.load(handle)
    bridge = Bridge(config)
    host, _, port = str(config.get("listen", "127.0.0.1:8060")).rpartition(":")
    server = ThreadingHTTPServer((host, int(port)), handler(bridge))
    print(f"robot bridge on {host}:{server.server_port} for {', '.join(bridge.robots)}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
