"""The store's read interface: everything the CLI, the API, the web pages and the report read.

`StoreReader` is the contract (one line per method, as Gatus' `storage/store/store.go`);
`monitor.store.Store` implements it over Postgres (the SQL lives in `queries.py` and
`report_queries.py`, nowhere else). Readers depend on this Protocol, never on SQL, so a
schema change is made behind it. The value types it returns are below it.

Periods are `since <= t < until` (aware datetimes); `timezone` names the zone whose local days
and months sums are made in; `sites` limits what is read to those site ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from monitor.incidents import Incident
from monitor.reviews import Review
from monitor.store.points import CheckIncident, PointsView

__all__ = [
    "BlindRecord",
    "BoardFacts",
    "BrokenLink",
    "CheckDays",
    "CheckIncidentRecord",
    "CheckKey",
    "CheckMonths",
    "ContentHour",
    "IncidentRecord",
    "LoginFacts",
    "PointsRecord",
    "Rollup",
    "StepHour",
    "StepMonth",
    "StoreReader",
    "SuspectedRecord",
    "Version",
]

# (site, check): the key of every per-check mapping below.
CheckKey = tuple[str, str]


class StoreReader(Protocol):
    """What can be read from the store; every method raises StoreError when it cannot."""

    async def list_incidents(
        self,
        *,
        open_only: bool = False,
        since: datetime | None = None,
        site: str | None = None,
        check: str | None = None,
        limit: int = 1000,
    ) -> list[Incident]:
        """Incidents, newest first; `since`: those open at any moment since then."""
        ...

    async def load_open_incidents(self, location: str) -> list[Incident]:
        """Incidents still open at this probe location, oldest first (for a restart)."""
        ...

    async def list_reviews(
        self,
        *,
        site: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        in_force_only: bool = True,
    ) -> list[Review]:
        """Manual reviews in the order recorded; `since`/`until`: spans overlapping them."""
        ...

    async def rollups(
        self, since: datetime, until: datetime, *, site: str | None = None, check: str | None = None
    ) -> list[Rollup]:
        """Hourly rollups with `since <= hour < until`, by check, location and hour."""
        ...

    async def list_check_incidents(
        self,
        *,
        open_only: bool = False,
        since: datetime | None = None,
        site: str | None = None,
        check: str | None = None,
    ) -> list[CheckIncident]:
        """Check-level (confirmed) incidents, newest first; `since`: open at any moment since."""
        ...

    async def points_view(self) -> PointsView:
        """The expected locations (up, blind, missing), open confirmed and suspected incidents."""
        ...

    async def latency_bounds(self) -> tuple[float, ...]:
        """Upper bounds (seconds) of the latency histogram buckets; +Inf is implied last."""
        ...

    async def rollup_outcomes(self) -> tuple[str, ...]:
        """The outcome names counted in a rollup's outcome counts, in their order."""
        ...

    async def daily_totals(
        self,
        since: datetime,
        until: datetime,
        timezone: str,
        sites: Sequence[str],
        *,
        slow_above: float,
    ) -> dict[CheckKey, CheckDays]:
        """Probes, failures, timeouts, slow oks per local day (settled hours: slots, confirmed)."""
        ...

    async def daily_totals_with_locations(
        self,
        since: datetime,
        until: datetime,
        timezone: str,
        sites: Sequence[str],
        *,
        slow_above: float,
    ) -> tuple[dict[CheckKey, CheckDays], dict[CheckKey, dict[str, CheckDays]]]:
        """`daily_totals`, and each location's own days from its rollups, in one scan."""
        ...

    async def monthly_totals(
        self, since: datetime, until: datetime, timezone: str, sites: Sequence[str]
    ) -> dict[CheckKey, CheckMonths]:
        """Outcome counts (settled hours: confirmed) and latency histogram per local month."""
        ...

    async def points_record(
        self,
        since: datetime,
        until: datetime,
        sites: Sequence[str],
        intervals: dict[CheckKey, float],
    ) -> PointsRecord:
        """Points config, confirmed incidents, suspected runs (by `intervals`), blind spans."""
        ...

    async def incidents_overlapping(
        self, since: datetime, until: datetime, sites: Sequence[str]
    ) -> list[IncidentRecord]:
        """Incidents open at any moment of the period, oldest first."""
        ...

    async def content_versions(
        self, since: datetime, until: datetime, sites: Sequence[str]
    ) -> dict[CheckKey, list[Version]]:
        """Newest-item dates first seen in the period, and each check's one current at its start."""
        ...

    async def content_hours(
        self, since: datetime, until: datetime, sites: Sequence[str]
    ) -> dict[CheckKey, list[ContentHour]]:
        """The content figures per check and UTC hour (all locations together), in order."""
        ...

    async def broken_links(
        self, since: datetime, until: datetime, sites: Sequence[str]
    ) -> dict[str, list[BrokenLink]]:
        """Broken links seen within the period, by site, oldest first."""
        ...

    async def login_steps_monthly(
        self, since: datetime, until: datetime, timezone: str, sites: Sequence[str]
    ) -> dict[CheckKey, list[StepMonth]]:
        """Login steps' attempts, failures and latency histogram per local month, in flow order."""
        ...

    async def login_steps_hourly(
        self, site: str, since: datetime
    ) -> dict[tuple[str, str], list[StepHour]]:
        """Each login step's hourly mean latency since `since`, by (check, step), in flow order."""
        ...

    async def board_facts(
        self, since: datetime, until: datetime, sites: Sequence[str], *, overdue_after: float
    ) -> dict[CheckKey, BoardFacts]:
        """Message boards' oldest open question and slowest answer; hours past `overdue_after` s."""
        ...

    async def login_facts(
        self, since: datetime, until: datetime, sites: Sequence[str]
    ) -> dict[CheckKey, LoginFacts]:
        """Logins that ran in the period, the slow ones among them and the slowest."""
        ...


@dataclass(frozen=True, slots=True)
class Rollup:
    """One check's hour at one location (see migrations/0001_initial.sql for the counts)."""

    site: str
    check: str
    location: str
    hour: datetime
    probes: int
    failures: int
    # Counts of the outcomes seen in the hour (absent: none), probe_error included.
    outcomes: dict[str, int]
    # Counts per bucket of `latency_bounds()`, the last one for +Inf; ok probes only.
    latency_buckets: tuple[int, ...]
    latency_sum: float
    latency_count: int


@dataclass(slots=True)
class CheckDays:
    """One check's rollups summed per local day (all locations together).

    `slow`: probes that succeeded but took longer than the limit asked (for the report, the
    unreachable rule's 15 s).
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
    """An incident as the report reads it."""

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
    """One check's content figures in one UTC hour (migration 0002's content_hourly)."""

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
class BrokenLink:
    """A broken link a links check reported, with the reason last given."""

    check: str
    url: str
    reason: str
    first_seen_at: datetime
    last_seen_at: datetime
    observations: int


@dataclass(frozen=True, slots=True)
class StepMonth:
    """One login step's month: attempts, failures and the latency of those that succeeded."""

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
class StepHour:
    """One login step's hour, for the site page's chart."""

    hour: datetime
    mean_seconds: float | None  # of the steps that succeeded (None: none did)
    attempts: int
    failures: int


@dataclass(frozen=True, slots=True)
class BoardFacts:
    """A message board's official evidence over the period (migration 0003)."""

    observations: int
    oldest_unanswered: float | None  # the oldest open question's age, at its greatest
    slowest_answer: float | None  # the longest time an answer took
    overdue_first: datetime | None  # first hour an open question was past the limit asked
    overdue_last: datetime | None


@dataclass(frozen=True, slots=True)
class LoginFacts:
    """A login check's logins over the period: how many ran, how many were slow."""

    logins: int
    slow_logins: int
    slowest: float | None


@dataclass(frozen=True, slots=True)
class CheckIncidentRecord:
    """A check-level incident: confirmed by `locations` (each with its own incident's id)."""

    id: str
    site: str
    check: str
    reason: str
    opened_at: datetime
    resolved_at: datetime | None
    quorum: int
    reporting: int
    locations: tuple[tuple[str, str], ...]  # (location, its incident id), by location
    during_maintenance: bool


@dataclass(frozen=True, slots=True)
class SuspectedRecord:
    """Consecutive suspected slots of one check: fewer locations than the quorum failed."""

    site: str
    check: str
    first_slot: datetime
    last_slot: datetime
    slots: int
    locations: tuple[str, ...]  # the locations that failed in any of them
    reason: str


@dataclass(frozen=True, slots=True)
class BlindRecord:
    """A span in which a location could not see (ended_at None: still blind)."""

    location: str
    shard: str
    started_at: datetime
    ended_at: datetime | None
    reason: str  # canaries | checks


@dataclass(frozen=True, slots=True)
class PointsRecord:
    """The probe points as the store holds them (points_config), and what they recorded."""

    expected: tuple[str, ...] = ()
    quorum: int = 1
    # The first settled hour anywhere: from then on an incident counts only when confirmed.
    since: datetime | None = None
    check_incidents: tuple[CheckIncidentRecord, ...] = ()
    suspected: tuple[SuspectedRecord, ...] = ()
    blind: tuple[BlindRecord, ...] = ()
