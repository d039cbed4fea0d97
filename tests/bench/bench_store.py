"""Benchmark the store's writer: sustained insert rate, buffer memory, how long the buffer lasts.

Run: .venv/bin/python -m tests.bench.bench_store [--results 200000] [--batch 2000]
Talks to the test PostgreSQL (MONITOR_TEST_DATABASE_URL, PG*, or 127.0.0.1:5432/test) in a
fresh schema dropped afterwards. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

from monitor.clock import SystemClock
from monitor.results import Outcome, Phases, ProbeResult
from monitor.store import Store, WriterSettings
from monitor.store.writer import Writer
from tests.pg import RecordingStoreMetrics, fresh_schema, make_config, select

CHECKS = 10_000
INTERVAL = 60.0
T0 = datetime(2026, 7, 1, tzinfo=UTC)


def realistic(i: int) -> ProbeResult:
    """A result as the HTTP probe makes it: one of 10,000 checks, mostly ok, some failures."""
    check = i % CHECKS
    ok = i % 50 != 0
    return ProbeResult(
        site=f"site-{check // 4}",
        check=f"check-{check % 4}",
        type="http",
        outcome=Outcome.OK if ok else Outcome.TIMEOUT,
        started_at=T0 + timedelta(seconds=INTERVAL * (i // CHECKS), microseconds=i % CHECKS),
        duration_seconds=0.05 + (i % 997) / 1000,
        detail=f"status {200 if ok else 0}" if ok else "no answer within 15s (processing)",
        status_code=200 if ok else None,
        phases=Phases(0.001, 0.01, 0.02, 0.1 + (i % 13) / 100, 0.01),
        cert_expiry_timestamp=1_800_000_000.0,
        tls_verified=True,
    )


async def insert_rate(total: int, batch: int) -> None:
    async with fresh_schema() as url:
        metrics = RecordingStoreMetrics()
        settings = WriterSettings(batch_size=batch, buffer_size=total + 1, flush_interval=0.2)
        store = await Store.open(make_config(url), metrics, SystemClock(), settings=settings)
        try:
            results = [realistic(i) for i in range(total)]
            started = time.perf_counter()
            cpu = time.process_time()
            for result in results:
                store.submit_result(result)
            submitted = time.perf_counter() - started
            assert await store.flush(600)
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu
            rows = (await select(store, "SELECT count(*) FROM probe_results"))[0][0]
            rollups = (await select(store, "SELECT count(*) FROM rollups_hourly"))[0][0]
            print(
                f"insert: {total} results in batches of {batch}: {elapsed:.2f} s, "
                f"{total / elapsed:,.0f} results/s sustained "
                f"(submit alone {submitted * 1e6 / total:.2f} µs/result; "
                f"monitor process CPU {cpu:.2f} s = {cpu / elapsed:.0%} of one core; "
                f"{rows} rows, {rollups} rollup rows, write errors {metrics.write_errors})"
            )
        finally:
            await store.close()


def buffer_memory(count: int = 100_000) -> float:
    """Bytes held per buffered result: the results themselves plus the buffer's slots."""

    async def unused() -> object:
        raise AssertionError("not started")

    writer = Writer(
        unused,  # type: ignore[arg-type]
        WriterSettings(buffer_size=count * 2),
        RecordingStoreMetrics(),
        SystemClock(),
    )
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(count):
        writer.submit_result(realistic(i))
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    per = (after - before) / count
    print(
        f"buffer memory: {count} results hold {(after - before) / 2**20:.1f} MiB, "
        f"{per:,.0f} bytes per result"
    )
    return per


def buffer_duration(per_result: float) -> None:
    rate = CHECKS / INTERVAL
    size = WriterSettings().buffer_size
    seconds = size / rate
    print(
        f"buffer duration: default buffer_size {size:,} results at {CHECKS:,} checks / "
        f"{INTERVAL:.0f} s ({rate:,.1f} results/s) lasts {seconds / 60:,.0f} min "
        f"({seconds / 3600:.1f} h) before dropping, holding {size * per_result / 2**20:,.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=int, default=200_000)
    parser.add_argument("--batch", type=int, action="append")
    args = parser.parse_args()
    for batch in args.batch or [2000]:
        asyncio.run(insert_rate(args.results, batch))
    per = buffer_memory()
    buffer_duration(per)


if __name__ == "__main__":
    main()
