"""The HTTP endpoints: /metrics for Prometheus, health and readiness, status, reload.

The app only calls what it is given (`status`, `ready`, `reload`, the exposition), so it knows
nothing of the scheduler or the store. Later endpoints are added through `routes` or on the
returned app: the JSON API's handlers are here too (`incident_routes`, `review_routes`),
reading the store through what they are given.
"""

from __future__ import annotations

import asyncio
import functools
import html
import json
import zlib
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from monitor.redact import scrub

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.reviews import NewReview, Review
    from monitor.store.reader import StoreReader

StatusSource = Callable[[], list[dict[str, Any]]]
ReadySource = Callable[[], tuple[bool, str]]
ReloadAction = Callable[[], Awaitable[tuple[bool, str]]]
# The metrics text, in chunks made as they are taken (`Metrics.exposition_chunks`).
Exposition = Callable[[], Iterable[bytes]]

# Refuses an /api/ request (returns the answer to send) or lets it through (None).
ApiGuard = Callable[[web.Request], "web.Response | None"]

# Responses above this are gzipped when the scraper accepts it (Prometheus always does).
_GZIP_MIN_BYTES = 1024
# /metrics is sent in pieces of about this size, each made in a worker thread, so a scrape
# of 50,000 checks (300 MB of text) never holds the whole text nor stalls the event loop.
_PIECE_BYTES = 4 << 20
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Compressor(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...
    def flush(self) -> bytes: ...


def _gzip_maker() -> Callable[[], _Compressor]:
    """A maker of gzip streams at level 1: a fraction of the default level's CPU for most of
    its saving on this repetitive text. ISA-L's where installed: the same gzip in a sixth of
    zlib's CPU (50,000 checks are 300 MB of text a scrape: half a second with zlib)."""
    try:
        from isal import isal_zlib as deflate
    except ImportError:  # pragma: no cover - a platform without its wheels
        return lambda: zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return lambda: deflate.compressobj(1, deflate.DEFLATED, 16 + deflate.MAX_WBITS)


_gzip = _gzip_maker()
_EXPOSITION = web.AppKey[Exposition]("exposition")
_STATUS = web.AppKey[StatusSource]("status")
_API_GUARD = web.AppKey[ApiGuard]("api_guard")
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
    api_guard: ApiGuard | None = None,
) -> web.Application:
    """Build the web app.

    `exposition` renders /metrics (pass `Metrics.exposition_chunks`, much faster with many
    checks); without it the registry is rendered by prometheus-client. `routes` adds endpoints.
    `api_guard` decides every request under /api/ (the access rule of `server.access`).
    """
    app = web.Application(middlewares=[_scrub_secrets, _guard_api])
    app[_API_GUARD] = api_guard or (lambda request: None)
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


@web.middleware
async def _scrub_secrets(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Every answer's text (JSON, reload and readiness messages) leaves without a secret."""
    response = await handler(request)
    if isinstance(response, web.Response) and isinstance(response.body, bytes):
        text = response.body.decode(response.charset or "utf-8", errors="surrogateescape")
        if (clean := scrub(text)) != text:
            response.body = clean.encode(response.charset or "utf-8", errors="surrogateescape")
    return response


@web.middleware
async def _guard_api(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """The API carries the pages' details (sites, errors, incidents): it follows their rule."""
    if request.path.startswith("/api/"):
        refusal = request.app[_API_GUARD](request)
        if refusal is not None:
            return refusal
    return await handler(request)


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


class _MetricsBody:
    """The /metrics body, taken from the exposition in pieces, gzipped as it goes if asked.

    Each piece is made in a worker thread: with thousands of checks a scrape renders for a
    noticeable fraction of a second, which must not delay the probes the event loop starts.
    """

    def __init__(self, exposition: Exposition, accept_gzip: bool) -> None:
        self._exposition = exposition
        self._chunks: Iterator[bytes] = iter(())
        self._accept_gzip = accept_gzip
        self.gzip: _Compressor | None = None
        self.done = False

    def first(self) -> list[bytes]:
        """The first piece; decides on gzip, since a small text is not worth it."""
        self._chunks = iter(self._exposition())
        chunks = self._take()
        if self._accept_gzip and (not self.done or sum(map(len, chunks)) >= _GZIP_MIN_BYTES):
            self.gzip = _gzip()
        return self._compress(chunks)

    def next(self) -> list[bytes]:
        """The next piece; the last one sets `done`."""
        return self._compress(self._take())

    def _take(self) -> list[bytes]:
        chunks: list[bytes] = []
        size = 0
        for chunk in self._chunks:
            chunks.append(chunk)
            size += len(chunk)
            if size >= _PIECE_BYTES:
                return chunks
        self.done = True
        return chunks

    def _compress(self, chunks: list[bytes]) -> list[bytes]:
        if self.gzip is None:
            return chunks
        compressed = [self.gzip.compress(chunk) for chunk in chunks]
        if self.done:
            compressed.append(self.gzip.flush())
        return [b"".join(compressed)]


async def _metrics(request: web.Request) -> web.StreamResponse:
    loop = asyncio.get_running_loop()
    body = _MetricsBody(
        request.app[_EXPOSITION], "gzip" in request.headers.get("Accept-Encoding", "")
    )
    piece = await loop.run_in_executor(None, body.first)
    response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})
    if body.gzip is not None:
        response.headers["Content-Encoding"] = "gzip"
    if body.done:
        response.content_length = sum(map(len, piece))  # else sent chunked, as it is made
    await response.prepare(request)
    while True:
        for chunk in piece:
            if chunk:  # gzip may hold text back; an empty write would end a chunked body
                await response.write(chunk)
        if body.done:
            break
        piece = await loop.run_in_executor(None, body.next)
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


class ReviewStore(Protocol):
    """Where reviews are kept (the Store)."""

    async def add_review(self, review: NewReview) -> Review: ...

    async def withdraw_review(self, review_id: int, reason: str, reviewer: str) -> Review: ...

    async def list_reviews(
        self, *, site: str | None = ..., in_force_only: bool = ...
    ) -> list[Review]: ...


class _QueryError(ValueError):
    """A query the API refuses (400): a NUL character in a value, or a `since` it cannot read."""


def _incident_filter(query: Mapping[str, str], zone: ZoneInfo) -> dict[str, Any]:
    """?open=1&since=2026-07-01&site=S&check=C as the store's incident-listing keywords."""
    from monitor.cli import parse_since

    if any("\x00" in value for value in query.values()):
        raise _QueryError("a query value holds a NUL character")
    try:
        since = parse_since(query["since"], zone) if "since" in query else None
    except ValueError as exc:
        raise _QueryError(str(exc)) from exc
    return {
        "open_only": query.get("open", "").lower() in ("1", "true", "yes"),
        "since": since,
        "site": query.get("site"),
        "check": query.get("check"),
    }


async def _read_store(
    request: web.Request,
    store: Callable[[], StoreReader | None],
    config: Callable[[], Config],
    read: Callable[[StoreReader, Config, ZoneInfo], Awaitable[object]],
) -> web.Response:
    """One read of the store for the JSON API: `read`'s answer as JSON; 400 for a refused query;
    503 without a store, when it fails, or when it does not answer within storage.timeout."""
    from monitor.store import StoreError

    reader = store()
    if reader is None:
        return web.json_response({"error": "no store"}, status=503)
    settings = config()
    timeout = settings.storage.timeout
    try:
        async with asyncio.timeout(timeout):
            body = await read(reader, settings, ZoneInfo(settings.timezone))
    except _QueryError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    except StoreError as exc:
        return web.json_response({"error": str(exc)}, status=503)
    except TimeoutError:
        error = f"the database did not answer within {timeout:g}s (storage.timeout)"
        return web.json_response({"error": error}, status=503)
    return web.json_response(body, dumps=_json_dumps)


def incident_routes(
    store: Callable[[], StoreReader | None], config: Callable[[], Config]
) -> list[web.AbstractRouteDef]:
    """GET /api/v1/incidents?open=1&since=2026-07-01&site=S&check=C: incidents from the store
    (a JSON array, times in the configured zone); 503 while the database does not answer
    within storage.timeout."""

    async def incidents(request: web.Request) -> web.Response:
        async def read(reader: StoreReader, _: Config, zone: ZoneInfo) -> object:
            found = await reader.list_incidents(**_incident_filter(request.query, zone))
            return [i.to_json(zone) for i in found]

        return await _read_store(request, store, config, read)

    return [web.get("/api/v1/incidents", incidents)]


def points_routes(
    store: Callable[[], StoreReader | None],
    config: Callable[[], Config],
    blind: Callable[[], bool],
) -> list[web.AbstractRouteDef]:
    """GET /api/v1/points: the expected locations (up, blind, missing), the quorum, the open
    confirmed and suspected incidents and recent blind spans, read now; GET
    /api/v1/check-incidents?open=1&since=2026-07-01&site=S&check=C: confirmed incidents."""

    async def view(request: web.Request) -> web.Response:
        async def read(reader: StoreReader, settings: Config, zone: ZoneInfo) -> object:
            found = await reader.points_view()
            points = settings.probe_points
            return {
                "location": settings.location,
                "blind": blind(),
                "expected": list(points.locations(settings.location)),
                "quorum": points.majority(settings.location),
                "locations": [p.to_json(zone) for p in found.points],
                "confirmed": [i.to_json(zone) for i in found.confirmed],
                "suspected": [s.to_json(zone) for s in found.suspected],
                "blind_spans": [s.to_json(zone) for s in found.blind_spans],
            }

        return await _read_store(request, store, config, read)

    async def check_incidents(request: web.Request) -> web.Response:
        async def read(reader: StoreReader, _: Config, zone: ZoneInfo) -> object:
            found = await reader.list_check_incidents(**_incident_filter(request.query, zone))
            return [i.to_json(zone) for i in found]

        return await _read_store(request, store, config, read)

    return [
        web.get("/api/v1/check-incidents", check_incidents),
        web.get("/api/v1/points", view),
    ]


def review_routes(
    store: Callable[[], ReviewStore | None], config: Callable[[], Config]
) -> list[web.AbstractRouteDef]:
    """/api/v1/reviews: GET lists the reviews in force (`?site=S`, `?all=1` with withdrawn
    ones), POST records one (JSON: site, check or rule, start, end, decision, reason, reviewer),
    POST /api/v1/reviews/{id}/withdraw withdraws one (JSON: reason, reviewer).

    Reviews change verdicts, so they follow the pages' `server.access` rule, and are written
    only with its token or password, or on loopback (`public: true` publishes reading only)."""
    from monitor.reviews import NewReview, ReviewError, ReviewNotFoundError
    from monitor.store import StoreError
    from monitor.web import access

    def refused(request: web.Request) -> web.Response | None:
        # Reading is decided by the API's guard (`access.api_refusal`); `public: true` opens
        # reading only, so writing off loopback also needs credentials.
        settings = config().server
        credentials = settings.access.token is not None or settings.access.password is not None
        if request.method != "GET" and not credentials and not access.is_loopback(settings.host):
            message = "reviews are written only on loopback or with server.access credentials"
            return web.json_response({"error": message}, status=403)
        return access.api_refusal(request, settings)

    async def answer(
        request: web.Request, work: Callable[[ReviewStore, ZoneInfo], Any]
    ) -> web.Response:
        if (refusal := refused(request)) is not None:
            return refusal
        target = store()
        if target is None:
            return web.json_response({"error": "no store"}, status=503)
        zone = ZoneInfo(config().timezone)
        try:
            result = await work(target, zone)
        except ReviewNotFoundError as exc:
            return web.json_response({"error": str(exc)}, status=404)
        except ReviewError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except StoreError as exc:
            return web.json_response({"error": str(exc)}, status=503)
        status = 200 if request.method == "GET" else 201
        return web.json_response(result, status=status, dumps=_json_dumps)

    async def body(request: web.Request) -> Any:
        try:
            return await request.json()
        except ValueError:
            raise ReviewError("review: the body is not JSON") from None

    async def listing(request: web.Request) -> web.Response:
        async def work(target: ReviewStore, zone: ZoneInfo) -> Any:
            every = request.query.get("all", "").lower() in ("1", "true", "yes")
            found = await target.list_reviews(
                site=request.query.get("site"), in_force_only=not every
            )
            return [review.to_json(zone) for review in found]

        return await answer(request, work)

    async def add(request: web.Request) -> web.Response:
        async def work(target: ReviewStore, zone: ZoneInfo) -> Any:
            review = NewReview.from_json(await body(request), zone)
            return (await target.add_review(review)).to_json(zone)

        return await answer(request, work)

    async def withdraw(request: web.Request) -> web.Response:
        async def work(target: ReviewStore, zone: ZoneInfo) -> Any:
            try:
                review_id = int(request.match_info["id"])
            except ValueError:
                raise ReviewNotFoundError("review: no such review") from None
            data = await body(request)
            if not isinstance(data, dict):
                raise ReviewError("review: expected a JSON object")
            reason, reviewer = data.get("reason"), data.get("reviewer")
            if not isinstance(reason, str) or not isinstance(reviewer, str):
                raise ReviewError("review: reason and reviewer are required (strings)")
            return (await target.withdraw_review(review_id, reason, reviewer)).to_json(zone)

        return await answer(request, work)

    return [
        web.get("/api/v1/reviews", listing),
        web.post("/api/v1/reviews", add),
        web.post("/api/v1/reviews/{id}/withdraw", withdraw),
    ]
