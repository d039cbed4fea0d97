"""Read what a report needs from the store, through its read interface (`StoreReader`).

The store aggregates in Postgres as far as it can (rollups summed per local day and month,
the report tables of migrations 0002 and 0003), so a report works long after the raw results
were pruned; this module only asks for the period's figures and keys them for `build`.

With probe points the store counts each settled hour once for all locations, confirmed
failures only (see monitor.store.report_queries); each location's own days are read beside
them only when more than one location is expected, so one location costs nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from monitor.config import OFFICIAL_TIMEOUT_S
from monitor.report.period import Period
from monitor.store.reader import (
    BlindRecord,
    BoardFacts,
    BrokenLink,
    CheckDays,
    CheckIncidentRecord,
    CheckMonths,
    ContentHour,
    IncidentRecord,
    LoginFacts,
    PointsRecord,
    StepMonth,
    StoreReader,
    SuspectedRecord,
    Version,
)

__all__ = [
    "OFFICIAL_TIMEOUT",
    "OFFICIAL_UNANSWERED",
    "BlindRecord",
    "BoardFacts",
    "CheckDays",
    "CheckIncidentRecord",
    "CheckMonths",
    "ContentHour",
    "Facts",
    "IncidentRecord",
    "LoginFacts",
    "PointsRecord",
    "StepMonth",
    "SuspectedRecord",
    "Version",
    "gather",
]


# The official rule: a page not open after 15 s failed, even if it opened later.
OFFICIAL_TIMEOUT = OFFICIAL_TIMEOUT_S
# 互动回应差: a question unanswered for more than 3 months.
OFFICIAL_UNANSWERED = 90 * 86400.0


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
    # Each location's own days (from its rollups), by check then location: read only when
    # several locations are expected.
    by_location: dict[tuple[str, str], dict[str, CheckDays]] = field(default_factory=dict)
    points: PointsRecord = field(default_factory=PointsRecord)


async def gather(
    store: StoreReader,
    period: Period,
    sites: Sequence[str],
    content_checks: Iterable[tuple[str, str]],
    intervals: dict[tuple[str, str], float] | None = None,
) -> Facts:
    """Read the rollups, incidents and content history of `sites` within `period`.

    `intervals` (each check's, seconds) joins suspected slots into runs.
    """
    site_list = list(sites)
    start, end, zone = period.start, period.end, period.timezone
    wanted = set(content_checks)
    versions = await store.content_versions(start, end, site_list)
    points = await store.points_record(start, end, site_list, intervals or {})
    # Each location's own days only with several expected, read in the same scan.
    if len(points.expected) > 1:
        days, by_location = await store.daily_totals_with_locations(
            start, end, zone, site_list, slow_above=OFFICIAL_TIMEOUT
        )
    else:
        days = await store.daily_totals(start, end, zone, site_list, slow_above=OFFICIAL_TIMEOUT)
        by_location = {}
    return Facts(
        bounds=await store.latency_bounds(),
        outcome_names=await store.rollup_outcomes(),
        days=days,
        months=await store.monthly_totals(start, end, zone, site_list),
        incidents=await store.incidents_overlapping(start, end, site_list),
        versions={key: found for key, found in versions.items() if key in wanted},
        content=await store.content_hours(start, end, site_list),
        broken_links=await store.broken_links(start, end, site_list),
        steps=await store.login_steps_monthly(start, end, zone, site_list),
        boards=await store.board_facts(start, end, site_list, overdue_after=OFFICIAL_UNANSWERED),
        logins=await store.login_facts(start, end, site_list),
        by_location=by_location,
        points=points,
    )
