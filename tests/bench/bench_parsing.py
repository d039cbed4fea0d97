"""Benchmark page parsing (issue 4); prints figures, asserts nothing.

    .venv/bin/python tests/bench/bench_parsing.py [--runs 30] [--checks 100]

1. Time per 2 MB column page: date extraction (`read_column`: parse, find the items, read
   their dates) and link collection (`collect_links`), on two pages: a realistic one (inline
   scripts and styles, menus, 1,000 list items) and a list-heavy one (2 MB of list items,
   about 12,000). Goal: < 20 ms per page.
2. Event-loop lag while `--checks` freshness probes fetch and read the list-heavy 2 MB page at
   once, served by another process on loopback: parsing in the parser workers of
   ProbeContext (as shipped), on a pool of threads (asyncio.to_thread's default), and on the
   loop. A ticker asks for a 5 ms sleep and records how late it wakes. Goal: p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from monitor.dates import site_zone
from monitor.probes.base import ProbeContext
from monitor.probes.freshness import FreshnessCheck, probe, read_column
from monitor.probes.httpclient import HttpClient
from monitor.probes.links import collect_links
from tests.fakesite import NOW

ZONE = site_zone("Asia/Shanghai")
TARGET = 2 * 1024 * 1024


def _item(i: int) -> str:
    day = 1 + i % 28
    return (
        f'<li class="item"><span class="dot"></span><a href="/n2588035/c{i}/content.html" '
        f'target="_blank" title="关于印发《中央企业合规管理办法》的通知{i}">关于印发《中央企业'
        f'合规管理办法》的通知{i}</a><span class="date">[2026-06-{day:02d}]</span></li>\n'
    )


def realistic_page() -> str:
    """Menus, 1,000 items, and the rest inline script and style, as CMS templates emit."""
    menu = "".join(
        f'<li><a href="/n{i}/index.html">栏目{i}</a><ul>'
        + "".join(f'<li><a href="/n{i}/n{j}/index.html">子栏目{j}</a></li>' for j in range(5))
        + "</ul></li>"
        for i in range(40)
    )
    items = "".join(_item(i) for i in range(1000))
    head = "<!DOCTYPE html><html><head><meta charset=utf-8><title>通知公告</title>"
    body = f'<body><ul class="menu">{menu}</ul><ul class="zsy_conlist">{items}</ul>'
    footer = '<div class="footer">主办：国务院国有资产监督管理委员会</div></body></html>'
    used = len((head + body + footer).encode())
    filler_unit = "var a=function(b){return b*2;};/* 统计代码 */\n"
    script = filler_unit * ((TARGET - used) // len(filler_unit.encode()) // 2)
    style = ".zsy_conlist li{float:left;width:100%}\n" * (len(script) // 40)
    page = f"{head}<style>{style}</style><script>{script}</script></head>{body}{footer}"
    return page[: TARGET + 100_000]


def list_heavy_page() -> str:
    """2 MB of nothing but list items."""
    rows = []
    size = 0
    i = 0
    while size < TARGET:
        row = _item(i)
        rows.append(row)
        size += len(row.encode())
        i += 1
    return f'<html><body><ul class="zsy_conlist">{"".join(rows)}</ul></body></html>'


def timed(runs: int, work: Callable[[], object]) -> tuple[float, float]:
    work()  # warm up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return statistics.median(samples) * 1000, samples[int(len(samples) * 0.9)] * 1000


def bench_pages(runs: int) -> None:
    print("1. time per 2 MB page (median / p90, ms)")
    for name, page in (("realistic", realistic_page()), ("list-heavy", list_heavy_page())):
        url = "https://www.sasac.gov.cn/n2588035/index.html"
        reading = read_column(page, now=NOW, zone=ZONE, items="ul.zsy_conlist li")
        links = collect_links(page, url)
        print(
            f"   {name}: {len(page.encode()) / 1e6:.2f} MB, {reading.items} items, "
            f"{len(links)} links"
        )
        figures = {
            "dates, items selector": lambda p=page: read_column(
                p, now=NOW, zone=ZONE, items="ul.zsy_conlist li"
            ),
            "dates, default scan": lambda p=page: read_column(p, now=NOW, zone=ZONE),
            "link collection": lambda p=page, u=url: collect_links(p, u),
        }
        for label, work in figures.items():
            median, p90 = timed(runs, work)
            print(f"      {label:<24} {median:7.1f} / {p90:7.1f}")


_SERVER = """
import sys
from aiohttp import web
page = open(sys.argv[1], "rb").read()
async def serve(request):
    return web.Response(body=page, content_type="text/html", charset="utf-8")
app = web.Application()
app.router.add_get("/", serve)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[2]), print=None, access_log=None)
"""


@contextlib.contextmanager
def page_server(page: bytes) -> Iterator[int]:
    """Serve `page` from another process, so serving it costs this loop nothing."""
    with tempfile.NamedTemporaryFile(suffix=".html") as file:
        file.write(page)
        file.flush()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = subprocess.Popen([sys.executable, "-c", _SERVER, file.name, str(port)])
        try:
            for _ in range(100):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                time.sleep(0.05)
            yield port
        finally:
            server.terminate()
            server.wait()


class _Inline:
    """A stand-in parser that parses on the event loop."""

    async def run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    def close(self) -> None:
        pass


class _Threads(_Inline):
    """A stand-in parser that parses on asyncio.to_thread's threads."""

    async def run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)


async def _lag_under_load(port: int, checks: int, mode: str) -> list[float]:
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - start - 0.005)

    async with HttpClient() as http:
        ctx = ProbeContext(http=http, now=lambda: NOW)
        if mode == "pool":
            ctx.parser = _Threads()  # type: ignore[assignment]
        elif mode == "loop":
            ctx.parser = _Inline()  # type: ignore[assignment]
        check = FreshnessCheck(
            id="c",
            site="s",
            url=f"http://127.0.0.1:{port}/",
            interval=300,
            timeout=120,
            items="ul.zsy_conlist li",
        )
        tick = asyncio.create_task(ticker())
        results = await asyncio.gather(*(probe(check, ctx) for _ in range(checks)))
        done.set()
        await tick
        ctx.parser.close()
    bad = [r for r in results if r.outcome.value not in ("ok", "stale")]
    if bad:
        print(f"      ({len(bad)} probes failed: {bad[0].outcome} {bad[0].detail})")
    return sorted(lags)


def bench_lag(checks: int) -> None:
    print(f"2. loop lag while {checks} freshness probes fetch and read a 2 MB page at once (ms)")
    modes = {
        "parser worker processes (shipped)": "process",
        "a thread pool (to_thread)": "pool",
        "on the event loop": "loop",
    }
    with page_server(list_heavy_page().encode()) as port:
        for label, mode in modes.items():
            start = time.perf_counter()
            lags = asyncio.run(_lag_under_load(port, checks, mode))
            took = time.perf_counter() - start
            p99 = lags[int(len(lags) * 0.99)] * 1000
            print(
                f"   {label:<31} p50 {statistics.median(lags) * 1000:6.1f}  p99 {p99:7.1f}  "
                f"max {lags[-1] * 1000:7.1f}  ({len(lags)} ticks, all done in {took:.1f} s)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--checks", type=int, default=100)
    args = parser.parse_args()
    bench_pages(args.runs)
    bench_lag(args.checks)


if __name__ == "__main__":
    main()
