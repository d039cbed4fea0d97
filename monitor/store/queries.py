"""The read side and the housekeeping queries: incidents, rollups, config sync, pruning."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg

from monitor.config import Config
from monitor.incidents import Incident
from monitor.store.reader import Rollup

_INCIDENT_SELECT = """
SELECT id::text, site, check_id, location, owner, reason, opened_at, resolved_at, resolution,
       failures, outcome_counts, first_error, last_error, last_failure_at, during_maintenance,
       revision
FROM incidents
"""


def _incident(row: asyncpg.Record) -> Incident:
    return Incident(
        id=row["id"],
        site=row["site"],
        check=row["check_id"],
        location=row["location"],
        owner=row["owner"],
        reason=row["reason"],
        opened_at=row["opened_at"],
        resolved_at=row["resolved_at"],
        resolution=row["resolution"],
        failures=row["failures"],
        outcome_counts=json.loads(row["outcome_counts"]),
        first_error=row["first_error"],
        last_error=row["last_error"],
        last_failure_at=row["last_failure_at"],
        during_maintenance=row["during_maintenance"],
        revision=row["revision"],
    )


async def list_incidents(
    db: asyncpg.Pool | asyncpg.Connection,
    *,
    open_only: bool = False,
    since: datetime | None = None,
    site: str | None = None,
    check: str | None = None,
    location: str | None = None,
    limit: int = 1000,
) -> list[Incident]:
    """Incidents, newest first. `since`: open at any moment since then (opened or resolved
    after it, or still open)."""
    where: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if open_only:
        where.append("resolved_at IS NULL")
    if since is not None:
        where.append(f"(resolved_at IS NULL OR resolved_at >= {arg(since)})")
    if site is not None:
        where.append(f"site = {arg(site)}")
    if check is not None:
        where.append(f"check_id = {arg(check)}")
    if location is not None:
        where.append(f"location = {arg(location)}")
    sql = _INCIDENT_SELECT
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY opened_at DESC, id LIMIT {arg(limit)}"
    return [_incident(row) for row in await db.fetch(sql, *args)]


async def load_open_incidents(
    db: asyncpg.Pool | asyncpg.Connection, location: str
) -> list[Incident]:
    """Incidents still open at this probe location, oldest first (for a restart)."""
    rows = await db.fetch(
        _INCIDENT_SELECT + " WHERE resolved_at IS NULL AND location = $1 ORDER BY opened_at",
        location,
    )
    return [_incident(row) for row in rows]


async def latency_bounds(db: asyncpg.Pool | asyncpg.Connection) -> tuple[float, ...]:
    """Upper bounds (seconds) of the rollup latency buckets; +Inf is implied last."""
    return tuple(float(b) for b in await db.fetchval("SELECT bounds FROM latency_buckets"))


async def rollup_outcomes(db: asyncpg.Pool | asyncpg.Connection) -> tuple[str, ...]:
    """The outcome names of the rollups' outcome_counts arrays, in order."""
    return tuple(await db.fetchval("SELECT names FROM rollup_outcomes"))


async def rollups(
    db: asyncpg.Pool | asyncpg.Connection,
    since: datetime,
    until: datetime,
    *,
    site: str | None = None,
    check: str | None = None,
) -> list[Rollup]:
    """Hourly rollups with `since <= hour < until`, by check and hour."""
    names = await rollup_outcomes(db)
    rows = await db.fetch(
        """
        SELECT site, check_id, location, hour, probes, failures, outcome_counts,
               latency_buckets, latency_sum, latency_count
        FROM rollups_hourly
        WHERE hour >= $1 AND hour < $2
          AND ($3::text IS NULL OR site = $3) AND ($4::text IS NULL OR check_id = $4)
        ORDER BY site, check_id, location, hour
        """,
        since,
        until,
        site,
        check,
    )
    return [
        Rollup(
            site=row["site"],
            check=row["check_id"],
            location=row["location"],
            hour=row["hour"],
            probes=row["probes"],
            failures=row["failures"],
            outcomes={
                name: count
                for name, count in zip(names, row["outcome_counts"], strict=False)
                if count
            },
            latency_buckets=tuple(row["latency_buckets"]),
            latency_sum=row["latency_sum"],
            latency_count=row["latency_count"],
        )
        for row in rows
    ]


async def sync_config(db: asyncpg.Pool | asyncpg.Connection, config: Config) -> None:
    """Make `sites` and `checks` match the config; what left it is kept, marked inactive."""
    sites = [(s.id, s.name, s.kind, s.owner) for s in config.sites]
    checks = [
        (
            c.site,
            c.id,
            c.type,
            c.name,
            c.interval_s,
            c.timeout_s,
            c.failure_threshold or config.defaults.failure_threshold,
            c.success_threshold or config.defaults.success_threshold,
        )
        for c in config.checks()
    ]
    async with _Borrowed(db) as conn, conn.transaction():
        await conn.executemany(
            """
            INSERT INTO sites (id, name, kind, owner, active, updated_at)
            VALUES ($1, $2, $3, $4, true, now())
            ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind,
                owner = excluded.owner, active = true, updated_at = now()
            """,
            sites,
        )
        await conn.execute(
            "UPDATE sites SET active = false, updated_at = now() "
            "WHERE active AND NOT id = ANY($1::text[])",
            [s[0] for s in sites],
        )
        await conn.executemany(
            """
            INSERT INTO checks (site, check_id, type, name, interval_seconds, timeout_seconds,
                                failure_threshold, success_threshold, active, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, true, now())
            ON CONFLICT (site, check_id) DO UPDATE SET type = excluded.type,
                name = excluded.name, interval_seconds = excluded.interval_seconds,
                timeout_seconds = excluded.timeout_seconds,
                failure_threshold = excluded.failure_threshold,
                success_threshold = excluded.success_threshold, active = true,
                updated_at = now()
            """,
            checks,
        )
        await conn.execute(
            "UPDATE checks SET active = false, updated_at = now() "
            "WHERE active AND NOT (site || '/' || check_id) = ANY($1::text[])",
            [f"{c[0]}/{c[1]}" for c in checks],
        )
        points = config.probe_points
        await conn.execute(
            """
            INSERT INTO points_config (id, expected, quorum, missing_after_s, updated_at)
            VALUES (1, $1, $2, $3, now())
            ON CONFLICT (id) DO UPDATE SET expected = excluded.expected,
                quorum = excluded.quorum, missing_after_s = excluded.missing_after_s,
                updated_at = now()
            """,
            list(points.locations(config.location)),
            points.majority(config.location),
            points.missing_after,
        )


async def prune(
    db: asyncpg.Pool | asyncpg.Connection, before: datetime, chunk: int = 10_000
) -> int:
    """Delete raw results and freshness observations older than `before`, in small
    transactions so writers never wait long; returns how many results went."""
    total = 0
    for table, column, key in (
        ("probe_results", "started_at", "id"),
        ("freshness_observations", "observed_at", "result_id"),
    ):
        while True:
            status = await db.execute(
                f"DELETE FROM {table} WHERE {key} IN "  # noqa: S608 - fixed names above
                f"(SELECT {key} FROM {table} WHERE {column} < $1 LIMIT $2)",
                before,
                chunk,
            )
            deleted = int(status.split()[-1])
            if table == "probe_results":
                total += deleted
            if deleted < chunk:
                break
    return total


class _Borrowed:
    """Use a connection as is, or borrow one from a pool, in one `async with`."""

    def __init__(self, db: asyncpg.Pool | asyncpg.Connection) -> None:
        self._db = db
        self._borrowed: Any = None

    async def __aenter__(self) -> asyncpg.Connection:
        if isinstance(self._db, asyncpg.Pool):
            self._borrowed = self._db.acquire()
            conn: asyncpg.Connection = await self._borrowed.__aenter__()
            return conn
        return self._db

    async def __aexit__(self, *exc: object) -> None:
        if self._borrowed is not None:
            await self._borrowed.__aexit__(*exc)
