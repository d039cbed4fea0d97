"""`monitor demo`: the notice's sites as loopback twins, monitored, with no internet needed.

The twins (twin.py) misbehave on a schedule; the monitor probes them at short intervals on the
embedded PostgreSQL (or `$MONITOR_DATABASE_URL`), so within two minutes the web page shows
incidents and verdicts, `/metrics` the series and `monitor report` a report. The config is
written to `<data dir>/demo.yaml`, so every other command can be pointed at it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from monitor.config import load_config
from monitor.demo.twin import DEMO_PASSWORD, DEMO_USER, Schedule, Twins
from monitor.runtime import Runtime, serve_forever
from monitor.web.access import is_loopback
from monitor.web.views import quarter_so_far

__all__ = ["DemoError", "demo_config", "run_demo"]


class DemoError(Exception):
    """The demo cannot run as asked; one line for the person."""


def demo_config(
    urls: dict[str, str], listen: str, data_dir: Path, schedule: Schedule
) -> dict[str, Any]:
    """The notice's sites and accounts (as in examples/sasac.yaml) pointed at the twins, with
    intervals of seconds rather than minutes (times `pace`)."""

    def every(seconds: float) -> str:
        return f"{max(1.0, schedule.at(seconds)):g}s"

    portal, petro, build, feeds = urls["portal"], urls["petrochem"], urls["buildmat"], urls["feeds"]
    timeout = {"timeout": every(4)}

    def feed(site: str, name: str, owner: str, path: str, **extra: Any) -> dict[str, Any]:
        check = {"id": "updates", "type": "feed", "url": f"{feeds}/wechat/{path}.xml"}
        check.update(interval=every(10), **timeout, **extra)
        return {"id": site, "name": name, "kind": "new_media", "owner": owner, "checks": [check]}

    return {
        "defaults": {"interval": every(10), "failure_threshold": 2, "success_threshold": 2},
        "storage": {
            "database_url": "${MONITOR_DATABASE_URL:-}",
            "data_dir": str(data_dir.absolute()),  # the config lives inside data_dir
            "flush_interval": "500ms",
        },
        "server": {"listen": listen},
        "location": "demo",
        "timezone": "Asia/Shanghai",
        "sites": [
            {
                "id": "sasac",
                "name": "国务院国资委门户网站",
                "owner": "sasac-web",
                "checks": [
                    {
                        "id": "home",
                        "type": "http",
                        "url": f"{portal}/",
                        "interval": every(5),
                        **timeout,
                        "expect": {"status": [200], "body_contains": ["国资委"]},
                    },
                    {
                        "id": "home-fresh",
                        "type": "freshness",
                        "url": f"{portal}/",
                        "category": "homepage",
                        "items": "ul.list li",
                        **timeout,
                    },
                    {
                        "id": "gzyw",
                        "name": "国资要闻",
                        "type": "freshness",
                        "url": f"{portal}/n2588025/n2643314/index.html",
                        "category": "news",
                        "items": "ul.list li",
                        **timeout,
                    },
                    {
                        "id": "tzgg",
                        "name": "通知公告",
                        "type": "freshness",
                        "url": f"{portal}/n2588035/n2588320/n2588335/index.html",
                        "category": "notice",
                        "items": "ul.list li",
                        **timeout,
                    },
                    {
                        "id": "zwzx",
                        "name": "政务咨询",
                        "type": "interaction",
                        "url": f"{portal}/hdjl/zwzx/",
                        "interval": every(15),
                        **timeout,
                        "rows": "table.board tr.row",
                        "question_date": {"selector": "td.asked"},
                        "answer_date": {"selector": "td.answered"},
                    },
                ],
            },
            {
                "id": "petrochem-retirees",
                "name": "石化离退休干部局网站",
                "owner": "petrochem-it",
                "checks": [
                    {
                        "id": "home",
                        "type": "http",
                        "url": f"{petro}/",
                        "interval": every(5),
                        **timeout,
                        "expect": {"body_contains": ["离退休"]},
                    },
                    {
                        "id": "login",
                        "type": "login",
                        "interval": f"{schedule.login_timeout:g}s",
                        "timeout": f"{schedule.login_timeout:g}s",
                        "steps": [
                            {
                                "name": "form",
                                "url": f"{petro}/login.aspx",
                                "extract": {
                                    "viewstate": {"regex": 'id="__VIEWSTATE" value="([^"]*)"'}
                                },
                                "expect": {"body_contains": ["用户登录"]},
                            },
                            {
                                "name": "submit",
                                "url": "login.aspx",
                                "form": {
                                    "__VIEWSTATE": "{viewstate}",
                                    "username": DEMO_USER,
                                    "password": DEMO_PASSWORD,
                                },
                                "expect": {"body_contains": ["退出登录"]},
                            },
                        ],
                        "session": {
                            "url": f"{petro}/member/index.aspx",
                            "marker": "退出登录",
                            "max_age": "8h",
                        },
                    },
                    {
                        "id": "zcwj",
                        "name": "政策文件",
                        "type": "freshness",
                        "url": f"{petro}/zcwj/",
                        "category": "notice",
                        "items": "ul.list li",
                        **timeout,
                    },
                    {
                        "id": "zsk",
                        "name": "知识园地",
                        "type": "freshness",
                        "url": f"{petro}/zsk/",
                        "category": "custom",
                        "max_age": "60d",
                        "items": "ul.list li",
                        **timeout,
                    },
                ],
            },
            {
                "id": "buildmat-retirees",
                "name": "建材离退休干部局网站",
                "owner": "buildmat-it",
                "checks": [
                    {
                        "id": "home",
                        "type": "http",
                        "url": f"{build}/",
                        "interval": every(5),
                        **timeout,
                    },
                    {
                        "id": "gzdt",
                        "name": "工作动态",
                        "type": "freshness",
                        "url": f"{build}/gzdt/",
                        "category": "news",
                        "items": "ul.list li",
                        **timeout,
                    },
                ],
            },
            feed("guozi-xiaoxin", "国资小新", "sasac-newmedia", "guozixiaoxin"),
            feed("guozi-fazhi", "国资法治", "sasac-legal", "guozifazhi", max_age="7d"),
            feed("qingchun-guozi", "青春国资", "sasac-youth", "qingchunguozi"),
            feed("guoqi-gaige", "国企改革", "sasac-reform", "guoqigaige"),
            feed(
                "guozi-eting",
                "国资e厅",
                "sasac-newmedia",
                "guozieting",
                min_posts={"count": 4, "window": "30d"},
            ),
        ],
    }


def _write_config(path: Path, config: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(config, allow_unicode=True, sort_keys=False)
    header = "# Written by `monitor demo`: the twins' ports change with every run.\n"
    path.write_text(header + text, encoding="utf-8")


async def run_demo(listen: str, data_dir: Path, pace: float = 1.0) -> None:
    """Start the twins, write the demo config, and run the monitor on it until SIGTERM/SIGINT."""
    host = listen.rpartition(":")[0].strip("[]")
    if not is_loopback(host):
        raise DemoError(f"--listen {listen}: the demo listens on loopback only (127.0.0.1 or ::1)")
    if not pace > 0:
        raise DemoError(f"--pace {pace:g}: must be above 0")
    schedule = Schedule(pace=pace)
    twins = Twins(schedule)
    urls = await twins.start()
    try:
        path = data_dir / "demo.yaml"
        _write_config(path, demo_config(urls, listen, data_dir, schedule))
        config = load_config(str(path))
        quarter, _ = quarter_so_far(config.timezone, datetime.now(UTC))
        base = f"http://{listen}"
        print(
            "\n".join(
                [
                    "monitor demo: twins of the notice's sites on 127.0.0.1, no internet needed",
                    f"  web page   {base}/        (English: {base}/?lang=en)",
                    f"  metrics    {base}/metrics",
                    f"  report     {base}/reports",
                    f"             monitor report -c {path} --quarter {quarter}",
                    "what goes wrong, and when:",
                    *(f"  {line}" for line in schedule.lines()),
                    "incidents open after 2 failed probes; Ctrl-C stops the demo.",
                ]
            ),
            flush=True,
        )
        await serve_forever(Runtime(config, config_path=str(path)))
    finally:
        await twins.stop()
