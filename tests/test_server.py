"""The HTTP endpoints, against the real aiohttp server on loopback."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry, Gauge

from monitor import server
from monitor.checkspec import CheckSpec
from monitor.metrics import Metrics
from monitor.probes.http import HttpCheck
from monitor.results import Outcome, Phases, ProbeResult, StepResult
from monitor.runtime import Runtime
from monitor.server import make_app, start
from tests.pg import make_config
from tests.stack import free_port

ClientFactory = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]
T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def result(site: str, check: str, outcome: Outcome = Outcome.OK, **fields: Any) -> ProbeResult:
    return ProbeResult(
        site=site,
        check=check,
        type=fields.pop("type", "http"),
        outcome=outcome,
        started_at=T0,
        duration_seconds=0.2,
        location="beijing",
        **fields,
    )


RESULTS = [
    result("sasac", "home", status_code=200),
    result("sasac", "news", Outcome.STALE, content_age_seconds=9e5, detail="最新稿件已过期"),
    result("petrochem", "home", Outcome.TIMEOUT, detail="timeout in processing"),
]


class Reloader:
    """A reload action that answers as told and counts its calls."""

    def __init__(self, answer: tuple[bool, str]) -> None:
        self.answer = answer
        self.calls = 0

    async def __call__(self) -> tuple[bool, str]:
        self.calls += 1
        return self.answer


def app_with(
    *,
    registry: CollectorRegistry | None = None,
    ready: tuple[bool, str] = (True, "ready"),
    reload: Reloader | None = None,
    metrics: Metrics | None = None,
    routes: list[web.RouteDef] | None = None,
) -> web.Application:
    registry = registry or (metrics.registry if metrics else CollectorRegistry())
    return make_app(
        registry=registry,
        status=lambda: [r.to_json() for r in RESULTS],
        ready=lambda: ready,
        reload=reload or Reloader((True, "reloaded")),
        exposition=metrics.exposition_chunks if metrics else None,
        routes=routes or [],
    )


def populated_metrics() -> Metrics:
    """Metrics with every family holding at least one series."""
    metrics = Metrics(CollectorRegistry(), location="beijing", version="0.1.0")
    metrics.declare(
        HttpCheck(id="home", url="https://www.example.gov.cn/", site="sasac", interval=60)
    )
    metrics.declare(CheckSpec(id="login", type="login", site="portal", interval=60))
    metrics.observe(
        result(
            "sasac",
            "home",
            status_code=200,
            phases=Phases(0.001, 0.002, 0.01, 0.1, 0.02),
            cert_expiry_timestamp=1.9e9,
            tls_verified=False,
            content_age_seconds=60.0,
            items=3,
            broken_links=(),
        )
    )
    metrics.observe(
        result(
            "portal",
            "login",
            Outcome.SESSION_DROPPED,
            type="login",
            steps=(StepResult("submit", 0.3, Outcome.OK),),
        )
    )
    metrics.probe_skipped("sasac", "home")
    metrics.scheduler_lag(0.004)
    metrics.incident_opened("portal", "login", "portal-it", "session_dropped")
    metrics.maintenance("sasac", False)
    metrics.store_queue_depth(1)
    metrics.store_write_error()
    metrics.store_dropped(1)
    metrics.config_reloaded(True, 1.7e9)
    return metrics


def promtool_check(text: bytes) -> str:
    """What `promtool check metrics` says about `text` (just "rc=0" when clean)."""
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    done = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=120, check=False
    )
    return f"rc={done.returncode} {done.stdout.decode()}{done.stderr.decode()}".strip()


async def test_scrape_of_running_server_passes_promtool() -> None:
    """A real scrape of /metrics from the server on 127.0.0.1 is clean for promtool."""
    metrics = populated_metrics()
    runner = await start(app_with(metrics=metrics), "127.0.0.1", 0)
    try:
        host, port = runner.addresses[0][:2]
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://{host}:{port}/metrics") as response,
        ):
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            body = await response.read()
    finally:
        await runner.cleanup()
    assert b'probe_success{check="home",location="beijing",site="sasac",type="http"} 1.0' in body
    assert b"monitor_build_info" in body
    assert b'monitor_login_step_duration_seconds_count{check="login",' in body
    assert promtool_check(body) == "rc=0"


async def test_metrics_gzip_only_when_asked(aiohttp_client: ClientFactory) -> None:
    """/metrics is gzipped for a client that accepts gzip and plain otherwise."""
    metrics = populated_metrics()
    client = await aiohttp_client(app_with(metrics=metrics))
    plain = await client.get("/metrics", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    text = await plain.read()
    zipped = await client.get(
        "/metrics", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
    )
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(await zipped.read()) == text


async def test_a_large_metrics_text_is_sent_in_pieces_as_it_is_made(
    aiohttp_client: ClientFactory,
) -> None:
    """Several MB of /metrics go out chunked (plain or gzipped), whole; a small one with its length."""
    metrics = populated_metrics()
    small = await aiohttp_client(app_with(metrics=metrics))
    answer = await small.get("/metrics", headers={"Accept-Encoding": "identity"})
    assert answer.headers["Content-Length"] == str(len(await answer.read()))
    for n in range(1500):  # about 7 MB of text, more than one piece
        metrics.declare(
            HttpCheck(id=f"c{n}", url="https://www.example.gov.cn/", site="s", interval=60)
        )
        metrics.observe(result("s", f"c{n}", status_code=200))
    client = await aiohttp_client(app_with(metrics=metrics))
    plain = await client.get("/metrics", headers={"Accept-Encoding": "identity"})
    assert plain.headers["Transfer-Encoding"] == "chunked"
    text = await plain.read()
    assert len(text) > server._PIECE_BYTES
    assert text == metrics.exposition()
    zipped = await client.get(
        "/metrics", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
    )
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(await zipped.read()) == text
    assert promtool_check(text) == "rc=0"


async def test_metrics_without_exposition_renders_the_registry(
    aiohttp_client: ClientFactory,
) -> None:
    """Given only a registry, /metrics serves whatever is registered in it."""
    registry = CollectorRegistry()
    Gauge("some_gauge", "A gauge.", registry=registry).set(3)
    client = await aiohttp_client(app_with(registry=registry))
    body = await (await client.get("/metrics")).text()
    assert "some_gauge 3.0" in body


async def test_healthz_says_ok(aiohttp_client: ClientFactory) -> None:
    """/healthz answers 200 "ok" whatever the readiness."""
    client = await aiohttp_client(app_with(ready=(False, "starting")))
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.text()).strip() == "ok"


@pytest.mark.parametrize(
    ("ready", "status"),
    [((True, "ready"), 200), ((False, "database unreachable: connection refused"), 503)],
)
async def test_readyz_follows_ready(
    aiohttp_client: ClientFactory, ready: tuple[bool, str], status: int
) -> None:
    """/readyz is 200 when ready() says so, else 503 with ready()'s reason."""
    client = await aiohttp_client(app_with(ready=ready))
    response = await client.get("/readyz")
    assert response.status == status
    assert (await response.text()).strip() == ready[1]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [("sasac", "home"), ("sasac", "news"), ("petrochem", "home")]),
        ("?site=sasac", [("sasac", "home"), ("sasac", "news")]),
        ("?check=home", [("sasac", "home"), ("petrochem", "home")]),
        ("?site=petrochem&check=home", [("petrochem", "home")]),
        ("?site=nowhere", []),
    ],
)
async def test_status_filters_by_site_and_check(
    aiohttp_client: ClientFactory, query: str, expected: list[tuple[str, str]]
) -> None:
    """/api/v1/status lists the latest results, narrowed by ?site= and ?check=."""
    client = await aiohttp_client(app_with())
    response = await client.get(f"/api/v1/status{query}")
    assert response.status == 200
    body = await response.json()
    assert [(r["site"], r["check"]) for r in body] == expected


async def test_status_is_the_check_json(aiohttp_client: ClientFactory) -> None:
    """Each status entry is ProbeResult.to_json(), Chinese text intact."""
    client = await aiohttp_client(app_with())
    body = await (await client.get("/api/v1/status?site=sasac&check=news")).json()
    assert body == [RESULTS[1].to_json()]
    assert body[0]["detail"] == "最新稿件已过期"


async def test_reload_success(aiohttp_client: ClientFactory) -> None:
    """POST /-/reload runs the reload and answers 200 with its message."""
    reloader = Reloader((True, "config reloaded: 3 checks"))
    client = await aiohttp_client(app_with(reload=reloader))
    response = await client.post("/-/reload")
    assert response.status == 200
    assert (await response.text()).strip() == "config reloaded: 3 checks"
    assert reloader.calls == 1


async def test_reload_refused(aiohttp_client: ClientFactory) -> None:
    """A refused config answers 400 with the one-line error."""
    error = "monitor.yaml: sites[0].checks[1].timeout: invalid duration 'soon'"
    client = await aiohttp_client(app_with(reload=Reloader((False, error))))
    response = await client.post("/-/reload")
    assert response.status == 400
    assert (await response.text()).strip() == error


async def test_reload_needs_post(aiohttp_client: ClientFactory) -> None:
    """GET /-/reload is 405 and does not reload."""
    reloader = Reloader((True, "reloaded"))
    client = await aiohttp_client(app_with(reload=reloader))
    response = await client.get("/-/reload")
    assert response.status == 405
    assert reloader.calls == 0


async def test_extra_routes_are_served_and_listed(aiohttp_client: ClientFactory) -> None:
    """Routes passed to make_app are served and linked from the index page."""

    async def incidents(request: web.Request) -> web.Response:
        return web.json_response([])

    client = await aiohttp_client(app_with(routes=[web.get("/api/v1/incidents", incidents)]))
    assert (await client.get("/api/v1/incidents")).status == 200
    index = await (await client.get("/")).text()
    for path in ("/metrics", "/healthz", "/readyz", "/api/v1/status", "/api/v1/incidents"):
        assert f'href="{path}"' in index


async def test_incidents_api_refuses_unusable_since_and_site_with_400(
    tmp_path: Path,
    pg_url: str,
) -> None:
    """`?since=0001-01-01` (no UTC time east of UTC) and `?site=%00` are the caller's mistake:
    400 with the reason, not a 503 from the database."""
    port = free_port()
    config = make_config(pg_url, server={"listen": f"127.0.0.1:{port}"})
    runtime = Runtime(config)
    await runtime.start()
    try:
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{port}/api/v1/incidents"
            async with http.get(base, params={"since": "0001-01-01"}) as response:
                assert response.status == 400
                assert (await response.json())["error"] == "--since '0001-01-01' is out of range"
            async with http.get(f"{base}?site=%00") as response:
                assert response.status == 400
                assert "NUL" in (await response.json())["error"]
            async with http.get(base, params={"site": "portal"}) as response:
                assert response.status == 200
    finally:
        await runtime.stop()
