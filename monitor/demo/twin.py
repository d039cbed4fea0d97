"""Loopback twins of the notice's sites, misbehaving on a schedule.

The SASAC portal (homepage, two columns, a message board), the petrochemical and the building
materials retirees' bureaus, and a feed bridge serving the five new-media accounts, each on its
own 127.0.0.1 port. Dates on the pages are relative to the real clock, so the monitor's rules
(14 days for news, 90 days for a question) apply as they would to the real sites.

The schedule (seconds since start, times `pace`): from the start a question on the board is
overdue; at 20 s the petrochemical bureau's login turns sluggish and its sessions start being
dropped; at 30 s the portal's 国资要闻 column stops updating; at 40 s the account 青春国资
stops posting; at 50 s the login times out; from 60 s to 120 s the building materials
bureau is down.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.typedefs import Handler

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEMO_USER, DEMO_PASSWORD = "monitor", "demo-only-password"  # the twin's one account


@dataclass(frozen=True, slots=True)
class Schedule:
    """When each misbehaviour begins (seconds after start), all multiplied by `pace`."""

    pace: float = 1.0
    login_sluggish: float = 20.0
    login_timing_out: float = 50.0
    column_stale: float = 30.0
    account_silent: float = 40.0
    site_down: float = 60.0
    site_back: float = 120.0
    # Sluggish sessions last at most this long before the server forgets them.
    session_life: float = 20.0

    def at(self, moment: float) -> float:
        return moment * self.pace

    @property
    def login_timeout(self) -> float:
        """The login check's interval and timeout (the config's)."""
        return max(1.0, self.at(5.0))

    def submit_delay(self, elapsed: float) -> float:
        """How long the login's submit takes: at once, then half the check's timeout
        (sluggish), then half again more than the timeout (timing out)."""
        if elapsed >= self.at(self.login_timing_out):
            return 1.5 * self.login_timeout
        if elapsed >= self.at(self.login_sluggish):
            return 0.5 * self.login_timeout
        return 0.0

    def lines(self) -> list[str]:
        """The schedule as a person reads it."""
        return [
            "from the start    a question on the SASAC board stays unanswered (over 90 days)",
            f"+{self.at(self.login_sluggish):.0f} s            the petrochemical bureau's login "
            f"turns sluggish ({0.5 * self.login_timeout:g} s) and drops sessions",
            f"+{self.at(self.column_stale):.0f} s            the portal's column 国资要闻 stops "
            "updating (15 days old)",
            f"+{self.at(self.account_silent):.0f} s            the account 青春国资 stops posting",
            f"+{self.at(self.login_timing_out):.0f} s            the petrochemical bureau's login "
            f"times out (over {self.login_timeout:g} s)",
            f"+{self.at(self.site_down):.0f} s to +{self.at(self.site_back):.0f} s   the building "
            "materials bureau's site is down",
        ]


def _page(title: str, body: str) -> web.Response:
    html = (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>'
        f"<body>{body}</body></html>"
    )
    return web.Response(text=html, content_type="text/html")


def _column(title: str, newest_age_days: float, count: int = 6) -> web.Response:
    now = datetime.now(SHANGHAI)
    rows = "".join(
        f'<li><a href="/art/{i}.html">{title}第{i + 1}篇</a>'
        f"<span>{now - timedelta(days=newest_age_days + 2 * i):%Y-%m-%d %H:%M}</span></li>"
        for i in range(count)
    )
    return _page(title, f'<h1>{title}</h1><ul class="list">{rows}</ul>')


class Twins:
    """The twin sites' state and their aiohttp apps; `elapsed()` drives the schedule."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.started = time.monotonic()
        self._viewstate: set[str] = set()
        self._sessions: dict[str, float] = {}  # session cookie -> when it was made
        self._runners: list[web.AppRunner] = []
        self.urls: dict[str, str] = {}

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _after(self, moment: float) -> bool:
        return self.elapsed() >= self.schedule.at(moment)

    # -- the SASAC portal ----------------------------------------------------------------------

    def portal(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self._portal_home)
        app.router.add_get("/n2588025/n2643314/index.html", self._gzyw)
        app.router.add_get("/n2588035/n2588320/n2588335/index.html", self._tzgg)
        app.router.add_get("/hdjl/zwzx/", self._board)
        app.router.add_get("/art/{n}.html", self._article)
        return app

    async def _portal_home(self, _: web.Request) -> web.Response:
        now = datetime.now(SHANGHAI)
        news = "".join(
            f'<li><a href="/art/{i}.html">国资委要闻{i + 1}</a>'
            f"<span>{now - timedelta(hours=3 + 20 * i):%Y-%m-%d %H:%M}</span></li>"
            for i in range(5)
        )
        links = (
            '<a href="/n2588025/n2643314/index.html">国资要闻</a> '
            '<a href="/hdjl/zwzx/">政务咨询</a>'
        )
        body = (
            f"<h1>国务院国有资产监督管理委员会（国资委）</h1><nav>{links}</nav>"
            f'<ul class="list">{news}</ul>'
        )
        return _page("国务院国有资产监督管理委员会", body)

    async def _gzyw(self, _: web.Request) -> web.Response:
        return _column("国资要闻", 15.0 if self._after(self.schedule.column_stale) else 0.5)

    async def _tzgg(self, _: web.Request) -> web.Response:
        return _column("通知公告", 30.0)

    async def _article(self, request: web.Request) -> web.Response:
        return _page("文章", f"<p>第{request.match_info['n']}篇</p>")

    async def _board(self, _: web.Request) -> web.Response:
        now = datetime.now(SHANGHAI)
        rows = [
            (now - timedelta(days=100), None),  # overdue: asked more than 90 days ago
            (now - timedelta(days=20), now - timedelta(days=12)),
            (now - timedelta(days=9), now - timedelta(days=6)),
            (now - timedelta(days=2), None),
        ]
        cells = "".join(
            f'<tr class="row"><td class="title">关于退休待遇的咨询{i + 1}</td>'
            f'<td class="asked">{asked:%Y-%m-%d}</td>'
            f'<td class="answered">{answered:%Y-%m-%d}</td></tr>'
            if answered
            else f'<tr class="row"><td class="title">关于退休待遇的咨询{i + 1}</td>'
            f'<td class="asked">{asked:%Y-%m-%d}</td><td class="answered">待回复</td></tr>'
            for i, (asked, answered) in enumerate(rows)
        )
        return _page("政务咨询", f'<table class="board">{cells}</table>')

    # -- the petrochemical retirees' bureau: a login that turns sluggish and drops sessions ----

    def petrochem(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self._bureau_home("石化离退休干部局"))
        app.router.add_get("/login.aspx", self._login_form)
        app.router.add_post("/login.aspx", self._login_submit)
        app.router.add_get("/member/index.aspx", self._member)
        app.router.add_get("/zcwj/", self._static_column("政策文件", 40.0))
        app.router.add_get("/zsk/", self._static_column("知识园地", 5.0))
        return app

    def _bureau_home(self, name: str) -> Handler:
        async def home(_: web.Request) -> web.Response:
            return _page(f"{name}网站", f"<h1>{name}</h1><p>离退休干部工作</p>")

        return home

    def _static_column(self, title: str, age_days: float) -> Handler:
        async def column(_: web.Request) -> web.Response:
            return _column(title, age_days)

        return column

    async def _login_form(self, _: web.Request) -> web.Response:
        token = secrets.token_urlsafe(12)
        self._viewstate.add(token)
        form = (
            '<form method="post" action="login.aspx">'
            f'<input type="hidden" name="__VIEWSTATE" id="__VIEWSTATE" value="{token}">'
            '<input name="username"><input name="password" type="password"></form>'
        )
        return _page("用户登录", f"<h1>用户登录</h1>{form}")

    async def _login_submit(self, request: web.Request) -> web.Response:
        form = await request.post()
        await asyncio.sleep(self.schedule.submit_delay(self.elapsed()))
        viewstate = str(form.get("__VIEWSTATE", ""))
        if (
            viewstate not in self._viewstate
            or form.get("username") != DEMO_USER
            or form.get("password") != DEMO_PASSWORD
        ):
            return _page("用户登录", "<h1>用户登录</h1><p>用户名或密码错误</p>")
        self._viewstate.discard(viewstate)
        session = secrets.token_urlsafe(16)
        self._sessions[session] = time.monotonic()
        response = _page("个人中心", "<p>欢迎，monitor</p><a href='/logout'>退出登录</a>")
        response.set_cookie("ASP.NET_SessionId", session, httponly=True)
        return response

    async def _member(self, request: web.Request) -> web.Response:
        session = request.cookies.get("ASP.NET_SessionId", "")
        made = self._sessions.get(session)
        life = self.schedule.at(self.schedule.session_life)
        dropping = self._after(self.schedule.login_sluggish)
        if made is not None and dropping and time.monotonic() - made > life:
            del self._sessions[session]  # the server forgets the session: a dropout
            made = None
        if made is None:
            raise web.HTTPFound("/login.aspx")
        return _page("个人中心", "<p>欢迎，monitor</p><a href='/logout'>退出登录</a>")

    # -- the building materials retirees' bureau: down for a minute ------------------------------

    def buildmat(self) -> web.Application:
        app = web.Application()
        home = self._bureau_home("建材离退休干部局")
        column = self._static_column("工作动态", 3.0)

        def unless_down(handler: Handler) -> Handler:
            async def serve(request: web.Request) -> web.StreamResponse:
                if self._after(self.schedule.site_down) and not self._after(
                    self.schedule.site_back
                ):
                    return web.Response(status=503, text="Service Unavailable")
                return await handler(request)

            return serve

        app.router.add_get("/", unless_down(home))
        app.router.add_get("/gzdt/", unless_down(column))
        return app

    # -- the feed bridge of the five accounts ----------------------------------------------------

    def feeds(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/wechat/{account}.xml", self._feed)
        return app

    async def _feed(self, request: web.Request) -> web.Response:
        account = request.match_info["account"]
        names = {
            "guozixiaoxin": "国资小新",
            "guozifazhi": "国资法治",
            "qingchunguozi": "青春国资",
            "guoqigaige": "国企改革",
            "guozieting": "国资e厅",
        }
        if account not in names:
            raise web.HTTPNotFound()
        silent = account == "qingchunguozi" and self._after(self.schedule.account_silent)
        newest = 15.0 if silent else 1.0
        now = datetime.now(UTC)
        items = "".join(
            f"<item><title>{names[account]}推送{i + 1}</title>"
            f"<link>http://127.0.0.1/{account}/{i}</link>"
            f"<pubDate>{now - timedelta(days=newest + 5 * i):%a, %d %b %Y %H:%M:%S +0000}</pubDate>"
            "</item>"
            for i in range(6)
        )
        rss = (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{names[account]}</title><link>http://127.0.0.1/</link>{items}</channel></rss>"
        )
        return web.Response(text=rss, content_type="application/rss+xml", charset="utf-8")

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> dict[str, str]:
        """Serve every twin on its own 127.0.0.1 port; returns their base URLs by name."""
        for name, app in (
            ("portal", self.portal()),
            ("petrochem", self.petrochem()),
            ("buildmat", self.buildmat()),
            ("feeds", self.feeds()),
        ):
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self._runners.append(runner)
            self.urls[name] = f"http://127.0.0.1:{runner.addresses[0][1]}"
        self.started = time.monotonic()
        return self.urls

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
