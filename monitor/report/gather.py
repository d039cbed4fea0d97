"""Read what a report needs out of Postgres, aggregated there as far as it can be.

Rollups are summed per check and local day in one query (array elements added by index, which
Postgres does in C; unnesting 400,000 rows' arrays would cost seconds). Incidents, content
history, broken links and login steps come from their own small tables (migration 0002), so
a report works long after the raw results were pruned.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from monitor.config import OFFICIAL_TIMEOUT_S
from monitor.report.model import BrokenLink
from monitor.report.period import Period

__all__ = [
    "OFFICIAL_TIMEOUT",
    "OFFICIAL_UNANSWERED",
    "BoardFacts",
    "CheckDays",
    "CheckMonths",
    "ContentHour",
    "Facts",
    "IncidentRecord",
    "LoginFacts",
    "Reader",
    "StepMonth",
    "Version",
    "gather",
    "slow_buckets",
]


class Reader(Protocol):
    """Anything that runs a read query: `monitor.store.Store`, an asyncpg pool or connection."""

    async def fetch(self, query: str, *args: Any) -> list[Any]: ...


# The official rule: a page not open after 15 s failed, even if it opened later.
OFFICIAL_TIMEOUT = OFFICIAL_TIMEOUT_S
# 互动回应差: a question unanswered for more than 3 months.
OFFICIAL_UNANSWERED = 90 * 86400.0


def slow_buckets(bounds: Sequence[float]) -> list[int]:
    """Histogram buckets (0-based) whose every latency is above the official 15 s."""
    return [i for i in range(1, len(bounds) + 1) if bounds[i - 1] >= OFFICIAL_TIMEOUT]


@dataclass(slots=True)
class CheckDays:
    """One check's rollups summed per local day (all locations together).

    `slow`: probes that succeeded but took longer than 15 s (the unreachable rule's failures).
    """

    probes: dict[date, int] = field(default_factory=dict)
    failures: dict[date, int] = field(default_factory=dict)
    slow: dict[date, int] = field(default_factory=dict)
    # Failures that were the probe's own timeout (they prove nothing when it is below 15 s).
    timeouts: dict[date, int] = field(default_factory=dict)


@dataclass(slots=True)
class CheckMonths:
    """One check's outcome counts and latency histogram per local month (first day)."""

    outcomes: dict[date, list[int]] = field(default_factory=dict)
    buckets: dict[date, list[int]] = field(default_factory=dict)
    latency_sum: dict[date, float] = field(default_factory=dict)
    latency_count: dict[date, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    id: str
    site: str
    check: str
    location: str
    reason: str
    opened_at: datetime
    resolved_at: datetime | None
    failures: int
    first_error: str
    during_maintenance: bool


@dataclass(frozen=True, slots=True)
class Version:
    """A newest-item date a content check saw, and when (all locations together)."""

    newest_item_at: datetime
    first_seen_at: datetime
    last_seen_at: datetime
    observations: int


@dataclass(frozen=True, slots=True)
class ContentHour:
    hour: datetime
    observations: int
    undated: int
    blank: int
    max_age_seconds: float | None
    unanswered_max: int | None
    open_questions_max: int | None
    late_answers_max: int | None
    median_response_sum: float
    median_response_count: int
    broken_links_max: int | None


@dataclass(frozen=True, slots=True)
class StepMonth:
    check: str
    step: str
    position: int
    month: date
    attempts: int
    failures: int
    buckets: list[int]
    latency_sum: float
    latency_count: int


@dataclass(frozen=True, slots=True)
class BoardFacts:
    """A message board's official evidence over the period (migration 0003)."""

    observations: int
    oldest_unanswered: float | None  # the oldest open question's age, at its greatest
    slowest_answer: float | None  # the longest time an answer took
    overdue_first: datetime | None  # first hour an open question was past the official limit
    overdue_last: datetime | None


@dataclass(frozen=True, slots=True)
class LoginFacts:
    """A login check's logins over the period: how many ran, how many were slow."""

    logins: int
    slow_logins: int
    slowest: float | None


@dataclass(slots=True)
class Facts:
    """Everything read for one report, keyed by (site, check)."""

    bounds: tuple[float, ...]
    outcome_names: tuple[str, ...]
    days: dict[tuple[str, str], CheckDays]
    months: dict[tuple[str, str], CheckMonths]
    incidents: list[IncidentRecord]
    versions: dict[tuple[str, str], list[Version]]
    content: dict[tuple[str, str], list[ContentHour]]
    broken_links: dict[str, list[BrokenLink]]
    steps: dict[tuple[str, str], list[StepMonth]]
    boards: dict[tuple[str, str], BoardFacts] = field(default_factory=dict)
    logins: dict[tuple[str, str], LoginFacts] = field(default_factory=dict)


def _sums(column: str, count: int) -> str:
    """`sum(col[1]), ..., sum(col[n])`: element-wise array sums Postgres does in C."""
    return ", ".join(f"sum({column}[{i}])" for i in range(1, count + 1))


async def gather(
    db: Reader, period: Period, sites: Sequence[str], content_checks: Iterable[tuple[str, str]]
) -> Facts:
    """Read the rollups, incidents and content history of `sites` within `period`."""
    site_list = list(sites)
    bounds = tuple(float(b) for b in (await db.fetch("SELECT bounds FROM latency_buckets"))[0][0])
    names = tuple((await db.fetch("SELECT names FROM rollup_outcomes"))[0][0])
    facts = Facts(bounds, names, {}, {}, [], {}, {}, defaultdict(list), {})
    await _read_days(db, period, site_list, facts)
    await _read_months(db, period, site_list, facts)
    await _read_incidents(db, period, site_list, facts)
    wanted = set(content_checks)
    await _read_versions(db, period, site_list, wanted, facts)
    await _read_content(db, period, site_list, facts)
    await _read_broken_links(db, period, site_list, facts)
    await _read_steps(db, period, site_list, facts)
    await _read_boards(db, period, site_list, facts)
    await _read_logins(db, period, site_list, facts)
    return facts


async def _read_days(db: Reader, period: Period, sites: list[str], facts: Facts) -> None:
    # Narrow rows: a day's sums only, so Postgres aggregates 400,000 rows in memory.
    slow = " + ".join(f"coalesce(latency_buckets[{i + 1}], 0)" for i in slow_buckets(facts.bounds))
    timeout = facts.outcome_names.index("timeout") + 1
    query = f"""
        SELECT site, check_id, (hour AT TIME ZONE $3)::date AS day,
               sum(probes), sum(failures), sum({slow or "0"}),
               sum(coalesce(outcome_counts[{timeout}], 0))
        FROM rollups_hourly
        WHERE hour >= $1 AND hour < $2 AND site = ANY($4::text[])
        GROUP BY 1, 2, 3
    """  # noqa: S608 - built from the schema's own bounds
    for row in await db.fetch(query, period.start, period.end, period.timezone, sites):
        days = facts.days.setdefault((row[0], row[1]), CheckDays())
        day: date = row[2]
        days.probes[day] = int(row[3] or 0)
        days.failures[day] = int(row[4] or 0)
        days.slow[day] = int(row[5] or 0)
        days.timeouts[day] = int(row[6] or 0)


async def _read_months(db: Reader, period: Period, sites: list[str], facts: Facts) -> None:
    n_out, n_buckets = len(facts.outcome_names), len(facts.bounds) + 1
    # Names and lengths come from the schema's own tables, never from input.
    query = f"""
        SELECT site, check_id, date_trunc('month', hour AT TIME ZONE $3)::date AS month,
               sum(latency_sum), sum(latency_count),
               {_sums("outcome_counts", n_out)}, {_sums("latency_buckets", n_buckets)}
        FROM rollups_hourly
        WHERE hour >= $1 AND hour < $2 AND site = ANY($4::text[])
        GROUP BY 1, 2, 3
    """  # noqa: S608
    for row in await db.fetch(query, period.start, period.end, period.timezone, sites):
        months = facts.months.setdefault((row[0], row[1]), CheckMonths())
        month: date = row[2]
        months.latency_sum[month] = float(row[3] or 0.0)
        months.latency_count[month] = int(row[4] or 0)
        months.outcomes[month] = [int(v or 0) for v in row[5 : 5 + n_out]]
        months.buckets[month] = [int(v or 0) for v in row[5 + n_out : 5 + n_out + n_buckets]]


async def _read_incidents(db: Reader, period: Period, sites: list[str], facts: Facts) -> None:
    rows = await db.fetch(
        """
        SELECT id::text, site, check_id, location, reason, opened_at, resolved_at, failures,
               first_error, during_maintenance
        FROM incidents
        WHERE opened_at < $2 AND (resolved_at IS NULL OR resolved_at > $1)
          AND site = ANY($3::text[])
        ORDER BY opened_at, id
        """,
        period.start,
        period.end,
        sites,
    )
    facts.incidents = [
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


async def _read_versions(
    db: Reader, period: Period, sites: list[str], wanted: set[tuple[str, str]], facts: Facts
) -> None:
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
        period.start,
        period.end,
        sites,
    )
    for r in rows:
        key = (r[0], r[1])
        if key not in wanted:
            continue
        facts.versions.setdefault(key, []).append(
            Version(newest_item_at=r[2], first_seen_at=r[3], last_seen_at=r[4], observations=r[5])
        )


async def _read_content(db: Reader, period: Period, sites: list[str], facts: Facts) -> None:
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
        period.start,
        period.end,
        sites,
    )
    for r in rows:
        facts.content.setdefault((r[0], r[1]), []).append(
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


async def _read_broken_links(db: Reader, period: Period, sites: list[str], facts: Facts) -> None:
    rows = await db.fetch(
        """
        SELECT site, check_id, url, (array_agg(reason ORDER BY last_seen_at DESC))[1],
               min(first_seen_at), max(last_seen_at), sum(observations)
        FROM broken_links_seen
        WHERE first_seen_at < $2 AND last_seen_at >= $1 AND site = ANY($3::text[])
        GROUP BY site, check_id, url
        ORDER BY site, check_id, min(first_seen_at), url
        """,
        period.start,
        period.end,
        sites,
    )
    for r in rows:
        facts.broken_links[r[0]].append(
            BrokenLink(
                check=r[1],
                url=r[2],
                reason=r[3],
                first_seen_at=r[4],
                last_seen_at=r[5],
                observations=int(r[6]),
            )
        )


async def _read_steps(db: Reader, period: Period, sites: list[str], facts: Facts) -> None:
    n_buckets = len(facts.bounds) + 1
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
    for r in await db.fetch(query, period.start, period.end, period.timezone, sites):
        facts.steps.setdefault((r[0], r[1]), []).append(
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


async def _read_boards(db: Reader, period: Period, sites: list[str], facts: Facts) -> None:
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
        period.start,
        period.end,
        sites,
        OFFICIAL_UNANSWERED,
    )
    for r in rows:
        facts.boards[(r[0], r[1])] = BoardFacts(int(r[2]), r[3], r[4], r[5], r[6])


async def _read_logins(db: Reader, period: Period, sites: list[str], facts: Facts) -> None:
    rows = await db.fetch(
        """
        SELECT site, check_id, sum(logins), sum(slow_logins), max(login_seconds_max)
        FROM login_hourly
        WHERE hour >= $1 AND hour < $2 AND site = ANY($3::text[])
        GROUP BY site, check_id
        """,
        period.start,
        period.end,
        sites,
    )
    for r in rows:
        facts.logins[(r[0], r[1])] = LoginFacts(int(r[2]), int(r[3]), r[4])
