"""Benchmark probe points: how late a confirmed incident opens, and what confirming costs.

Run: .venv/bin/python -m tests.bench.bench_points [--seconds 60] [--rounds 5] [--only cost|latency]

1. latency: three `monitor run` runtimes (in-process, real loopback sites, real PostgreSQL)
   probe a site every second; it goes down; how long after the first location's own incident
   (what a lone monitor would page on) the confirmed check incident is shown, in probe
   intervals. Repeated `--rounds` times.
2. cost: 10,000 checks x 3 locations at 60 s (500 results/s) written by three real writers
   with each result's slot, and every location's refresh every 5 s (heartbeat, settling,
   re-confirmation, the read for its metrics), for `--seconds`; then the same load without
   slots or refreshes (a lone location's shape). Prints the statements per second and the CPU
   of the PostgreSQL backends serving them (from /proc/<pid>/stat), both ways.

Talks to the test PostgreSQL (MONITOR_TEST_DATABASE_URL, PG*, or 127.0.0.1:5432/test) in
fresh schemas dropped afterwards. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import asyncpg

from monitor.clock import SystemClock
from monitor.results import Outcome, ProbeResult
from monitor.runtime import Runtime
from monitor.scheduler import phase_offset
from monitor.store import Store, WriterSettings
from monitor.store import points as store_points
from tests.locations import Site, config, gauge
from tests.pg import RecordingStoreMetrics, fresh_schema, make_config

LOCATIONS = ("ct", "cu", "cm")
CHECKS = 10_000
INTERVAL = 60.0
REFRESH = 5.0
# The runtimes' probe interval in the latency rounds (tests.locations.config).
PROBE_INTERVAL = 0.5


# -- 1. latency ------------------------------------------------------------------------------


async def latency(rounds: int) -> None:
    delays = []
    for _ in range(rounds):
        delays.append(await _one_round())
    print(
        f"latency: a confirmed incident (3 locations, quorum 2, interval 500 ms, "
        f"failure_threshold 2, refresh 200 ms, writer flush 100 ms) is shown {statistics.median(delays):.2f} probe intervals after "
        f"the first location's own incident (median of {rounds}; min {min(delays):.2f}, "
        f"max {max(delays):.2f}); a lone location shows its own at once (0)"
    )


async def _one_round() -> float:
    sites = {name: Site() for name in LOCATIONS}
    for server in sites.values():
        await server.start()
    points = {"expected": list(LOCATIONS), "canaries": [], "refresh": "200ms"}
    with TemporaryDirectory() as tmp:
        async with fresh_schema() as url:
            runtimes = [
                Runtime(config(url, sites[n].port, n, points, Path(tmp))) for n in LOCATIONS
            ]
            try:
                for runtime in runtimes:
                    await runtime.start(serve=False)
                await asyncio.sleep(2)
                for server in sites.values():
                    server.down = True
                first_local = confirmed = None
                deadline = time.monotonic() + 30
                while confirmed is None and time.monotonic() < deadline:
                    now = time.monotonic()
                    if first_local is None and any(
                        r.incidents is not None and r.incidents.open_incidents() for r in runtimes
                    ):
                        first_local = now
                    if any(gauge(r, "monitor_confirmed_incident_open") == 1 for r in runtimes):
                        confirmed = now
                    await asyncio.sleep(0.02)
                assert first_local is not None and confirmed is not None
                return (confirmed - first_local) / PROBE_INTERVAL
            finally:
                for runtime in runtimes:
                    await runtime.stop()
                for server in sites.values():
                    await server.stop()


# -- 2. cost ---------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _due_by_second(t0: float) -> list[list[tuple[str, float]]]:
    """Each check (key, phase offset), by the second of the minute after t0 it is due in."""
    due: list[list[tuple[str, float]]] = [[] for _ in range(int(INTERVAL))]
    for i in range(CHECKS):
        key = f"site-{i // 4}/check-{i % 4}"
        offset = phase_offset(key, INTERVAL)
        due[int((offset - t0) % INTERVAL)].append((key, offset))
    return due


def _results(
    location: str, second: int, t0: float, due: list[list[tuple[str, float]]]
) -> list[ProbeResult]:
    """The results one location's checks give whose grid instant falls in this second: about
    167 of 10,000 at 60 s. One check in 100 fails everywhere (confirmed), one in 100 at this
    location only (suspected)."""
    out = []
    for j, (key, offset) in enumerate(due[second % int(INTERVAL)]):
        n = math.ceil((t0 + second - offset) / INTERVAL)
        slot = offset + n * INTERVAL
        everywhere = (j + n) % 100 == 0
        here = (j + n + LOCATIONS.index(location) * 37) % 100 == 1
        failed = everywhere or here
        site, check = key.split("/")
        out.append(
            ProbeResult(
                site=site,
                check=check,
                type="http",
                outcome=Outcome.TIMEOUT if failed else Outcome.OK,
                started_at=datetime.fromtimestamp(slot + 0.01, UTC),
                duration_seconds=0.2,
                location=location,
                status_code=None if failed else 200,
            )
        )
    return out


async def cost(seconds: int) -> None:
    for confirming in (True, False):
        await _cost_run(seconds, confirming)


async def _cost_run(seconds: int, confirming: bool) -> None:
    async with fresh_schema() as url:
        points = {"expected": list(LOCATIONS), "canaries": []}
        stores = {}
        for location in LOCATIONS:
            cfg = make_config(url, location=location, points=points)
            stores[location] = await Store.open(
                cfg, RecordingStoreMetrics(), SystemClock(),
                settings=WriterSettings(batch_size=2000, flush_interval=1.0),
            )  # fmt: skip
            writer = stores[location].writer
            assert writer is not None
            writer.intervals = (
                {f"site-{i // 4}/check-{i % 4}": INTERVAL for i in range(CHECKS)}
                if confirming
                else {}
            )
        refreshers = {loc: await asyncpg.connect(url) for loc in LOCATIONS}
        statements = {"refresh": 0, "batches": 0}
        for store in stores.values():
            _count_batches(store, statements)
        started_at = datetime.now(UTC)
        t0 = time.time()
        due = _due_by_second(t0)

        async def feed() -> None:
            second = 0
            while True:
                for location, store in stores.items():
                    for result in _results(location, second, t0, due):
                        store.submit_result(result)
                second += 1
                await asyncio.sleep(max(0.0, t0 + second - time.time()))

        async def refresh(location: str) -> None:
            conn = refreshers[location]
            while True:
                await store_points.refresh(
                    conn, location=location, shard="0/1", started_at=started_at,
                    blind_since=None, spans=[], settle_wait=20.0, settle_span=3600.0, early=4.0,
                )  # fmt: skip
                # BEGIN, heartbeat, settle, re-confirm, COMMIT, then the view's five reads.
                statements["refresh"] += 10
                await asyncio.sleep(REFRESH)

        tasks = [asyncio.create_task(feed())]
        if confirming:
            tasks += [asyncio.create_task(refresh(loc)) for loc in LOCATIONS]
        try:
            await asyncio.sleep(25)  # warm up: batches flowing, first slots settled
            pids = [
                stores[loc].writer._conn.get_server_pid()  # type: ignore[union-attr]
                for loc in LOCATIONS
            ]
            refresh_pids = [conn.get_server_pid() for conn in refreshers.values()]
            writer_cpu = sum(_cpu_seconds(p) for p in pids)
            refresh_cpu = sum(_cpu_seconds(p) for p in refresh_pids)
            written = sum(s.writer.written for s in stores.values())  # type: ignore[union-attr]
            refresh_statements = statements["refresh"]
            batches = statements["batches"]
            began = time.monotonic()
            await asyncio.sleep(seconds)
            elapsed = time.monotonic() - began
            writer_cpu = sum(_cpu_seconds(p) for p in pids) - writer_cpu
            refresh_cpu = sum(_cpu_seconds(p) for p in refresh_pids) - refresh_cpu
            rows = sum(s.writer.written for s in stores.values()) - written  # type: ignore[union-attr]
            refresh_statements = statements["refresh"] - refresh_statements
            batches = statements["batches"] - batches
            decided = await refreshers["ct"].fetchval(
                "SELECT coalesce(sum(slots), 0) FROM check_hourly"
            )
            kept = await refreshers["ct"].fetchval("SELECT count(*) FROM check_slots")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for conn in refreshers.values():
                await conn.close()
            for store in stores.values():
                await store.close()
        # A writer batch is BEGIN, COPY, the move statement, COMMIT: 4 statements.
        writer_statements = 4 * batches
        label = "with confirmation" if confirming else "without (no slots, no refresh)"
        print(
            f"cost {label}: {rows / elapsed:,.0f} results/s from 3 locations; statements/s: "
            f"writers {writer_statements / elapsed:.1f}, refreshes "
            f"{refresh_statements / elapsed:.1f}; postgres backend CPU: writers "
            f"{writer_cpu / elapsed:.1%} of a core, refreshes {refresh_cpu / elapsed:.1%}"
            + (f"; {decided:,} slots decided, {kept:,} kept (not all ok)" if confirming else "")
        )


def _count_batches(store: Store, counts: dict[str, int]) -> None:
    """Count the writer's batches (one transaction each)."""
    writer = store.writer
    assert writer is not None
    write = writer._write

    async def counted(*args: Any) -> None:
        counts["batches"] += 1
        await write(*args)

    writer._write = counted  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", choices=("cost", "latency"))
    args = parser.parse_args()
    if args.only != "cost":
        asyncio.run(latency(args.rounds))
    if args.only != "latency":
        asyncio.run(cost(args.seconds))


if __name__ == "__main__":
    main()
