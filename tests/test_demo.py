"""`monitor demo`, run briefly at a fast pace: its twins misbehave and a person sees it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from tests.poll import wait_until
from tests.stack import free_port

# Every incident the schedule causes: (site, check) -> the reasons it may open with.
EXPECTED = {
    ("sasac", "zwzx"): {"unanswered"},
    ("sasac", "gzyw"): {"stale"},
    ("petrochem-retirees", "login"): {"timeout", "session_dropped"},
    ("qingchun-guozi", "updates"): {"stale"},
    ("buildmat-retirees", "home"): {"http_error"},
}


async def _json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as response:
        return await response.json()


async def test_demo_shows_incidents_page_metrics_and_report(
    pg_url: str,
    tmp_path: Path,
) -> None:
    """At pace 0.2 the demo's schedule opens an incident for each misbehaviour (an unanswered
    question, a stale column, the petrochemical login, a silent account, a site down), the page
    shows them, /metrics has the series, the report has verdicts, and SIGTERM ends it with 0."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "monitor",
            "demo",
            "--listen",
            f"127.0.0.1:{port}",
            "--data-dir",
            str(tmp_path / "demo"),
            "--pace",
            "0.2",
        ],
        env={**os.environ, "MONITOR_DATABASE_URL": pg_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        async with aiohttp.ClientSession() as session:

            async def incidents() -> dict[tuple[str, str], str]:
                assert demo.poll() is None, "the demo exited"
                found = await _json(session, f"{base}/api/v1/incidents")
                return {(i["site"], i["check"]): i["reason"] for i in found}

            seen = await wait_until(
                "an incident for each misbehaviour",
                incidents,
                until=lambda seen: set(EXPECTED) <= set(seen),
                timeout=90,
                interval=0.5,
            )
            for key, reasons in EXPECTED.items():
                assert seen[key] in reasons, (key, seen[key])
            async with session.get(f"{base}/") as response:
                page = await response.text()
            assert 'data-site="qingchun-guozi" data-state="stale"' in page
            # The silent account risks a veto this quarter: it is listed first thing.
            risks = page[page.index('id="risks"') : page.index('id="sites"')]
            assert '<li data-site="qingchun-guozi">' in risks
            assert "石化离退休干部局网站" in page
            async with session.get(f"{base}/sites/petrochem-retirees") as response:
                site_page = await response.text()
                assert response.status == 200
            assert 'id="step-chart"' in site_page and "login · submit" in site_page
            async with session.get(f"{base}/metrics") as response:
                metrics = await response.text()
            assert 'site="buildmat-retirees"' in metrics
            report = await _json(
                session,
                f"{base}/reports/download?format=json&quarter="
                + _quarter(tmp_path / "demo" / "demo.yaml"),
            )
            statuses = {s["id"]: s["status"] for s in report["sites"]}
            assert len(statuses) == 8
            assert set(statuses.values()) <= {"pass", "warning", "veto", "not_assessable"}
            verdicts = {v["indicator"] for s in report["sites"] for v in s["verdicts"]}
            assert {"site_unreachable", "new_media_not_updated", "poor_interaction"} <= verdicts
    finally:
        demo.send_signal(signal.SIGTERM)
        out, _ = demo.communicate(timeout=60)
    assert demo.returncode == 0
    assert f"web page   {base}/" in out and "monitor report -c" in out


def _quarter(config: Path) -> str:
    from datetime import UTC, datetime

    from monitor.web.views import quarter_so_far

    assert config.exists()
    return quarter_so_far("Asia/Shanghai", datetime.now(UTC))[0]


def test_demo_listens_on_loopback_only(tmp_path: Path) -> None:
    """`monitor demo --listen 0.0.0.0:...` is refused with one line and exit 2."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor",
            "demo",
            "--listen",
            "0.0.0.0:9108",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: --listen 0.0.0.0:9108: the demo listens on loopback only (127.0.0.1 or ::1)"
    )
