"""Build a `Report` for a period: read the facts, measure each check, apply the indicators."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from monitor.checkspec import CheckSpec
from monitor.config import Config, Site
from monitor.probes.feed import FeedCheck
from monitor.probes.freshness import FreshnessCheck
from monitor.probes.interaction import InteractionCheck
from monitor.probes.login import LoginCheck
from monitor.report import indicators
from monitor.report.content import longest_gap, max_age, posts_per_month, stale_spans, timeline
from monitor.report.gather import (
    BoardFacts,
    CheckDays,
    CheckIncidentRecord,
    CheckMonths,
    ContentHour,
    Facts,
    IncidentRecord,
    gather,
)
from monitor.report.histogram import add_counts, quantile
from monitor.report.indicators import AccessCheck
from monitor.report.model import (
    Availability,
    BlindSpan,
    CheckReport,
    ColumnFreshness,
    DayAvailability,
    IncidentRow,
    IncidentSummary,
    InteractionFinding,
    Latency,
    LocationAvailability,
    LoginHealth,
    MonthLatency,
    Points,
    Report,
    SiteReport,
    Status,
    StepLatency,
    Summary,
    SuspectedFailure,
    Verdict,
)
from monitor.report.period import Period
from monitor.report.reviews import apply_reviews, read_reviews
from monitor.report.security import security_incident
from monitor.reviews import Review
from monitor.store.reader import StoreReader

__all__ = ["ReportError", "build_report"]

CONTENT_TYPES = ("freshness", "feed", "interaction")
ACCESS_TYPES = ("http", "login")
# What a content check finds about the page, as opposed to failing to read it.
CONTENT_OUTCOMES = ("stale", "broken_links", "unanswered", "content_mismatch", "compromised")
# Login health: the site answered but did not log in, or dropped the session. Reported on its
# own, never as the site being unreachable or down.
LOGIN_OUTCOMES = ("login_failed", "session_dropped")
_OFFICIAL_AGE = {
    "homepage": indicators.NOT_UPDATED_VETO,
    "news": indicators.NEWS_MAX_AGE,
    "notice": indicators.NOTICE_MAX_AGE,
}


class ReportError(Exception):
    """A report that cannot be made as asked; `str()` is one line for the person."""


def _select(
    config: Config, sites: Sequence[str] | None, kind: Literal["website", "new_media"] | None
) -> list[Site]:
    known = {s.id for s in config.sites}
    unknown = [s for s in sites or () if s not in known]
    if unknown:
        raise ReportError(f"unknown site {unknown[0]!r} (not in {config.source or 'the config'})")
    chosen = [s for s in config.sites if (not sites or s.id in sites)]
    return [s for s in chosen if kind is None or s.kind == kind]


async def build_report(
    config: Config,
    store: StoreReader,
    period: Period,
    *,
    sites: Sequence[str] | None = None,
    kind: Literal["website", "new_media"] | None = None,
    now: datetime | None = None,
) -> Report:
    """The report of `period` for the selected sites (all, in config order, by default).

    `store` is what it reads (monitor.store.Store). `now` bounds incidents still open
    (default: the current time).
    """
    moment = now if now is not None else datetime.now(UTC)
    selected = _select(config, sites, kind)
    content_keys = [
        (site.id, check.id)
        for site in selected
        for check in site.checks
        if check.type in CONTENT_TYPES
    ]
    intervals = {
        (site.id, check.id): check.interval_s for site in selected for check in site.checks
    }
    facts = await gather(store, period, [s.id for s in selected], content_keys, intervals)
    reviews = await read_reviews(store, period, [s.id for s in selected])
    points = _points(facts)
    several = points is not None and points.several
    reports = tuple(_site(site, facts, period, moment, reviews, several) for site in selected)
    return Report(
        period=period,
        generated_at=moment,
        latency_bounds=facts.bounds,
        summary=_summary(reports),
        sites=reports,
        site_filter=tuple(sites or ()),
        kind_filter=kind,
        notes=_period_notes(period),
        points=points,
    )


def _points(facts: Facts) -> Points | None:
    """Which locations took part and the quorum; None with one location and none blind."""
    probed = {
        location
        for by_location in facts.by_location.values()
        for location, days in by_location.items()
        if any(days.probes.values())
    }
    recorded = facts.points
    points = Points(
        expected=recorded.expected,
        quorum=recorded.quorum,
        locations=tuple(sorted(probed)),
        blind_spans=tuple(
            BlindSpan(b.location, b.shard, b.started_at, b.ended_at, b.reason)
            for b in recorded.blind
        ),
    )
    return points if points.several or points.blind_spans else None


def _period_notes(period: Period) -> tuple[str, ...]:
    """What a person must know about the period: the tables are hourly."""
    if period.end - period.start < timedelta(hours=1) and not _on_the_hour(period.start):
        return ("note_under_an_hour",)
    if not (_on_the_hour(period.start) and _on_the_hour(period.end)):
        return ("note_partial_hours",)
    return ()


def _on_the_hour(moment: datetime) -> bool:
    return moment.minute == 0 and moment.second == 0 and moment.microsecond == 0


def _summary(sites: Sequence[SiteReport]) -> Summary:
    return Summary(
        sites=len(sites),
        websites=sum(1 for s in sites if s.kind == "website"),
        accounts=sum(1 for s in sites if s.kind == "new_media"),
        passed=sum(1 for s in sites if s.status in (Status.PASS, Status.WARNING)),
        warned=sum(1 for s in sites if s.status is Status.WARNING),
        failed=sum(1 for s in sites if s.status is Status.VETO),
        not_assessable=sum(1 for s in sites if s.status is Status.NOT_ASSESSABLE),
    )


# -- per check ------------------------------------------------------------------------------


def latency(bounds: Sequence[float], buckets: Sequence[int], total: float, count: int) -> Latency:
    """Count, mean and the three percentiles of one histogram."""
    return Latency(
        count=count,
        mean=total / count if count else None,
        p50=quantile(0.50, bounds, buckets),
        p95=quantile(0.95, bounds, buckets),
        p99=quantile(0.99, bounds, buckets),
    )


def _locations(
    check: CheckSpec, facts: Facts, period: Period, site: str
) -> tuple[LocationAvailability, ...]:
    """Each location's own availability and worst 7-day ratio of one check, by location."""
    out = []
    for location, days in sorted(facts.by_location.get((site, check.id), {}).items()):
        access = AccessCheck(check.id, check.timeout_s, days)
        out.append(
            LocationAvailability(
                location=location,
                probes=sum(days.probes.values()),
                failures=sum(days.failures.values()),
                unreachable_ratio=indicators.unreachable_ratio(access, period)
                if check.type == "http"
                else None,
            )
        )
    return tuple(out)


def _check(
    check: CheckSpec, facts: Facts, period: Period, site: str, several: bool = False
) -> CheckReport:
    days = facts.days.get((site, check.id)) or CheckDays()
    months = facts.months.get((site, check.id)) or CheckMonths()
    names = facts.outcome_names
    outcomes: list[int] = []
    buckets: list[int] = []
    for month, counts in months.outcomes.items():
        add_counts(outcomes, counts)
        add_counts(buckets, months.buckets[month])
    by_name = {
        name: outcomes[i] for i, name in enumerate(names) if i < len(outcomes) and outcomes[i]
    }
    availability = Availability(
        probes=sum(days.probes.values()),
        failures=sum(days.failures.values()),
        outcomes={k: v for k, v in by_name.items() if k != "probe_error"},
        probe_errors=by_name.get("probe_error", 0),
    )
    month_list = tuple(
        MonthLatency(
            month,
            latency(
                facts.bounds,
                months.buckets.get(month, []),
                months.latency_sum.get(month, 0.0),
                months.latency_count.get(month, 0),
            ),
        )
        for month in period.months()
    )
    return CheckReport(
        id=check.id,
        type=check.type,
        name=check.name,
        interval_seconds=check.interval_s,
        timeout_seconds=check.timeout_s,
        availability=availability,
        latency=latency(
            facts.bounds,
            buckets,
            sum(months.latency_sum.values()),
            sum(months.latency_count.values()),
        ),
        months=month_list,
        days=tuple(
            DayAvailability(
                day, days.probes.get(day, 0), days.failures.get(day, 0), days.slow.get(day, 0)
            )
            for day in period.days()
        ),
        locations=_locations(check, facts, period, site) if several else (),
    )


# -- incidents ------------------------------------------------------------------------------


def _overlap(start: datetime, end: datetime, period: Period) -> tuple[datetime, datetime] | None:
    low, high = max(start, period.start), min(end, period.end)
    return (low, high) if low < high else None


def _union_seconds(spans: Iterable[tuple[datetime, datetime]]) -> float:
    total = 0.0
    current: tuple[datetime, datetime] | None = None
    for start, end in sorted(spans):
        if current is None or start > current[1]:
            if current is not None:
                total += (current[1] - current[0]).total_seconds()
            current = (start, end)
        else:
            current = (current[0], max(current[1], end))
    if current is not None:
        total += (current[1] - current[0]).total_seconds()
    return total


def _bridge_failure(record: IncidentRecord, types: dict[str, str]) -> bool:
    """A feed's incident that its bridge failed (monitor.probes.feed): not the account's."""
    return types.get(record.check) == "feed" and record.first_error.startswith("bridge failure:")


def _agreed(
    records: Sequence[IncidentRecord],
    confirmed: Sequence[CheckIncidentRecord],
    since: datetime | None,
) -> list[tuple[IncidentRecord, tuple[str, ...], bool]]:
    """With several locations: each confirmed incident once (the locations that agreed), and
    each location's incident no quorum confirmed as suspected (from `since`, when confirming
    began; older ones count as they always did). Every record: (record, agreed by, suspected)."""
    members = {incident for c in confirmed for _, incident in c.locations}
    by_id = {r.id: r for r in records}
    out: list[tuple[IncidentRecord, tuple[str, ...], bool]] = []
    for c in confirmed:
        own = sorted(
            (by_id[i] for _, i in c.locations if i in by_id), key=lambda r: (r.opened_at, r.id)
        )
        agreed = tuple(location for location, _ in c.locations)
        record = IncidentRecord(
            id=c.id,
            site=c.site,
            check=c.check,
            location=", ".join(agreed),
            reason=c.reason,
            opened_at=c.opened_at,
            resolved_at=c.resolved_at,
            failures=sum(r.failures for r in own),
            first_error=own[0].first_error if own else "",
            during_maintenance=c.during_maintenance,
        )
        out.append((record, agreed, False))
    for r in records:
        if r.id not in members:
            out.append((r, (), since is not None and r.opened_at >= since))
    return sorted(out, key=lambda item: (item[0].opened_at, item[0].id))


def _incidents(
    records: Sequence[IncidentRecord],
    types: dict[str, str],
    period: Period,
    now: datetime,
    confirmed: Sequence[CheckIncidentRecord] | None = None,
    since: datetime | None = None,
) -> tuple[tuple[IncidentRow, ...], IncidentSummary]:
    """The incidents' rows and summary; with `confirmed` (several locations) from the
    check-level incidents (see `_agreed`), else each record as it is."""
    ongoing_end = min(now, period.end)
    rows = []
    within: dict[str, tuple[datetime, datetime]] = {}  # by incident id: its part in the period
    agreed = (
        [(r, (), False) for r in records]
        if confirmed is None
        else _agreed(records, confirmed, since)
    )
    for r, agreed_by, suspected in agreed:
        end = r.resolved_at if r.resolved_at is not None else max(ongoing_end, r.opened_at)
        inside = _overlap(r.opened_at, end, period)
        if inside is not None:
            within[r.id] = inside
        rows.append(
            IncidentRow(
                id=r.id,
                check=r.check,
                location=r.location,
                reason=r.reason,
                opened_at=r.opened_at,
                resolved_at=r.resolved_at,
                duration_seconds=(end - r.opened_at).total_seconds(),
                in_period_seconds=0.0
                if inside is None
                else (inside[1] - inside[0]).total_seconds(),
                failures=r.failures,
                first_error=r.first_error,
                during_maintenance=r.during_maintenance,
                outage=r.reason not in LOGIN_OUTCOMES
                and not _bridge_failure(r, types)
                and (types.get(r.check) in ACCESS_TYPES or r.reason not in CONTENT_OUTCOMES),
                login=r.reason in LOGIN_OUTCOMES,
                bridge=_bridge_failure(r, types),
                confirmed_by=agreed_by,
                suspected=suspected,
            )
        )

    def spans(chosen: Iterable[IncidentRow]) -> list[tuple[datetime, datetime]]:
        return [within[row.id] for row in chosen if row.id in within]

    counted = [r for r in rows if r.outage and not r.during_maintenance and not r.suspected]
    maintenance = [r for r in rows if r.outage and r.during_maintenance and not r.suspected]
    resolved = [r for r in counted if r.resolved_at is not None and r.resolved_at <= period.end]
    summary = IncidentSummary(
        count=len(counted),
        downtime_seconds=_union_seconds(spans(counted)),
        mttr_seconds=(
            sum(r.duration_seconds for r in resolved) / len(resolved) if resolved else None
        ),
        longest=max(counted, key=lambda r: r.duration_seconds, default=None),
        maintenance_count=len(maintenance),
        maintenance_seconds=_union_seconds(spans(maintenance)),
        content_count=sum(1 for r in rows if not (r.outage or r.login or r.bridge or r.suspected)),
        login_count=sum(1 for r in rows if r.login and not r.suspected),
        bridge_count=sum(1 for r in rows if r.bridge and not r.suspected),
    )
    return tuple(rows), summary


# -- content --------------------------------------------------------------------------------


def _category(check: CheckSpec) -> tuple[str, float]:
    if isinstance(check, FreshnessCheck):
        official = _OFFICIAL_AGE.get(check.category)
        return check.category, official if official is not None else check.allowed_age
    if isinstance(check, FeedCheck):
        return "feed", indicators.NOT_UPDATED_VETO
    return check.type, indicators.NOT_UPDATED_VETO


def _column(check: CheckSpec, site: Site, facts: Facts, period: Period) -> ColumnFreshness:
    key = (site.id, check.id)
    versions = facts.versions.get(key, [])
    hours = facts.content.get(key, [])
    category, allowed = _category(check)
    # Unread for longer than two probes and an hour (the tables' resolution): blind time.
    segments = timeline(versions, hours, period, blind_after=2 * check.interval_s + 3600)
    reached = max_age(segments, period)
    stale = tuple(stale_spans(segments, period, allowed))
    counts_posts = site.kind == "new_media" or isinstance(check, FeedCheck)
    return ColumnFreshness(
        check=check.id,
        name=check.name,
        type=check.type,
        category=category,
        allowed_age=allowed,
        observations=sum(h.observations for h in hours),
        newest_item_at=segments[-1].newest if segments else None,
        max_age=None if reached is None else reached[0],
        longest_gap=longest_gap(segments, period),
        stale_seconds=sum((end - start).total_seconds() for start, end in stale),
        stale_spans=stale,
        blank_hours=sum(1 for h in hours if h.blank > 0),
        undated_hours=sum(1 for h in hours if h.undated > 0),
        posts_per_month=tuple(posts_per_month(versions, period)) if counts_posts else (),
    )


def _board(
    check: InteractionCheck, hours: Sequence[ContentHour], board: BoardFacts | None
) -> InteractionFinding:
    overdue = [h.hour for h in hours if (h.unanswered_max or 0) > 0]
    responses = sum(h.median_response_count for h in hours)
    return InteractionFinding(
        check=check.id,
        observations=sum(h.observations for h in hours),
        unanswered_max=max((h.unanswered_max or 0 for h in hours), default=0),
        unanswered_first=overdue[0] if overdue else None,
        unanswered_last=overdue[-1] if overdue else None,
        open_questions_max=max((h.open_questions_max or 0 for h in hours), default=0),
        late_answers_max=max((h.late_answers_max or 0 for h in hours), default=0),
        median_response_seconds=(
            sum(h.median_response_sum for h in hours) / responses if responses else None
        ),
        max_unanswered=check.max_unanswered,
        oldest_unanswered_seconds=None if board is None else board.oldest_unanswered,
        slowest_answer_seconds=None if board is None else board.slowest_answer,
        overdue_first=None if board is None else board.overdue_first,
        overdue_last=None if board is None else board.overdue_last,
        evidence_observations=0 if board is None else board.observations,
    )


@dataclass(slots=True)
class _StepTotals:
    attempts: int = 0
    failures: int = 0
    latency_sum: float = 0.0
    latency_count: int = 0
    buckets: list[int] = field(default_factory=list)


def _steps(site: Site, facts: Facts) -> tuple[StepLatency, ...]:
    out: list[StepLatency] = []
    for check in site.checks:
        if check.type != "login":
            continue
        # Steps in flow order (position), each summed over the months.
        steps: dict[str, _StepTotals] = {}
        for month in facts.steps.get((site.id, check.id), []):
            totals = steps.setdefault(month.step, _StepTotals())
            totals.attempts += month.attempts
            totals.failures += month.failures
            totals.latency_sum += month.latency_sum
            totals.latency_count += month.latency_count
            add_counts(totals.buckets, month.buckets)
        out.extend(
            StepLatency(
                check=check.id,
                step=step,
                attempts=t.attempts,
                failures=t.failures,
                latency=latency(facts.bounds, t.buckets, t.latency_sum, t.latency_count),
            )
            for step, t in steps.items()
        )
    return tuple(out)


def _login_health(site: Site, checks: Sequence[CheckReport], facts: Facts) -> list[LoginHealth]:
    out = []
    for spec, check in zip(site.checks, checks, strict=True):
        if not isinstance(spec, LoginCheck):
            continue
        logins = facts.logins.get((site.id, spec.id))
        outcomes = check.availability.outcomes
        failed = outcomes.get("login_failed", 0)
        dropped = outcomes.get("session_dropped", 0)
        out.append(
            LoginHealth(
                check=spec.id,
                probes=check.availability.probes,
                logins=0 if logins is None else logins.logins,
                slow_logins=0 if logins is None else logins.slow_logins,
                slow_threshold_seconds=spec.slow,
                slowest_login_seconds=None if logins is None else logins.slowest,
                failed_logins=failed,
                sessions_dropped=dropped,
                other_failures=check.availability.failures - failed - dropped,
            )
        )
    return out


# -- per site -------------------------------------------------------------------------------


def _site(
    site: Site,
    facts: Facts,
    period: Period,
    now: datetime,
    reviews: Sequence[Review] = (),
    several: bool = False,
) -> SiteReport:
    checks = tuple(_check(c, facts, period, site.id, several) for c in site.checks)
    http = [c for c in checks if c.type == "http"]
    # Whether the site's pages opened: login checks are login health, reported on their own.
    measured = [c.availability for c in http] or [_access(c) for c in checks if c.type != "login"]
    availability = Availability(
        probes=sum(a.probes for a in measured),
        failures=sum(a.failures for a in measured),
        outcomes=_sum_outcomes(a.outcomes for a in measured),
        probe_errors=sum(a.probe_errors for a in measured),
    )
    types = {c.id: c.type for c in site.checks}
    incidents, incident_summary = _incidents(
        [i for i in facts.incidents if i.site == site.id and i.check in types],
        types,
        period,
        now,
        [c for c in facts.points.check_incidents if c.site == site.id and c.check in types]
        if several
        else None,
        facts.points.since,
    )
    columns = tuple(
        _column(c, site, facts, period)
        for c in site.checks
        if isinstance(c, FreshnessCheck | FeedCheck)
    )
    boards = tuple(
        _board(c, facts.content.get((site.id, c.id), []), facts.boards.get((site.id, c.id)))
        for c in site.checks
        if isinstance(c, InteractionCheck)
    )
    verdicts = apply_reviews(
        site.id, _verdicts(site, checks, columns, boards, facts, period), reviews, period
    )
    security = security_incident(site, facts.incidents, reviews, period, now)
    verdicts += (security,) if security is not None else ()
    configured = {c.id for c in site.checks}
    return SiteReport(
        id=site.id,
        name=site.name,
        kind=site.kind,
        owner=site.owner,
        status=indicators.worst([v.status for v in verdicts]),
        verdicts=verdicts,
        availability=availability,
        latency=(http or checks)[0].latency if checks else _NO_LATENCY,
        checks=checks,
        incidents=incidents,
        incident_summary=incident_summary,
        freshness=columns,
        broken_links=tuple(b for b in facts.broken_links.get(site.id, []) if b.check in configured),
        interaction=boards,
        login_steps=_steps(site, facts),
        login=tuple(_login_health(site, checks, facts)),
        suspected=tuple(
            SuspectedFailure(s.check, s.first_slot, s.last_slot, s.slots, s.locations, s.reason)
            for s in facts.points.suspected
            if s.site == site.id and s.check in types
        ),
    )


_NO_LATENCY = Latency(0, None, None, None, None)


def _access(check: CheckReport) -> Availability:
    """A check's availability with what it found on the page not counted as failing to read it."""
    a = check.availability
    if check.type in ACCESS_TYPES:
        return a
    found = sum(a.outcomes.get(o, 0) for o in CONTENT_OUTCOMES)
    return Availability(
        probes=a.probes,
        failures=a.failures - found,
        outcomes={k: v for k, v in a.outcomes.items() if k not in CONTENT_OUTCOMES},
        probe_errors=a.probe_errors,
    )


def _sum_outcomes(all_counts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for counts in all_counts:
        for name, count in counts.items():
            total[name] = total.get(name, 0) + count
    return total


def _verdicts(
    site: Site,
    checks: Sequence[CheckReport],
    columns: Sequence[ColumnFreshness],
    boards: Sequence[InteractionFinding],
    facts: Facts,
    period: Period,
) -> tuple[Verdict, ...]:
    if site.kind == "new_media":
        verdicts = [indicators.new_media_not_updated(columns)]
        if boards:
            verdicts.append(indicators.poor_interaction(boards))
        return tuple(verdicts)
    access = [
        AccessCheck(c.id, c.timeout_s, facts.days.get((site.id, c.id)) or CheckDays())
        for c in site.checks
        if c.type == "http"
    ]
    freshness = [c for c in columns if c.type == "freshness"]
    homepages = [c for c in freshness if c.category == "homepage"]
    others = [c for c in freshness if c.category != "homepage"]
    blank = {
        c.check: indicators.blank_spans(
            [
                (h.hour, h.blank > 0)
                for h in facts.content.get((site.id, c.check), [])
                if h.observations > 0
            ],
            period.end,
        )
        for c in others
    }
    return (
        indicators.site_unreachable(access, period),
        indicators.homepage_not_updated(homepages),
        indicators.columns_not_updated(others),
        indicators.blank_columns(others, blank),
        indicators.poor_interaction(boards),
    )
