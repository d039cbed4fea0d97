"""Every query of every Grafana dashboard runs against a real Prometheus and returns data.

`monitor run` probes the fake government site (tests/fakesite.py: columns, a login with a
session, links, a message board, a feed) and a TLS target, with every check type on one site;
Debian's Prometheus scrapes it every second with the project's rules. The rule files are used
as shipped except for their evaluation intervals (1 m and 5 m groups run every second here, so
the availability series exist within seconds, see `fast_rules`). Each template variable's query is run first; then
each panel query, with the variables substituted (site-detail: one site; overview: All), as an
instant or range query like Grafana sends it.
"""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web

from tests.fakesite import PASSWORD, USERNAME, FakeSite
from tests.pg import fresh_schema
from tests.stack import (
    RULES_DIR,
    free_port,
    process_group,
    prom_query,
    prometheus_config,
    start_monitor,
    start_prometheus,
    wait_until,
)

DASHBOARDS = Path(__file__).resolve().parent.parent / "dashboards"
SITE = "dash-portal"
OWNER = "petrochem-it"
# Grafana's $__rate_interval: four scrape intervals (1 s here).
RATE_INTERVAL = "4s"


class Served:
    """An aiohttp app on 127.0.0.1 (optionally over TLS), stopped by the fixture."""

    def __init__(self) -> None:
        self.runners: list[web.AppRunner] = []

    async def serve(self, app: web.Application, context: ssl.SSLContext | None = None) -> int:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
        self.runners.append(runner)
        return int(runner.addresses[0][1])


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    holder = Served()
    yield holder
    for runner in holder.runners:
        await runner.cleanup()


def monitor_config(
    site_url: str, tls_url: str, ca_file: Path, monitor_port: int, database_url: str
) -> dict[str, Any]:
    """One site with every check type (and one of them failing), one new-media account."""
    login_steps = [
        {
            "name": "form",
            "url": f"{site_url}/login",
            "extract": {
                "csrf": {"selector": "input[name=csrf_token]", "attribute": "value"},
                "viewstate": {"regex": 'id="__VIEWSTATE" value="([^"]*)"'},
            },
            "expect": {"body_contains": ["用户登录"]},
        },
        {
            "name": "submit",
            "url": "/login",
            "form": {"username": USERNAME, "password": PASSWORD,
                     "csrf_token": "{csrf}", "__VIEWSTATE": "{viewstate}"},
            "expect": {"body_contains": ["退出登录"], "url_not_contains": ["/login"]},
        },
    ]  # fmt: skip
    return {
        "defaults": {"interval": "1s", "timeout": "1s", "failure_threshold": 2,
                     "success_threshold": 2},
        "storage": {"database_url": database_url},
        "server": {"listen": f"127.0.0.1:{monitor_port}"},
        "scheduler": {"shutdown_grace": "2s"},
        "location": "dashboards",
        "sites": [
            {
                "id": SITE,
                "name": "石化离退休干部局网站",
                "owner": OWNER,
                "checks": [
                    {"id": "home", "type": "http", "url": f"{tls_url}/",
                     "tls": {"ca_file": str(ca_file)}},
                    {"id": "gone", "type": "http", "url": f"{site_url}/status/503"},
                    {"id": "login", "type": "login", "interval": "2s", "timeout": "2s",
                     "steps": login_steps,
                     "session": {"url": f"{site_url}/member/home", "marker": "退出登录"}},
                    {"id": "homepage", "type": "freshness", "category": "homepage",
                     "url": f"{site_url}/column/iso?age=1", "max_age": "3650d"},
                    {"id": "news", "type": "freshness", "category": "news",
                     "url": f"{site_url}/column/iso?age=40", "items": "ul.list li"},
                    {"id": "links", "type": "links", "url": f"{site_url}/links",
                     "interval": "2s", "timeout": "2s"},
                    {"id": "board", "type": "interaction", "url": f"{site_url}/board/ok",
                     "rows": "table.board tr.row", "question_date": {"selector": "td.asked"},
                     "answer_date": {"selector": "td.answered"}},
                    {"id": "feed", "type": "feed", "url": f"{site_url}/feed/fresh",
                     "max_age": "3650d"},
                ],
            },
            {
                "id": "dash-account",
                "name": "国资小新",
                "kind": "new_media",
                "owner": "sasac-newmedia",
                "checks": [{"id": "feed", "type": "feed", "url": f"{site_url}/feed/fresh",
                            "max_age": "3650d"}],
            },
        ],
    }  # fmt: skip


def fast_rules(workdir: Path) -> list[str]:
    """Copies of the rule files that produce every series within seconds.

    Groups evaluate every second, and the subqueries that add up 5-minute and hourly windows
    step every second: their steps are aligned to the clock, so as shipped the first hourly
    and 7-day figures appear only after the next 5-minute and hour boundary. The values are
    then not meaningful (overlapping windows); promtool's tests check those, this test checks
    that the dashboards' queries find the series.
    """
    out = workdir / "rules"
    out.mkdir()
    for path in RULES_DIR.glob("*.yml"):
        text = re.sub(r"(?m)^(\s+interval:) \S+$", r"\1 1s", path.read_text(encoding="utf-8"))
        text = re.sub(r":(5m|1h)\]", ":1s]", text)
        (out / path.name).write_text(text, encoding="utf-8")
    return [str(out / "*.yml")]


def substitute(expr: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        expr = expr.replace(f"${{{name}}}", value).replace(f"${name}", value)
    return expr.replace("$__rate_interval", RATE_INTERVAL)


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dashboard["panels"]:
        out.extend(panel.get("panels", []))
        if panel["type"] != "row":
            out.append(panel)
    return out


async def variable_values(
    http: aiohttp.ClientSession, prometheus: str, query: str, values: dict[str, str]
) -> list[str]:
    """Run a Grafana `label_values(selector, label)` variable query as Grafana does."""
    match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query)
    assert match, f"unsupported variable query {query}"
    selector, label = substitute(match.group(1), values), match.group(2)
    async with http.get(
        f"{prometheus}/api/v1/label/{label}/values", params={"match[]": selector}
    ) as response:
        body = await response.json()
    assert body["status"] == "success", body
    return list(body["data"])


async def test_every_dashboard_query_returns_data(
    tmp_path: Path, served: Served, tls_ca: trustme.CA
) -> None:
    """With Prometheus scraping a monitor that has run a while, each variable and each panel query of both dashboards runs without error and returns data."""
    fake = FakeSite()
    site_port = await served.serve(fake.app())
    site_url = f"http://127.0.0.1:{site_port}"
    fake.base_url = site_url

    async def tls_home(request: web.Request) -> web.Response:
        return web.Response(text="<p>国资委</p>", content_type="text/html")

    tls_app = web.Application()
    tls_app.router.add_get("/", tls_home)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1").configure_cert(context)
    tls_port = await served.serve(tls_app, context)
    ca_file = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(ca_file))

    monitor_port = free_port()
    async with (
        fresh_schema() as database_url,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
        process_group(tmp_path) as group,
    ):
        prometheus = await start_prometheus(
            group, http, prometheus_config(monitor_port, None, fast_rules(tmp_path))
        )
        config = monitor_config(
            site_url, f"https://127.0.0.1:{tls_port}", ca_file, monitor_port, database_url
        )
        await start_monitor(group, http, config)

        async def has(expr: str) -> bool:
            return bool(await prom_query(http, prometheus, expr))

        # Run a while: every check probed, the failing one's incident open, the recording
        # rules' longest chain (5 m increases -> 1 h -> 7 d) evaluated, rate windows filled.
        for expr in (
            f'count(probe_success{{site="{SITE}"}}) == 8',
            f'monitor_incident_open{{site="{SITE}",check="gone"}}',
            f'monitor_incident_open{{site="{SITE}",check="news",reason="stale"}}',
            f'site:monitor_unreachable:ratio7d{{site="{SITE}"}}',
            f'site:monitor_availability:ratio30d{{site="{SITE}"}}',
            f'rate(monitor_login_step_duration_seconds_count{{site="{SITE}"}}[{RATE_INTERVAL}]) > 0',
        ):
            await wait_until(group, expr, lambda expr=expr: has(expr), timeout=90)

        problems: list[str] = []
        checked = 0
        end = time.time()
        for path in sorted(DASHBOARDS.glob("*.json")):
            dashboard = json.loads(path.read_text(encoding="utf-8"))
            variables = {v["name"]: v for v in dashboard["templating"]["list"]}
            assert {"owner", "site"} <= variables.keys(), path.name
            detail = not variables["site"].get("multi", False)
            values = {"owner": ".*", "site": SITE if detail else ".*", "check": ".*"}
            for name, variable in variables.items():
                found = await variable_values(http, prometheus, variable["query"]["query"], values)
                if not found:
                    problems.append(f"{path.name}: variable ${name} has no values")
            for panel in panels(dashboard):
                for target in panel.get("targets", []):
                    expr = substitute(target["expr"], values)
                    checked += 1
                    try:
                        if target.get("instant"):
                            rows = await prom_query(http, prometheus, expr)
                        else:
                            rows = await prom_query(
                                http, prometheus, expr,
                                start=str(end - 60), end=str(end), step="1",
                            )  # fmt: skip
                    except AssertionError as exc:
                        problems.append(f"{path.name}: {panel['title']}: {exc}")
                        continue
                    if not rows:
                        problems.append(f"{path.name}: {panel['title']}: no data for {expr}")
        assert checked >= 30
        assert not problems, "\n".join(problems)
