"""The `login` probe against the fake site: a CSRF form login, its failures, its kept session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from yarl import URL

from monitor.config import ConfigError, load_config, parse_config
from monitor.probes.base import ProbeContext
from monitor.probes.login import (
    STATE_KEY,
    KeptSession,
    LoginCheck,
    is_login_page,
    probe,
)
from monitor.results import Outcome, ProbeResult
from tests.fakeclock import WallClock
from tests.fakesite import PASSWORD, USERNAME, FakeSite


def steps(site: str, **submit: Any) -> list[dict[str, Any]]:
    """The fake site's two-step login: read the CSRF token and __VIEWSTATE, post the form."""
    return [
        {
            "name": "form",
            "url": f"{site}/login",
            "extract": {
                "csrf": {"selector": "input[name=csrf_token]", "attribute": "value"},
                "viewstate": {"regex": 'id="__VIEWSTATE" value="([^"]*)"'},
            },
            "expect": {"body_contains": ["用户登录"]},
        },
        {
            "name": "submit",
            "url": "/login",
            "form": {
                "username": USERNAME,
                "password": PASSWORD,
                "csrf_token": "{csrf}",
                "__VIEWSTATE": "{viewstate}",
            },
            "expect": {
                "body_contains": ["退出登录"],
                "body_not_contains": ["验证码"],
                "url_not_contains": ["/login"],
                "error_selector": ".error",
            },
        }
        | submit,
    ]


def login_check(site: str, **settings: Any) -> LoginCheck:
    raw = {"id": "login", "site": "petrochem", "interval": 300, "timeout": 3, "steps": steps(site)}
    return LoginCheck.model_validate(raw | settings)


def session_check(site: str, **session: Any) -> LoginCheck:
    return login_check(
        site,
        session={"url": f"{site}/member/home", "marker": "退出登录", "max_age": "8h"} | session,
    )


def assert_no_secrets(result: ProbeResult) -> None:
    text = json.dumps(result.to_json(), ensure_ascii=False, default=str)
    assert PASSWORD not in text


async def test_login_succeeds_with_csrf_and_viewstate(
    site: str, ctx: ProbeContext, fake: FakeSite
) -> None:
    """The flow reads the token and view state, posts them with the credentials, ends logged in."""
    result = await probe(login_check(site), ctx)
    assert result.outcome is Outcome.OK, result.detail
    assert [s.name for s in result.steps] == ["form", "submit"]
    assert all(s.outcome is Outcome.OK for s in result.steps)
    assert result.detail.startswith("logged in in ")
    assert result.status_code == 200
    assert len(fake.sessions) == 1
    assert_no_secrets(result)
    assert STATE_KEY not in ctx.state(login_check(site))  # no session: block, nothing kept


async def test_without_the_csrf_token_the_site_refuses(site: str, ctx: ProbeContext) -> None:
    """Posting without the extracted token fails with the site's own words (CSRF really checked)."""
    flow = steps(site)
    del flow[1]["form"]["csrf_token"]
    result = await probe(login_check(site, steps=flow), ctx)
    assert result.outcome is Outcome.LOGIN_FAILED
    assert result.detail == "step submit: the site says '页面已过期，请刷新后重新登录'"


async def test_wrong_password(site: str, ctx: ProbeContext, fake: FakeSite) -> None:
    """Refused credentials are `login_failed`, naming the step and quoting the error banner."""
    fake.login_mode = "wrong_password"
    result = await probe(login_check(site), ctx)
    assert result.outcome is Outcome.LOGIN_FAILED
    assert result.detail == "step submit: the site says '用户名或密码错误'"
    assert [s.outcome for s in result.steps] == [Outcome.OK, Outcome.LOGIN_FAILED]
    assert_no_secrets(result)


async def test_captcha_page(site: str, ctx: ProbeContext, fake: FakeSite) -> None:
    """A captcha page after the post is `login_failed`: the page shows 验证码."""
    fake.login_mode = "captcha"
    result = await probe(login_check(site), ctx)
    assert result.outcome is Outcome.LOGIN_FAILED
    assert result.detail == "step submit: the page shows '验证码'"


async def test_missing_token_on_the_form(site: str, ctx: ProbeContext) -> None:
    """A form page without the CSRF field (an error page instead) fails at the extract."""
    flow = steps(site)
    flow[0]["url"] = f"{site}/column/iso"
    flow[0]["expect"] = {}
    result = await probe(login_check(site, steps=flow), ctx)
    assert result.outcome is Outcome.LOGIN_FAILED
    assert result.detail == (
        "step form: no csrf on the page (selector 'input[name=csrf_token]', attribute 'value')"
    )


async def test_server_error_is_http_error(site: str, ctx: ProbeContext, fake: FakeSite) -> None:
    """A 502 from the login post is the step's transport outcome, `http_error`, not a login failure."""
    fake.login_mode = "server_error"
    result = await probe(login_check(site), ctx)
    assert result.outcome is Outcome.HTTP_ERROR
    assert result.detail == "step submit: status 502, expected 2xx"
    assert result.status_code == 502


async def test_dropped_connection_is_dropout(site: str, ctx: ProbeContext, fake: FakeSite) -> None:
    """The connection cut mid-answer at login (延时掉线) is `dropout`."""
    fake.login_mode = "dropout"
    result = await probe(login_check(site), ctx)
    assert result.outcome is Outcome.DROPOUT
    assert result.detail.startswith("step submit: ")
    assert result.steps[-1].outcome is Outcome.DROPOUT


async def test_slow_login_is_latency_not_failure(
    site: str, ctx: ProbeContext, fake: FakeSite
) -> None:
    """A login that takes 0.5 s is `ok`, and the slowness shows in the submit step's duration."""
    fake.login_delay = 0.5
    result = await probe(login_check(site), ctx)
    assert result.outcome is Outcome.OK
    assert result.steps[1].duration_seconds >= 0.5


async def test_a_login_past_the_slow_threshold_is_counted_slow(
    site: str, ctx: ProbeContext, fake: FakeSite
) -> None:
    """A 0.5 s submit is `ok` but slow past a 300 ms flow or step threshold, not past 10 s."""
    fake.login_delay = 0.5
    default = await probe(login_check(site), ctx)
    assert default.outcome is Outcome.OK
    assert default.measurement.slow_login is False
    assert default.measurement.slow_login_threshold_seconds == 10.0
    assert default.measurement.login_seconds == sum(s.duration_seconds for s in default.steps)
    flow = await probe(login_check(site, slow="300ms"), ctx)
    assert (flow.outcome, flow.measurement.slow_login) == (Outcome.OK, True)
    assert flow.measurement.slow_steps is None
    assert "slow (over 0.3 s" in flow.detail
    step = await probe(login_check(site, steps=steps(site, slow="300ms")), ctx)
    assert (step.outcome, step.measurement.slow_login, step.measurement.slow_steps) == (
        Outcome.OK,
        True,
        ("submit",),
    )


async def test_a_failed_login_records_no_login_time(site: str, ctx: ProbeContext) -> None:
    """Only a login that succeeded has a login time: a failure is counted as a failure."""
    result = await probe(login_check(site, steps=steps(site, form={"username": "x"})), ctx)
    assert result.outcome is Outcome.LOGIN_FAILED
    assert result.measurement is None  # no login time, no slow_login


async def test_a_step_past_its_own_timeout(site: str, ctx: ProbeContext, fake: FakeSite) -> None:
    """A submit step slower than its own `timeout` is `timeout`, naming the step."""
    fake.login_delay = 2
    flow = steps(site, timeout="200ms")
    result = await probe(login_check(site, steps=flow), ctx)
    assert result.outcome is Outcome.TIMEOUT
    assert result.detail.startswith("step submit: timeout after 0.2s")
    assert [s.outcome for s in result.steps] == [Outcome.OK, Outcome.TIMEOUT]


async def test_json_login(site: str, ctx: ProbeContext) -> None:
    """A JSON body with nested `{name}`s and the password, judged on the JSON answer."""
    flow = steps(site)
    flow[1] = {
        "name": "api",
        "url": "/api/login",
        "json": {"csrf": "{csrf}", "account": {"user": USERNAME, "pass": PASSWORD}},
        "expect": {"body_contains": ['"ok": true']},
    }
    assert (await probe(login_check(site, steps=flow), ctx)).outcome is Outcome.OK
    flow[1]["json"] = {"csrf": "{csrf}", "account": {"user": USERNAME, "pass": "wrong"}}
    failed = await probe(login_check(site, steps=flow), ctx)
    assert failed.outcome is Outcome.LOGIN_FAILED
    assert failed.detail == "step api: '\"ok\": true' not on the page"


async def test_session_kept_checked_and_dropped(
    site: str, ctx: ProbeContext, fake: FakeSite, clock: WallClock
) -> None:
    """Log in, find the session alive, lose it to the server: `session_dropped` with its
    lifetime; the next probe logs in afresh."""
    check = session_check(site)
    first = await probe(check, ctx)
    assert first.outcome is Outcome.OK
    assert [s.name for s in first.steps] == ["form", "submit"]

    clock.advance(minutes=5)
    alive = await probe(check, ctx)
    assert alive.outcome is Outcome.OK
    assert [s.name for s in alive.steps] == ["session"]
    assert alive.detail == "session alive after 5 min"
    assert alive.measurement.session_age_seconds == 300

    clock.advance(hours=2)
    fake.drop_sessions()
    dropped = await probe(check, ctx)
    assert dropped.outcome is Outcome.SESSION_DROPPED
    assert dropped.measurement.session_lifetime_seconds == 7500
    assert dropped.detail.startswith("session logged out after 2.1 h: redirected to the login page")
    assert STATE_KEY not in ctx.state(check)

    again = await probe(check, ctx)
    assert again.outcome is Outcome.OK
    assert [s.name for s in again.steps] == ["form", "submit"]


@pytest.mark.parametrize(
    ("logged_out_as", "why"), [("401", "status 401"), ("marker_gone", "'退出登录' gone")]
)
async def test_other_signs_of_a_dropped_session(
    site: str, ctx: ProbeContext, fake: FakeSite, logged_out_as: Any, why: str
) -> None:
    """A 401 and a page without the logged-in marker are dropouts too."""
    fake.logged_out_as = logged_out_as
    check = session_check(site)
    assert (await probe(check, ctx)).outcome is Outcome.OK
    fake.drop_sessions()
    dropped = await probe(check, ctx)
    assert dropped.outcome is Outcome.SESSION_DROPPED
    assert why in dropped.detail


async def test_session_at_max_age_is_renewed_not_dropped(
    site: str, ctx: ProbeContext, fake: FakeSite, clock: WallClock
) -> None:
    """At `session.max_age` the session is replaced by a fresh login: expected, `ok`."""
    check = session_check(site, max_age="1h")
    assert (await probe(check, ctx)).outcome is Outcome.OK
    clock.advance(hours=1)
    fake.drop_sessions()  # would be a dropout if checked; at max_age it is not checked
    renewed = await probe(check, ctx)
    assert renewed.outcome is Outcome.OK
    assert renewed.detail.startswith("session reached max_age after 1.0 h; logged in afresh: ")
    assert [s.name for s in renewed.steps] == ["form", "submit"]
    kept = ctx.state(check)[STATE_KEY]
    assert isinstance(kept, KeptSession) and kept.logged_in_at == clock.now


async def test_a_slow_session_check_keeps_the_session(
    site: str, ctx: ProbeContext, fake: FakeSite
) -> None:
    """A timeout on the members-only page says nothing of the session: kept, alive next time."""
    check = session_check(site, timeout="200ms")
    assert (await probe(check, ctx)).outcome is Outcome.OK
    fake.member_delay = 2
    slow = await probe(check, ctx)
    assert slow.outcome is Outcome.TIMEOUT
    assert slow.detail.startswith("session check: timeout")
    fake.member_delay = 0
    assert (await probe(check, ctx)).detail.startswith("session alive")


async def test_a_failed_login_keeps_no_session(
    site: str, ctx: ProbeContext, fake: FakeSite
) -> None:
    """After a failed login there is no session to check: the next probe logs in again."""
    check = session_check(site)
    fake.login_mode = "captcha"
    assert (await probe(check, ctx)).outcome is Outcome.LOGIN_FAILED
    assert STATE_KEY not in ctx.state(check)
    fake.login_mode = "ok"
    assert [s.name for s in (await probe(check, ctx)).steps] == ["form", "submit"]


def config(check: dict[str, Any]) -> dict[str, Any]:
    base = {"id": "login", "type": "login", "steps": steps("https://a.gov.cn")}
    return {"sites": [{"id": "petrochem", "checks": [base | check]}]}


def test_session_interval_is_the_check_interval() -> None:
    """`session.interval` sets how often the check (and so the session check) runs."""
    loaded = parse_config(config({"session": {"url": "https://a.gov.cn/m", "interval": "2m"}}))
    (check,) = loaded.checks()
    assert check.interval_s == 120
    with pytest.raises(ConfigError, match=r"session\.interval is the check's interval"):
        parse_config(
            config({"interval": "5m", "session": {"url": "https://a.gov.cn/m", "interval": "2m"}})
        )


def test_unknown_placeholder_is_a_config_error_without_the_secret() -> None:
    """A `{name}` no earlier step extracts is refused, and the message does not echo the value."""
    flow = steps("https://a.gov.cn")
    flow[1]["form"]["password"] = "pw-{csrff}-" + PASSWORD
    with pytest.raises(ConfigError) as error:
        parse_config(
            {"sites": [{"id": "p", "checks": [{"id": "l", "type": "login", "steps": flow}]}]}
        )
    message = str(error.value)
    assert "steps[1].form.password uses a {name} no earlier step extracts" in message
    assert "known: csrf, viewstate" in message
    assert PASSWORD not in message and "csrff" not in message


def test_last_step_must_prove_the_login() -> None:
    """A flow whose last step expects nothing cannot tell logged in from not: config error."""
    flow = steps("https://a.gov.cn")
    flow[1]["expect"] = {"status": [200]}
    with pytest.raises(ConfigError, match="needs a sign of being logged in"):
        parse_config(
            {"sites": [{"id": "p", "checks": [{"id": "l", "type": "login", "steps": flow}]}]}
        )


def test_secrets_stay_secret_in_the_model() -> None:
    """The password is a SecretStr: not in the check's repr or its dump."""
    check = login_check("https://a.gov.cn")
    assert PASSWORD not in repr(check)
    assert PASSWORD not in str(check.model_dump())


def test_example_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """examples/checks-login.yaml loads: every key it documents is a real key."""
    monkeypatch.setenv("PETRO_MONITOR_PASSWORD", PASSWORD)
    monkeypatch.setenv("BUILDMAT_MONITOR_PASSWORD", PASSWORD)
    config = load_config(Path(__file__).parent.parent / "examples" / "checks-login.yaml")
    assert {check.type for check in config.checks()} == {"login"}


# --- the session check against an ASP.NET-style site ----------------------------------------


class AspNetSite:
    """A site whose paths are case-insensitive, as on IIS: `/Login.aspx` logs in, the member
    page needs the cookie, and a dropped session is sent to `/Login.aspx` or shown the form."""

    def __init__(self) -> None:
        self.sessions: set[str] = set()
        self.form_in_place = False  # show the login form at the member page, no redirect

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path.lower()
        form = '<form method="post" action="Login.aspx"><input type="password" name="pw"></form>'
        if path == "/login.aspx" and request.method == "POST":
            sid = f"s{len(self.sessions) + 1}"
            self.sessions.add(sid)
            response = web.Response(text="<a>退出</a>", content_type="text/html")
            response.set_cookie("ASP.NET_SessionId", sid)
            return response
        if path == "/login.aspx":
            return web.Response(text=form, content_type="text/html")
        if path == "/member/default.aspx":
            if request.cookies.get("ASP.NET_SessionId") in self.sessions:
                return web.Response(text="<p>个人中心</p>", content_type="text/html")
            if self.form_in_place:
                return web.Response(text=form, content_type="text/html")
            raise web.HTTPFound("/Login.aspx?ReturnUrl=%2fMember%2fDefault.aspx")
        raise web.HTTPNotFound()


def aspnet_check(base: str) -> LoginCheck:
    """A session check written in lower case, as a person types it, with no `marker`."""
    return LoginCheck.model_validate(
        {
            "id": "oa", "site": "petrochem", "interval": 300, "timeout": 3,
            "steps": [
                {"name": "form", "url": f"{base}/login.aspx"},
                {"name": "submit", "url": "/login.aspx", "form": {"pw": PASSWORD},
                 "expect": {"body_contains": ["退出"]}},
            ],
            "session": {"url": f"{base}/member/default.aspx", "login_url": "/login.aspx"},
        }
    )  # fmt: skip


@pytest.mark.parametrize("form_in_place", [False, True], ids=["redirect", "form in place"])
async def test_an_aspnet_session_sent_to_its_login_page_in_other_case_is_dropped(
    serve: Any, ctx: ProbeContext, form_in_place: bool
) -> None:
    """Redirected to `/Login.aspx` (config: `/login.aspx`), or shown the login form in place:
    either is `session_dropped`, without a marker."""
    fake = AspNetSite()
    fake.form_in_place = form_in_place
    check = aspnet_check(await serve(fake.app()))
    assert (await probe(check, ctx)).outcome is Outcome.OK  # logged in
    alive = await probe(check, ctx)
    assert alive.outcome is Outcome.OK and alive.detail.startswith("session alive")
    fake.sessions.clear()
    dropped = await probe(check, ctx)
    assert dropped.outcome is Outcome.SESSION_DROPPED, dropped.detail
    why = "a login form" if form_in_place else "redirected to the login page"
    assert why in dropped.detail


@pytest.mark.parametrize(
    ("seen", "same"),
    [
        ("https://OA.Example.gov.cn/Login.aspx?ReturnUrl=%2f", True),
        ("http://oa.example.gov.cn:8080/LOGIN.ASPX/", True),
        ("http://oa.example.gov.cn/%4Cogin.aspx", True),
        ("http://oa.example.gov.cn./login.aspx", True),
        ("http://sso.example.gov.cn/login.aspx", False),
        ("http://oa.example.gov.cn/member/login.aspx", False),
        ("http://oa.example.gov.cn/login.aspx.bak", False),
    ],
)
def test_the_login_page_is_known_by_host_and_path_in_any_case(seen: str, same: bool) -> None:
    """Host and path compare case-insensitively; scheme, port, encoding, a trailing slash do not count."""
    assert is_login_page(seen, URL("http://oa.example.gov.cn/login.aspx")) is same
