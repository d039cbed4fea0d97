"""The schema: read-only commands never change it (on an older one they say to run
`monitor migrate`), and it fills every derived table itself, whoever inserts the results."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
import yaml

from monitor.store.migrations import available, current_version, migrate
from tests.service import run_in_process as run_cli


def write_config(path: Path, database_url: str) -> Path:
    data = {
        "storage": {"database_url": database_url},
        "sites": [
            {
                "id": "portal",
                "name": "门户网站",
                "checks": [{"id": "home", "type": "http", "url": "http://127.0.0.1:9/"}],
            }
        ],
    }
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


async def _version(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await current_version(conn)
    finally:
        await conn.close()


READ_ONLY = [["incidents"], ["report", "--quarter", "2026Q3", "--format", "json", "-o"]]


@pytest.mark.parametrize("command", READ_ONLY, ids=["incidents", "report"])
@pytest.mark.parametrize("behind", [1, len(available())], ids=["one-behind", "never-migrated"])
async def test_read_only_commands_on_an_older_schema_ask_for_migrate(
    pg_url: str,
    tmp_path: Path,
    command: list[str],
    behind: int,
) -> None:
    """`monitor incidents` and `monitor report` on a schema `behind` migrations old exit 1 with
    one line that says to run `monitor migrate`, and leave the schema as it was; after
    `monitor migrate` the same command succeeds."""
    shipped = available()
    conn = await asyncpg.connect(pg_url)
    try:
        await migrate(conn, shipped[: len(shipped) - behind])
    finally:
        await conn.close()
    before = await _version(pg_url)
    assert before == len(shipped) - behind
    config = write_config(tmp_path / "monitor.yaml", pg_url)

    if command[-1] == "-o":
        command = [*command, str(tmp_path / "report.json")]
    code, out, err = await run_cli(command[0], "-c", str(config), *command[1:])
    assert code == 1 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "run `monitor migrate`" in err
    assert f"version {before}" in err and f"{len(shipped)}" in err
    assert await _version(pg_url) == before  # nothing was applied

    code, out, err = await run_cli("migrate", "-c", str(config))
    assert code == 0, err
    assert await _version(pg_url) == len(shipped)
    code, out, err = await run_cli(command[0], "-c", str(config), *command[1:])
    assert code == 0, err
    if command[0] == "report":
        assert (tmp_path / "report.json").stat().st_size > 0


async def test_derived_tables_are_filled_by_the_schema_from_any_insert(
    pg_url: str,
) -> None:
    """Results inserted by plain SQL, not through the writer, are counted in the hourly
    rollups (outcomes, probes, failures, latency buckets at a bound's edge) and freshness
    observations exactly as written ones; inserting them again counts nothing twice."""
    conn = await asyncpg.connect(pg_url)
    try:
        await migrate(conn)
        t0 = datetime(2026, 7, 1, 8, tzinfo=UTC)
        rows = [
            (uuid.uuid4(), "ok", 0.5, None),  # on a bound: the bucket below it
            (uuid.uuid4(), "ok", 0.5001, t0),  # just above: the next one
            (uuid.uuid4(), "timeout", 15.0, None),
            (uuid.uuid4(), "probe_error", 0.1, None),  # the monitor's own: not a probe
        ]
        insert = """
            INSERT INTO probe_results (id, site, check_id, location, type, started_at,
                                       duration_seconds, outcome, detail, newest_item_at)
            VALUES ($1, 'portal', 'home', 'default', 'http', $2, $3, $4, '', $5)
            ON CONFLICT (id) DO NOTHING
        """
        for _ in range(2):
            await conn.executemany(insert, [(i, t0, d, o, n) for i, o, d, n in rows])
        names = list(await conn.fetchval("SELECT names FROM rollup_outcomes"))
        bounds = list(await conn.fetchval("SELECT bounds FROM latency_buckets"))
        [rollup] = await conn.fetch("SELECT * FROM rollups_hourly")
        # One INSERT per row: each adds to the same hour's row.
        assert (rollup["hour"], rollup["probes"], rollup["failures"]) == (t0, 3, 1)
        counts = dict(zip(names, rollup["outcome_counts"], strict=True))
        assert {k: v for k, v in counts.items() if v} == {"ok": 2, "timeout": 1, "probe_error": 1}
        buckets = list(rollup["latency_buckets"])
        assert len(buckets) == len(bounds) + 1 and sum(buckets) == 2
        assert buckets[bounds.index(0.5)] == 1 and buckets[bounds.index(0.5) + 1] == 1
        assert rollup["latency_count"] == 2
        assert abs(rollup["latency_sum"] - 1.0001) < 1e-9
        observed = await conn.fetch("SELECT result_id, newest_item_at FROM freshness_observations")
        assert [tuple(r) for r in observed] == [(rows[1][0], t0)]
    finally:
        await conn.close()
