"""Durability: Postgres cut off mid-run (through a TCP proxy the test controls) loses nothing
and duplicates nothing; a commit whose answer is lost is not written twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from monitor.clock import SystemClock
from monitor.incidents import IncidentEngine
from monitor.maintenance import MaintenanceSchedule
from monitor.results import Outcome, ProbeResult
from monitor.store import Store, WriterSettings
from tests.pg import (
    CountingSink,
    NoGauges,
    RecordingStoreMetrics,
    TcpProxy,
    make_config,
    select,
    via,
)
from tests.poll import wait_until

T0 = datetime(2026, 7, 1, tzinfo=UTC)
FAST = WriterSettings(batch_size=40, flush_interval=0.05, retry_initial=0.05, retry_max=0.2)


@pytest.fixture
async def proxy(pg_url: str) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy.to(pg_url)
    await proxy.start()
    yield proxy
    await proxy.close()


def probe(check: str, n: int, outcome: Outcome = Outcome.OK) -> ProbeResult:
    return ProbeResult(
        site="portal",
        check=check,
        type="http",
        outcome=outcome,
        started_at=T0 + timedelta(seconds=n),
        duration_seconds=0.2,
        detail="" if outcome is Outcome.OK else f"{outcome} #{n}",
    )


async def test_outage_mid_run_loses_and_duplicates_nothing(
    pg_url: str,
    proxy: TcpProxy,
) -> None:
    """Results and incident events produced while Postgres is unreachable all arrive, once,
    after it comes back; meanwhile the store reports itself unreachable and never blocks."""
    config = make_config(via(pg_url, "127.0.0.1", proxy.port))
    metrics = RecordingStoreMetrics()
    store = await Store.open(config, metrics, SystemClock(), settings=FAST)
    sink = CountingSink(store)
    engine = IncidentEngine(
        config.checks(), sink, NoGauges(), SystemClock(), MaintenanceSchedule([], config.timezone)
    )
    n = 0

    async def feed(check: str, count: int, outcome: Outcome = Outcome.OK) -> None:
        nonlocal n
        for _ in range(count):
            result = probe(check, n, outcome)
            n += 1
            engine.observe(result)
            store.submit_result(result)
            if n % 20 == 0:
                await asyncio.sleep(0.01)

    try:
        await feed("home", 200)
        assert await store.flush(20)

        await proxy.cut()
        await feed("home", 100)
        await feed("home", 5, Outcome.TIMEOUT)  # opens an incident during the outage
        await wait_until("the store to say it is unreachable", lambda: not store.ready()[0])
        assert store.ready()[1].startswith("store unreachable")
        await feed("news", 4, Outcome.CONNECT_ERROR)  # a second incident
        await feed("home", 300)  # home recovers, still during the outage
        assert store.writer is not None and store.writer.pending > 0

        await proxy.restore()
        assert await store.flush(30)
        assert store.ready() == (True, "ok")

        rows = await select(store, "SELECT count(*), count(DISTINCT started_at) FROM probe_results")
        assert tuple(rows[0]) == (n, n)
        rollup = await select(store, "SELECT sum(probes), sum(failures) FROM rollups_hourly")
        assert tuple(rollup[0]) == (n, 9)
        stored_events = await select(store, "SELECT id::text FROM incident_events")
        assert sorted(r[0] for r in stored_events) == sorted(e.id for e in sink.events)
        incidents = {i.check: i for i in await store.list_incidents()}
        assert incidents["home"].resolved_at == T0 + timedelta(seconds=309)
        assert incidents["home"].failures == 5 and incidents["home"].reason == "timeout"
        assert incidents["news"].is_open and incidents["news"].reason == "connect_error"
        assert metrics.write_errors >= 1
        assert metrics.dropped == 0
        assert metrics.depth == 0
    finally:
        await store.close()


async def test_commit_with_lost_answer_is_not_written_twice(
    pg_url: str,
    proxy: TcpProxy,
) -> None:
    """A batch whose COMMIT reached Postgres but whose answer was lost is retried on a new
    connection and stored once: results, rollups and incident events alike."""
    config = make_config(via(pg_url, "127.0.0.1", proxy.port))
    metrics = RecordingStoreMetrics()
    store = await Store.open(config, metrics, SystemClock(), settings=FAST)
    sink = CountingSink(store)
    engine = IncidentEngine(
        config.checks(), sink, NoGauges(), SystemClock(), MaintenanceSchedule([], config.timezone)
    )
    try:
        # The simple-query message asyncpg sends to commit (not the stage table's "ON COMMIT").
        proxy.lose_answer_after(b"COMMIT;\x00")
        for i in range(30):
            result = probe("home", i, Outcome.OK if i < 27 else Outcome.HTTP_ERROR)
            engine.observe(result)
            store.submit_result(result)
        await asyncio.wait_for(proxy.swallowed.wait(), 20)
        assert await store.flush(30)
        assert metrics.write_errors >= 1
        rows = await select(store, "SELECT count(*) FROM probe_results")
        assert rows[0][0] == 30
        [rollup] = await store.rollups(T0, T0 + timedelta(hours=1))
        assert (rollup.probes, rollup.failures) == (30, 3)
        assert len(sink.events) == 1
        stored_events = await select(store, "SELECT count(*) FROM incident_events")
        assert stored_events[0][0] == 1
    finally:
        await store.close()
