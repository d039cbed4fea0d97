"""`monitor run --shard i/n`: replicas split the checks and continue only their own incidents."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitor.clock import SystemClock
from monitor.config import parse_config
from monitor.incidents import Incident, IncidentEvent
from monitor.runtime import Runtime
from monitor.shard import Shard
from monitor.store import Store
from tests.pg import RecordingStoreMetrics

T0 = datetime(2026, 7, 1, tzinfo=UTC)


def config_data(database_url: str = "", sites: int = 6, checks: int = 5) -> dict[str, Any]:
    return {
        "storage": {"database_url": database_url},
        "sites": [
            {
                "id": f"site-{s}",
                "owner": "ops",
                "checks": [
                    {"id": f"c{c}", "type": "http", "url": "http://127.0.0.1:9/", "interval": "1h"}
                    for c in range(checks)
                ],
            }
            for s in range(sites)
        ],
    }


def test_parse_accepts_i_of_n_and_refuses_the_rest() -> None:
    """`i/n` is 0-based; anything else is a clear error."""
    assert Shard.parse("2/3") == Shard(2, 3)
    for bad in ("3/3", "1", "-1/2", "a/b", "0/0"):
        with pytest.raises(ValueError, match="invalid --shard"):
            Shard.parse(bad)


def test_every_check_belongs_to_exactly_one_shard_and_shards_are_even() -> None:
    """Over 3,000 keys and 3 shards, each key has one owner and each shard about a third."""
    keys = [f"site-{s}/check-{c}" for s in range(300) for c in range(10)]
    shards = [Shard(i, 3) for i in range(3)]
    owners = [[shard.owns(key) for shard in shards].count(True) for key in keys]
    assert set(owners) == {1}
    counts = Counter(next(i for i, shard in enumerate(shards) if shard.owns(key)) for key in keys)
    assert all(850 <= counts[i] <= 1150 for i in range(3)), counts


async def test_replicas_probe_disjoint_sets_that_cover_the_config() -> None:
    """Two replicas on one config adopt disjoint check sets whose union is every check."""
    config = parse_config(config_data())
    adopted = []
    for index in range(2):
        runtime = Runtime(config, shard=Shard(index, 2))
        await runtime.start(serve=False, store=False)
        adopted.append(set(runtime._checks))
        await runtime.stop()
    assert adopted[0].isdisjoint(adopted[1])
    assert adopted[0] | adopted[1] == {check.key for check in config.checks()}


async def test_a_replica_continues_only_its_own_open_incidents(pg_url: str) -> None:
    """After a restart a replica restores its own open incidents and leaves the others' open."""
    config = parse_config(config_data(pg_url, sites=2, checks=4))
    store = await Store.open(config, RecordingStoreMetrics(), SystemClock())
    for check in config.checks():
        incident = Incident(
            id=str(uuid.uuid4()),
            site=check.site, check=check.id, location="default", owner="ops", reason="timeout",
            opened_at=T0, failures=3, outcome_counts={"timeout": 3}, first_error="e",
            last_error="e", last_failure_at=T0 + timedelta(minutes=2),
        )  # fmt: skip
        store.submit_incident_event(IncidentEvent("opened", T0, incident))
    assert await store.flush(10)
    await store.close()

    shard = Shard(0, 2)
    runtime = Runtime(config, shard=shard)
    await runtime.start(serve=False)
    try:
        assert runtime.incidents is not None
        restored = {i.key for i in runtime.incidents.open_incidents()}
        mine = {c.key for c in config.checks() if shard.owns(c.key)}
        assert restored == mine and 0 < len(mine) < 8
        assert runtime.store is not None
        still_open = {i.key for i in await runtime.store.list_incidents(open_only=True)}
    finally:
        await runtime.stop()
    # The other replica's incidents are neither resolved as removed nor touched.
    assert still_open == {c.key for c in config.checks()}


def test_bad_shard_is_exit_2(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """`monitor run --shard 3/3` is refused before anything starts."""
    from monitor.cli import main

    config = tmp_path / "monitor.yaml"
    config.write_text("sites: []\n")
    assert main(["run", "-c", str(config), "--shard", "3/3"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: invalid --shard '3/3' (use i/n with 0 <= i < n, e.g. 0/3)"
    )
