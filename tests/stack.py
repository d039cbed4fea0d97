"""The real monitoring stack on loopback for end-to-end tests: `monitor run`, Prometheus and
Alertmanager as processes (Debian's binaries), plus in-process webhook and SMTP receivers.

Every process is started through a `ProcessGroup`, which stops all of them when its `async
with` block ends, also when a test fails. Waits poll with a deadline and, when it passes, fail
with the tails of every process's log so the reason is visible in the test report.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from tests.poll import wait_until

ROOT = Path(__file__).resolve().parent.parent
RULES_DIR = ROOT / "deploy" / "prometheus" / "rules"
ALERTMANAGER_DIR = ROOT / "deploy" / "alertmanager"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def binary(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError(
        f"none of {names} is installed (Debian: prometheus, prometheus-alertmanager)"
    )


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class ProcessGroup:
    """Processes started by one test; `stop_all` ends each of them (TERM, then KILL)."""

    workdir: Path
    processes: list[Process] = field(default_factory=list)

    def start(self, name: str, argv: list[str], *, env: dict[str, str] | None = None) -> Process:
        log = self.workdir / f"{name}.log"
        handle = log.open("wb")
        try:
            popen = subprocess.Popen(
                argv,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=self.workdir,
                start_new_session=True,  # its own process group: a stray child dies with it
            )
        finally:
            handle.close()
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    async def stop(self, process: Process, grace: float = 15.0) -> None:
        popen = process.popen
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)
            deadline = asyncio.get_running_loop().time() + grace
            while popen.poll() is None and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
        if popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
            popen.wait()

    async def stop_all(self) -> None:
        for process in reversed(self.processes):
            await self.stop(process)

    def report(self) -> str:
        parts = []
        for process in self.processes:
            state = process.popen.poll()
            status = "running" if state is None else f"exited {state}"
            parts.append(f"--- {process.name} ({status}), last lines of its log:\n{process.tail()}")
        return "\n".join(parts)

    def check_alive(self) -> None:
        for process in self.processes:
            if process.popen.poll() is not None:
                raise AssertionError(f"{process.name} exited early\n{self.report()}")


@contextlib.asynccontextmanager
async def process_group(workdir: Path) -> AsyncIterator[ProcessGroup]:
    """A ProcessGroup whose processes are all stopped on the way out, whatever happened."""
    group = ProcessGroup(workdir)
    try:
        yield group
    finally:
        await group.stop_all()


class LoopbackApp:
    """A stand-in of an outside service (a chat API, a robot) served on a free 127.0.0.1 port.

    A subclass gives its `routes()`; `start()` serves them and sets `port`, `stop()` ends it.
    """

    def __init__(self) -> None:
        self.port = 0
        self._runner: web.AppRunner | None = None

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    async def start(self) -> None:
        app = web.Application()
        app.add_routes(self.routes())
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


# --- the three programs -----------------------------------------------------------------------


async def _ready(session: aiohttp.ClientSession, url: str) -> bool:
    async with session.get(url) as response:
        return response.status == 200


async def start_monitor(
    group: ProcessGroup, session: aiohttp.ClientSession, config: dict[str, Any]
) -> str:
    """`monitor run` with this config; returns its base URL once /healthz answers."""
    path = group.workdir / "monitor.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    base = f"http://{config['server']['listen']}"
    group.start("monitor", [sys.executable, "-m", "monitor", "run", "-c", str(path)])
    await wait_until(
        "the monitor's /healthz", lambda: _ready(session, f"{base}/healthz"), watch=group
    )
    return base


def prometheus_config(
    monitor_port: int, alertmanager_port: int | None, rule_files: list[str]
) -> dict[str, Any]:
    """Prometheus scraping the monitor every second and evaluating rules every second."""
    config: dict[str, Any] = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": rule_files,
        "scrape_configs": [
            {
                # The job name the alert rules select, as in deploy/prometheus/prometheus.yml.
                "job_name": "monitor",
                "static_configs": [{"targets": [f"127.0.0.1:{monitor_port}"]}],
            }
        ],
    }
    if alertmanager_port is not None:
        config["alerting"] = {
            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]
        }
    return config


async def start_prometheus(
    group: ProcessGroup, session: aiohttp.ClientSession, config: dict[str, Any]
) -> str:
    """Debian's Prometheus with this config; returns its base URL once it is ready."""
    port = free_port()
    path = group.workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    check = subprocess.run(
        [binary("promtool"), "check", "config", str(path)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    group.start(
        "prometheus",
        [
            binary("prometheus"),
            f"--config.file={path}",
            f"--storage.tsdb.path={group.workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--rules.alert.resend-delay=1s",
            "--log.level=info",
        ],
    )
    base = f"http://127.0.0.1:{port}"
    await wait_until("Prometheus ready", lambda: _ready(session, f"{base}/-/ready"), watch=group)
    return base


def alertmanager_config(
    webhook_port: int, smtp_port: int, wechat_port: int | None = None
) -> dict[str, Any]:
    """The project's alertmanager.yml, pointed at loopback receivers, with second-long timings.

    Routes, receivers, inhibition and templates stay as shipped; only where notifications go
    (the webhook gateway, the SMTP server, the WeCom API: a stand-in on `wechat_port`, or
    none) and how long Alertmanager waits change.
    """
    config: dict[str, Any] = yaml.safe_load(
        (ALERTMANAGER_DIR / "alertmanager.yml").read_text(encoding="utf-8")
    )
    config["global"]["smtp_smarthost"] = f"127.0.0.1:{smtp_port}"
    config["global"]["smtp_require_tls"] = False
    config["templates"] = [str(ALERTMANAGER_DIR / t) for t in config["templates"]]

    def fast(route: dict[str, Any]) -> None:
        for key in ("group_wait", "group_interval"):
            if key in route or route is config["route"]:
                route[key] = "1s"
        for child in route.get("routes", []):
            fast(child)

    fast(config["route"])
    if wechat_port is not None:
        config["global"]["wechat_api_url"] = f"http://127.0.0.1:{wechat_port}/cgi-bin/"
    for receiver in config["receivers"]:
        if wechat_port is None:
            receiver.pop("wechat_configs", None)
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = re.sub(r"^http://[^/]+", f"http://127.0.0.1:{webhook_port}", hook["url"])
    return config


async def start_alertmanager(
    group: ProcessGroup, session: aiohttp.ClientSession, config: dict[str, Any]
) -> tuple[str, int]:
    """Debian's Alertmanager with this config, clustering off; returns (base URL, port)."""
    port = free_port()
    path = group.workdir / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    check = subprocess.run(
        [binary("amtool"), "check-config", str(path)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    group.start(
        "alertmanager",
        [
            binary("prometheus-alertmanager", "alertmanager"),
            f"--config.file={path}",
            f"--storage.path={group.workdir / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip port on 0.0.0.0
        ],
        env={"TZ": "Asia/Shanghai"},
    )
    base = f"http://127.0.0.1:{port}"
    await wait_until("Alertmanager ready", lambda: _ready(session, f"{base}/-/ready"), watch=group)
    return base, port


async def prom_query(
    session: aiohttp.ClientSession, base: str, expr: str, **params: str
) -> list[dict[str, Any]]:
    """Run an instant query (or a range query when start/end/step are given); the result list."""
    endpoint = "query_range" if "step" in params else "query"
    async with session.get(f"{base}/api/v1/{endpoint}", params={"query": expr, **params}) as r:
        body = await r.json()
    if body.get("status") != "success":
        raise AssertionError(f"query {expr!r} failed: {body.get('errorType')}: {body.get('error')}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


# --- receivers ----------------------------------------------------------------------------------


@dataclass
class Notification:
    path: str
    body: dict[str, Any]


class Webhook:
    """Receives Alertmanager's webhook posts on loopback and keeps them."""

    def __init__(self) -> None:
        self.received: list[Notification] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _post(self, request: web.Request) -> web.Response:
        self.received.append(Notification(request.path, await request.json()))
        return web.Response(text="ok")

    async def start(self) -> int:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def find(self, path: str, status: str, **labels: str) -> Notification | None:
        """The first notification to `path` with this status carrying an alert with `labels`."""
        for note in self.received:
            if note.path != path or note.body.get("status") != status:
                continue
            for alert in note.body["alerts"]:
                if alert["status"] == status and labels.items() <= alert["labels"].items():
                    return note
        return None


class SmtpSink:
    """A minimal SMTP server on loopback that accepts every message and keeps it."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def say(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        try:
            await say("220 sink ESMTP")
            while line := await reader.readline():
                command = line.decode(errors="replace").strip().upper()
                if command.startswith(("EHLO", "HELO")):
                    await say("250-sink\r\n250 8BITMIME")
                elif command == "DATA":
                    await say("354 end with <CRLF>.<CRLF>")
                    data = await reader.readuntil(b"\r\n.\r\n")
                    raw = data[: -len(b"\r\n.\r\n")].replace(b"\r\n..", b"\r\n.")
                    message = email.message_from_bytes(raw, policy=email.policy.default)
                    assert isinstance(message, EmailMessage)
                    self.messages.append(message)
                    await say("250 queued")
                elif command == "QUIT":
                    await say("221 bye")
                    break
                else:  # MAIL, RCPT, RSET, NOOP
                    await say("250 ok")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


def body_text(message: EmailMessage) -> str:
    """The plain-text body of a message (decoded)."""
    part = message.get_body(preferencelist=("plain", "html"))
    assert part is not None
    return str(part.get_content())


def dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1)[:4000]
