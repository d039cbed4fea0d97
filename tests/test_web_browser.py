"""The web page in a real browser: Debian's headless Chromium, driven over the DevTools
protocol, run inside a network namespace of its own (`unshare -n`) whose only way out is a
forwarder to the monitor under test, with its background networking off.

What a person sees is checked (a down site shows down, a stale column its age, the report link
downloads what `monitor report` writes, a hostile page's markup stays text), and a screenshot
of each page is saved under tests/artifacts/web/ (the paths are printed in pytest's summary).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.web.views import quarter_so_far
from tests.webworld import HOSTILE, STALE_DAYS, World

ARTIFACTS = Path(__file__).parent / "artifacts" / "web"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or shutil.which("socat") is None or shutil.which("unshare") is None,
    reason="needs Debian's chromium, socat and unshare (CI installs them)",
)


class Browser:
    """Chromium behind `--remote-debugging-pipe`: JSON messages ending in NUL on fds 3 and 4."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.workdir = workdir
        self.downloads = workdir / "downloads"
        self.downloads.mkdir()
        socket_path = workdir / "monitor.sock"
        socket_path.unlink(missing_ok=True)
        # Outside: the socket leads to the monitor. Inside the namespace: its loopback port
        # leads to the socket. Nothing else inside can reach any network.
        self._outside = subprocess.Popen(
            ["socat", f"UNIX-LISTEN:{socket_path},fork", f"TCP:127.0.0.1:{port}"]
        )
        for _ in range(100):
            if socket_path.exists():
                break
            time.sleep(0.05)
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            "--lang=zh-CN",
            "--remote-debugging-pipe",
            f"--user-data-dir={workdir / 'profile'}",
            "about:blank",
        ]
        # The forwarder inside is stopped when Chromium ends; the whole group is killed if
        # Chromium hangs (start_new_session makes it one group).
        inside = (
            "ip link set lo up || exit 1; "
            f"socat TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:{socket_path} & "
            "forwarder=$!; "
            f"for _ in $(seq 100); do (: <>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && break; "
            "sleep 0.05; done; "
            f"{CHROMIUM} {' '.join(flags)} 3<&{to_browser_r} 4>&{from_browser_w}; "
            'status=$?; kill "$forwarder"; exit "$status"'
        )
        self._log = (workdir / "chromium.log").open("wb")
        self._process = subprocess.Popen(
            ["unshare", "-n", "bash", "-c", inside],
            pass_fds=(to_browser_r, from_browser_w),
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            start_new_session=True,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        self.call("Page.enable", session=True)
        self.call(
            "Browser.setDownloadBehavior",
            {"behavior": "allow", "downloadPath": str(self.downloads), "eventsEnabled": True},
        )

    def _read(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                log = (self.workdir / "chromium.log").read_text(errors="replace")[-2000:]
                raise TimeoutError(f"chromium did not answer; its log ends:\n{log}")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise EOFError("chromium closed its pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def call(
        self, method: str, params: dict[str, Any] | None = None, *, session: bool = False
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read(60)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer.get("result", {})
                return result
            self._events.append(answer)

    def wait_event(self, method: str, timeout: float = 60, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for event in self._events:
                params = event.get("params", {})
                if event.get("method") == method and all(
                    params.get(k) == v for k, v in match.items()
                ):
                    self._events.remove(event)
                    return params
            self._events.append(self._read(max(0.1, deadline - time.monotonic())))

    def open(self, url: str, *, width: int = 1280, height: int = 900, mobile: bool = False) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
            session=True,
        )
        self._events.clear()
        self.call("Page.navigate", {"url": url}, session=True)
        self.wait_event("Page.loadEventFired")

    def value(self, expression: str) -> Any:
        answer = self.call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True
        )
        return answer["result"].get("value")

    def screenshot(self, name: str) -> Path:
        """The whole page as PNG under tests/artifacts/web/; the path is printed."""
        metrics = self.call("Page.getLayoutMetrics", session=True)["cssContentSize"]
        shot = self.call(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {
                    "x": 0,
                    "y": 0,
                    "width": metrics["width"],
                    "height": metrics["height"],
                    "scale": 1,
                },
            },
            session=True,
        )
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call("Browser.close")
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=10)
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        self._outside.terminate()
        self._outside.wait(timeout=10)
        os.close(self._to_browser)
        os.close(self._from_browser)
        self._log.close()


@contextlib.contextmanager
def browser(port: int, workdir: Path) -> Iterator[Browser]:
    driven = Browser(port, workdir)
    try:
        yield driven
    finally:
        driven.close()


def _text(browser: Browser, selector: str) -> str:
    return str(browser.value(f"document.querySelector({json.dumps(selector)}).innerText"))


async def test_what_a_person_sees_in_chromium(
    world: World,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """Overview, site and reports pages in Chromium: down shows down, stale shows its age, the
    hostile title is shown as text and runs nothing, the md link downloads the report."""
    port = int(world.base.rsplit(":", 1)[1])
    base = world.base
    label, _ = quarter_so_far(world.config.timezone, world.runtime.clock.now())

    def session() -> list[str]:
        with browser(port, tmp_path) as chrome:
            chrome.open(f"{base}/")
            title = chrome.value("document.title")
            assert title == "网站与新媒体监测"
            row = _text(chrome, 'tr[data-site="petrochem-retirees"]')
            assert "故障" in row
            chip = _text(chrome, '#sites tr[data-site="portal"] [data-check="gzyw"]')
            assert "未及时更新" in chip and f"{STALE_DAYS} 天 未更新" in chip
            assert "石化离退休干部局网站" in _text(chrome, "#open-incidents")
            # Nothing the hostile page sent became an element, and no script ran.
            assert chrome.value("document.querySelectorAll('main img, main script').length") == 0
            shots = [str(chrome.screenshot("overview"))]
            chrome.open(f"{base}/", width=390, height=844, mobile=True)
            shots.append(str(chrome.screenshot("overview-phone")))
            chrome.open(f"{base}/?lang=en")
            assert "down" in _text(chrome, 'tr[data-site="petrochem-retirees"] .badge')
            shots.append(str(chrome.screenshot("overview-en")))

            chrome.open(f"{base}/sites/portal")
            assert chrome.value("document.title").startswith("国务院国资委门户网站")
            hostile = _text(chrome, 'tr[data-check="tzgg"] .detail')
            assert HOSTILE[:40] in hostile.replace('\\"', '"')
            assert chrome.value("document.querySelectorAll('main img, main script').length") == 0
            assert f"{STALE_DAYS} 天 / 14 天" in _text(chrome, 'tr[data-check="gzyw"]')
            shots.append(str(chrome.screenshot("site-portal")))

            chrome.open(f"{base}/reports?quarter={label}")
            chrome.wait_event("Page.frameStoppedLoading", timeout=60)
            shots.append(str(chrome.screenshot("reports")))
            chrome.value("document.querySelector('a[data-format=md]').click()")
            done = chrome.wait_event("Browser.downloadProgress", state="completed")
            assert done["state"] == "completed"
            files = list(chrome.downloads.iterdir())
            assert [f.name for f in files] == [f"report-{label}.md"]
            text = files[0].read_text(encoding="utf-8")
            assert text.startswith("#") and "石化离退休干部局网站" in text
            return shots

    shots = await asyncio.to_thread(session)
    assert all(Path(shot).stat().st_size > 10_000 for shot in shots)
    # Written past pytest's capture, so a person finds the pictures without -s.
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("\nscreenshots of the web page: " + ", ".join(shots))
