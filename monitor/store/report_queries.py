"""The report's reads: rollups summed per local day and month, and the report tables.

Rollups are summed per check and local day in one query (array elements added by index, which
Postgres does in C; unnesting 400,000 rows' arrays would cost seconds). Incidents, content
history, broken links and login steps come from their own small tables (migrations 0002 and
0003), so a report works long after the raw results were pruned. Each function implements the
`StoreReader` method of the same name (monitor.store.reader documents them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import asyncpg

from monitor.store.queries import latency_bounds, rollup_outcomes
from monitor.store.reader import (
    BoardFacts,
    BrokenLink,
    CheckDays,
    CheckKey,
    CheckMonths,
    ContentHour,
    IncidentRecord,
    LoginFacts,
    StepHour,
    StepMonth,
    Version,
)

Db = asyncpg.Pool | asyncpg.Connection


def _sums(column: str, count: int) -> str:
    """`sum(col[1]), ..., sum(col[n])`: element-wise array sums Postgres does in C."""
    return ", ".join(f"sum({column}[{i}])" for i in range(1, count + 1))


async def daily_totals(
    db: Db,
    since: datetime,
    until: datetime,
    timezone: str,
    sites: Sequence[str],
    *,
    slow_above: float,
) -> dict[CheckKey, CheckDays]:
    bounds = await latency_bounds(db)
    names = await rollup_outcomes(db)
    # The buckets (1-based) whose every latency is above `slow_above`.
    slow_buckets = [i for i in range(1, len(bounds) + 1) if bounds[i - 1] >= slow_above]
    # Narrow rows: a day's sums only, so Postgres aggregates 400,000 rows in memory.
    slow = " + ".join(f"coalesce(latency_buckets[{i + 1}], 0)" for i in slow_buckets)
    timeout = names.index("timeout") + 1
    query = f"""
        SELECT site, check_id, (hour AT TIME ZONE $3)::date AS day,
               sum(probes), sum(failures), sum({slow or "0"}),
               sum(coalesce(outcome_counts[{timeout}], 0))
        FROM rollups_hourly
        WHERE hour >= $1 AND hour < $2 AND site = ANY($4::text[])
        GROUP BY 1, 2, 3
    """  # noqa: S608 - built from the schema's own bounds
    totals: dict[CheckKey, CheckDays] = {}
    for row in await db.fetch(query, since, until, timezone, list(sites)):
        days = totals.setdefault((row[0], row[1]), CheckDays())
        day: date = row[2]
        days.probes[day] = int(row[3] or 0)
        days.failures[day] = int(row[4] or 0)
        days.slow[day] = int(row[5] or 0)
        days.timeouts[day] = int(row[6] or 0)
    return totals


async def monthly_totals(
    db: Db, since: datetime, until: datetime, timezone: str, sites: Sequence[str]
) -> dict[CheckKey, CheckMonths]:
    n_out, n_buckets = len(await rollup_outcomes(db)), len(await latency_bounds(db)) + 1
    # Names and lengths come from the schema's own tables, never from input.
    query = f"""
        SELECT site, check_id, date_trunc('month', hour AT TIME ZONE $3)::date AS month,
               sum(latency_sum), sum(latency_count),
               {_sums("outcome_counts", n_out)}, {_sums("latency_buckets", n_buckets)}
        FROM rollups_hourly
        WHERE hour >= $1 AND hour < $2 AND site = ANY($4::text[])
        GROUP BY 1, 2, 3
    """  # noqa: S608
    totals: dict[CheckKey, CheckMonths] = {}
    for row in await db.fetch(query, since, until, timezone, list(sites)):
        months = totals.setdefault((row[0], row[1]), CheckMonths())
        month: date = row[2]
        months.latency_sum[month] = float(row[3] or 0.0)
        months.latency_count[month] = int(row[4] or 0)
        months.outcomes[month] = [int(v or 0) for v in row[5 : 5 + n_out]]
        months.buckets[month] = [int(v or 0) for v in row[5 + n_out : 5 + n_out + n_buckets]]
    return totals


async def incidents_overlapping(
    db: Db, since: datetime, until: datetime, sites: Sequence[str]
) -> list[IncidentRecord]:
    rows = await db.fetch(
        """
        SELECT id::text, site, check_id, location, reason, opened_at, resolved_at, failures,
               first_error, during_maintenance
        FROM incidents
        WHERE opened_at < $2 AND (resolved_at IS NULL OR resolved_at > $1)
          AND site = ANY($3::text[])
        ORDER BY opened_at, id
        """,
        since,
        until,
        list(sites),
    )
    return [
        IncidentRecord(
            id=r[0],
            site=r[1],
            check=r[2],
            location=r[3],
            reason=r[4],
            opened_at=r[5],
            resolved_at=r[6],
            failures=r[7],
            first_error=r[8],
            during_maintenance=r[9],
        )
        for r in rows
    ]


async def content_versions(
    db: Db, since: datetime, until: datetime, sites: Sequence[str]
) -> dict[CheckKey, list[Version]]:
    # The versions first seen within the period, and for each check the one current at its
    # start (first seen before it): the page's history across the period.
    rows = await db.fetch(
        """
        WITH merged AS (
            SELECT site, check_id, newest_item_at, min(first_seen_at) AS first_seen_at,
                   max(last_seen_at) AS last_seen_at, sum(observations) AS observations
            FROM content_versions
            WHERE site = ANY($3::text[]) AND first_seen_at < $2
            GROUP BY site, check_id, newest_item_at
        ), before AS (
            SELECT DISTINCT ON (site, check_id) *
            FROM merged WHERE first_seen_at < $1
            ORDER BY site, check_id, first_seen_at DESC
        )
        SELECT * FROM before
        UNION ALL
        SELECT * FROM merged WHERE first_seen_at >= $1
        ORDER BY 1, 2, 4, 3
        """,
        since,
        until,
        list(sites),
    )
    versions: dict[CheckKey, list[Version]] = {}
    for r in rows:
        versions.setdefault((r[0], r[1]), []).append(
            Version(newest_item_at=r[2], first_seen_at=r[3], last_seen_at=r[4], observations=r[5])
        )
    return versions


async def content_hours(
    db: Db, since: datetime, until: datetime, sites: Sequence[str]
) -> dict[CheckKey, list[ContentHour]]:
    rows = await db.fetch(
        """
        SELECT site, check_id, hour, sum(observations), sum(undated), sum(blank),
               max(max_age_seconds), max(unanswered_max), max(open_questions_max),
               max(late_answers_max), sum(median_response_sum), sum(median_response_count),
               max(broken_links_max)
        FROM content_hourly
        WHERE hour >= $1 AND hour < $2 AND site = ANY($3::text[])
        GROUP BY site, check_id, hour
        ORDER BY site, check_id, hour
        """,
        since,
        until,
        list(sites),
    )
    hours: dict[CheckKey, list[ContentHour]] = {}
    for r in rows:
        hours.setdefault((r[0], r[1]), []).append(
            ContentHour(
                hour=r[2],
                observations=int(r[3]),
                undated=int(r[4]),
                blank=int(r[5]),
                max_age_seconds=r[6],
                unanswered_max=r[7],
                open_questions_max=r[8],
                late_answers_max=r[9],
                median_response_sum=float(r[10] or 0.0),
                median_response_count=int(r[11] or 0),
                broken_links_max=r[12],
            )
        )
    return hours


async def broken_links(
    db: Db, since: datetime, until: datetime, sites: Sequence[str]
) -> dict[str, list[BrokenLink]]:
    rows = await db.fetch(
        """
        SELECT site, check_id, url, (array_agg(reason ORDER BY last_seen_at DESC))[1],
               min(first_seen_at), max(last_seen_at), sum(observations)
        FROM broken_links_seen
        WHERE first_seen_at < $2 AND last_seen_at >= $1 AND site = ANY($3::text[])
        GROUP BY site, check_id, url
        ORDER BY site, check_id, min(first_seen_at), url
        """,
        since,
        until,
        list(sites),
    )
    links: dict[str, list[BrokenLink]] = {}
    for r in rows:
        links.setdefault(r[0], []).append(
            BrokenLink(
                check=r[1],
                url=r[2],
                reason=r[3],
                first_seen_at=r[4],
                last_seen_at=r[5],
                observations=int(r[6]),
            )
        )
    return links


async def login_steps_monthly(
    db: Db, since: datetime, until: datetime, timezone: str, sites: Sequence[str]
) -> dict[CheckKey, list[StepMonth]]:
    n_buckets = len(await latency_bounds(db)) + 1
    query = f"""
        SELECT site, check_id, step, min(position),
               date_trunc('month', hour AT TIME ZONE $3)::date AS month,
               sum(attempts), sum(failures), sum(latency_sum), sum(latency_count),
               {_sums("latency_buckets", n_buckets)}
        FROM login_steps_hourly
        WHERE hour >= $1 AND hour < $2 AND site = ANY($4::text[])
        GROUP BY site, check_id, step, month
        ORDER BY site, check_id, min(position), step, month
    """  # noqa: S608
    steps: dict[CheckKey, list[StepMonth]] = {}
    for r in await db.fetch(query, since, until, timezone, list(sites)):
        steps.setdefault((r[0], r[1]), []).append(
            StepMonth(
                check=r[1],
                step=r[2],
                position=int(r[3]),
                month=r[4],
                attempts=int(r[5]),
                failures=int(r[6]),
                latency_sum=float(r[7] or 0.0),
                latency_count=int(r[8] or 0),
                buckets=[int(v or 0) for v in r[9 : 9 + n_buckets]],
            )
        )
    return steps


async def login_steps_hourly(
    db: Db, site: str, since: datetime
) -> dict[tuple[str, str], list[StepHour]]:
    rows = await db.fetch(
        """
        SELECT check_id, step, min(position) AS position, hour,
               sum(attempts)::bigint AS attempts, sum(failures)::bigint AS failures,
               sum(latency_sum)::float8 AS latency_sum,
               sum(latency_count)::bigint AS latency_count
        FROM login_steps_hourly
        WHERE site = $1 AND hour >= $2
        GROUP BY check_id, step, hour
        ORDER BY check_id, min(position), step, hour
        """,
        site,
        since,
    )
    history: dict[tuple[str, str], list[StepHour]] = {}
    for row in rows:
        count = row["latency_count"]
        history.setdefault((row["check_id"], row["step"]), []).append(
            StepHour(
                hour=row["hour"],
                mean_seconds=row["latency_sum"] / count if count else None,
                attempts=row["attempts"],
                failures=row["failures"],
            )
        )
    return history


async def board_facts(
    db: Db, since: datetime, until: datetime, sites: Sequence[str], *, overdue_after: float
) -> dict[CheckKey, BoardFacts]:
    rows = await db.fetch(
        """
        SELECT site, check_id, sum(observations), max(oldest_unanswered_max),
               max(slowest_answer_max),
               min(hour) FILTER (WHERE oldest_unanswered_max > $4),
               max(hour) FILTER (WHERE oldest_unanswered_max > $4)
        FROM interaction_hourly
        WHERE hour >= $1 AND hour < $2 AND site = ANY($3::text[])
        GROUP BY site, check_id
        """,
        since,
        until,
        list(sites),
        overdue_after,
    )
    return {(r[0], r[1]): BoardFacts(int(r[2]), r[3], r[4], r[5], r[6]) for r in rows}


async def login_facts(
    db: Db, since: datetime, until: datetime, sites: Sequence[str]
) -> dict[CheckKey, LoginFacts]:
    rows = await db.fetch(
        """
        SELECT site, check_id, sum(logins), sum(slow_logins), max(login_seconds_max)
        FROM login_hourly
        WHERE hour >= $1 AND hour < $2 AND site = ANY($3::text[])
        GROUP BY site, check_id
        """,
        since,
        until,
        list(sites),
    )
    return {(r[0], r[1]): LoginFacts(int(r[2]), int(r[3]), r[4]) for r in rows}
