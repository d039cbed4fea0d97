"""Benchmark the probe engine (issue 2); prints figures, asserts nothing.

    .venv/bin/python tests/bench/bench_engine.py [--probes 3000] [--checks 10000] [--minutes 3]

1. CPU per 1,000 HTTP probes, fresh connection each, phase timings and metrics on, against
   the same nginx on loopback: this engine vs Debian's prometheus-blackbox-exporter via /probe.
2. The scheduler with 10,000 checks at a 60 s interval: lag p50/p99/max, RSS, CPU %.
3. Timing truth: a target that answers after exactly 200 ms, probed at 500/s: the error of the
   measured duration.

Needs nginx (Debian nginx-light) and prometheus-blackbox-exporter. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import uvloop
from prometheus_client import CollectorRegistry

from monitor.config import parse_config
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


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


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
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def nginx(workdir: Path) -> Iterator[int]:
    port = free_port()
    root = workdir / "www"
    root.mkdir()
    (root / "index.html").write_text("<html><body>石化离退休干部局</body></html>" + "x" * 2000)
    conf = workdir / "nginx.conf"
    conf.write_text(
        textwrap.dedent(f"""
        daemon off; master_process off; worker_processes 1; pid {workdir}/nginx.pid;
        error_log {workdir}/error.log;
        events {{ worker_connections 4096; }}
        http {{
          access_log off; keepalive_timeout 0;
          client_body_temp_path {workdir}; proxy_temp_path {workdir};
          fastcgi_temp_path {workdir}; uwsgi_temp_path {workdir}; scgi_temp_path {workdir};
          server {{ listen 127.0.0.1:{port}; root {root}; }}
        }}
        """)
    )
    with process(["nginx", "-c", str(conf), "-p", str(workdir)], port):
        yield port


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
    print(f"[cpu] {probes} probes each, fresh connection, phases + metrics on")
    print(
        f"[cpu]   engine:           {ours / probes * 1000:.3f} CPU s / 1000 probes  (failures {ours_fail})"
    )
    print(
        f"[cpu]   blackbox_exporter: {bb_spent / probes * 1000:.3f} CPU s / 1000 probes  (failures {bb_fail})"
    )
    print(f"[cpu]   ratio engine/blackbox: {ours / bb_spent:.2f}  (goal <= 0.5)")


async def scheduler_soak(url: str, checks: int, seconds: float) -> None:
    config = parse_config(engine_config(url, checks, "60s"))
    runtime = Runtime(config, registry=CollectorRegistry())
    lags: list[float] = []
    observe_lag = runtime.metrics.scheduler_lag

    def record(seconds: float) -> None:
        lags.append(seconds)
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--probes", type=int, default=3000)
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--only", choices=["cpu", "scheduler", "timing"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with nginx(workdir) as port:
            url = f"http://127.0.0.1:{port}/"
            if args.only in (None, "cpu"):
                compare_cpu(workdir, port, args.probes)
            if args.only in (None, "scheduler"):
                uvloop.run(scheduler_soak(url, args.checks, args.minutes * 60))
        if args.only in (None, "timing"):
            delay_port = free_port()
            with process([sys.executable, "-c", DELAY_SERVER, str(delay_port)], delay_port):
                uvloop.run(timing_truth(f"http://127.0.0.1:{delay_port}/", args.rate, 10))


if __name__ == "__main__":
    main()
