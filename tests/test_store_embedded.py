"""The embedded default: with no database URL, a private PostgreSQL in the data directory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.clock import SystemClock
from monitor.incidents import Incident, IncidentEvent
from monitor.results import Outcome, ProbeResult
from monitor.store import Store, migrate
from tests.pg import make_config

T0 = datetime(2026, 7, 1, tzinfo=UTC)


async def test_embedded_server_starts_stores_and_keeps_history(tmp_path: Path) -> None:
    """With database_url empty, the store starts PostgreSQL under data_dir, writes to it, and
    finds the same history after a stop and a fresh start."""
    data_dir = tmp_path / "monitor-data"
    config = make_config("", storage={"database_url": "", "data_dir": str(data_dir)})
    store = await Store.open(config, None, SystemClock())
    try:
        for minute in range(3):
            store.submit_result(
                ProbeResult(
                    site="portal",
                    check="home",
                    type="http",
                    outcome=Outcome.TIMEOUT,
                    started_at=T0 + timedelta(minutes=minute),
                    duration_seconds=15.0,
                )
            )
        opened = Incident(
            id="3f0c2d7e-5b1a-4c8e-9d6f-0a1b2c3d4e5f",
            site="portal",
            check="home",
            location="default",
            owner="portal-team",
            reason="timeout",
            opened_at=T0,
            failures=3,
            outcome_counts={"timeout": 3},
            first_error="no answer",
            last_error="no answer",
            last_failure_at=T0 + timedelta(minutes=2),
        )
        store.submit_incident_event(IncidentEvent("opened", T0, opened))
        assert await store.flush(30)
        assert store.ready() == (True, "ok")
    finally:
        await store.close()
    assert (data_dir / "postgres" / "PG_VERSION").exists()

    # A second start (the server was stopped with the last user) sees the same data.
    assert await migrate(config) == []
    store = await Store.open(config, None, SystemClock(), read_only=True)
    try:
        assert await store.load_open_incidents("default") == [opened]
        [rollup] = await store.rollups(T0, T0 + timedelta(hours=1))
        assert (rollup.probes, rollup.failures) == (3, 3)
    finally:
        await store.close()
