"""The HTTP endpoints: /metrics for Prometheus, health and readiness, status, reload.

The app only calls what it is given (`status`, `ready`, `reload`, the exposition), so it knows
nothing of the scheduler or the store. Later endpoints are added through `routes` or on the
returned app.
"""

from __future__ import annotations

import asyncio
import functools
import html
import json
import zlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

StatusSource = Callable[[], list[dict[str, Any]]]
ReadySource = Callable[[], tuple[bool, str]]
ReloadAction = Callable[[], Awaitable[tuple[bool, str]]]
# The metrics text, in chunks (`Metrics.exposition_chunks`).
Exposition = Callable[[], Sequence[bytes]]

# Responses above this are gzipped when the scraper accepts it (Prometheus always does).
_GZIP_MIN_BYTES = 1024

_EXPOSITION = web.AppKey[Exposition]("exposition")
_STATUS = web.AppKey[StatusSource]("status")
_READY = web.AppKey[ReadySource]("ready")
_RELOAD = web.AppKey[ReloadAction]("reload")

_json_dumps = functools.partial(json.dumps, ensure_ascii=False)


def make_app(
    *,
    registry: CollectorRegistry,
    status: StatusSource,
    ready: ReadySource,
    reload: ReloadAction,
    exposition: Exposition | None = None,
    routes: Iterable[web.AbstractRouteDef] = (),
) -> web.Application:
    """Build the web app.

    `exposition` renders /metrics (pass `Metrics.exposition_chunks`, much faster with many
    checks); without it the registry is rendered by prometheus-client. `routes` adds endpoints.
    """
    app = web.Application()
    app[_EXPOSITION] = exposition or (lambda: [generate_latest(registry)])
    app[_STATUS] = status
    app[_READY] = ready
    app[_RELOAD] = reload
    routes = list(routes)
    # The list of endpoints is the index unless a page (the web overview) takes "/".
    index = [] if any(getattr(r, "path", None) == "/" for r in routes) else [web.get("/", _index)]
    app.add_routes(
        [
            *index,
            web.get("/metrics", _metrics),
            web.get("/healthz", _healthz),
            web.get("/readyz", _readyz),
            web.get("/api/v1/status", _status),
            web.post("/-/reload", _reload),
        ]
    )
    app.add_routes(routes)
    return app


async def start(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve `app` on host:port (port 0 picks a free one, see `runner.addresses`).

    The caller stops it with `await runner.cleanup()`.
    """
    # No access log: Prometheus scrapes every few seconds and would drown the useful events.
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


def _render_metrics(exposition: Exposition, accept_gzip: bool) -> tuple[Sequence[bytes], bool]:
    chunks = exposition()
    if accept_gzip and sum(len(chunk) for chunk in chunks) >= _GZIP_MIN_BYTES:
        # Level 1: a fraction of the default level's CPU for most of its saving on this
        # repetitive text. Chunk by chunk, so no big join holds the GIL (zlib releases it).
        compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
        parts = [compressor.compress(chunk) for chunk in chunks]
        parts.append(compressor.flush())
        return [b"".join(parts)], True
    return chunks, False


async def _metrics(request: web.Request) -> web.StreamResponse:
    accept_gzip = "gzip" in request.headers.get("Accept-Encoding", "")
    # Rendered in a worker thread: with thousands of checks it takes a noticeable fraction
    # of a second, which must not delay the probes the event loop is starting.
    chunks, gzipped = await asyncio.get_running_loop().run_in_executor(
        None, _render_metrics, request.app[_EXPOSITION], accept_gzip
    )
    response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})
    if gzipped:
        response.headers["Content-Encoding"] = "gzip"
    response.content_length = sum(len(chunk) for chunk in chunks)
    await response.prepare(request)
    for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def _readyz(request: web.Request) -> web.Response:
    ok, reason = request.app[_READY]()
    text = reason or ("ready" if ok else "not ready")
    return web.Response(text=f"{text}\n", status=200 if ok else 503)


async def _status(request: web.Request) -> web.Response:
    site = request.query.get("site")
    check = request.query.get("check")
    results = [
        r
        for r in request.app[_STATUS]()
        if (site is None or r.get("site") == site) and (check is None or r.get("check") == check)
    ]
    return web.json_response(results, dumps=_json_dumps)


async def _reload(request: web.Request) -> web.Response:
    ok, message = await request.app[_RELOAD]()
    return web.Response(text=f"{message}\n", status=200 if ok else 400)


async def _index(request: web.Request) -> web.Response:
    paths = sorted(
        {
            route.resource.canonical
            for route in request.app.router.routes()
            if route.method == "GET" and route.resource is not None
        }
        - {"/"}
    )
    links = "".join(f'<li><a href="{html.escape(p)}">{html.escape(p)}</a></li>' for p in paths)
    page = (
        "<!doctype html><html><head><meta charset=utf-8><title>monitor</title></head>"
        f"<body><h1>monitor</h1><ul>{links}</ul>"
        "<p>POST /-/reload reloads the configuration.</p></body></html>"
    )
    return web.Response(text=page, content_type="text/html")
