"""Benchmark the probe engine (issues 2, 13); prints figures, asserts nothing.

    .venv/bin/python tests/bench/bench_engine.py [--only deployed|cpu|steps|scale|scheduler|timing|cold]

1. As deployed (issue 13): the whole `monitor run` process (scheduler, incidents, store writer to
   the local PostgreSQL in a fresh schema, or --embedded, and a real Prometheus scraping its
   /metrics every 15 s) with N http checks at 1 s, beside Debian's prometheus-blackbox-exporter
   driven by a real Prometheus scraping N /probe targets at 1 s, both against one nginx on
   loopback at the same time. CPU of each prober's own process (and its children) from /proc;
   probes counted by nginx's access log (one User-Agent a line). CPU per probe and the ratio.
2. In process: `run_probe` + `handle_result` in a tight loop vs /probe called directly.
3. Scale: `monitor run` with 1k/10k/50k checks at 60 s (`--scale 1000,10000,50000`): CPU per
   probe, RSS per check, scheduler lag p99 (from its histogram) and probes skipped; and the
   /metrics text's size and a scrape's CPU and wall time, back to back (plain and gzip), 15 s
   apart (gzip, as Prometheus scrapes) and as the real Prometheus' own scrapes saw them.
   `--only scrape`: the CPU of one scrape in process at the same sizes, a quarter changed.
4. The scheduler with 10,000 checks at 60 s, in process: lag p50/p99/max, RSS, CPU %.
5. Timing truth: a target that answers after exactly 200 ms, probed at 500/s: the error of the
   measured duration.
6. Steps: the CPU of each step of the lean HTTP exchange (resolve, connect, TLS, request and
   head, body, close), one fetch at a time against nginx (gzip on), plain and over TLS; and a
   whole fetch by the lean exchange beside one by aiohttp's session.
7. Cold start: a `monitor run` on the embedded store, first in a new data_dir, then restarted:
   seconds to its first /metrics answer and to its first probe at the target.

Needs nginx (Debian nginx-light), prometheus and prometheus-blackbox-exporter. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import uvloop
from prometheus_client import CollectorRegistry
from yarl import URL

from monitor.config import parse_config
from monitor.configtypes import parse_duration
from monitor.runtime import Runtime

TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of one process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


def cpu_seconds(pid: int) -> float:
    return sum(cpu_split(pid))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextlib.contextmanager
def process(args: list[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield proc
    finally:
        terminate(proc, 5)


def terminate(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM, and SIGKILL if it is still there after `grace` seconds."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


PAGE = "<html><body>石化离退休干部局</body></html>" + "x" * 2000


def engine_config(url: str, checks: int, interval: str, marker: str = "石化") -> dict[str, object]:
    return {
        "location": "bench",
        "scheduler": {"max_concurrency": 256},
        "sites": [
            {
                "id": f"site-{s}",
                "checks": [
                    {
                        "id": f"c{c}",
                        "type": "http",
                        "url": url,
                        "interval": interval,
                        "timeout": "15s",
                        "expect": {"body_contains": [marker] if marker else []},
                    }
                    for c in range(min(100, checks - s * 100))
                ],
            }
            for s in range((checks + 99) // 100)
        ],
    }


async def engine_cpu(url: str, probes: int, concurrency: int = 32) -> tuple[float, int]:
    """CPU seconds of this process for `probes` probes with metrics on; and failures seen."""
    config = parse_config(engine_config(url, 1, "60s"))
    runtime = Runtime(config, registry=CollectorRegistry())
    check = next(iter(config.checks()))
    runtime.metrics.declare(check)
    await runtime.http.start()
    failures = 0
    queue = iter(range(probes))

    async def worker() -> None:
        nonlocal failures
        for _ in queue:
            result = await runtime.run_probe(check)
            runtime.handle_result(check, result)
            failures += not result.success

    for _ in range(50):  # warm up
        await runtime.run_probe(check)
    start = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    spent = time.process_time() - start
    await runtime.http.close()
    return spent, failures


async def blackbox_cpu(
    bb_port: int, bb_pid: int, target: str, probes: int, concurrency: int = 32
) -> tuple[float, int]:
    url = f"http://127.0.0.1:{bb_port}/probe?module=http_2xx&target={target}"
    failures = 0
    queue = iter(range(probes))
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal failures
            for _ in queue:
                async with session.get(url) as resp:
                    body = await resp.text()
                failures += "probe_success 1" not in body

        for _ in range(50):
            async with session.get(url) as resp:
                await resp.read()
        start = cpu_seconds(bb_pid)
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return cpu_seconds(bb_pid) - start, failures


def compare_cpu(workdir: Path, port: int, probes: int) -> None:
    url = f"http://127.0.0.1:{port}/"
    bb_port = free_port()
    bb_conf = workdir / "blackbox.yml"
    bb_conf.write_text(
        textwrap.dedent("""
        modules:
          http_2xx:
            prober: http
            timeout: 15s
            http: {preferred_ip_protocol: ip4, fail_if_body_not_matches_regexp: ["石化"]}
        """)
    )
    binary = shutil.which("prometheus-blackbox-exporter") or "blackbox_exporter"
    with process(
        [binary, f"--config.file={bb_conf}", f"--web.listen-address=127.0.0.1:{bb_port}"], bb_port
    ) as bb:
        bb_spent, bb_fail = uvloop.run(blackbox_cpu(bb_port, bb.pid, url, probes))
    ours, ours_fail = uvloop.run(engine_cpu(url, probes))
    print(f"[in-process] {probes} probes each, fresh connection, phases + metrics on")
    print(
        f"[in-process]   engine:           {ours / probes * 1000:.3f} CPU s / 1000 probes  (failures {ours_fail})"
    )
    print(
        f"[in-process]   blackbox_exporter: {bb_spent / probes * 1000:.3f} CPU s / 1000 probes  (failures {bb_fail})"
    )
    print(f"[in-process]   ratio engine/blackbox: {ours / bb_spent:.2f}  (goal <= 0.5)")


async def scheduler_soak(url: str, checks: int, seconds: float) -> None:
    config = parse_config(engine_config(url, checks, "60s"))
    runtime = Runtime(config, registry=CollectorRegistry())
    lags: list[float] = []
    settled: list[float] = []  # after the first 10 s (start-up: declaring, warming)
    observe_lag = runtime.metrics.scheduler_lag
    begun = time.monotonic()

    def record(seconds: float) -> None:
        lags.append(seconds)
        if time.monotonic() - begun > 10:
            settled.append(seconds)
        observe_lag(seconds)

    runtime.metrics.scheduler_lag = record  # type: ignore[method-assign]
    await runtime.start(serve=False, store=False)
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    failures = sum(1 for r in runtime.latest.values() if not r.success)
    await runtime.stop()
    print(f"[scheduler] {checks} checks at 60 s for {seconds:.0f} s: {len(lags)} probes started")
    print(
        f"[scheduler]   lag p50 {percentile(lags, 0.5) * 1000:.2f} ms, p99 {percentile(lags, 0.99) * 1000:.2f} ms,"
        f" max {max(lags) * 1000:.2f} ms  (goal p99 < 50 ms)"
    )
    if settled:
        print(
            f"[scheduler]   after the first 10 s: lag p50 {percentile(settled, 0.5) * 1000:.2f} ms,"
            f" p99 {percentile(settled, 0.99) * 1000:.2f} ms, max {max(settled) * 1000:.2f} ms"
        )
    print(
        f"[scheduler]   peak RSS {rss_mb:.0f} MB (goal < 400 MB), CPU {cpu / wall * 100:.1f} %,"
        f" failing checks at end {failures}, skipped {runtime.scheduler.skipped}"
    )


DELAY_SERVER = """
# A bare asyncio protocol on uvloop answers 200 ms after the request, and says in its body when
# it accepted the connection and when it wrote the answer (time.monotonic: CLOCK_MONOTONIC,
# one clock for every process on the machine), so the probe's figure can be checked against it.
import asyncio, sys, time, uvloop
class Delayed(asyncio.Protocol):
    def connection_made(self, transport):
        self.accepted, self.transport, self.buffer = time.monotonic(), transport, b""
    def data_received(self, data):
        self.buffer += data
        if b"\\r\\n\\r\\n" in self.buffer:
            asyncio.get_running_loop().call_later(0.2, self.answer)
    def answer(self):
        body = f"{self.accepted:.6f} {time.monotonic():.6f}".encode()
        head = f"HTTP/1.1 200 OK\\r\\nContent-Length: {len(body)}\\r\\nConnection: close\\r\\n\\r\\n"
        self.transport.write(head.encode() + body)
        self.transport.close()
async def main():
    server = await asyncio.get_running_loop().create_server(Delayed, "127.0.0.1", int(sys.argv[1]), backlog=4096)
    await server.serve_forever()
uvloop.run(main())
"""


async def timing_truth(url: str, rate: int, seconds: float) -> None:
    """Probe a target that answers after 200 ms; compare each probe's duration with the span
    the target itself saw, from accepting the connection to writing the answer."""
    config = parse_config(engine_config(url, 1, "60s", marker=""))
    runtime = Runtime(config, registry=CollectorRegistry())
    check = next(iter(config.checks()))
    await runtime.http.start()
    # Keep each probe's response body (the target's timestamps) for this benchmark only.
    bodies: dict[asyncio.Task[object] | None, bytes] = {}
    fetch = runtime.http.fetch

    async def keeping_fetch(*args: object, **kw: object) -> object:
        response = await fetch(*args, **kw)  # type: ignore[arg-type]
        bodies[asyncio.current_task()] = response.body
        return response

    runtime.http.fetch = keeping_fetch  # type: ignore[method-assign,assignment]
    nominal: list[float] = []
    against_target: list[float] = []
    tasks: set[asyncio.Task[None]] = set()

    async def one() -> None:
        result = await runtime.run_probe(check)
        body = bodies.pop(asyncio.current_task(), b"")
        if result.success:
            accepted, answered = map(float, body.split())
            nominal.append(abs(result.duration_seconds - 0.2))
            against_target.append(result.duration_seconds - (answered - accepted))

    start = time.monotonic()
    for n in range(int(rate * seconds)):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    await runtime.http.close()
    print(f"[timing] {len(nominal)} probes at {rate}/s against a target answering after 200 ms:")
    print(
        f"[timing]   |measured - 200 ms|: p50 {percentile(nominal, 0.5) * 1000:.2f} ms,"
        f" p99 {percentile(nominal, 0.99) * 1000:.2f} ms, max {max(nominal) * 1000:.2f} ms"
        " (includes the target's own timer, 1 ms granular)"
    )
    print(
        f"[timing]   measured - span the target saw (accept to answer): p50"
        f" {percentile(against_target, 0.5) * 1000:.2f} ms, p99"
        f" {percentile(against_target, 0.99) * 1000:.2f} ms, max"
        f" {max(against_target) * 1000:.2f} ms, min {min(against_target) * 1000:.2f} ms"
        "  (goal p99 < 2 ms)"
    )


# --- As deployed: whole processes, real Prometheus, probes counted by nginx's access log ---

NGINX_CONF = """
daemon off; master_process off; worker_processes 1; pid {work}/nginx.pid;
error_log {work}/error.log;
events {{ worker_connections 8192; }}
http {{
  log_format agent '$http_user_agent';
  access_log {work}/access.log agent;
  keepalive_timeout 0;
  client_body_temp_path {work}; proxy_temp_path {work};
  fastcgi_temp_path {work}; uwsgi_temp_path {work}; scgi_temp_path {work};
  server {{ listen 127.0.0.1:{port} backlog=4096; root {root}; }}
}}
"""

BLACKBOX_CONF = """
modules:
  http_2xx:
    prober: http
    timeout: 1s
    http: {preferred_ip_protocol: ip4, fail_if_body_not_matches_regexp: ["石化"]}
"""


def descendants_cpu(pid: int) -> float:
    """CPU seconds of `pid` and every live process under it (the embedded store's, say)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError):
            total += cpu_seconds(current)
        todo.extend(children.get(current, ()))
    return total


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class AccessLog:
    """nginx's access log, one User-Agent a line: how many probes each prober really made."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def counts(self) -> dict[str, int]:
        counts = {"monitor": 0, "blackbox": 0}
        with contextlib.suppress(FileNotFoundError), self.path.open("rb") as log:
            for line in log:
                if line.startswith(b"monitor/"):
                    counts["monitor"] += 1
                elif line.startswith(b"Blackbox"):
                    counts["blackbox"] += 1
        return counts


@contextlib.contextmanager
def logged_nginx(workdir: Path) -> Iterator[tuple[int, AccessLog]]:
    port = free_port()
    work = workdir / "nginx"
    root = work / "www"
    root.mkdir(parents=True)
    (root / "index.html").write_text(PAGE)
    conf = work / "nginx.conf"
    conf.write_text(NGINX_CONF.format(work=work, port=port, root=root))
    with process(["nginx", "-c", str(conf), "-p", str(work)], port):
        yield port, AccessLog(work / "access.log")


def http_get(url: str, timeout: float = 30.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return bytes(answer.read())


def wait_http(url: str, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process serving {url} exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            http_get(url, 30)  # a first /metrics of 50,000 checks may take seconds
            return
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout:g} s")


@contextlib.contextmanager
def fresh_schema() -> Iterator[str]:
    """A database URL whose search_path is a new schema on the local PostgreSQL (dropped after)."""
    base = os.environ.get("MONITOR_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    schema = f"bench_{uuid.uuid4().hex[:12]}"

    async def execute(sql: str) -> None:
        conn = await asyncpg.connect(base)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(execute(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{base}{'&' if '?' in base else '?'}search_path={schema}"
    finally:
        asyncio.run(execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def monitor_yaml(
    workdir: Path, url: str, checks: int, interval: str, listen: str, database_url: str
) -> Path:
    config = {
        "location": "bench",
        "defaults": {
            "interval": interval,
            "timeout": interval if parse_duration(interval) < 15 else "15s",
        },
        "storage": {"database_url": database_url, "data_dir": str(workdir / "monitor-data")},
        "server": {"listen": listen},
        "scheduler": {"max_concurrency": 1024},
        "sites": [
            {
                "id": f"site-{s}",
                "checks": [
                    {
                        "id": f"c{c}",
                        "type": "http",
                        "url": f"{url}?s={s}&c={c}",
                        "expect": {"body_contains": ["石化"]},
                    }
                    for c in range(min(100, checks - s * 100))
                ],
            }
            for s in range((checks + 99) // 100)
        ],
    }
    path = workdir / f"monitor-{checks}.yaml"
    path.write_text(json.dumps(config, ensure_ascii=False))  # JSON is YAML
    return path


def prometheus_yaml(
    workdir: Path, monitor_addr: str | None, blackbox_addr: str | None, targets: list[str]
) -> Path:
    jobs: list[dict[str, object]] = []
    if monitor_addr:
        jobs.append(
            {
                "job_name": "monitor",
                "scrape_interval": "15s",
                "scrape_timeout": "10s",
                "static_configs": [{"targets": [monitor_addr]}],
            }
        )
    if blackbox_addr:
        jobs.append(
            {
                "job_name": "blackbox",
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "metrics_path": "/probe",
                "params": {"module": ["http_2xx"]},
                "static_configs": [{"targets": targets}],
                "relabel_configs": [
                    {"source_labels": ["__address__"], "target_label": "__param_target"},
                    {"source_labels": ["__param_target"], "target_label": "instance"},
                    {"target_label": "__address__", "replacement": blackbox_addr},
                ],
            }
        )
    path = workdir / f"prometheus-{uuid.uuid4().hex[:6]}.yml"
    path.write_text(json.dumps({"global": {"scrape_interval": "15s"}, "scrape_configs": jobs}))
    return path


@contextlib.contextmanager
def prometheus(workdir: Path, config: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    data = workdir / f"tsdb-{port}"
    args = [
        "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with process(args, port) as proc:
        yield proc, port


def prometheus_value(port: int, query: str) -> float:
    """The value of an instant PromQL query to the Prometheus on `port` (NaN when empty)."""
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    result = json.loads(http_get(url))["data"]["result"]
    return float(result[0]["value"][1]) if result else float("nan")


def scrape(url: str, gzip: bool = False) -> int:
    """GET /metrics as Prometheus does (`gzip`: Accept-Encoding gzip); the bytes received."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gzip else {})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return len(answer.read())


@contextlib.contextmanager
def monitor_run(
    config: Path, listen: str, start_within: float = 120.0
) -> Iterator[subprocess.Popen[bytes]]:
    binary = Path(sys.executable).with_name("monitor")
    args = [str(binary), "--log-level", "warning", "run", "-c", str(config)]
    errors = config.with_suffix(".stderr")
    with errors.open("wb") as stderr:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        try:
            wait_http(f"http://{listen}/metrics", start_within, proc)
        except RuntimeError:
            sys.stderr.write(errors.read_text()[-2000:])
            raise
        yield proc
    finally:
        terminate(proc, 30)


def metric_sum(text: str, name: str) -> float:
    """Sum of every sample of `name` (any labels) in a /metrics exposition."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def outcomes(text: str) -> str:
    """monitor_probe_results_total by outcome, as `ok 1200, timeout 3`."""
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("monitor_probe_results_total{") and 'outcome="' in line:
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            counts[outcome] = counts.get(outcome, 0.0) + float(line.rsplit(" ", 1)[1])
    return ", ".join(f"{name} {count:.0f}" for name, count in sorted(counts.items()))


def lag_buckets(text: str, name: str = "monitor_scheduler_lag_seconds") -> dict[float, float]:
    """A histogram's cumulative buckets (summed over labels) by upper bound."""
    buckets: dict[float, float] = {}
    prefix = f"{name}_bucket{{"
    for line in text.splitlines():
        if line.startswith(prefix):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float(bound)] = buckets.get(float(bound), 0.0) + float(line.rsplit(" ", 1)[1])
    return buckets


def lag_p99(before: dict[float, float], after: dict[float, float]) -> float:
    """The histogram bucket bound under which 99 % of the window's lags fell (an upper bound)."""
    delta = {bound: after.get(bound, 0.0) - before.get(bound, 0.0) for bound in after}
    total = delta.get(float("inf"), 0.0)
    for bound in sorted(delta):
        if total and delta[bound] >= 0.99 * total:
            return bound
    return float("nan")


def deployed(args: argparse.Namespace, workdir: Path) -> None:
    """Both probers as deployed, side by side, at the same rate, against one nginx."""
    checks = args.deployed_checks
    with logged_nginx(workdir) as (port, log):
        url = f"http://127.0.0.1:{port}/"
        targets = [f"{url}?bb={n}" for n in range(checks)]
        bb_port = free_port()
        bb_conf = workdir / "blackbox.yml"
        bb_conf.write_text(BLACKBOX_CONF)
        binary = shutil.which("prometheus-blackbox-exporter") or "blackbox_exporter"
        bb_args = [binary, f"--config.file={bb_conf}", f"--web.listen-address=127.0.0.1:{bb_port}"]
        listen = f"127.0.0.1:{free_port()}"
        with contextlib.ExitStack() as stack:
            database_url = ""
            if not args.embedded:
                database_url = stack.enter_context(fresh_schema())
            config = monitor_yaml(workdir, url, checks, "1s", listen, database_url)
            bb = stack.enter_context(process(bb_args, bb_port))
            mon = stack.enter_context(monitor_run(config, listen))
            prom = prometheus_yaml(workdir, listen, f"127.0.0.1:{bb_port}", targets)
            stack.enter_context(prometheus(workdir, prom))
            time.sleep(args.warmup)

            def reading() -> tuple[dict[str, int], float, float, float, tuple[Any, ...]]:
                return (
                    log.counts(),
                    cpu_seconds(bb.pid),
                    descendants_cpu(mon.pid),
                    time.monotonic(),
                    (cpu_split(mon.pid), cpu_split(bb.pid)),
                )

            before = http_get(f"http://{listen}/metrics").decode()
            counts0, bb0, mon0, t0, split0 = reading()
            time.sleep(args.seconds)
            counts1, bb1, mon1, t1, split1 = reading()
            metrics = http_get(f"http://{listen}/metrics").decode()
    wall = t1 - t0
    duration = "monitor_probe_duration_seconds"
    ours, theirs = (
        counts1["monitor"] - counts0["monitor"],
        counts1["blackbox"] - counts0["blackbox"],
    )
    ours_us = (mon1 - mon0) / max(ours, 1) * 1e6
    theirs_us = (bb1 - bb0) / max(theirs, 1) * 1e6
    store = "embedded store" if args.embedded else "PostgreSQL 127.0.0.1:5432 (fresh schema)"
    print(
        f"[deployed] {checks} checks at 1 s each, one nginx on loopback, {wall:.0f} s window after {args.warmup:g} s warm-up"
    )
    print(
        f"[deployed]   monitor run ({store}, Prometheus scraping /metrics at 15 s):"
        f" {ours} probes ({ours / wall:.0f}/s), {mon1 - mon0:.1f} CPU s, {ours_us:,.0f} µs CPU per probe;"
        f" skipped {metric_sum(metrics, 'monitor_probes_skipped_total'):.0f},"
        f" store dropped {metric_sum(metrics, 'monitor_store_dropped_total'):.0f};"
        f" outcomes since start: {outcomes(metrics)}; in the window (histogram bucket bounds):"
        f" scheduler lag p99 <= {lag_p99(lag_buckets(before), lag_buckets(metrics)) * 1000:g} ms,"
        f" probe duration p99 <= {lag_p99(*(lag_buckets(t, duration) for t in (before, metrics))) * 1000:g} ms"
    )
    print(
        f"[deployed]   blackbox_exporter (Prometheus scraping {checks} /probe targets at 1 s):"
        f" {theirs} probes ({theirs / wall:.0f}/s), {bb1 - bb0:.1f} CPU s, {theirs_us:,.0f} µs CPU per probe"
    )
    for name, index, probes in (("monitor run", 0, ours), ("blackbox_exporter", 1, theirs)):
        user = (split1[index][0] - split0[index][0]) / max(probes, 1) * 1e6
        system = (split1[index][1] - split0[index][1]) / max(probes, 1) * 1e6
        print(
            f"[deployed]   {name} per probe: user {user:,.0f} µs, kernel {system:,.0f} µs (own process)"
        )
    print(
        f"[deployed]   ratio monitor/blackbox per probe: {ours_us / theirs_us:.2f}  (goal <= 0.5)"
    )


def scrape_cost(
    pid: int, url: str, rate: float, scrapes: int, *, gzip: bool, pause: float = 0.0
) -> tuple[float, float, int]:
    """(CPU s, wall s, bytes) of one scrape, the mean of `scrapes` each `pause` s after the last.

    A scrape's own CPU: what the process spent during it, less its background `rate`.
    """
    cpu = wall = 0.0
    size = 0
    for _ in range(scrapes):
        time.sleep(pause)
        c0, w0 = cpu_seconds(pid), time.monotonic()
        size = scrape(url, gzip)
        c1, w1 = cpu_seconds(pid), time.monotonic()
        cpu += max(0.0, c1 - c0 - rate * (w1 - w0))
        wall += w1 - w0
    return cpu / scrapes, wall / scrapes, size


def scale(args: argparse.Namespace, workdir: Path) -> None:
    """`monitor run` at several sizes: CPU per probe, RSS per check, a /metrics scrape's CPU.

    A scrape renders again only the checks probed since the one before, so its cost depends
    on what came before it: measured three ways. Ten back to back (little changed between
    them), plain and gzipped; three spaced 15 s apart with Prometheus paused (a quarter of
    the checks probed in between at 60 s, as Prometheus' own scrapes find them), gzipped as
    Prometheus asks; and the wall time of Prometheus' own scrapes over the window.
    """
    with logged_nginx(workdir) as (port, log):
        url = f"http://127.0.0.1:{port}/"
        for checks in args.scale:
            listen = f"127.0.0.1:{free_port()}"
            metrics_url = f"http://{listen}/metrics"
            with fresh_schema() as database_url:
                config = monitor_yaml(
                    workdir, url, checks, args.scale_interval, listen, database_url
                )
                with (
                    # 50,000 checks took minutes to answer a first /metrics on a loaded machine.
                    monitor_run(config, listen, 120 + checks / 100) as mon,
                    prometheus(workdir, prometheus_yaml(workdir, listen, None, [])) as (
                        prom,
                        pport,
                    ),
                ):
                    time.sleep(args.warmup)
                    before = http_get(metrics_url).decode()
                    counts0, cpu0, t0 = log.counts(), descendants_cpu(mon.pid), time.monotonic()
                    time.sleep(args.seconds)
                    counts1, cpu1, t1 = log.counts(), descendants_cpu(mon.pid), time.monotonic()
                    # The window's lag, read before the scrapes below slow the loop down.
                    ended = http_get(metrics_url).decode()
                    theirs = prometheus_value(
                        pport,
                        f'max_over_time(scrape_duration_seconds{{job="monitor"}}[{args.seconds:.0f}s])',
                    )
                    rate = (cpu1 - cpu0) / (t1 - t0)  # the background, less from scrapes

                    # Ten in a row: one scrape is close to /proc's 10 ms tick.
                    plain = scrape_cost(mon.pid, metrics_url, rate, 10, gzip=False)
                    gzipped = scrape_cost(mon.pid, metrics_url, rate, 10, gzip=True)
                    prom.send_signal(signal.SIGSTOP)  # its scrapes would refresh what ours find
                    try:
                        spaced = scrape_cost(mon.pid, metrics_url, rate, 3, gzip=True, pause=15.0)
                    finally:
                        prom.send_signal(signal.SIGCONT)
                    after = http_get(metrics_url).decode()
                    rss = rss_mb(mon.pid)
            probes = counts1["monitor"] - counts0["monitor"]
            wall = t1 - t0
            print(
                f"[scale] {checks:>6} checks at {args.scale_interval}: {probes / wall:6.0f} probes/s,"
                f" {(cpu1 - cpu0) / max(probes, 1) * 1e6:6,.0f} µs CPU per probe,"
                f" RSS {rss:5.0f} MB ({rss * 1024 / checks:5.1f} KB per check);"
                f" lag p99 <= {lag_p99(lag_buckets(before), lag_buckets(ended)) * 1000:g} ms,"
                f" skipped {metric_sum(after, 'monitor_probes_skipped_total'):.0f}",
                flush=True,
            )
            print(
                f"[scale] {checks:>6} checks /metrics: {plain[2] / 1e6:.1f} MB ({plain[2] / checks:,.0f} B"
                f" per check), gzip {gzipped[2] / 1e6:.1f} MB; a scrape back to back:"
                f" {plain[0] * 1000:4.0f} ms CPU {plain[1] * 1000:4.0f} ms wall, gzip"
                f" {gzipped[0] * 1000:4.0f} ms CPU {gzipped[1] * 1000:4.0f} ms wall; 15 s after the"
                f" last, gzip: {spaced[0] * 1000:4.0f} ms CPU {spaced[1] * 1000:4.0f} ms wall;"
                f" Prometheus' own scrapes (gzip, 15 s, its ingestion included): max {theirs * 1000:4.0f} ms wall",
                flush=True,
            )


TLS_NGINX_CONF = """
daemon off; master_process off; worker_processes 1; pid {work}/nginx.pid;
error_log {work}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off; keepalive_timeout 0; gzip on; gzip_types text/html; gzip_min_length 0;
  client_body_temp_path {work}; proxy_temp_path {work};
  fastcgi_temp_path {work}; uwsgi_temp_path {work}; scgi_temp_path {work};
  server {{ listen 127.0.0.1:{port}; root {root}; }}
  server {{
    listen 127.0.0.1:{tls_port} ssl; root {root};
    ssl_certificate {work}/cert.pem; ssl_certificate_key {work}/key.pem;
  }}
}}
"""


async def exchange_steps(plain: str, secure: str, ca_file: Path, fetches: int) -> None:
    """CPU of each step of the lean exchange, one fetch at a time; then whole fetches by the
    lean exchange and by aiohttp's session, plain and over TLS (nginx, gzip on)."""
    from aiohttp import DummyCookieJar

    from monitor.configtypes import TLSSpec
    from monitor.probes import exchange
    from monitor.probes.httpclient import HttpClient

    tls = TLSSpec(ca_file=ca_file)
    client = HttpClient()
    await client.start()
    loop = asyncio.get_running_loop()
    names = ("resolve", "connect", "tls", "request + head", "body", "close")
    for label, url_text in (("plain", plain), ("TLS", secure)):
        url = URL(url_text)
        context = client.ssl_context(tls) if url.scheme == "https" else None
        key = exchange.connection_key(url, context)
        spent = [0.0] * len(names)
        for n in range(fetches + 50):
            marks = [time.process_time()]
            addresses = await exchange.resolve(client._recording, url, key)  # type: ignore[arg-type]
            marks.append(time.process_time())
            protocol = await exchange.connect(loop, addresses, key)
            marks.append(time.process_time())
            if context is not None:
                protocol = await exchange.secure(loop, protocol, context, "localhost", key)
            marks.append(time.process_time())
            head, sent = exchange.request_head(
                "GET", url, None, user_agent="bench", cookie="", body=None
            )
            _, payload = await exchange.send(
                protocol, head, None, method="GET", url=url, sent=sent, max_line=32768
            )
            marks.append(time.process_time())
            while await payload.readany():
                pass
            marks.append(time.process_time())
            protocol.close()
            marks.append(time.process_time())
            if n >= 50:  # after a warm-up
                for step in range(len(names)):
                    spent[step] += marks[step + 1] - marks[step]
        row = ", ".join(
            f"{name} {cpu / fetches * 1e6:.0f}" for name, cpu in zip(names, spent, strict=True)
        )
        print(f"[steps] lean exchange, {label}, localhost (threaded getaddrinfo), µs CPU: {row}")
        for path in ("lean", "aiohttp session"):
            session = None if path == "lean" else client._new_session(DummyCookieJar())
            for n in range(fetches + 50):
                if n == 50:
                    start = time.process_time()
                response = await client.fetch(url_text, timeout=5, tls=tls, session=session)
                assert response.status == 200 and "石化" in response.text()
            cpu = time.process_time() - start
            if session is not None:
                await session.close()
            print(
                f"[steps]   whole fetch by the {path}: {cpu / fetches * 1e6:.0f} µs CPU"
                f" (phases, Transport, gzip body; {fetches} fetches one at a time)"
            )
    await client.close()


def steps(args: argparse.Namespace, workdir: Path) -> None:
    import trustme

    work = workdir / "nginx"
    root = work / "www"
    root.mkdir(parents=True)
    (root / "index.html").write_text(PAGE)
    authority = trustme.CA()
    cert = authority.issue_cert("localhost")
    cert.private_key_pem.write_to_path(work / "key.pem")
    cert.cert_chain_pems[0].write_to_path(work / "cert.pem")
    authority.cert_pem.write_to_path(work / "ca.pem")
    port, tls_port = free_port(), free_port()
    conf = work / "nginx.conf"
    conf.write_text(TLS_NGINX_CONF.format(work=work, port=port, tls_port=tls_port, root=root))
    with process(["nginx", "-c", str(conf), "-p", str(work)], tls_port):
        uvloop.run(
            exchange_steps(
                f"http://localhost:{port}/",
                f"https://localhost:{tls_port}/",
                work / "ca.pem",
                args.probes,
            )
        )


def scrape_in_process(sizes: list[int]) -> None:
    """The CPU of one /metrics scrape in process, as the server makes it (rendered and, for
    gzip, compressed piece by piece), with a quarter of the checks probed since the scrape
    before (60 s checks, a 15 s scrape), by size; and observe()'s CPU per result."""
    from datetime import UTC, datetime

    from monitor import server
    from monitor.metrics import Metrics
    from monitor.probes.http import HttpCheck
    from monitor.results import Outcome, Phases, ProbeResult, Transport

    for checks in sizes:
        metrics = Metrics(CollectorRegistry(), location="bench", version="1")
        results = []
        for i in range(checks):
            site, check = f"site-{i // 100}", f"c{i % 100}"
            url = f"http://127.0.0.1:1/?s={i // 100}&c={i % 100}"
            metrics.declare(HttpCheck(id=check, url=url, site=site, interval=60, timeout=15))
            seconds = 0.001 + (i % 97) * 1e-5
            fetched = Transport(status_code=200, phases=Phases(0.0, 1e-4, 0.0, 4e-4, seconds),
                                http_version=1.1, content_length=612, body_length=612,
                                ip_protocol=4, ip_addr_hash=2130706433.0)  # fmt: skip
            results.append(
                ProbeResult(
                    site=site,
                    check=check,
                    type="http",
                    outcome=Outcome.OK,
                    started_at=datetime.now(UTC),
                    duration_seconds=seconds,
                    location="bench",
                    transport=fetched,
                )
            )
        t0 = time.process_time()
        for result in results:
            metrics.observe(result)
        observe_us = (time.process_time() - t0) / checks * 1e6

        def scrape(gzip: bool, metrics: Metrics = metrics) -> int:
            body = server._MetricsBody(metrics.exposition_chunks, gzip)
            size = sum(map(len, body.first()))
            while not body.done:
                size += sum(map(len, body.next()))
            return size

        scrape(False)  # the first renders every check
        row = []
        for gzip in (False, True):
            best, size = float("inf"), 0
            for k in range(4):
                for result in results[k::4]:  # a quarter probed since the last scrape
                    metrics.observe(result)
                t0 = time.process_time()
                size = scrape(gzip)
                best = min(best, time.process_time() - t0)
            row.append(
                f"{'gzip' if gzip else 'plain'} {best * 1000:4.0f} ms CPU ({size / 1e6:.1f} MB)"
            )
        print(
            f"[scrape in process] {checks:>6} checks, a quarter changed: {', '.join(row)};"
            f" observe {observe_us:.1f} µs CPU per result",
            flush=True,
        )


def cold_start(workdir: Path) -> None:
    """A cold `monitor run` on the embedded store: seconds to the first /metrics answer and probe.

    Twice: in a new data_dir (the embedded PostgreSQL is created), then restarted on it.
    """
    with logged_nginx(workdir) as (port, log):
        listen = f"127.0.0.1:{free_port()}"
        config = monitor_yaml(workdir, f"http://127.0.0.1:{port}/", 10, "1s", listen, "")
        binary = Path(sys.executable).with_name("monitor")
        for when in ("new data_dir", "restart"):
            probes_before = log.counts()["monitor"]
            start = time.monotonic()
            proc = subprocess.Popen(
                [str(binary), "--log-level", "warning", "run", "-c", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            metrics_at = probe_at = float("nan")
            try:
                while time.monotonic() - start < 120 and (
                    metrics_at != metrics_at or probe_at != probe_at
                ):
                    if proc.poll() is not None:
                        raise RuntimeError(f"monitor run exited with {proc.returncode}")
                    if metrics_at != metrics_at:
                        with contextlib.suppress(OSError):
                            http_get(f"http://{listen}/metrics", 1)
                            metrics_at = time.monotonic() - start
                    if probe_at != probe_at and log.counts()["monitor"] > probes_before:
                        probe_at = time.monotonic() - start
                    time.sleep(0.01)
            finally:
                terminate(proc, 60)
            print(
                f"[cold start] monitor run, embedded store, {when}, 10 checks: /metrics answers after"
                f" {metrics_at:.2f} s, first probe reaches the target after {probe_at:.2f} s"
                " (goal both < 3 s)",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--deployed-checks", type=int, default=600, help="checks (and /probe targets) at 1 s"
    )
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds before a window opens")
    parser.add_argument("--seconds", type=float, default=60.0, help="a measuring window")
    parser.add_argument("--embedded", action="store_true", help="deployed: the embedded store")
    parser.add_argument("--probes", type=int, default=3000, help="in process: probes")
    parser.add_argument(
        "--scale",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1000, 10_000],
        help="check counts for the scale table (50000 takes a long while)",
    )
    parser.add_argument("--scale-interval", default="60s")
    parser.add_argument("--checks", type=int, default=10_000, help="in-process scheduler soak")
    parser.add_argument("--minutes", type=float, default=3.0, help="in-process scheduler soak")
    parser.add_argument("--rate", type=int, default=500, help="timing truth: probes per second")
    parser.add_argument(
        "--only",
        choices=["deployed", "cpu", "steps", "scale", "scrape", "scheduler", "timing", "cold"],
    )
    args = parser.parse_args()
    load = os.getloadavg()
    print(
        f"[machine] {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.only in (None, "deployed"):
            deployed(args, workdir / "deployed")
        if args.only in (None, "cpu", "scheduler"):
            with logged_nginx(workdir / "inprocess") as (port, _log):
                url = f"http://127.0.0.1:{port}/"
                if args.only in (None, "cpu"):
                    compare_cpu(workdir, port, args.probes)
                if args.only in (None, "scheduler"):
                    uvloop.run(scheduler_soak(url, args.checks, args.minutes * 60))
        if args.only in (None, "scale"):
            scale(args, workdir / "scale")
        if args.only in (None, "scrape"):
            scrape_in_process(args.scale)
        if args.only in (None, "timing"):
            delay_port = free_port()
            with process([sys.executable, "-c", DELAY_SERVER, str(delay_port)], delay_port):
                uvloop.run(timing_truth(f"http://127.0.0.1:{delay_port}/", args.rate, 10))
        if args.only in (None, "steps"):
            steps(args, workdir / "steps")
        if args.only in (None, "cold"):
            cold_start(workdir / "cold")
    load = os.getloadavg()
    print(f"[machine] load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
