"""The page routes: `/` overview, `/sites/{site}`, `/reports` and `/reports/download`.

`web_routes(source)` gives aiohttp route definitions for `server.make_app(routes=...)`; the
source is anything with the runtime's read side (`config`, `latest`, `store`, `clock`).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2
import structlog
from aiohttp import web

from monitor.clock import Clock
from monitor.config import Config
from monitor.report import (
    FORMATS,
    TABLE_NAMES,
    OutputError,
    Period,
    PeriodError,
    ReportError,
    build_report,
    parse_period,
    quarter_of,
    render,
)
from monitor.results import ProbeResult
from monitor.store import Store, StoreError
from monitor.web import access, charts
from monitor.web.state import State
from monitor.web.texts import Lang, Texts
from monitor.web.views import (
    SITE_DAYS,
    STEP_DAYS,
    PointsNow,
    ReportCache,
    SiteView,
    last_days,
    points_now,
    quarter_so_far,
    site_view,
)

log = structlog.get_logger("monitor.web")

# Seconds between automatic reloads of the overview and site pages (a meta refresh).
REFRESH_SECONDS = 30
# No script may run, whatever a probed page managed to put into the monitor's data; styles are
# inline, charts are inline SVG, and only the report frame is loaded from here.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src 'self'; "
        "form-action 'self'; frame-ancestors 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_MEDIA = {
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
}


class Source(Protocol):
    """The runtime's read side, as the pages use it."""

    @property
    def config(self) -> Config: ...
    @property
    def latest(self) -> Mapping[str, ProbeResult]: ...
    @property
    def store(self) -> Store | None: ...
    @property
    def clock(self) -> Clock: ...


_env = jinja2.Environment(
    loader=jinja2.PackageLoader("monitor.web", "templates"),
    autoescape=True,  # everything from a probed site is text, never markup
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _lang(request: web.Request) -> Lang:
    return "en" if request.query.get("lang") == "en" else "zh"


class _Pages:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.cache = ReportCache()

    # -- plumbing ----------------------------------------------------------------------------

    def guarded(
        self, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guard(request: web.Request) -> web.StreamResponse:
            verdict = access.check(request, self.source.config.server)
            if not verdict.allowed:
                return self.denied(request, verdict.why)
            response = await handler(request)
            if verdict.set_token is not None:
                response.set_cookie(
                    access.TOKEN_COOKIE, verdict.set_token, httponly=True, samesite="Strict"
                )
            return response

        return guard

    def denied(self, request: web.Request, why: str) -> web.Response:
        t = self.texts(request)
        headers = dict(_HEADERS)
        status = 403 if why == "public" else 401
        if why == "basic":
            headers["WWW-Authenticate"] = 'Basic realm="monitor", charset="UTF-8"'
        body = _env.get_template("denied.html").render(
            **{**self.common(request, t), "refresh": None}, why=why
        )
        return web.Response(text=body, status=status, content_type="text/html", headers=headers)

    def texts(self, request: web.Request) -> Texts:
        return Texts(_lang(request), ZoneInfo(self.source.config.timezone))

    def common(self, request: web.Request, t: Texts) -> dict[str, Any]:
        lang = t.lang

        def url(path: str, **params: Any) -> str:
            query = {k: v for k, v in params.items() if v not in (None, "")}
            if lang == "en":
                query["lang"] = "en"
            return path + ("?" + urlencode(query) if query else "")

        other = dict(request.query)
        if lang == "en":
            other.pop("lang", None)
        else:
            other["lang"] = "en"
        other.pop("token", None)
        switch = request.path + ("?" + urlencode(other) if other else "")
        return {
            "t": t,
            "lang": lang,
            "url": url,
            "switch_url": switch,
            "now": self.source.clock.now(),
            "refresh": REFRESH_SECONDS,
            "State": State,
        }

    def page(self, template: str, status: int = 200, **context: Any) -> web.Response:
        body = _env.get_template(template).render(**context)
        return web.Response(
            text=body, status=status, content_type="text/html", headers=dict(_HEADERS)
        )

    # -- the overview --------------------------------------------------------------------------

    async def overview(self, request: web.Request) -> web.StreamResponse:
        t = self.texts(request)
        config, latest, store = self.source.config, dict(self.source.latest), self.source.store
        now = self.source.clock.now()
        points = await self.points(store)
        sites = [site_view(s, latest, points) for s in config.sites]
        quarter_label, quarter = quarter_so_far(config.timezone, now)
        store_ok = store is not None
        if store is not None:
            try:
                incidents = await store.list_incidents(open_only=True)
                week = await self.cache.sites(
                    config, store, last_days(config.timezone, 7, now), t.lang, now
                )
                this_quarter = await self.cache.sites(config, store, quarter, t.lang, now)
            except (StoreError, ReportError) as exc:
                log.warning("web_store_unavailable", error=str(exc))
                store_ok = False
            else:
                _attach(sites, incidents, config.timezone, week, this_quarter)
        # Vetoes first, then warnings: what the office must act on before the quarter ends.
        order = {"veto": 0, "warning": 1}
        risks = sorted(
            (s for s in sites if s.quarter is not None and s.quarter["status"] in order),
            key=lambda s: order[s.quarter["status"]] if s.quarter else 0,
        )
        return self.page(
            "overview.html",
            **self.common(request, t),
            sites=sites,
            risks=risks,
            store_ok=store_ok,
            quarter_label=t("quarter_so_far", quarter=quarter_label),
            open_incidents=[i for s in sites for i in s.open_incidents],
            names={s.id: s.name or s.id for s in sites},
            points=points if points is not None and points.shown else None,
        )

    async def points(self, store: Store | None) -> PointsNow | None:
        """The probe points now (None without a store or when it cannot be read: the page then
        shows this location's results as before)."""
        if store is None:
            return None
        try:
            view = await store.points_view()
        except StoreError as exc:
            log.warning("web_store_unavailable", error=str(exc))
            return None
        return points_now(view, self.source.config.location)

    # -- one site ----------------------------------------------------------------------------

    async def site(self, request: web.Request) -> web.StreamResponse:
        t = self.texts(request)
        config, latest, store = self.source.config, dict(self.source.latest), self.source.store
        site_id = request.match_info["site"]
        known = {s.id: s for s in config.sites}
        context = self.common(request, t)
        if site_id not in known:
            return self.page("missing.html", 404, **{**context, "refresh": None}, site_id=site_id)
        points = await self.points(store)
        view = site_view(known[site_id], latest, points)
        now = self.source.clock.now()
        history: dict[str, Any] | None = None
        incidents: list[dict[str, Any]] = []
        steps = None
        store_ok = store is not None
        if store is not None:
            zone = ZoneInfo(config.timezone)
            try:
                incidents = [
                    i.to_json(zone) for i in await store.list_incidents(site=site_id, limit=100)
                ]
                period = last_days(config.timezone, SITE_DAYS, now)
                reports = await self.cache.sites(
                    config, store, period, t.lang, now, sites=(site_id,)
                )
                history = reports.get(site_id)
                steps = charts.step_chart(
                    await store.login_steps_hourly(site_id, now - timedelta(days=STEP_DAYS))
                )
            except (StoreError, ReportError) as exc:
                log.warning("web_store_unavailable", error=str(exc))
                store_ok = False
        strips = {
            c["id"]: charts.day_strip(c["days"], t("no_history"))
            for c in (history or {}).get("checks", [])
        }
        return self.page(
            "site.html",
            **context,
            site=view,
            history=history,
            strips=strips,
            incidents=incidents,
            steps=steps,
            store_ok=store_ok,
            chart=charts,
            points=points if points is not None and points.shown else None,
        )

    # -- reports -------------------------------------------------------------------------------

    def _period_args(self, request: web.Request) -> dict[str, str]:
        query = request.query
        args = {k: query[k].strip() for k in ("quarter", "from", "to") if query.get(k, "").strip()}
        if "from" in args:
            args.pop("quarter", None)
        if not args:
            args["quarter"] = quarter_so_far(self.source.config.timezone, self.source.clock.now())[
                0
            ]
        return args

    def _period(self, args: dict[str, str]) -> Period:
        """The period of the `quarter` or `from`/`to` arguments, as `monitor report` reads them."""
        return parse_period(
            self.source.config.timezone,
            quarter_text=args.get("quarter"),
            from_text=args.get("from"),
            to_text=args.get("to"),
            now=self.source.clock.now(),
        )

    async def reports(self, request: web.Request) -> web.StreamResponse:
        t = self.texts(request)
        config = self.source.config
        args = self._period_args(request)
        context = self.common(request, t)
        error = None
        period: Period | None = None
        try:
            period = self._period(args)
        except PeriodError as exc:
            error = str(exc)
        today = self.source.clock.now().astimezone(ZoneInfo(config.timezone)).date()
        quarters = []
        year, number = quarter_of(today)
        for _ in range(8):
            quarters.append(f"{year}Q{number}")
            year, number = (year, number - 1) if number > 1 else (year - 1, 4)
        return self.page(
            "reports.html",
            400 if error else 200,
            **{**context, "refresh": None},
            args=args,
            error=error,
            period=period,
            quarters=quarters,
            formats=FORMATS,
            tables=TABLE_NAMES,
            store_ok=self.source.store is not None,
        )

    async def download(self, request: web.Request) -> web.StreamResponse:
        config, store = self.source.config, self.source.store
        args = self._period_args(request)
        fmt = request.query.get("format", "html")
        lang: Lang = _lang(request)
        table = request.query.get("table") or None
        if fmt not in FORMATS:
            raise web.HTTPBadRequest(text=f"format must be one of {', '.join(FORMATS)}\n")
        if table is not None and table not in TABLE_NAMES:
            raise web.HTTPBadRequest(text=f"table must be one of {', '.join(TABLE_NAMES)}\n")
        if store is None:
            raise web.HTTPServiceUnavailable(text="the database is not available\n")
        try:
            period = self._period(args)
            report = await build_report(config, store, period, now=self.source.clock.now())
            rendered = render(report, fmt, lang, table if fmt == "csv" else None)
        except (PeriodError, ReportError, OutputError, ValueError) as exc:
            raise web.HTTPBadRequest(text=f"{exc}\n") from None
        except StoreError as exc:
            raise web.HTTPServiceUnavailable(text=f"{exc}\n") from None
        name = "report-" + (period.label if period.quarter else _slug(period))
        headers = dict(_HEADERS)
        # The report's own page has inline styles only; it may sit in the reports page's frame.
        if isinstance(rendered, dict):
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for file, data in rendered.items():
                    archive.writestr(f"{name}-{file}", data)
            body, media, filename = buffer.getvalue(), "application/zip", f"{name}-csv.zip"
        else:
            body, media = rendered, _MEDIA[fmt]
            filename = f"{name}-{table}.csv" if table else f"{name}.{fmt}"
        inline = fmt == "html" and request.query.get("inline") == "1"
        disposition = "inline" if inline else "attachment"
        headers["Content-Disposition"] = f'{disposition}; filename="{filename}"'
        return web.Response(body=body, headers={**headers, "Content-Type": media})


def _slug(period: Period) -> str:
    start = period.start.astimezone(period.zone).strftime("%Y%m%d")
    end = (period.end - timedelta(seconds=1)).astimezone(period.zone).strftime("%Y%m%d")
    return f"{start}-{end}"


def _attach(
    sites: list[SiteView],
    incidents: list[Any],
    timezone: str,
    week: dict[str, dict[str, Any]],
    quarter: dict[str, dict[str, Any]],
) -> None:
    zone = ZoneInfo(timezone)
    by_site: dict[str, list[dict[str, Any]]] = {}
    for incident in incidents:
        by_site.setdefault(incident.site, []).append(incident.to_json(zone))
    for site in sites:
        site.open_incidents = by_site.get(site.id, [])
        site.week = week.get(site.id)
        site.quarter = quarter.get(site.id)


def web_routes(source: Source) -> list[web.RouteDef]:
    """The page routes, each behind the access rule of `server.access`."""
    pages = _Pages(source)
    return [
        web.get("/", pages.guarded(pages.overview)),
        web.get("/sites/{site}", pages.guarded(pages.site)),
        web.get("/reports", pages.guarded(pages.reports)),
        web.get("/reports/download", pages.guarded(pages.download)),
    ]


__all__ = ["REFRESH_SECONDS", "Source", "web_routes"]
