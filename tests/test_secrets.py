"""Secrets never leave the process: one redactor knows every `${...}` value and secret field,
in every form a site may echo it; every output of the real programs is searched for them."""

from __future__ import annotations

import html
import json
import logging
import re
import sys
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from monitor.cli import main
from monitor.config import ConfigError, parse_config
from monitor.logs import configure_logging
from monitor.measurements import LoginMeasurement
from monitor.redact import MASK, Redactor
from monitor.redact import SECRETS as REDACTOR
from monitor.results import Outcome, ProbeResult, StepResult
from tests.poll import wait_until
from tests.service import run_cli
from tests.stack import free_port, process_group

# One secret per kind of config field, each with characters that every encoding changes.
SECRETS = {
    "S_HEADER": 'hdr-7Kq9 x&y<z>"w',
    "S_BODY": "body-3Rf8 p&q=r/s",
    "S_QUERY": "qry-5Tz2 a/b+c~d",
    "S_PASSWORD": "Pw-9Lm4!密码&x y",
    "S_FORBIDDEN": "exp-2Wd6 <forbidden>",
    "S_REGEX": "rx-8Hj3-never-there",
    "S_STATUS": "status-6Yb1-secret",
    "S_DB": "db-4Nc7 pa:ss@w/rd",
}


def forms(secret: str) -> set[str]:
    """The ways a secret may be written in an output: as is, URL-encoded, HTML-escaped, JSON."""
    return {
        secret,
        quote(secret),
        quote(secret, safe=""),
        quote_plus(secret),
        html.escape(secret),
        html.escape(secret, quote=False),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        str(URL.build(path="/", query={"a": secret}).raw_query_string)[2:],
    }


def leaks(text: str) -> list[str]:
    """Every form of every planted secret found in `text`."""
    return [
        f"{name} as {form!r}"
        for name, secret in SECRETS.items()
        for form in forms(secret)
        if form in text
    ]


# -- the redactor -------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", list(SECRETS.values()))
def test_every_form_of_a_secret_is_masked(secret: str) -> None:
    """Raw, percent-encoded (quote, quote_plus, yarl's query, lower-case hex), HTML-, JSON- and
    CSV-escaped forms of a registered secret all become ***, amid other text."""
    redactor = Redactor()
    redactor.register(secret)
    lower_hex = re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(secret))
    written = forms(secret) | {lower_hex, secret.replace('"', '""')}
    for form in written:
        assert redactor.scrub(f"seen: {form}; end") == f"seen: {MASK}; end", form


def test_short_values_are_not_secrets_and_url_passwords_are() -> None:
    """A value under four characters is not masked (it would garble all text); a URL's password
    is masked on its own, as written and decoded."""
    redactor = Redactor()
    redactor.register("abc", "postgresql://monitor:p%40ss-wd@db/monitor")
    assert redactor.scrub("abc p@ss-wd p%40ss-wd") == f"abc {MASK} {MASK}"
    assert "abc" not in redactor


def test_a_secret_holding_another_is_masked_whole() -> None:
    """With `Bearer tok-1234` and `tok-1234` both registered, the header is masked as one."""
    redactor = Redactor()
    redactor.register("tok-1234", "Bearer tok-1234")
    assert redactor.scrub("Authorization: Bearer tok-1234") == f"Authorization: {MASK}"


# -- where secrets come from, and the exits that scrub them ----------------------------------


def test_substituted_values_and_secret_fields_are_registered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`${VAR}` values (not their defaults, not the location) and secret fields (headers, body,
    a login form's password, the database URL's password) are masked in a result's detail,
    steps and extra; a login form's user name is not."""
    monkeypatch.setenv("TOKEN", "tok-from-env")
    monkeypatch.setenv("WHERE", "beijing-1")
    parse_config(
        {
            "location": "${WHERE}",
            "storage": {"database_url": "postgresql://monitor:db-pass-1@db/monitor"},
            "sites": [
                {
                    "id": "a",
                    "checks": [
                        {
                            "id": "h",
                            "type": "http",
                            "url": "http://x.gov.cn/?auth=${TOKEN}&v=${UNSET:-plain-default}",
                            "headers": {"X-Key": "literal-header-secret"},
                            "body": "literal-body-secret",
                        },
                        {
                            "id": "l",
                            "type": "login",
                            "steps": [
                                {
                                    "name": "submit",
                                    "url": "http://x.gov.cn/login",
                                    "form": {"username": "monitor", "password": "form-pass-1"},
                                    "expect": {"body_contains": ["ok"]},
                                }
                            ],
                        },
                    ],
                }
            ],
        }
    )
    said = (
        "tok-from-env literal-header-secret literal-body-secret form-pass-1 db-pass-1 "
        "monitor plain-default beijing-1"
    )
    result = ProbeResult(
        site="a",
        check="h",
        type="http",
        outcome=Outcome.CONTENT_MISMATCH,
        started_at=datetime(2026, 7, 1, tzinfo=UTC),
        duration_seconds=0.1,
        detail=said,
        steps=(StepResult("submit", 0.1, Outcome.LOGIN_FAILED, said),),
        broken_links=(f"http://x.gov.cn/?t={quote('tok-from-env')}",),
        measurement=LoginMeasurement(slow_steps=(said,)),
    )
    masked = f"{MASK} {MASK} {MASK} {MASK} {MASK} monitor plain-default beijing-1"
    assert result.detail == masked
    assert result.steps[0].detail == masked
    assert result.measurement == LoginMeasurement(slow_steps=(masked,))
    assert result.broken_links == (f"http://x.gov.cn/?t={MASK}",)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("expect: {status: ['${S_STATUS}']}", "S_STATUS"),
        ("expect: {body_regex: ['(${S_STATUS}']}", "S_STATUS"),
        ("timeout: 'x${S_STATUS}'", "S_STATUS"),
        ("url: 'http://x.gov.cn:${S_STATUS}/'", "S_STATUS"),
    ],
)
def test_validate_never_shows_a_substituted_value(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    field: str,
    value: str,
) -> None:
    """`monitor validate` refuses a `${VAR}` that is no valid status, regex, duration or URL in
    one line naming the path, without the variable's value in any form."""
    monkeypatch.setenv(value, SECRETS[value])
    config = tmp_path / "monitor.yaml"
    url = "" if field.startswith("url:") else "url: 'http://x.gov.cn/'\n        "
    config.write_text(
        "sites:\n  - id: a\n    checks:\n"
        "      - {id: h, type: http, url: 'http://x.gov.cn/', interval: 1m}\n"
        f"      - id: g\n        type: http\n        {url}{field}\n"
    )
    assert main(["validate", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {config}: sites[0].checks[1].") and err.count("\n") == 1
    assert leaks(err) == [], err


def test_logs_are_scrubbed_whatever_carries_the_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A log line with a secret in a field, nested in a value, or in an exception's traceback
    shows *** instead, in the JSON the service writes."""
    monkeypatch.setenv("S_HEADER", SECRETS["S_HEADER"])
    with pytest.raises(ConfigError):
        parse_config(
            {"sites": [{"id": "a", "checks": [{"id": "h", "type": "http", "url": "${S_HEADER}"}]}]}
        )
    configure_logging("info", sys.stderr)
    log = structlog.get_logger("test")
    log.warning("one", detail=SECRETS["S_HEADER"], nested={"url": [quote(SECRETS["S_HEADER"])]})
    try:
        raise ValueError(f"bad {SECRETS['S_HEADER']}")
    except ValueError:
        log.exception("two")
    err = capsys.readouterr().err
    assert err.count(MASK) == 3 and leaks(err) == [], err


def test_library_logs_through_the_standard_module_are_scrubbed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A library's record (aiohttp's "Error handling request" and its traceback), printed by
    Python's last-resort handler, shows *** for a secret in its message or its exception."""
    REDACTOR.register(SECRETS["S_QUERY"])
    configure_logging("info", sys.stderr)
    try:
        raise ValueError(f"bad URL /?auth={quote(SECRETS['S_QUERY'])}")
    except ValueError:
        record = logging.getLogger("aiohttp.server").makeRecord(
            "aiohttp.server",
            logging.ERROR,
            __file__,
            1,
            "Error handling %s",
            (SECRETS["S_QUERY"],),
            sys.exc_info(),
        )
    assert logging.lastResort is not None
    logging.lastResort.handle(record)
    err = capsys.readouterr().err
    assert "Error handling ***" in err and "bad URL /?auth=***" in err and leaks(err) == [], err


# -- every output of the real programs ----------------------------------------------------------


def _echoed(text: str, form: str) -> str:
    return {
        "raw": text,
        "html": html.escape(text),
        "quote": quote(text, safe=""),
        "plus": quote_plus(text),
        "json": json.dumps(text),
    }[form]


@pytest.fixture
async def echo_site() -> AsyncIterator[str]:
    """A hostile site that echoes what it was sent (a header, the body, the query string, the
    URL, a login's password) in the page title, in the form the path asks for."""

    async def echo(request: web.Request) -> web.Response:
        what, form = request.match_info["what"], request.match_info["form"]
        if what == "header":
            seen = request.headers.get("Authorization", "")
        elif what == "body":
            seen = await request.text()
        else:
            seen = request.raw_path
        title = _echoed(seen, form)
        return web.Response(
            text=f"<html><head><title>{title}</title></head></html>", content_type="text/html"
        )

    async def marked(request: web.Request) -> web.Response:
        page = f"<html><body>通知公告 {SECRETS['S_FORBIDDEN']} 更多</body></html>"
        return web.Response(text=page, content_type="text/html")

    async def login(request: web.Request) -> web.Response:
        form = await request.post()
        said = html.escape(f"密码 {form.get('password', '')} 错误")
        page = f"<html><body><div class=err>{said}</div></body></html>"
        return web.Response(text=page, content_type="text/html")

    async def landing(request: web.Request) -> web.Response:
        return web.Response(text="<html><body>请登录</body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/echo/{what}/{form}", echo)
    app.router.add_get("/marked", marked)
    app.router.add_post("/login", login)
    app.router.add_get("/landing", landing)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


def _service_config(base: str, port: int) -> str:
    checks = []
    for form in ("raw", "html", "quote", "plus", "json"):
        checks += [
            f"- {{id: header-{form}, type: http, url: '{base}/echo/header/{form}',"
            " headers: {Authorization: 'Bearer ${S_HEADER}'},"
            " expect: {body_contains: [never-there]}}",
            f"- {{id: body-{form}, type: http, method: POST, url: '{base}/echo/body/{form}',"
            " body: 'payload=${S_BODY}', expect: {body_contains: [never-there]}}",
            f"- {{id: query-{form}, type: http, url: '{base}/echo/query/{form}?auth=${{S_QUERY}}',"
            " expect: {body_contains: [never-there]}}",
        ]
    checks += [
        f"- {{id: forbidden, type: http, url: '{base}/marked',"
        " expect: {body_not_contains: ['${S_FORBIDDEN}']}}",
        f"- {{id: regex, type: http, url: '{base}/marked', expect: {{body_regex: ['${{S_REGEX}}']}}}}",
        # The password in a login step's query string, and the final URL quoted in the detail.
        f"- {{id: login-url, type: login, steps: [{{name: open,"
        f" url: '{base}/landing?user=monitor&pw=${{S_PASSWORD}}',"
        " expect: {url_contains: [/welcome]}}]}",
        # The password in the form, echoed by the site in its error banner.
        f"- {{id: login-form, type: login, steps: [{{name: submit, url: '{base}/login',"
        " form: {username: monitor, password: '${S_PASSWORD}'},"
        " expect: {body_contains: [退出登录], error_selector: .err}}]}",
    ]
    return (
        textwrap.dedent(f"""\
        server: {{listen: "127.0.0.1:{port}"}}
        storage: {{database_url: "${{MONITOR_DATABASE_URL}}"}}
        defaults: {{interval: 1s, timeout: 900ms, failure_threshold: 1, success_threshold: 1}}
        scheduler: {{shutdown_grace: 2s}}
        sites:
          - id: echo
            owner: echo-it
            checks:
        """)
        + textwrap.indent("\n".join(checks), "      ")
        + "\n"
    )


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or "postgres"
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{host}"))


async def _cli(*args: str) -> str:
    code, out, err = await run_cli(*args)
    return f"$ monitor {' '.join(args)} -> {code}\n{out}\n{err}"


async def _database_dump(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
        rows = []
        for (table,) in tables:
            rows += [r[0] for r in await conn.fetch(f'SELECT t::text FROM "{table}" t')]
        return "\n".join(rows)
    finally:
        await conn.close()


async def test_no_output_of_the_real_programs_holds_a_planted_secret(
    echo_site: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pg_url: str,
) -> None:
    """Secrets planted in headers, a body, a URL query, expect fields, a login step's URL and
    form, and the database URL, all echoed back by a hostile site: none appears, in any form,
    in `check --json`, the service's log, /api/v1/status, /api/v1/incidents, the web page,
    `monitor incidents`, the md and json reports, the database, `monitor validate`, nor the
    POST /-/reload answer and the config_reload_refused log."""
    port = free_port()
    config = tmp_path / "monitor.yaml"
    config.write_text(_service_config(echo_site, port))
    database_url = _with_password(pg_url, SECRETS["S_DB"])
    for name, value in {**SECRETS, "MONITOR_DATABASE_URL": database_url}.items():
        monkeypatch.setenv(name, value)
    outputs: dict[str, str] = {}
    base = f"http://127.0.0.1:{port}"
    async with process_group(tmp_path) as group, aiohttp.ClientSession() as session:
        monitor = group.start(
            "monitor", [sys.executable, "-m", "monitor", "run", "-c", str(config)]
        )

        async def incidents() -> list[dict[str, object]] | None:
            async with session.get(f"{base}/api/v1/incidents") as resp:
                found: list[dict[str, object]] = await resp.json() if resp.status == 200 else []
                return found if len({i["check"] for i in found}) >= 19 else None

        await wait_until("an incident for every check", incidents, timeout=60, watch=group)
        for path in ("/api/v1/status", "/api/v1/incidents", "/"):
            async with session.get(f"{base}{path}") as resp:
                outputs[path] = await resp.text()
        # A secret in a field where it is no valid value: the reload is refused, and said why.
        good = config.read_text()
        config.write_text(
            good.replace("[never-there]}", "[never-there], status: ['${S_STATUS}']}", 1)
        )
        async with session.post(f"{base}/-/reload") as resp:
            assert resp.status == 400
            outputs["POST /-/reload"] = await resp.text()
        outputs["monitor validate"] = await _cli("validate", "-c", str(config))
        config.write_text(good)
        await group.stop(monitor)
    outputs["monitor run log"] = monitor.log.read_text(encoding="utf-8")
    assert "config_reload_refused" in outputs["monitor run log"]
    assert "status: " in outputs["POST /-/reload"] and "***" in outputs["POST /-/reload"]
    today = date.today().isoformat()
    period = ("--from", today, "--to", today)
    for name, args in {
        "check --json": ("check", "--json"),
        "incidents": ("incidents",),
        "incidents --json": ("incidents", "--json"),
        "report md": ("report", *period, "--format", "md"),
        "report json": ("report", *period, "--format", "json"),
    }.items():
        outputs[name] = await _cli(args[0], "-c", str(config), *args[1:])
    outputs["database"] = await _database_dump(pg_url)

    # What the site echoed did arrive, masked: the search below looks where secrets would be.
    for name in ("check --json", "monitor run log", "/api/v1/status", "database"):
        assert outputs[name].count(MASK) >= 10, (name, outputs[name][-3000:])
    assert MASK in outputs["report md"] and MASK in outputs["/api/v1/incidents"]
    found = {name: leaks(text) for name, text in outputs.items()}
    assert found == {name: [] for name in outputs}
