"""A store reached after start: its writer keeps the results from the first probe on, and the
runtime keeps none of its own."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitor.clock import SystemClock
from monitor.config import parse_config
from monitor.results import Outcome
from monitor.runtime import Runtime
from monitor.store import Store, StoreUnreachableError, WriterSettings
from tests.pg import RecordingStoreMetrics, TcpProxy, make_config, select, via
from tests.poll import wait_until
from tests.samples import T0, result

FAST = WriterSettings(
    batch_size=2, buffer_size=5, flush_interval=0.05, retry_initial=0.05, retry_max=0.2
)


async def test_a_disconnected_store_keeps_results_and_writes_them_once_connected(
    pg_url: str,
) -> None:
    """Before the database has answered, submitted results wait in the writer's one buffer
    (the oldest dropped and counted past buffer_size, /readyz says so, reads refuse); once
    connected every kept result is written, in order."""
    metrics = RecordingStoreMetrics()
    store = Store.disconnected(make_config(pg_url), metrics, SystemClock(), settings=FAST)
    try:
        for i in range(8):
            store.submit_result(result(T0 + timedelta(seconds=i), Outcome.TIMEOUT))
        assert store.ready() == (False, "store unreachable since start (5 results kept)")
        assert (metrics.dropped, metrics.depth) == (3, 5)
        kept = [row.started_at for row in store.waiting_results()]
        assert kept == [T0 + timedelta(seconds=i) for i in range(3, 8)]
        with pytest.raises(StoreUnreachableError, match="has not answered"):
            await store.list_incidents()

        await store.connect()
        assert await store.flush(10)
        rows = await select(store, "SELECT started_at FROM probe_results ORDER BY started_at")
        assert [row[0] for row in rows] == kept
        assert store.ready() == (True, "ok") and metrics.depth == 0
        [rollup] = await store.rollups(T0, T0 + timedelta(hours=1))
        assert (rollup.probes, rollup.failures) == (5, 5)
    finally:
        await store.close()


async def test_results_probed_while_the_database_is_down_at_start_reach_it_once_up(
    pg_url: str,
) -> None:
    """`Runtime` with the database down at start hands every result to the store's writer
    (it keeps no buffer of its own); once the database answers, every result probed meanwhile
    is stored and the incident they show is opened, dated at the first failure."""
    proxy = TcpProxy.to(pg_url)
    await proxy.start()
    await proxy.cut()
    data = {
        "storage": {"database_url": via(pg_url, "127.0.0.1", proxy.port)},
        "sites": [
            {
                "id": "portal",
                "name": "门户网站",
                "checks": [
                    # Port 9 on loopback: refused at once, a failure every second.
                    {
                        "id": "home",
                        "type": "http",
                        "url": "http://127.0.0.1:9/",
                        "interval": "1s",
                        "timeout": "1s",
                    }
                ],
            }
        ],
    }
    runtime = Runtime(parse_config(data, "test-config"), clock=SystemClock())
    await runtime.start(serve=False)
    try:
        store = runtime.store
        assert store is not None and runtime.incidents is None
        await wait_until("four results kept", lambda: len(store.waiting_results()) >= 4, timeout=30)
        ready, why = runtime.ready()
        assert not ready and why.startswith("store unreachable since start")
        kept = store.waiting_results()
        first = kept[0].started_at
        await proxy.restore()
        await wait_until("the store reached", lambda: runtime.incidents is not None)
        assert await store.flush(30)
        rows = await select(store, "SELECT id, started_at FROM probe_results ORDER BY started_at")
        assert {row.id for row in kept} <= {row[0] for row in rows}
        [incident] = await store.list_incidents(open_only=True)
        assert incident.opened_at == first and incident.reason == "connect_error"
    finally:
        await runtime.stop()
        await proxy.close()
