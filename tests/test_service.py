"""The service end to end: `monitor check`, `monitor run`, reload, signals, logs (real processes)."""

from __future__ import annotations

import json
import signal
import textwrap
from datetime import datetime
from pathlib import Path

import asyncpg
from aiohttp.test_utils import TestServer

from tests.pg import TcpProxy, via
from tests.poll import wait_until
from tests.service import (
    Service,
    run_cli,
    wait_incidents,
    write_incident_config,
)
from tests.stack import free_port


def config_text(base: str, port: int, extra_sites: str = "", database_url: str = "") -> str:
    return (
        textwrap.dedent(f"""
        server: {{listen: "127.0.0.1:{port}"}}
        storage: {{database_url: "{database_url}"}}
        defaults: {{interval: 1s, timeout: 900ms}}
        scheduler: {{shutdown_grace: 2s}}
        sites:
          - id: petrochem
            owner: petrochem-it
            checks:
              - {{id: home, type: http, url: "{base}/", expect: {{body_contains: ["石化"]}}}}
              - {{id: broken, type: http, url: "{base}/broken"}}
        """)
        + extra_sites
    )


async def test_check_json_reports_every_check_and_exits_1_on_failure(
    target: TestServer, tmp_path: Path
) -> None:
    """`monitor check --json` prints one object per check and exits 1 when any failed."""
    config = tmp_path / "monitor.yaml"
    config.write_text(config_text(str(target.make_url("")).rstrip("/"), free_port()))
    code, out, _ = await run_cli("check", "-c", str(config), "--json")
    assert code == 1
    results = {r["check"]: r for r in json.loads(out)}
    home, broken = results["home"], results["broken"]
    assert home["outcome"] == "ok" and home["success"] is True and home["status_code"] == 200
    assert set(home["phases"]) == {"resolve", "connect", "tls", "processing", "transfer"}
    assert broken["outcome"] == "http_error" and broken["status_code"] == 500
    for key in ("site", "check", "type", "outcome", "success", "duration_seconds", "detail"):
        assert key in home


async def test_check_exits_0_when_all_pass_and_filters(target: TestServer, tmp_path: Path) -> None:
    """`monitor check --check home` runs only that check, prints a table, and exits 0."""
    config = tmp_path / "monitor.yaml"
    config.write_text(config_text(str(target.make_url("")).rstrip("/"), free_port()))
    code, out, _ = await run_cli("check", "-c", str(config), "--check", "home")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].split()[:4] == ["SITE", "CHECK", "TYPE", "OUTCOME"]
    assert len(lines) == 2 and lines[1].split()[:4] == ["petrochem", "home", "http", "ok"]


async def test_check_bad_config_exits_2(tmp_path: Path) -> None:
    """`monitor check` on a bad config exits 2 with the one-line error."""
    config = tmp_path / "monitor.yaml"
    config.write_text("defaults: {timeout: never}\n")
    code, _, err = await run_cli("check", "-c", str(config))
    assert code == 2
    assert "defaults.timeout: invalid duration 'never'" in err


async def test_run_probes_serves_reloads_and_stops_cleanly(
    target: TestServer,
    tmp_path: Path,
    pg_url: str,
) -> None:
    """`monitor run` probes, serves metrics and status, reloads on SIGHUP, refuses a bad config,
    logs failures (not successes) as JSON lines, and exits 0 on SIGTERM."""
    base = str(target.make_url("")).rstrip("/")
    port = free_port()
    config = tmp_path / "monitor.yaml"
    config.write_text(config_text(base, port, database_url=pg_url))
    service = Service(config, port)
    await service.start()
    try:
        await service.wait_for(
            'probe_success{check="home",location="default",site="petrochem",type="http"} 1.0'
        )
        await wait_until(
            "/api/v1/status listing both checks",
            service.status,
            until=lambda rows: {row["check"] for row in rows} == {"home", "broken"},
            timeout=10,
        )

        added = textwrap.indent(
            textwrap.dedent(f"""\
            - id: news
              owner: news-office
              checks:
                - {{id: home, type: http, url: "{base}/"}}
            """),
            "  ",
        )
        config.write_text(config_text(base, port, added, database_url=pg_url))
        service.proc.send_signal(signal.SIGHUP)
        await service.wait_for(
            'probe_success{check="home",location="default",site="news",type="http"} 1.0'
        )
        assert "monitor_config_last_reload_successful 1.0" in await service.metrics()

        config.write_text("defaults: {interval: often}\n")
        async with service.session.post(f"{service.base}/-/reload") as resp:
            assert resp.status == 400
            assert "defaults.interval: invalid duration" in await resp.text()
        metrics = await service.metrics()
        assert "monitor_config_last_reload_successful 0.0" in metrics
        # The running config stays: the news site is still probed.
        assert 'site="news"' in metrics
    finally:
        code, err = await service.stop()
    assert code == 0
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    names = [e["event"] for e in events]
    assert "monitor_started" in names and "monitor_stopped" in names
    failed = [e for e in events if e["event"] == "probe_failed"]
    assert failed and all(e["check"] == "broken" for e in failed)
    assert all(e["outcome"] == "http_error" for e in failed)
    assert "config_reload_refused" in names


async def test_incident_survives_sigkill_and_resolves_once(
    target: TestServer,
    tmp_path: Path,
    pg_url: str,
) -> None:
    """SIGKILL `monitor run` while an incident is open: the next process continues that same
    incident (no duplicate) and resolves it when the site recovers; `monitor incidents` and
    `monitor migrate` read the same database."""
    target.state["up"] = False  # type: ignore[attr-defined]
    port = free_port()
    config = tmp_path / "monitor.yaml"
    write_incident_config(config, port, pg_url, target)
    first = Service(config, port)
    await first.start()
    try:
        opened = await wait_incidents(first, "?open=1", lambda found: len(found) == 1)
    finally:
        first.proc.kill()
        await first.stop()
    (incident,) = opened
    assert incident["reason"] == "http_error" and incident["owner"] == "petrochem-it"
    assert incident["first_error"] == "status 503, expected 2xx"

    conn = await asyncpg.connect(pg_url)
    try:
        left = await conn.fetchval("SELECT failures FROM incidents")  # where the first stopped
    finally:
        await conn.close()

    second = Service(config, port)
    await second.start()
    try:
        # Wait for the second process to have judged `failure_threshold` (3) failing probes:
        # the incident it continues counts them; one it opened afresh would show beside it.
        still = await wait_incidents(
            second,
            "?open=1",
            lambda found: len(found) > 1 or any(i["failures"] >= left + 3 for i in found),
        )
        assert [i["id"] for i in still] == [incident["id"]]
        target.state["up"] = True  # type: ignore[attr-defined]
        resolved = await wait_incidents(
            second, "", lambda found: bool(found) and found[0]["resolved_at"] is not None
        )
    finally:
        code, _ = await second.stop()
    assert code == 0
    assert [i["id"] for i in resolved] == [incident["id"]]
    assert resolved[0]["opened_at"] == incident["opened_at"]
    assert resolved[0]["failures"] >= 3

    code, out, _ = await run_cli("incidents", "-c", str(config), "--json")
    assert code == 0
    (listed,) = json.loads(out)
    assert listed["id"] == incident["id"] and listed["open"] is False
    code, out, _ = await run_cli("incidents", "-c", str(config), "--open")
    assert code == 0 and out.strip().splitlines()[0].split()[:3] == ["OPENED", "RESOLVED", "SITE"]
    assert len(out.strip().splitlines()) == 1  # nothing open: the header alone
    code, out, _ = await run_cli("migrate", "-c", str(config))
    assert code == 0 and out.strip() == "up to date"


async def test_database_down_at_start_still_probes_and_keeps_the_results(
    target: TestServer,
    tmp_path: Path,
    pg_url: str,
) -> None:
    """`monitor run` whose database does not answer at start probes anyway (/readyz says why),
    keeps the results, and once the database answers writes them all and opens the incident
    they show, dated at the first failure: a dead database means buffering, not data loss."""
    target.state["up"] = False  # type: ignore[attr-defined]
    proxy = TcpProxy.to(pg_url)
    await proxy.start()
    await proxy.cut()  # the database "is down" before the monitor starts
    port = free_port()
    config = tmp_path / "monitor.yaml"
    database_url = via(pg_url, "127.0.0.1", proxy.port)
    write_incident_config(config, port, database_url, target)
    service = Service(config, port)
    await service.start()
    try:
        await service.wait_for(
            'monitor_probe_results_total{check="home",location="default",outcome="http_error",site="petrochem",type="http"} 5.0'
        )
        async with service.session.get(f"{service.base}/readyz") as resp:
            assert resp.status == 503
            assert "store unreachable since start" in await resp.text()
        await proxy.restore()
        opened = await wait_incidents(service, "?open=1", lambda found: len(found) == 1)
    finally:
        code, err = await service.stop()
        await proxy.close()
    assert code == 0
    assert "store_unreachable_at_start" in err and "store_reachable" in err
    (incident,) = opened
    assert incident["reason"] == "http_error"
    conn = await asyncpg.connect(pg_url)
    try:
        first = await conn.fetchval("SELECT min(started_at) FROM probe_results")
        stored = await conn.fetchval("SELECT count(*) FROM probe_results")
    finally:
        await conn.close()
    # Every probe since the start is there, the ones before the database answered included.
    assert stored >= 5
    assert datetime.fromisoformat(str(incident["opened_at"])) == first
