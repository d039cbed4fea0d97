"""The report as plain data: what was measured per site and check, and the verdicts.

Everything the renderers show is here, in UTC-aware datetimes and seconds; the renderers
localise and format. `docs/report-schema.md` documents the JSON made from these (render/json.py).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from monitor.report.histogram import Quantile
from monitor.report.period import Period
from monitor.store.reader import BrokenLink

__all__ = [
    "Availability",
    "BlindSpan",
    "BrokenLink",
    "CheckReport",
    "ColumnFreshness",
    "DayAvailability",
    "Gap",
    "IncidentRow",
    "IncidentSummary",
    "InteractionFinding",
    "Latency",
    "LocationAvailability",
    "LoginHealth",
    "MonthLatency",
    "Points",
    "Report",
    "SiteReport",
    "Status",
    "StepLatency",
    "Summary",
    "SuspectedFailure",
    "Verdict",
]


class Status(enum.StrEnum):
    """A verdict, from best to worst; a site's status is its worst verdict's."""

    PASS = "pass"  # noqa: S105 - a verdict, not a password
    WARNING = "warning"
    NOT_ASSESSABLE = "not_assessable"
    VETO = "veto"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Status.PASS: 0, Status.WARNING: 1, Status.NOT_ASSESSABLE: 2, Status.VETO: 3}


@dataclass(frozen=True, slots=True)
class Availability:
    """Probes (probe_error left out), failures (not ok), and counts per outcome."""

    probes: int = 0
    failures: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    probe_errors: int = 0

    @property
    def ratio(self) -> float | None:
        """Share of probes that succeeded; None without probes."""
        return _succeeded(self.probes, self.failures)


@dataclass(frozen=True, slots=True)
class DayAvailability:
    day: date
    probes: int
    failures: int
    # Probes that succeeded but took longer than the official 15 s (they count as failures).
    slow: int

    @property
    def ratio(self) -> float | None:
        """Share of the day's probes that succeeded; None without probes."""
        return _succeeded(self.probes, self.failures)


def _succeeded(probes: int, failures: int) -> float | None:
    return None if probes == 0 else (probes - failures) / probes


@dataclass(frozen=True, slots=True)
class LocationAvailability:
    """One check as one location alone saw it: shown beside the official figures, never
    instead of them (a location's failures count only where the quorum agreed)."""

    location: str
    probes: int
    failures: int
    # The worst 7-day window's unreachable ratio from this location's probes alone (None:
    # no window had 20 probes every day).
    unreachable_ratio: float | None

    @property
    def ratio(self) -> float | None:
        return _succeeded(self.probes, self.failures)


@dataclass(frozen=True, slots=True)
class Latency:
    """Latency of successful probes: count, mean and p50/p95/p99 from the histogram."""

    count: int
    mean: float | None
    p50: Quantile | None
    p95: Quantile | None
    p99: Quantile | None


@dataclass(frozen=True, slots=True)
class MonthLatency:
    month: date  # first day of the local month
    latency: Latency


@dataclass(frozen=True, slots=True)
class StepLatency:
    """One login step over the period."""

    check: str
    step: str
    attempts: int
    failures: int
    latency: Latency


@dataclass(frozen=True, slots=True)
class LoginHealth:
    """A login check over the period, as the notice says it: 登录不畅 N 次, 会话掉线 N 次.

    Login health is never part of the site's availability or the unreachable rule.
    """

    check: str
    probes: int  # every probe of the check: logins and session checks
    logins: int  # logins that ran their flow and succeeded
    slow_logins: int  # of those, slower than `slow_threshold_seconds` (or a step's own limit)
    slow_threshold_seconds: float
    slowest_login_seconds: float | None
    failed_logins: int  # login_failed
    sessions_dropped: int  # session_dropped
    other_failures: int  # the login pages did not open (timeouts, errors)


@dataclass(frozen=True, slots=True)
class Gap:
    """A time without updates: from the newest item's date until a newer one was seen."""

    newest_item_at: datetime | None  # None: the page showed no dated item at all
    since: datetime  # when the gap began (the item's date, or the first undated observation)
    until: datetime  # a newer item first seen, or the last observation
    updated: bool  # False: still not updated at the last observation

    @property
    def seconds(self) -> float:
        return max(0.0, (self.until - self.since).total_seconds())


@dataclass(frozen=True, slots=True)
class ColumnFreshness:
    """A freshness, feed or interaction check's content over the period."""

    check: str
    name: str
    type: str
    category: str  # homepage | news | notice | custom | feed | interaction
    allowed_age: float  # seconds, the official (or configured) limit for this column
    observations: int
    newest_item_at: datetime | None  # the newest item seen by the end of the period
    max_age: float | None  # the longest time without updates reached within the period
    longest_gap: Gap | None
    stale_seconds: float  # time within the period past `allowed_age`
    stale_spans: tuple[tuple[datetime, datetime], ...]
    blank_hours: int
    undated_hours: int
    posts_per_month: tuple[tuple[date, int], ...] = ()


@dataclass(frozen=True, slots=True)
class InteractionFinding:
    """A message board over the period."""

    check: str
    observations: int
    unanswered_max: int  # most overdue questions one probe found
    unanswered_first: datetime | None
    unanswered_last: datetime | None
    open_questions_max: int
    late_answers_max: int
    median_response_seconds: float | None  # mean over probes of each probe's median
    max_unanswered: float  # the check's limit, seconds
    # The official evidence, whatever the check's limit (None: the probes did not record it).
    oldest_unanswered_seconds: float | None = None  # the oldest open question's greatest age
    slowest_answer_seconds: float | None = None
    overdue_first: datetime | None = None  # open questions past the official 3 months
    overdue_last: datetime | None = None
    evidence_observations: int = 0  # observations that recorded the two ages


@dataclass(frozen=True, slots=True)
class IncidentRow:
    id: str
    check: str
    location: str
    reason: str
    opened_at: datetime
    resolved_at: datetime | None
    duration_seconds: float  # whole incident; open ones up to the period's end (or now)
    in_period_seconds: float  # the part inside the period
    failures: int
    first_error: str
    during_maintenance: bool
    # An outage (a page did not open); False: a login incident (`login`: login_failed,
    # session_dropped) or a content alert (a stale column, a blank column, broken links,
    # unanswered questions), neither of which is downtime.
    outage: bool = True
    login: bool = False
    bridge: bool = False  # a feed bridge failed (RSSHub, wewe-rss): not the account's outage
    # Probe points: a confirmed incident names the locations that agreed (`location` then
    # joins them); a suspected one is one location's incident no quorum confirmed, listed
    # and never counted.
    confirmed_by: tuple[str, ...] = ()
    suspected: bool = False


@dataclass(frozen=True, slots=True)
class IncidentSummary:
    """Outages outside maintenance; maintenance outages and content alerts are only counted."""

    count: int
    downtime_seconds: float  # union of incident time within the period
    mttr_seconds: float | None  # mean duration of those resolved by the period's end
    longest: IncidentRow | None
    maintenance_count: int
    maintenance_seconds: float
    content_count: int = 0
    login_count: int = 0  # login incidents (failed logins, dropped sessions)
    bridge_count: int = 0  # feed bridge failures


@dataclass(frozen=True, slots=True)
class CheckReport:
    id: str
    type: str
    name: str
    interval_seconds: float
    timeout_seconds: float
    availability: Availability
    latency: Latency
    months: tuple[MonthLatency, ...]
    days: tuple[DayAvailability, ...]
    # Each location's own figures, when more than one location probed (else empty).
    locations: tuple[LocationAvailability, ...] = ()


@dataclass(frozen=True, slots=True)
class SuspectedFailure:
    """疑似不连通: consecutive slots in which some locations, fewer than the quorum, failed.
    Listed, never counted in availability or the official ratios."""

    check: str
    first_slot: datetime
    last_slot: datetime
    slots: int
    locations: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class BlindSpan:
    """A span in which a location could not see: its failures were the monitor's, not the
    sites', and are in no figure."""

    location: str
    shard: str
    started_at: datetime
    ended_at: datetime | None  # None: still blind at the report's end
    reason: str  # canaries | checks


@dataclass(frozen=True, slots=True)
class Points:
    """The probe points behind the figures: which locations took part, the quorum used."""

    expected: tuple[str, ...]
    quorum: int
    locations: tuple[str, ...]  # the locations that probed within the period
    blind_spans: tuple[BlindSpan, ...] = ()

    @property
    def several(self) -> bool:
        """More than one location: confirmation is in play (else one location alone)."""
        return len(self.expected) > 1 or len(self.locations) > 1


@dataclass(frozen=True, slots=True)
class Verdict:
    """One official indicator for one site: status, thresholds, and the evidence.

    `reason` says why a verdict is not assessable (a code: `no_http_check`, `too_few_probes`,
    `no_freshness_check`, `no_observations`, `period_too_short`, ...). `evidence` holds the
    figures named in docs/report-schema.md for the indicator.
    """

    indicator: str
    status: Status
    evidence: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SiteReport:
    id: str
    name: str
    kind: str
    owner: str
    status: Status
    verdicts: tuple[Verdict, ...]
    # Over its http checks; without one, over all checks with content outcomes (stale, blank,
    # broken links, unanswered) not counted as failures.
    availability: Availability
    latency: Latency  # of the first check availability is measured on
    checks: tuple[CheckReport, ...]
    incidents: tuple[IncidentRow, ...]
    incident_summary: IncidentSummary
    freshness: tuple[ColumnFreshness, ...]
    broken_links: tuple[BrokenLink, ...]
    interaction: tuple[InteractionFinding, ...]
    login_steps: tuple[StepLatency, ...]
    login: tuple[LoginHealth, ...] = ()
    suspected: tuple[SuspectedFailure, ...] = ()


@dataclass(frozen=True, slots=True)
class Summary:
    sites: int
    websites: int
    accounts: int
    passed: int  # status pass or warning
    warned: int
    failed: int  # a veto
    not_assessable: int

    @property
    def decided(self) -> int:
        """Sites whose status could be decided (passed or failed): what the pass rate is over."""
        return self.passed + self.failed

    @property
    def pass_rate(self) -> float | None:
        """Passed over the sites whose status could be decided (not assessable left out)."""
        return None if self.decided == 0 else self.passed / self.decided


@dataclass(frozen=True, slots=True)
class Report:
    period: Period
    generated_at: datetime
    latency_bounds: tuple[float, ...]
    summary: Summary
    sites: tuple[SiteReport, ...]
    site_filter: tuple[str, ...] = ()
    kind_filter: str | None = None
    notes: tuple[str, ...] = ()
    # None with one location and nothing blind: the report reads as before probe points.
    points: Points | None = None
