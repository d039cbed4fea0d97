"""Benchmark the quarterly report: 200 checks x 90 days of 1-minute probes, as hourly rollups.

Run: .venv/bin/python -m tests.bench.bench_report [--checks 200] [--days 90] [--locations 1]
With `--locations 3` each location has its own rollups and every hour is settled
(`check_hourly`, probe points): the report's official figures then come from the settled
hours and each location's own beside them, still from hourly rows only.
Talks to the test PostgreSQL (MONITOR_TEST_DATABASE_URL, PG*, or 127.0.0.1:5432/test) in a
fresh schema dropped afterwards. The rollups (checks x days x 24 rows, 432,000 by default:
about 26 million probes' worth) and a few incidents are COPYed straight in, as years of
`monitor run` would have left them. Prints wall time per step and format, and peak memory;
asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from monitor.clock import SystemClock
from monitor.config import parse_config
from monitor.report import build_report, parse_period, render
from monitor.store import Store
from tests.pg import RecordingStoreMetrics, fresh_schema

CHECKS_PER_SITE = 4
START = datetime(2026, 6, 30, 16, tzinfo=UTC)  # 2026-07-01 00:00 in Shanghai


def config_for(url: str, checks: int, locations: int = 1):  # type: ignore[no-untyped-def]
    sites = []
    for s in range((checks + CHECKS_PER_SITE - 1) // CHECKS_PER_SITE):
        count = min(CHECKS_PER_SITE, checks - s * CHECKS_PER_SITE)
        sites.append(
            {
                "id": f"site-{s:03d}",
                "name": f"测试网站{s:03d}",
                "checks": [
                    {"id": f"check-{c}", "type": "http", "url": f"http://127.0.0.1:9/{c}"}
                    for c in range(count)
                ],
            }
        )
    data: dict[str, object] = {
        "storage": {"database_url": url},
        "defaults": {"interval": "1m"},
        "timezone": "Asia/Shanghai",
        "sites": sites,
    }
    if locations > 1:
        data["location"] = LOCATIONS[0]
        data["points"] = {"expected": list(LOCATIONS[:locations]), "canaries": []}
    return parse_config(data, "bench")


LOCATIONS = ("ct", "cu", "cm", "p4", "p5")


def rollup_rows(config, days: int, n_outcomes: int, n_buckets: int, locations: int = 1):  # type: ignore[no-untyped-def]
    rng = random.Random(1)
    timeout_index = 3  # position of `timeout` in rollup_outcomes
    names = LOCATIONS[:locations] if locations > 1 else ("default",)
    for check in config.checks():
        for h, location in ((h, loc) for h in range(days * 24) for loc in names):
            failures = 1 if rng.random() < 0.02 else 0
            ok = 60 - failures
            outcomes = [0] * n_outcomes
            outcomes[0], outcomes[timeout_index] = ok, failures
            buckets = [0] * n_buckets
            for _ in range(3):
                buckets[rng.randrange(2, 9)] += ok // 3
            buckets[4] += ok - sum(buckets)
            yield (
                check.site,
                check.id,
                location,
                START + timedelta(hours=h),
                60,
                failures,
                outcomes,
                buckets,
                ok * 0.4,
                ok,
            )


def settled_rows(config, days: int, n_outcomes: int, locations: int):  # type: ignore[no-untyped-def]
    """check_hourly rows as monitor_settle leaves them: 60 slots an hour, a confirmed timeout
    in about 1 % of the hours, a suspected slot in 3 %, every expected location voting."""
    rng = random.Random(2)
    for check in config.checks():
        for h in range(days * 24):
            confirmed = 1 if rng.random() < 0.01 else 0
            counts = [0] * n_outcomes
            counts[3] = confirmed
            yield (
                check.site, check.id, START + timedelta(hours=h), 60, confirmed,
                1 if rng.random() < 0.03 else 0, confirmed, 0, 0, counts,
            )  # fmt: skip


async def load(url: str, config, days: int, locations: int = 1) -> int:  # type: ignore[no-untyped-def]
    conn = await asyncpg.connect(url)
    try:
        n_outcomes = len(await conn.fetchval("SELECT names FROM rollup_outcomes"))
        n_buckets = len(await conn.fetchval("SELECT bounds FROM latency_buckets")) + 1
        rows = list(rollup_rows(config, days, n_outcomes, n_buckets, locations))
        if locations > 1:
            await conn.copy_records_to_table(
                "check_hourly",
                records=list(settled_rows(config, days, n_outcomes, locations)),
                columns=(
                    "site", "check_id", "hour", "slots", "confirmed", "suspected",
                    "unreachable", "blind_votes", "missing_votes", "confirmed_outcomes",
                ),
            )  # fmt: skip
            await conn.execute("ANALYZE check_hourly")
        await conn.copy_records_to_table(
            "rollups_hourly",
            records=rows,
            columns=(
                "site",
                "check_id",
                "location",
                "hour",
                "probes",
                "failures",
                "outcome_counts",
                "latency_buckets",
                "latency_sum",
                "latency_count",
            ),
        )
        incidents = []
        for i, check in enumerate(config.checks()):
            opened = START + timedelta(days=i % days, hours=3)
            incidents.append(
                (
                    uuid.uuid4(),
                    check.site,
                    check.id,
                    "default",
                    "default",
                    "timeout",
                    opened,
                    opened + timedelta(minutes=17),
                    "recovered",
                    5,
                    '{"timeout": 5}',
                    "no answer within 15s",
                    "no answer within 15s",
                    opened + timedelta(minutes=4),
                    False,
                    3,
                )
            )
        await conn.copy_records_to_table(
            "incidents",
            records=incidents,
            columns=(
                "id",
                "site",
                "check_id",
                "location",
                "owner",
                "reason",
                "opened_at",
                "resolved_at",
                "resolution",
                "failures",
                "outcome_counts",
                "first_error",
                "last_error",
                "last_failure_at",
                "during_maintenance",
                "revision",
            ),
        )
        await conn.execute("ANALYZE rollups_hourly")
        return len(rows)
    finally:
        await conn.close()


async def main(checks: int, days: int, locations: int = 1) -> None:
    async with fresh_schema() as url:
        config = config_for(url, checks, locations)
        store = await Store.open(config, RecordingStoreMetrics(), SystemClock())
        try:
            started = time.perf_counter()
            rows = await load(url, config, days, locations)
            print(
                f"loaded {rows:,} rollup rows ({rows * 60:,} probes) in "
                f"{time.perf_counter() - started:.1f} s"
            )
            period = parse_period("Asia/Shanghai", quarter_text="2026Q3")
            now = START + timedelta(days=100)
            # Timings first, untraced (tracemalloc slows Python down several times).
            started = time.perf_counter()
            report = await build_report(config, store, period, now=now)
            built = time.perf_counter() - started
            print(f"build_report: {built:.2f} s")
            for fmt in ("md", "json", "html", "csv"):
                started = time.perf_counter()
                out = render(report, fmt, "zh")  # type: ignore[arg-type]
                elapsed = time.perf_counter() - started
                size = len(out) if isinstance(out, bytes) else sum(len(v) for v in out.values())
                print(
                    f"render {fmt:4s}: {elapsed:.2f} s, build + render {built + elapsed:.2f} s, "
                    f"{size / 2**20:.1f} MiB out"
                )
            # Then peak memory, traced.
            tracemalloc.start()
            report = await build_report(config, store, period, now=now)
            _, peak = tracemalloc.get_traced_memory()
            print(f"peak Python memory: build_report {peak / 2**20:.1f} MiB", end="")
            for fmt in ("md", "json", "html", "csv"):
                tracemalloc.reset_peak()
                render(report, fmt, "zh")  # type: ignore[arg-type]
                _, peak = tracemalloc.get_traced_memory()
                print(f", {fmt} {peak / 2**20:.1f} MiB", end="")
            print()
            tracemalloc.stop()
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"process peak RSS (whole run, generator included): {rss:.0f} MiB")
        finally:
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checks", type=int, default=200)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--locations", type=int, default=1, choices=range(1, len(LOCATIONS) + 1))
    args = parser.parse_args()
    asyncio.run(main(args.checks, args.days, args.locations))
