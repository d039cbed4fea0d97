"""The report's reads: rollups summed per local day and month, and the report tables.

Rollups are summed per check and local day in one query (array elements added by index, which
Postgres does in C; unnesting 400,000 rows' arrays would cost seconds). Incidents, content
history, broken links and login steps come from their own small tables (migrations 0002 and
0003), so a report works long after the raw results were pruned. Each function implements the
`StoreReader` method of the same name (monitor.store.reader documents them).

Probe points (migration 0008, docs/probe-points.md): an hour that the locations' slots were
settled for (`check_hourly`) counts from there, confirmed failures only, every location
together; an hour without (history from before, a check not settled) counts from the rollups
as before. Each location's own figures come from the rollups beside it. Suspected slots
(`check_slots`) and blind spans are read to be listed, never counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import asyncpg

from monitor.results import UNREACHABLE_OUTCOMES, Outcome
from monitor.store.queries import latency_bounds, rollup_outcomes
from monitor.store.reader import (
    BlindRecord,
    BoardFacts,
    BrokenLink,
    CheckDays,
    CheckIncidentRecord,
    CheckKey,
    CheckMonths,
    ContentHour,
    IncidentRecord,
    LoginFacts,
    PointsRecord,
    StepHour,
    StepMonth,
    SuspectedRecord,
    Version,
)

Db = asyncpg.Pool | asyncpg.Connection


# What a settled slot counts as 站点无法访问 besides an ok slower than 15 s (migration 0008's
# `unreachable`, monitor.results.page_opened): the transport outcomes and, of a page check,
# content_mismatch. A settled hour's slow slots are those it counts unreachable that were not
# confirmed failures of these outcomes.
_UNOPENED = (*(str(o) for o in UNREACHABLE_OUTCOMES), str(Outcome.CONTENT_MISMATCH))


def _sums(column: str, count: int, where: str = "") -> str:
    """`sum(col[1]), ..., sum(col[n])`: element-wise array sums Postgres does in C (only of
    the rows `where` holds for, when given)."""
    only = f" FILTER (WHERE {where})" if where else ""
    return ", ".join(f"sum({column}[{i}]){only}" for i in range(1, count + 1))


def _add_day(days: CheckDays, day: date, counts: tuple[int, int, int, int]) -> None:
    """Add (probes, failures, slow, timeouts) to `day`."""
    probes, failures, slow, timeouts = counts
    days.probes[day] = days.probes.get(day, 0) + probes
    days.failures[day] = days.failures.get(day, 0) + failures
    days.slow[day] = days.slow.get(day, 0) + slow
    days.timeouts[day] = days.timeouts.get(day, 0) + timeouts


async def _rollup_days(
    db: Db,
    since: datetime,
    until: datetime,
    timezone: str,
    sites: Sequence[str],
    slow_above: float,
) -> list[tuple[CheckKey, str, date, bool, tuple[int, int, int, int]]]:
    """Each location's rollups per local day, marked by whether their hour was settled:
    (key, location, day, settled, (probes, failures, slow, timeouts))."""
    bounds = await latency_bounds(db)
    names = await rollup_outcomes(db)
    # The buckets (1-based) whose every latency is above `slow_above`.
    slow_buckets = [i for i in range(1, len(bounds) + 1) if bounds[i - 1] >= slow_above]
    # Narrow rows: a day's sums only, so Postgres aggregates 400,000 rows in memory.
    slow = " + ".join(f"coalesce(r.latency_buckets[{i + 1}], 0)" for i in slow_buckets)
    timeout = names.index("timeout") + 1
    query = f"""
        SELECT r.site, r.check_id, r.location, (r.hour AT TIME ZONE $3)::date AS day,
               h.hour IS NOT NULL AS settled,
               sum(r.probes), sum(r.failures), sum({slow or "0"}),
               sum(coalesce(r.outcome_counts[{timeout}], 0))
        FROM rollups_hourly r
        LEFT JOIN check_hourly h
          ON h.site = r.site AND h.check_id = r.check_id AND h.hour = r.hour
        WHERE r.hour >= $1 AND r.hour < $2 AND r.site = ANY($4::text[])
        GROUP BY 1, 2, 3, 4, 5
    """  # noqa: S608 - built from the schema's own bounds
    return [
        (
            (row[0], row[1]),
            row[2],
            row[3],
            row[4],
            (int(row[5] or 0), int(row[6] or 0), int(row[7] or 0), int(row[8] or 0)),
        )
        for row in await db.fetch(query, since, until, timezone, list(sites))
    ]


async def daily_totals(
    db: Db,
    since: datetime,
    until: datetime,
    timezone: str,
    sites: Sequence[str],
    *,
    slow_above: float,
) -> dict[CheckKey, CheckDays]:
    official, _ = await _days(db, since, until, timezone, sites, slow_above, by_location=False)
    return official


async def daily_totals_with_locations(
    db: Db,
    since: datetime,
    until: datetime,
    timezone: str,
    sites: Sequence[str],
    *,
    slow_above: float,
) -> tuple[dict[CheckKey, CheckDays], dict[CheckKey, dict[str, CheckDays]]]:
    return await _days(db, since, until, timezone, sites, slow_above, by_location=True)


async def _days(
    db: Db,
    since: datetime,
    until: datetime,
    timezone: str,
    sites: Sequence[str],
    slow_above: float,
    *,
    by_location: bool,
) -> tuple[dict[CheckKey, CheckDays], dict[CheckKey, dict[str, CheckDays]]]:
    """The official days and (when asked) each location's, from one scan of the rollups."""
    official: dict[CheckKey, CheckDays] = {}
    locations: dict[CheckKey, dict[str, CheckDays]] = {}
    for key, location, day, settled, counts in await _rollup_days(
        db, since, until, timezone, sites, slow_above
    ):
        if not settled:
            _add_day(official.setdefault(key, CheckDays()), day, counts)
        if by_location:
            _add_day(locations.setdefault(key, {}).setdefault(location, CheckDays()), day, counts)
    # Settled hours: a slot is one probe, confirmed slots the failures; the slow ones are
    # those counted unreachable that no confirmed transport failure explains.
    names = await rollup_outcomes(db)
    timeout = names.index("timeout") + 1
    explained = " + ".join(
        f"coalesce(confirmed_outcomes[{names.index(n) + 1}], 0)"
        for n in _UNOPENED
        if n in names
    )
    query = f"""
        SELECT site, check_id, (hour AT TIME ZONE $3)::date AS day,
               sum(slots), sum(confirmed), sum(greatest(unreachable - ({explained or "0"}), 0)),
               sum(coalesce(confirmed_outcomes[{timeout}], 0))
        FROM check_hourly
        WHERE hour >= $1 AND hour < $2 AND site = ANY($4::text[])
        GROUP BY 1, 2, 3
    """  # noqa: S608 - built from the schema's own outcome names
    for row in await db.fetch(query, since, until, timezone, list(sites)):
        counts = (int(row[3] or 0), int(row[4] or 0), int(row[5] or 0), int(row[6] or 0))
        _add_day(official.setdefault((row[0], row[1]), CheckDays()), row[2], counts)
    return official, locations


async def monthly_totals(
    db: Db, since: datetime, until: datetime, timezone: str, sites: Sequence[str]
) -> dict[CheckKey, CheckMonths]:
    names = await rollup_outcomes(db)
    n_out, n_buckets = len(names), len(await latency_bounds(db)) + 1
    # Latency from every location's rollups; outcomes from the hours not settled, the settled
    # ones' confirmed outcomes added below. Names and lengths come from the schema's own
    # tables, never from input.
    query = f"""
        SELECT r.site, r.check_id, date_trunc('month', r.hour AT TIME ZONE $3)::date AS month,
               sum(r.latency_sum), sum(r.latency_count),
               {_sums("r.outcome_counts", n_out, "h.hour IS NULL")},
               {_sums("r.latency_buckets", n_buckets)}
        FROM rollups_hourly r
        LEFT JOIN check_hourly h
          ON h.site = r.site AND h.check_id = r.check_id AND h.hour = r.hour
        WHERE r.hour >= $1 AND r.hour < $2 AND r.site = ANY($4::text[])
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
    # A settled slot is ok unless confirmed failed (the rollups count ok among the outcomes).
    query = f"""
        SELECT site, check_id, date_trunc('month', hour AT TIME ZONE $3)::date AS month,
               sum(slots - confirmed), {_sums("confirmed_outcomes", n_out)}
        FROM check_hourly
        WHERE hour >= $1 AND hour < $2 AND site = ANY($4::text[])
        GROUP BY 1, 2, 3
    """  # noqa: S608
    ok = names.index("ok")
    for row in await db.fetch(query, since, until, timezone, list(sites)):
        months = totals.setdefault((row[0], row[1]), CheckMonths())
        counts = [int(v or 0) for v in row[4 : 4 + n_out]]
        counts[ok] += int(row[3] or 0)
        outcomes = months.outcomes.setdefault(row[2], [0] * n_out)
        for i, count in enumerate(counts):
            outcomes[i] += count
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


async def points_record(
    db: Db,
    since: datetime,
    until: datetime,
    sites: Sequence[str],
    intervals: dict[CheckKey, float],
) -> PointsRecord:
    config = await db.fetch("SELECT expected, quorum FROM points_config WHERE id = 1")
    first = await db.fetch("SELECT min(hour) FROM check_hourly")
    incidents = await db.fetch(
        """
        SELECT id::text, site, check_id, reason, opened_at, resolved_at, quorum, reporting,
               ARRAY(SELECT key || ' ' || coalesce(value->>'incident_id', '')
                     FROM jsonb_each(locations) ORDER BY key),
               during_maintenance
        FROM check_incidents
        WHERE opened_at < $2 AND (resolved_at IS NULL OR resolved_at > $1)
          AND site = ANY($3::text[])
        ORDER BY opened_at, id
        """,
        since,
        until,
        list(sites),
    )
    keys = sorted(intervals)
    # Runs of suspected slots: a new run where the gap to the previous suspected slot is more
    # than one and a half of the check's intervals (a slot or more in between was not).
    suspected = await db.fetch(
        """
        WITH checks AS (
            SELECT * FROM unnest($4::text[], $5::text[], $6::float8[]) AS c(site, check_id, every)
        ), slots AS (
            SELECT s.site, s.check_id, s.slot, s.reason, s.votes,
                   CASE WHEN s.slot - lag(s.slot) OVER w <= make_interval(secs => c.every * 1.5)
                        THEN 0 ELSE 1 END AS starts
            FROM check_slots s JOIN checks c USING (site, check_id)
            WHERE s.state = 'suspected' AND s.slot >= $1 AND s.slot < $2
              AND s.site = ANY($3::text[])
            WINDOW w AS (PARTITION BY s.site, s.check_id ORDER BY s.slot)
        ), runs AS (
            SELECT *, sum(starts) OVER (PARTITION BY site, check_id ORDER BY slot) AS run
            FROM slots
        )
        SELECT r.site, r.check_id, min(r.slot), max(r.slot), count(*),
               mode() WITHIN GROUP (ORDER BY r.reason),
               (SELECT array_agg(DISTINCT v.key ORDER BY v.key)
                FROM runs f, jsonb_each_text(f.votes) AS v
                WHERE f.site = r.site AND f.check_id = r.check_id AND f.run = r.run
                  AND v.value NOT IN ('ok', 'blind', 'probe_error'))
        FROM runs r
        GROUP BY r.site, r.check_id, r.run
        ORDER BY r.site, r.check_id, min(r.slot)
        """,
        since,
        until,
        list(sites),
        [k[0] for k in keys],
        [k[1] for k in keys],
        [intervals[k] for k in keys],
    )
    blind = await db.fetch(
        """
        SELECT location, shard, started_at, ended_at, reason
        FROM blind_spans
        WHERE started_at < $2 AND (ended_at IS NULL OR ended_at > $1)
        ORDER BY started_at, location, shard
        """,
        since,
        until,
    )
    return PointsRecord(
        expected=tuple(config[0][0]) if config else (),
        quorum=int(config[0][1]) if config else 1,
        since=first[0][0] if first else None,
        check_incidents=tuple(
            CheckIncidentRecord(
                id=r[0],
                site=r[1],
                check=r[2],
                reason=r[3],
                opened_at=r[4],
                resolved_at=r[5],
                quorum=int(r[6]),
                reporting=int(r[7]),
                locations=tuple(_pair(item) for item in r[8]),
                during_maintenance=bool(r[9]),
            )
            for r in incidents
        ),
        suspected=tuple(
            SuspectedRecord(
                site=r[0],
                check=r[1],
                first_slot=r[2],
                last_slot=r[3],
                slots=int(r[4]),
                locations=tuple(r[6] or ()),
                reason=r[5] or "",
            )
            for r in suspected
        ),
        blind=tuple(BlindRecord(r[0], r[1], r[2], r[3], r[4]) for r in blind),
    )


def _pair(item: str) -> tuple[str, str]:
    location, _, incident = item.partition(" ")
    return location, incident
