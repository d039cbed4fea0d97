"""A local fake of the notice's sites: columns, feeds, a login with CSRF, links, a message board.

One aiohttp app serves what the SASAC sub-sites and accounts of the notice look like, and how
they fail: column pages in UTF-8 and GBK with every date form, a blank column, an undated one,
feeds that are fresh, old, sparse or not feeds at all, a login form with a CSRF token whose
sessions the server can drop, whose login can fail (captcha, wrong password, an error page) or
be slow, a page of working and broken links, and a message board with an old unanswered
question. Dates on the pages are written relative to NOW, the time tests give the probes.

`homepage()` writes a real-looking government homepage (for the `security` probe) with what
a test injects into it, `hostile_page()` one built to crash or stall a parser.

Handles on `FakeSite` let a test change the site's behaviour while it runs
(`login_mode`, `login_delay`, `drop_sessions()`, `logged_out_as`) and see what it was asked
(`hits`).
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.typedefs import Handler

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The time every probe in these tests believes it is (ProbeContext.now).
NOW = datetime(2026, 7, 1, 12, 0, tzinfo=SHANGHAI)

USERNAME = "jiancha"
PASSWORD = "Mima-2026!secret"  # the fake site's one account; tests pass it as a secret

# Each date form of the issue, as (name, how one date is written). Year-less forms are
# inferred relative to NOW, so items stay within the last year.
DATE_FORMS: dict[str, str] = {
    "iso": "{d:%Y-%m-%d}",
    "slash": "{d.year}/{d.month}/{d.day}",
    "dot": "{d:%Y.%m.%d}",
    "chinese": "{d.year}年{d.month}月{d.day}日",
    "noyear": "[{d:%m-%d}]",
    "datetime": "{d:%Y-%m-%d %H:%M}",
    "fullwidth": "FULLWIDTH{d:%Y-%m-%d}",
}
_FULL = str.maketrans({str(i): chr(0xFF10 + i) for i in range(10)} | {"-": "－"})

LoginMode = Literal["ok", "captcha", "wrong_password", "server_error", "dropout"]
LoggedOutAs = Literal["redirect", "401", "marker_gone"]


def write_date(form: str, when: datetime) -> str:
    """`when` written in one of DATE_FORMS."""
    text = DATE_FORMS[form].format(d=when)
    if text.startswith("FULLWIDTH"):
        return text.removeprefix("FULLWIDTH").translate(_FULL)
    return text


def column_dates(newest_age_days: float, count: int = 5) -> list[datetime]:
    """Item dates of a column: the newest `newest_age_days` before NOW, then a week apart."""
    newest = NOW - timedelta(days=newest_age_days)
    return [newest - timedelta(days=7 * i) for i in range(count)]


def _page(title: str, body: str, charset: str = "utf-8", head: str = "") -> str:
    return (
        f'<!DOCTYPE html><html><head><meta charset="{charset}"><title>{title}</title>{head}'
        "</head><body>"
        '<ul class="nav"><li><a href="/">首页</a></li><li><a href="/tzgg/">通知公告</a></li>'
        '<li><a href="/zwdt/">政务动态</a></li></ul>'
        f"{body}"
        '<div class="footer">主办：国务院国有资产监督管理委员会 网站标识码 bm17000001</div>'
        "</body></html>"
    )


def column_page(form: str, dates: list[datetime], charset: str = "utf-8") -> str:
    """A column list (栏目) whose items carry dates written in `form`."""
    rows = "".join(
        f'<li><a href="/art/{i}.html" target="_blank">关于做好第{i + 1}批国有企业改革工作的通知</a>'
        f'<span class="date">{write_date(form, d)}</span></li>'
        for i, d in enumerate(dates)
    )
    return _page("通知公告", f'<ul class="list">{rows}</ul>', charset)


class FakeSite:
    """The fake site's state and its aiohttp app."""

    def __init__(self) -> None:
        self.login_mode: LoginMode = "ok"
        self.login_delay = 0.0
        self.logged_out_as: LoggedOutAs = "redirect"
        self.member_delay = 0.0
        self.sessions: set[str] = set()
        self._csrf: dict[str, str] = {}  # CSRF token issued per pre-login cookie
        self.hits: Counter[str] = Counter()
        self.base_url = ""  # set by the test once the server runs; used for absolute links
        self.other_url = ""  # a second host name for "external" links

    def drop_sessions(self) -> None:
        """Log every session out, as a restarted or misconfigured server does."""
        self.sessions.clear()

    def app(self) -> web.Application:
        app = web.Application()

        @web.middleware
        async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
            self.hits[f"{request.method} {request.path}"] += 1
            return await handler(request)

        app.middlewares.append(count)
        app.router.add_get("/column/{form}", self.column)
        app.router.add_get("/gbk/column/{form}", self.gbk_column)
        app.router.add_get("/gbk-meta/column/{form}", self.gbk_meta_column)
        app.router.add_get("/lying-charset/column/{form}", self.lying_charset_column)
        app.router.add_get("/blank", self.blank_column)
        app.router.add_get("/undated", self.undated_column)
        app.router.add_get("/pubdate", self.pubdate_article)
        app.router.add_get("/selector", self.selector_column)
        app.router.add_get("/feed/{kind}", self.feed)
        app.router.add_get("/status/{code}", self.status)
        app.router.add_get("/slow", self.slow)
        app.router.add_get("/login", self.login_form)
        app.router.add_post("/login", self.login_submit)
        app.router.add_post("/api/login", self.api_login)
        app.router.add_get("/member/home", self.member_home)
        app.router.add_get("/", self.home)
        app.router.add_get("/tzgg/", self.home)
        app.router.add_get("/zwdt/", self.home)
        app.router.add_get("/links", self.links_page)
        app.router.add_route("*", "/ok/{name}", self.ok)
        app.router.add_route("*", "/img/{name}", self.image)
        app.router.add_route("*", "/no-head", self.no_head)
        app.router.add_route("*", "/stalls", self.stalls)
        app.router.add_get("/board/{kind}", self.board)
        return app

    # --- columns ---------------------------------------------------------------------------

    async def column(self, request: web.Request) -> web.Response:
        age = float(request.query.get("age", "3"))
        text = column_page(request.match_info["form"], column_dates(age))
        return web.Response(text=text, content_type="text/html", charset="utf-8")

    async def gbk_column(self, request: web.Request) -> web.Response:
        age = float(request.query.get("age", "3"))
        text = column_page(request.match_info["form"], column_dates(age), charset="gbk")
        return web.Response(
            body=text.encode("gbk"), headers={"Content-Type": "text/html; charset=GBK"}
        )

    async def gbk_meta_column(self, request: web.Request) -> web.Response:
        """GBK, declared only in the page's <meta> (the header says nothing)."""
        age = float(request.query.get("age", "3"))
        text = column_page(request.match_info["form"], column_dates(age), charset="gb2312")
        return web.Response(body=text.encode("gbk"), headers={"Content-Type": "text/html"})

    async def lying_charset_column(self, request: web.Request) -> web.Response:
        """GBK bytes under a header that says UTF-8: the page's own meta is not consulted."""
        text = column_page(request.match_info["form"], column_dates(3), charset="utf-8")
        return web.Response(
            body=text.encode("gbk"), headers={"Content-Type": "text/html; charset=utf-8"}
        )

    async def blank_column(self, request: web.Request) -> web.Response:
        body = '<ul class="list"></ul><div class="empty">暂无信息</div>'
        return web.Response(text=_page("政策文件", body), content_type="text/html")

    async def undated_column(self, request: web.Request) -> web.Response:
        rows = "".join(f'<li><a href="/art/{i}.html">工作动态第{i}期</a></li>' for i in range(4))
        return web.Response(
            text=_page("工作动态", f'<ul class="list">{rows}</ul>'), content_type="text/html"
        )

    async def pubdate_article(self, request: web.Request) -> web.Response:
        age = float(request.query.get("age", "2"))
        when = NOW - timedelta(days=age)
        head = f'<meta name="PubDate" content="{when:%Y-%m-%d %H:%M}">'
        body = '<div class="article"><h1>国资委召开会议</h1><p>会议指出……</p></div>'
        return web.Response(text=_page("要闻", body, head=head), content_type="text/html")

    async def selector_column(self, request: web.Request) -> web.Response:
        """Dates only in an attribute, in a form the scan does not know (2026年第182天 ...)."""
        age = float(request.query.get("age", "5"))
        rows = "".join(
            f'<div class="item"><a href="/art/{i}.html">标题{i}</a>'
            f'<em data-published="发布于{d:%d/%m/%Y}"></em></div>'
            for i, d in enumerate(column_dates(age, 3))
        )
        return web.Response(text=_page("要闻", rows), content_type="text/html")

    # --- feeds -----------------------------------------------------------------------------

    async def feed(self, request: web.Request) -> web.Response:
        kind = request.match_info["kind"]
        if kind == "notafeed":
            return web.Response(text=_page("维护中", "<p>系统维护中</p>"), content_type="text/html")
        if kind == "json":
            items = ",".join(
                f'{{"id": "{i}", "title": "第{i}篇", "date_published": "{d.isoformat()}"}}'
                for i, d in enumerate(column_dates(2))
            )
            body = f'{{"version": "https://jsonfeed.org/version/1.1", "title": "国资小新", "items": [{items}]}}'
            return web.Response(text=body, content_type="application/feed+json")
        if kind == "atom":
            entries = "".join(
                f"<entry><title>第{i}篇</title><id>urn:{i}</id>"
                f"<updated>{d.isoformat()}</updated></entry>"
                for i, d in enumerate(column_dates(1))
            )
            body = (
                '<?xml version="1.0" encoding="utf-8"?>'
                '<feed xmlns="http://www.w3.org/2005/Atom"><title>国资法治</title>'
                f"<updated>{NOW.isoformat()}</updated><id>urn:feed</id>{entries}</feed>"
            )
            return web.Response(text=body, content_type="application/atom+xml")
        dates = {
            "fresh": column_dates(1),
            "old": column_dates(40),  # 青春国资: not updated in time
            "sparse": [NOW - timedelta(days=d) for d in (2, 12, 25, 50, 90)],  # 国资e厅
            "empty": [],
            "undated": None,
        }[kind]
        if dates is None:
            items = "<item><title>无日期</title><link>https://x/1</link></item>" * 3
        else:
            # RSSHub writes RFC 822 dates; one bridge writes local time without a zone.
            items = "".join(
                f"<item><title>第{i}篇</title><link>https://gzxx.test/{i}</link>"
                f"<pubDate>{_rfc822(d) if i % 2 == 0 else f'{d:%Y-%m-%d %H:%M:%S}'}</pubDate>"
                "</item>"
                for i, d in enumerate(dates)
            )
        body = (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>国资e厅</title><lastBuildDate>{_rfc822(NOW)}</lastBuildDate>{items}"
            "</channel></rss>"
        )
        return web.Response(text=body, content_type="application/rss+xml")

    # --- plain failures --------------------------------------------------------------------

    async def status(self, request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="error")

    async def slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("delay", "5")))
        return web.Response(text="late", content_type="text/html")

    # --- login -----------------------------------------------------------------------------

    async def login_form(self, request: web.Request) -> web.Response:
        token = secrets.token_urlsafe(16)
        pre = secrets.token_hex(8)
        self._csrf[pre] = token
        form = (
            '<form method="post" action="/login">'
            f'<input type="hidden" name="csrf_token" value="{token}">'
            '<input type="hidden" name="__VIEWSTATE" id="__VIEWSTATE" value="dDwtMTA4NzA2;ODc=">'
            '<input name="username"><input type="password" name="password">'
            '<button type="submit">登录</button></form>'
        )
        response = web.Response(text=_page("用户登录", form), content_type="text/html")
        response.set_cookie("pre", pre, httponly=True)
        return response

    async def login_submit(self, request: web.Request) -> web.StreamResponse:
        if self.login_delay:
            await asyncio.sleep(self.login_delay)
        form = await request.post()
        if self.login_mode == "dropout":
            # Headers and part of the body, then the connection is cut: 延时掉线.
            response = web.StreamResponse(headers={"Content-Length": "4096"})
            response.content_type = "text/html"
            await response.prepare(request)
            await response.write(b"<html><body>")
            assert request.transport is not None
            request.transport.abort()
            return response
        if self.login_mode == "server_error":
            return web.Response(status=502, text="Bad Gateway")
        expected = self._csrf.get(request.cookies.get("pre", ""))
        if expected is None or form.get("csrf_token") != expected:
            body = '<div class="error">页面已过期，请刷新后重新登录</div>'
            return web.Response(text=_page("用户登录", body), content_type="text/html")
        if self.login_mode == "captcha":
            body = '<p>请输入验证码</p><img src="/captcha.jpg"><form method="post"></form>'
            return web.Response(text=_page("用户登录", body), content_type="text/html")
        if (
            self.login_mode == "wrong_password"
            or form.get("username") != USERNAME
            or form.get("password") != PASSWORD
            or form.get("__VIEWSTATE") != "dDwtMTA4NzA2;ODc="
        ):
            body = '<div class="error">用户名或密码错误</div><form method="post"></form>'
            return web.Response(text=_page("用户登录", body), content_type="text/html")
        sid = secrets.token_hex(16)
        self.sessions.add(sid)
        response = web.HTTPFound("/member/home")
        response.set_cookie("sid", sid, httponly=True)
        raise response

    async def api_login(self, request: web.Request) -> web.Response:
        """A JSON login (newer sites): the CSRF token from the form page goes in the body."""
        try:
            sent = await request.json()
        except ValueError:
            return web.json_response({"ok": False, "msg": "请求格式错误"}, status=400)
        expected = self._csrf.get(request.cookies.get("pre", ""))
        if not isinstance(sent, dict) or expected is None or sent.get("csrf") != expected:
            return web.json_response({"ok": False, "msg": "页面已过期"})
        account = sent.get("account") or {}
        if account.get("user") != USERNAME or account.get("pass") != PASSWORD:
            return web.json_response({"ok": False, "msg": "用户名或密码错误"})
        sid = secrets.token_hex(16)
        self.sessions.add(sid)
        response = web.json_response({"ok": True, "msg": "登录成功"})
        response.set_cookie("sid", sid, httponly=True)
        return response

    async def member_home(self, request: web.Request) -> web.Response:
        if self.member_delay:
            await asyncio.sleep(self.member_delay)
        if request.cookies.get("sid") in self.sessions:
            body = f'<div class="user">欢迎您，{USERNAME} <a href="/logout">退出登录</a></div>'
            return web.Response(text=_page("个人中心", body), content_type="text/html")
        if self.logged_out_as == "401":
            return web.Response(status=401, text="请先登录")
        if self.logged_out_as == "marker_gone":
            body = '<div class="user">您好，游客 <a href="/login">登录</a></div>'
            return web.Response(text=_page("个人中心", body), content_type="text/html")
        raise web.HTTPFound("/login?next=/member/home")

    # --- links -----------------------------------------------------------------------------

    async def home(self, request: web.Request) -> web.Response:
        return web.Response(text=_page("首页", "<p>欢迎</p>"), content_type="text/html")

    async def links_page(self, request: web.Request) -> web.Response:
        body = (
            '<ul class="list">'
            '<li><a href="/ok/a.html">工作动态</a></li>'
            '<li><a href="ok/b.html">相对链接</a></li>'
            '<li><a href="/ok/a.html#top">同一页面</a></li>'
            '<li><a href="/ok/missing.html?x=1">已删除的文件</a></li>'
            '<li><a href="/no-head">不支持HEAD</a></li>'
            f'<li><a href="{self.other_url}/ok/friend.html">友情链接</a></li>'
            f'<li><a href="{self.other_url}/ok/gone.html">失效的友情链接</a></li>'
            '<li><a href="mailto:web@sasac.gov.cn">联系我们</a></li>'
            '<li><a href="javascript:void(0)">打印</a></li>'
            '<li><a href="#">返回顶部</a></li>'
            "</ul>"
            '<img src="/img/logo.png"><img src="/img/missing.png">'
            '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
        )
        if "slow" in request.query:
            body += '<a href="/stalls">很慢的链接</a>'
        if "base" in request.query:
            body = '<base href="/ok/">' + body
        return web.Response(text=_page("链接", body), content_type="text/html")

    async def ok(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if "missing" in name:
            raise web.HTTPNotFound()
        if "gone" in name:
            raise web.HTTPGone()
        return web.Response(text="ok", content_type="text/html")

    async def image(self, request: web.Request) -> web.Response:
        if "missing" in request.match_info["name"]:
            raise web.HTTPNotFound()
        return web.Response(body=b"\x89PNG\r\n\x1a\n", content_type="image/png")

    async def no_head(self, request: web.Request) -> web.Response:
        """Answers GET, refuses HEAD, as many government CMSes do."""
        if request.method == "HEAD":
            raise web.HTTPMethodNotAllowed("HEAD", ["GET"])
        return web.Response(text="ok", content_type="text/html")

    async def stalls(self, request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="late")

    # --- message board ---------------------------------------------------------------------

    async def board(self, request: web.Request) -> web.Response:
        """A 政务咨询 list: asked date, status, answered date."""
        kind = request.match_info["kind"]
        rows: list[tuple[int, int | None]] = [(30, 25), (20, 12), (10, 9), (5, None)]
        if kind == "old":
            rows.append((120, None))  # asked four months ago, never answered
        if kind == "empty":
            rows = []
        html = "".join(
            f'<tr class="row"><td><a href="/q/{i}">关于退休待遇的咨询{i}</a></td>'
            f'<td class="asked">{NOW - timedelta(days=asked):%Y-%m-%d}</td>'
            f'<td class="state">{"已回复" if answered is not None else "未回复"}</td>'
            f'<td class="answered">{"" if answered is None else f"{NOW - timedelta(days=answered):%Y-%m-%d}"}</td></tr>'
            for i, (asked, answered) in enumerate(rows)
        )
        table = f'<table class="board"><tr><th>标题</th><th>时间</th><th>状态</th><th>答复</th></tr>{html}</table>'
        return web.Response(text=_page("政务咨询", table), content_type="text/html")


def _rfc822(when: datetime) -> str:
    return when.strftime("%a, %d %b %Y %H:%M:%S %z")


# A news headline pool; day d shows items d..d+n of it, so the list changes every day.
_HEADLINES = [
    f"国务院国资委召开{topic}工作会议（第{i}期）"
    for i in range(60)
    for topic in ("中央企业改革", "安全生产", "科技创新")
]


def homepage(day: int = 0, inject: str = "", head: str = "", body_attrs: str = "") -> str:
    """A real-looking homepage: header, navigation, a news list that changes with `day`,
    friendly links, footer; the honest traps of real sites included (a hidden dropdown menu
    of the site's own columns, news about fighting gambling, white text on a dark band, an
    internal search redirect, a link to another government site, the site's own scripts)."""
    when = NOW - timedelta(days=day)
    count = 8 + day % 5
    news = "".join(
        f'<li><a href="/art/{day}-{i}.html">{_HEADLINES[(day * 3 + i) % len(_HEADLINES)]}</a>'
        f'<span class="date">{(when - timedelta(days=i)):%Y-%m-%d}</span></li>'
        for i in range(count)
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        "<title>国务院国有资产监督管理委员会</title>"
        '<script src="/js/jquery.min.js"></script>'
        "<style>.drop{display:none} .band{background:#003366} .hot{color:#c00}</style>"
        f"{head}</head><body{body_attrs}>"
        '<div id="header" class="header"><img src="/img/logo.png" alt="国资委">'
        '<form action="/search"><input name="q"></form></div>'
        '<ul class="nav" id="nav"><li><a href="/">首页</a></li>'
        '<li><a href="/zwgk/">政务公开</a><ul class="drop"><li><a href="/zwgk/tzgg/">通知公告</a>'
        '</li><li><a href="/zwgk/zcfg/">政策法规</a></li></ul></li>'
        '<li><a href="/zwdt/">政务动态</a></li><li><a href="/hdjl/">互动交流</a></li></ul>'
        '<div class="main"><div class="news" id="news"><h2>要闻动态</h2>'
        f'<ul class="list">{news}</ul></div>'
        '<div class="notice"><h2>通知公告</h2><ul><li><a href="/art/dbd.html">'
        "关于开展打击网络赌博专项行动的通知</a></li></ul></div></div>"
        '<div class="band"><a href="/zt/" style="color:#ffffff">专题专栏</a></div>'
        '<div class="links"><h2>友情链接</h2><a href="http://www.gov.cn/">中国政府网</a> '
        '<a href="https://www.sasac.gov.cn/n2588020/">国资小新</a></div>'
        f"{inject}"
        '<div id="footer" class="footer">主办：国务院国有资产监督管理委员会 '
        "网站标识码 bm17000001 京ICP备05083339号</div>"
        '<script>function go(){window.location.href="/search?q="+encodeURIComponent(q);}'
        "</script></body></html>"
    )


def hostile_page() -> bytes:
    """A page built to crash or stall a parser: 200 000 unclosed elements, 30 000 hidden
    links, an unterminated document.write, braces-only CSS, lone surrogates and bad bytes."""
    parts = [
        "<html><head><style>" + "{" * 200_000 + ".a{display:none" + "}" * 100_000 + "</style>",
        "<script>" + "document.write('" + "x" * 500_000 + "</script>",
        "<script>" + "document.write(" * 50_000 + "</script>",
        "<script>" + "location.href='" * 20_000 + "</script>",
        "</head><body>",
        '<div style="display:none">' + '<a href="http://h.test/">博彩</a>' * 30_000 + "</div>",
        "<div>" * 200_000,
        "<marquee height=0>" * 5_000,
    ]
    return "".join(parts).encode("utf-8") + b"\xff\xfe\xed\xa0\x80 \x00 end"
