"""The running service under awkward timing: reloads while the store is down, shutdown with the
database gone, reloads that change maintenance windows or login checks, bad database URLs.

Real `monitor run` processes, the real PostgreSQL (through a TCP proxy the test can cut or
black-hole), loopback targets.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import psutil
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor.config import load_config
from monitor.results import Outcome, ProbeResult
from monitor.runtime import Runtime
from monitor.store import Store
from tests.fakeclock import FakeClock
from tests.pg import RecordingStoreMetrics, TcpProxy, make_config, via
from tests.poll import wait_until
from tests.service import ROOT, Service, run_cli
from tests.stack import free_port

SECRET = "s3cret-pw-7781"


def with_password(url: str) -> str:
    """The URL with a password (the test server trusts loopback, so it is never checked)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"postgres:{SECRET}@{host}"))


@pytest.fixture
async def proxy(pg_url: str) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy.to(pg_url)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


class BlackHole:
    """Listens on a port, accepts connections and never answers (a database gone silent)."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self, port: int) -> None:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._writers.append(writer)

        self._server = await asyncio.start_server(accept, "127.0.0.1", port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.transport.abort()


def service_config(
    base: str, port: int, database_url: str, *, extra: str = "", top: str = ""
) -> str:
    return (
        textwrap.dedent(f"""
        server: {{listen: "127.0.0.1:{port}"}}
        storage: {{database_url: "{database_url}", flush_interval: 100ms}}
        defaults: {{interval: 300ms, timeout: 250ms}}
        scheduler: {{shutdown_grace: 1s}}
        """)
        + top
        + textwrap.dedent(f"""
        sites:
          - id: petrochem
            owner: petrochem-it
            checks:
              - {{id: home, type: http, url: "{base}/"}}
        """)
        + extra
    )


NEWS_SITE = """\
  - id: news
    owner: news-office
    checks:
      - {{id: home, type: http, url: "{base}/"}}
"""


async def readiness(service: Service) -> str:
    async with service.session.get(f"{service.base}/readyz") as resp:
        return f"{resp.status} {await resp.text()}"


async def stored_incidents(url: str) -> list[tuple[str, str | None]]:
    """(site, resolution or None while open) of every stored incident."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT site, resolution, resolved_at FROM incidents")
    finally:
        await conn.close()
    return [(row["site"], row["resolution"] if row["resolved_at"] else None) for row in rows]


async def active_checks(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT site, check_id FROM checks WHERE active")
    finally:
        await conn.close()
    return {f"{row['site']}/{row['check_id']}" for row in rows}


async def test_reload_while_store_down_applies_and_syncs_later(
    target: TestServer,
    tmp_path: Path,
    pg_url: str,
    proxy: TcpProxy,
) -> None:
    """A reload while Postgres is unreachable succeeds at once (new checks probed, reload gauge
    1), /api/v1/incidents answers 503 without the password, and the new checks reach the
    database once it is back."""
    base = str(target.make_url("")).rstrip("/")
    port = free_port()
    url = with_password(via(pg_url, "127.0.0.1", proxy.port))
    config = tmp_path / "monitor.yaml"
    config.write_text(service_config(base, port, url))
    service = Service(config, port)
    await service.start()
    try:
        await service.wait_for('probe_success{check="home",location="default",site="petrochem"')
        await proxy.cut()
        config.write_text(service_config(base, port, url, extra=NEWS_SITE.format(base=base)))
        async with service.session.post(f"{service.base}/-/reload") as resp:
            body = await resp.text()
            assert resp.status == 200, body
        metrics = await service.wait_for('site="news",type="http"} 1.0')
        assert "monitor_config_last_reload_successful 1.0" in metrics
        async with service.session.get(f"{service.base}/api/v1/incidents") as resp:
            body = await resp.text()
            assert resp.status == 503, body
            assert SECRET not in body and "unreachable" in body
        await proxy.restore()
        await wait_until(
            "both checks active in the database",
            lambda: active_checks(pg_url),
            until=lambda active: active == {"petrochem/home", "news/home"},
            timeout=30,
        )
    finally:
        code, err = await service.stop()
    assert code == 0, err[-2000:]
    assert SECRET not in err


async def test_sigterm_with_database_black_holed_exits_0(
    target: TestServer,
    tmp_path: Path,
    pg_url: str,
    proxy: TcpProxy,
) -> None:
    """SIGTERM while the database accepts connections but never answers: the service gives up
    on the unwritten results, says how many, and exits 0 (Service.stop bounds the wait)."""
    base = str(target.make_url("")).rstrip("/")
    port = free_port()
    url = with_password(via(pg_url, "127.0.0.1", proxy.port))
    config = tmp_path / "monitor.yaml"
    config.write_text(service_config(base, port, url))
    service = Service(config, port)
    await service.start()
    hole = BlackHole()
    try:
        await service.wait_for('probe_success{check="home",location="default",site="petrochem"')
        await proxy.cut()
        await hole.start(proxy.port)
        await wait_until(
            "/readyz saying the store is unreachable",
            lambda: readiness(service),
            until=lambda answer: "store unreachable" in answer,
            timeout=30,
        )
    finally:
        code, err = await service.stop()
        await hole.close()
    assert code == 0, err[-2000:]
    assert "store_unwritten_at_exit" in err and "monitor_stopped" in err
    assert SECRET not in err


async def test_a_silent_database_is_noticed_within_the_storage_timeout(
    target: TestServer,
    tmp_path: Path,
    pg_url: str,
    proxy: TcpProxy,
) -> None:
    """A database that goes silent on open connections (no reset, no answer) turns /readyz to
    503 and makes /api/v1/incidents answer 503 within a few `storage.timeout`, instead of
    keeping /readyz at 200 for a minute and the API hanging."""
    base = str(target.make_url("")).rstrip("/")
    port = free_port()
    url = with_password(via(pg_url, "127.0.0.1", proxy.port))
    config = tmp_path / "monitor.yaml"
    text = service_config(base, port, url)
    config.write_text(text.replace("flush_interval: 100ms}", "flush_interval: 100ms, timeout: 2s}"))
    service = Service(config, port)
    await service.start()
    try:
        await service.wait_for('probe_success{check="home",location="default",site="petrochem"')
        assert (await readiness(service)).startswith("200")
        proxy.go_silent()
        # Bounds of several storage timeouts (2 s): the old behaviour took about 60 s.
        await wait_until(
            "/readyz answering 503",
            lambda: readiness(service),
            until=lambda answer: answer.startswith("503"),
            timeout=20,
        )
        async with asyncio.timeout(20):
            async with service.session.get(f"{service.base}/api/v1/incidents") as resp:
                body = await resp.text()
        assert resp.status == 503, body
        assert SECRET not in body
    finally:
        code, err = await service.stop()
    assert code == 0, err[-2000:]
    assert SECRET not in err


async def test_reload_applies_maintenance_windows_at_once(
    target: TestServer,
    tmp_path: Path,
    pg_url: str,
) -> None:
    """A reload that adds a maintenance window covering now, and a new site, shows
    `monitor_maintenance` for them as soon as the reload has answered."""
    base = str(target.make_url("")).rstrip("/")
    port = free_port()
    config = tmp_path / "monitor.yaml"
    config.write_text(service_config(base, port, pg_url))
    service = Service(config, port)
    await service.start()
    try:
        await service.wait_for('monitor_maintenance{location="default",site="petrochem"} 0.0')
        window = textwrap.dedent("""
        maintenance:
          - {sites: [petrochem], start: "2020-01-01T00:00", end: "2100-01-01T00:00"}
        """)
        extra = NEWS_SITE.format(base=base)
        config.write_text(service_config(base, port, pg_url, extra=extra, top=window))
        async with service.session.post(f"{service.base}/-/reload") as resp:
            assert resp.status == 200, await resp.text()
        metrics = await service.metrics()
        assert 'monitor_maintenance{location="default",site="petrochem"} 1.0' in metrics
        assert 'monitor_maintenance{location="default",site="news"} 0.0' in metrics
    finally:
        code, err = await service.stop()
    assert code == 0, err[-2000:]


@pytest.fixture
async def login_site() -> AsyncIterator[TestServer]:
    """A site whose login form takes any user; /member greets the logged-in user."""
    logins: list[str] = []

    async def login(request: web.Request) -> web.Response:
        form = await request.post()
        user = str(form.get("user", ""))
        logins.append(user)
        response = web.Response(text=f"<html>退出登录 {user}</html>", content_type="text/html")
        response.set_cookie("sid", user)
        return response

    async def member(request: web.Request) -> web.Response:
        user = request.cookies.get("sid")
        if not user:
            raise web.HTTPFound("/login")
        return web.Response(text=f"<html>退出登录 {user}</html>", content_type="text/html")

    app = web.Application()
    app.router.add_post("/login", login)

    async def form(request: web.Request) -> web.Response:
        return web.Response(text="用户登录")

    app.router.add_get("/login", form)
    app.router.add_get("/member", member)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    server.logins = logins  # type: ignore[attr-defined]
    yield server
    await server.close()


def login_config(base: str, port: int, database_url: str, user: str) -> str:
    return textwrap.dedent(f"""
        server: {{listen: "127.0.0.1:{port}"}}
        storage: {{database_url: "{database_url}", flush_interval: 100ms}}
        defaults: {{interval: 300ms, timeout: 250ms}}
        sites:
          - id: petrochem
            checks:
              - id: session
                type: login
                steps:
                  - name: submit
                    url: "{base}/login"
                    form: {{user: {user}}}
                    expect: {{body_contains: ["退出登录"]}}
                session: {{url: "{base}/member", marker: "退出登录"}}
        """)


async def test_reload_of_changed_login_check_logs_in_afresh(
    login_site: TestServer,
    tmp_path: Path,
    pg_url: str,
) -> None:
    """A login check whose steps change on reload logs in with the new steps instead of going
    on with the session the old steps opened."""
    base = str(login_site.make_url("")).rstrip("/")
    logins: list[str] = login_site.logins  # type: ignore[attr-defined]
    port = free_port()
    config = tmp_path / "monitor.yaml"
    config.write_text(login_config(base, port, pg_url, "alice"))
    service = Service(config, port)
    await service.start()
    try:
        await service.wait_for(
            'probe_success{check="session",location="default",site="petrochem",type="login"} 1.0'
        )
        assert logins and set(logins) == {"alice"}
        config.write_text(login_config(base, port, pg_url, "bob"))
        async with service.session.post(f"{service.base}/-/reload") as resp:
            assert resp.status == 200, await resp.text()
        await wait_until(
            "the changed login check logging in with its new steps",
            lambda: "bob" in logins,
            timeout=10,
        )
    finally:
        code, err = await service.stop()
    assert code == 0, err[-2000:]


@pytest.mark.parametrize("command", ["run", "incidents", "report"])
async def test_malformed_database_url_is_one_line_without_secret(
    tmp_path: Path, command: str
) -> None:
    """A database_url that cannot be parsed (a bad port) is one `error:` line naming the
    problem (besides JSON log events), exit 1, and never the password."""
    config = tmp_path / "monitor.yaml"
    bad = f"postgresql://monitor:{SECRET}@127.0.0.1:notaport/monitor"
    config.write_text(
        f'storage: {{database_url: "{bad}"}}\nserver: {{listen: "127.0.0.1:{free_port()}"}}\n'
    )
    args = [command, "-c", str(config)] + (["--quarter", "2026Q3"] if command == "report" else [])
    code, out, err = await run_cli(*args)
    assert code == 1, err
    lines = [line for line in err.strip().splitlines() if not line.startswith("{")]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "database_url" in lines[0], err
    assert SECRET not in err + out


async def test_sighup_while_store_down_resolves_removed_check_later(
    target: TestServer,
    tmp_path: Path,
    pg_url: str,
    proxy: TcpProxy,
) -> None:
    """SIGHUP removing a check with an open incident while Postgres is unreachable: the check's
    series go at once, no unhandled error is logged, and once the database is back the incident
    is stored resolved as check_removed and the check inactive."""
    base = str(target.make_url("")).rstrip("/")
    port = free_port()
    url = via(pg_url, "127.0.0.1", proxy.port)
    config = tmp_path / "monitor.yaml"
    failing = NEWS_SITE.format(base=base).replace(f"{base}/", f"{base}/broken")
    config.write_text(service_config(base, port, url, extra=failing))
    service = Service(config, port)
    await service.start()
    try:
        await wait_until("an incident stored", lambda: stored_incidents(pg_url), timeout=20)
        await proxy.cut()
        config.write_text(service_config(base, port, url))
        service.proc.send_signal(signal.SIGHUP)
        removed = 'probe_success{check="home",location="default",site="news"'
        await wait_until(
            "the removed check's series gone",
            service.metrics,
            until=lambda metrics: removed not in metrics,
            timeout=20,
        )
        await proxy.restore()
        await wait_until(
            "only petrochem/home active in the database",
            lambda: active_checks(pg_url),
            until=lambda active: active == {"petrochem/home"},
            timeout=30,
        )
        await wait_until(
            "the incident stored resolved as check_removed",
            lambda: stored_incidents(pg_url),
            until=lambda stored: stored == [("news", "check_removed")],
            timeout=30,
        )
    finally:
        code, err = await service.stop()
    assert code == 0, err[-2000:]
    assert "exception was never retrieved" not in err and "Traceback" not in err, err[-3000:]


async def test_listen_address_taken_is_one_line_and_exit_1(
    tmp_path: Path,
    pg_url: str,
) -> None:
    """`monitor run` whose listen address is taken says so in one `error:` line (no
    traceback) and exits 1."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "monitor.yaml"
        config.write_text(
            f'storage: {{database_url: "{pg_url}"}}\nserver: {{listen: "127.0.0.1:{port}"}}\n'
        )
        code, _, err = await run_cli("run", "-c", str(config))
    assert code == 1, err
    lines = [line for line in err.strip().splitlines() if not line.startswith("{")]
    assert len(lines) == 1, err
    assert lines[0] == f"error: cannot listen on 127.0.0.1:{port}: Address already in use", err


def postgres_processes(pgdata: Path) -> list[int]:
    """Pids of PostgreSQL servers running on `pgdata`."""
    found = []
    for proc in psutil.process_iter(["pid", "name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if proc.info["name"] in ("postgres", "pg_ctl") and str(pgdata) in cmdline:
            found.append(proc.info["pid"])
    return found


async def test_sigterm_during_embedded_startup_exits_0_and_leaves_no_server(
    tmp_path: Path,
) -> None:
    """SIGTERM while the embedded PostgreSQL is being created: `monitor run` finishes starting,
    stops, exits 0, and leaves no PostgreSQL running on its data directory."""
    data_dir = tmp_path / "monitor-data"
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f'storage: {{database_url: "", data_dir: "{data_dir}"}}\n'
        f'server: {{listen: "127.0.0.1:{free_port()}"}}\nsites: []\n'
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor",
        "run",
        "-c",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        # Polled often: the SIGTERM must land while the embedded server is being created.
        await wait_until(
            "the embedded PostgreSQL being created",
            (data_dir / "postgres").exists,
            timeout=60,
            interval=0.01,
        )
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert postgres_processes((data_dir / "postgres").resolve()) == []
    assert b'"event": "monitor_stopped"' in err
    assert b"leaked semaphore" not in err


async def test_close_writes_what_the_database_takes_during_a_retry_backoff(
    pg_url: str,
    proxy: TcpProxy,
) -> None:
    """A shutdown that comes while the writer waits out its retry backoff (the database back
    by then) retries at once and writes everything, instead of sleeping past the close."""
    clock = FakeClock()  # backoff sleeps end only when the test says: here, never
    config = make_config(via(pg_url, "127.0.0.1", proxy.port))
    metrics = RecordingStoreMetrics()
    store = await Store.open(config, metrics, clock)
    try:
        await proxy.cut()
        store.submit_result(
            ProbeResult(
                site="portal",
                check="home",
                type="http",
                outcome=Outcome.OK,
                started_at=clock.now(),
                duration_seconds=0.2,
            )
        )
        assert not await store.flush(1)  # tries now, fails, waits out its backoff
        assert metrics.write_errors >= 1
        await proxy.restore()
    finally:
        assert store.writer is not None
        left = await store.writer.close(5)
        await store.close()
    assert left == 0
    conn = await asyncpg.connect(pg_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM probe_results") == 1
    finally:
        await conn.close()


RELOAD_CONFIG = """
sites:
  - id: s
    checks: [{id: c, type: http, url: "http://127.0.0.1:9/", interval: 1h}]
"""


async def test_a_thousand_parallel_reloads_share_their_turns(tmp_path: Path) -> None:
    """1,000 reloads at once all succeed, yet the file is read and applied once or twice."""
    path = tmp_path / "monitor.yaml"
    path.write_text(RELOAD_CONFIG, encoding="utf-8")
    runtime = Runtime(load_config(path), config_path=str(path))
    await runtime.start(serve=False, store=False)
    try:
        with structlog.testing.capture_logs() as logs:
            answers = await asyncio.gather(*(runtime.reload() for _ in range(1000)))
        assert all(ok for ok, _ in answers)
        applied = [e for e in logs if e["event"] == "config_reloaded"]
        assert 1 <= len(applied) <= 2
        # A reload asked after those finished reads the file again.
        with structlog.testing.capture_logs() as logs:
            assert (await runtime.reload())[0]
        assert [e["event"] for e in logs].count("config_reloaded") == 1
    finally:
        await runtime.stop()


async def test_an_alias_bomb_reload_is_refused_and_the_running_config_stays(
    tmp_path: Path,
) -> None:
    """A YAML alias bomb written over the config is refused with one line; the old one runs on."""
    path = tmp_path / "monitor.yaml"
    path.write_text(RELOAD_CONFIG, encoding="utf-8")
    runtime = Runtime(load_config(path), config_path=str(path))
    await runtime.start(serve=False, store=False)
    try:
        bomb = "".join(
            f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9 if i else ["lol"] * 9) + "]\n"
            for i in range(9)
        )
        path.write_text(bomb, encoding="utf-8")
        ok, message = await asyncio.wait_for(runtime.reload(), 60)
        assert not ok
        assert message == (
            f"{path}: line 1: invalid YAML: expands to more than 2,000,000 values (an alias bomb?)"
        )
        assert [c.key for c in runtime.config.checks()] == ["s/c"]
    finally:
        await runtime.stop()
