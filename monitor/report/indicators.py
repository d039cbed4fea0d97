"""The State Council's single-veto indicators, applied to what the monitor measured.

Thresholds are the national text's (国办秘函〔2019〕19号; "超过(含)" is "at or above"):

- 站点无法访问: within a 7-day window with at least 20 probes every day, the probes that did not
  open within 15 s make up >= 5 % (veto); >= 3 % is the vendors' early warning. Windows are 7
  consecutive local days; a probe that succeeded but took longer than 15 s counts as failed.
- 首页不更新: nothing new on the homepage for 2 weeks (veto), 10 days (warning).
- 栏目不更新: (1) news columns not updated for 2 weeks plus notice/policy columns not updated
  for 6 months, together >= 5 at one moment; (2) >= 10 columns past their allowed age at one
  moment; (3) >= 5 blank columns (reported as its own verdict, `blank_columns`; > 2 warns).
- 政务新媒体 内容不更新: an account not updated for 2 weeks (veto), 10 days (warning).
- 互动回应差: a question left unanswered for more than 3 months (veto); answers that came
  after more than 3 months warn.

A verdict the data cannot support is `not_assessable` with a reason, never `pass`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from monitor.report.gather import OFFICIAL_TIMEOUT, CheckDays
from monitor.report.model import ColumnFreshness, InteractionFinding, Status, Verdict
from monitor.report.period import Period

__all__ = [
    "BLANK_VETO",
    "BLANK_WARNING",
    "DAY",
    "INDICATORS",
    "MIN_DAILY_PROBES",
    "OFFICIAL_TIMEOUT",
    "UNREACHABLE_VETO",
    "UNREACHABLE_WARNING",
    "blank_columns",
    "blank_spans",
    "columns_not_updated",
    "homepage_not_updated",
    "new_media_not_updated",
    "poor_interaction",
    "site_unreachable",
    "unreachable_ratio",
    "worst",
]

DAY = 86400.0
UNREACHABLE_VETO = Fraction(5, 100)
UNREACHABLE_WARNING = Fraction(3, 100)
MIN_DAILY_PROBES = 20
WINDOW_DAYS = 7
NOT_UPDATED_VETO = 14 * DAY
NOT_UPDATED_WARNING = 10 * DAY
NEWS_MAX_AGE = 14 * DAY
NOTICE_MAX_AGE = 180 * DAY
RULE1_VETO = 5
RULE2_VETO = 10
BLANK_VETO = 5
BLANK_WARNING = 3  # "more than 2"
INTERACTION_MAX = 90 * DAY
# How many short days a not-assessable verdict names before it just counts them.
_SHORT_DAYS_SHOWN = 10

INDICATORS = (
    "site_unreachable",
    "homepage_not_updated",
    "columns_not_updated",
    "blank_columns",
    "new_media_not_updated",
    "poor_interaction",
    "security_incident",  # monitor.report.security, from `security` checks and reviews
)


def worst(statuses: Sequence[Status]) -> Status:
    return max(statuses, key=lambda s: s.rank, default=Status.PASS)


# -- 站点无法访问 ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccessCheck:
    """One http check's daily counts, as the unreachable rule needs them."""

    id: str
    timeout: float
    days: CheckDays


def _level(ratio: Fraction | None) -> Status:
    if ratio is not None and ratio >= UNREACHABLE_VETO:
        return Status.VETO
    if ratio is not None and ratio >= UNREACHABLE_WARNING:
        return Status.WARNING
    return Status.PASS


def _check_unreachable(
    check: AccessCheck, period: Period
) -> tuple[Status, dict[str, Any], str | None]:
    """One check's verdict, evidence and (when not assessable) reason.

    With a timeout below 15 s a probe that gave up proves nothing about 15 s: the verdict is
    judged on the other failures, and where counting those timeouts or not would change it,
    it is not assessable (`timeout_below_official`).
    """
    days = period.days()
    probes = [check.days.probes.get(d, 0) for d in days]
    slow = [check.days.slow.get(d, 0) for d in days]
    with_timeouts = [check.days.failures.get(d, 0) + s for d, s in zip(days, slow, strict=True)]
    early = check.timeout < OFFICIAL_TIMEOUT
    timeouts = [check.days.timeouts.get(d, 0) if early else 0 for d in days]
    failed = [f - n for f, n in zip(with_timeouts, timeouts, strict=True)]
    short = [
        {"check": check.id, "day": d, "probes": n}
        for d, n in zip(days, probes, strict=True)
        if n < MIN_DAILY_PROBES
    ]
    windows = [
        slice(i, i + WINDOW_DAYS)
        for i in range(len(days) - WINDOW_DAYS + 1)
        if min(probes[i : i + WINDOW_DAYS]) >= MIN_DAILY_PROBES
    ]

    def ratio(counts: list[int], window: slice) -> Fraction:
        return Fraction(sum(counts[window]), sum(probes[window]))

    official = max(windows, key=lambda w: ratio(failed, w), default=None)
    upper = max(windows, key=lambda w: ratio(with_timeouts, w), default=None)
    status = _level(None if official is None else ratio(failed, official))
    uncertain = upper is not None and _level(ratio(with_timeouts, upper)) is not status
    evidence: dict[str, Any] = {"check": check.id}
    shown = upper if uncertain else official
    if shown is not None:
        evidence.update(
            window_start=days[shown.start],
            window_end=days[shown.stop - 1],
            probes=sum(probes[shown]),
            failures=sum(failed[shown]),
            slow=sum(slow[shown]),
            ratio=float(ratio(failed, shown)),
        )
        if early:
            evidence.update(
                timeouts_not_counted=sum(timeouts[shown]),
                ratio_with_timeouts=float(ratio(with_timeouts, shown)),
            )
    if short:
        evidence["short_days"] = short[:_SHORT_DAYS_SHOWN]
        evidence["short_days_count"] = len(short)
    if early:
        evidence["timeout_below_official"] = check.timeout
    if uncertain:
        return Status.NOT_ASSESSABLE, evidence, "timeout_below_official"
    if status is not Status.PASS:
        return status, evidence, None
    if short:
        return Status.NOT_ASSESSABLE, evidence, "too_few_probes"
    return Status.PASS, evidence, None


def unreachable_ratio(check: AccessCheck, period: Period) -> float | None:
    """The worst 7-day window's ratio of one check's counts (None: no window to judge):
    what one location alone would have said, shown beside the official verdict."""
    if len(period.days()) < WINDOW_DAYS:
        return None
    _, evidence, _ = _check_unreachable(check, period)
    ratio = evidence.get("ratio")
    return None if ratio is None else float(ratio)


def site_unreachable(checks: Sequence[AccessCheck], period: Period) -> Verdict:
    """站点无法访问 over the site's http checks: the worst 7-day window of the worst check."""
    name = "site_unreachable"
    if not checks:
        return Verdict(name, Status.NOT_ASSESSABLE, reason="no_http_check")
    if len(period.days()) < WINDOW_DAYS:
        return Verdict(name, Status.NOT_ASSESSABLE, reason="period_too_short")
    results = [_check_unreachable(c, period) for c in checks]
    status = worst([s for s, _, _ in results])
    # The evidence of the check that decided it (the highest ratio among equals).
    _, deciding, reason = max(
        (r for r in results if r[0] is status), key=lambda r: float(r[1].get("ratio", -1))
    )
    evidence = dict(deciding)
    if len(results) > 1:
        evidence["checks"] = [
            {"status": str(s), **({"reason": why} if why else {}), **e} for s, e, why in results
        ]
    return Verdict(name, status, evidence, reason)


# -- 首页不更新 / 政务新媒体 内容不更新 -----------------------------------------------------------


def _not_updated(name: str, columns: Sequence[ColumnFreshness], missing: str) -> Verdict:
    if not columns:
        return Verdict(name, Status.NOT_ASSESSABLE, reason=missing)
    observed = [c for c in columns if c.observations > 0 and c.max_age is not None]
    if not observed:
        return Verdict(
            name,
            Status.NOT_ASSESSABLE,
            {"checks": [c.check for c in columns]},
            reason="no_observations",
        )
    column = max(observed, key=lambda c: c.max_age or 0.0)
    age = column.max_age or 0.0
    evidence: dict[str, Any] = {
        "check": column.check,
        "name": column.name,
        "max_age_seconds": age,
        "veto_seconds": NOT_UPDATED_VETO,
        "warning_seconds": NOT_UPDATED_WARNING,
    }
    gap = column.longest_gap
    if gap is not None:
        evidence.update(
            newest_item_at=gap.newest_item_at,
            since=gap.since,
            until=gap.until,
            updated=gap.updated,
        )
    unobserved = [c.check for c in columns if c not in observed]
    if unobserved:
        evidence["unobserved"] = unobserved
    if age >= NOT_UPDATED_VETO:
        return Verdict(name, Status.VETO, evidence)
    if age >= NOT_UPDATED_WARNING:
        return Verdict(name, Status.WARNING, evidence)
    if unobserved:
        return Verdict(name, Status.NOT_ASSESSABLE, evidence, reason="no_observations")
    return Verdict(name, Status.PASS, evidence)


def homepage_not_updated(homepages: Sequence[ColumnFreshness]) -> Verdict:
    """首页不更新 over the site's `category: homepage` freshness checks."""
    return _not_updated("homepage_not_updated", homepages, "no_homepage_check")


def new_media_not_updated(feeds: Sequence[ColumnFreshness]) -> Verdict:
    """政务新媒体 内容不更新 over the account's feed (and freshness) checks."""
    return _not_updated("new_media_not_updated", feeds, "no_feed_check")


# -- 栏目不更新 ---------------------------------------------------------------------------------


def _most_at_once(
    spans: dict[str, list[tuple[datetime, datetime]]],
) -> tuple[int, datetime | None, list[str]]:
    """The most columns stale at one moment, the first such moment, and those columns."""
    events: list[tuple[datetime, int, str]] = []
    for column, column_spans in spans.items():
        for start, end in column_spans:
            events.append((start, 1, column))
            events.append((end, -1, column))
    # Ends before starts at the same instant: spans are half-open.
    events.sort(key=lambda e: (e[0], e[1]))
    current: set[str] = set()
    best: tuple[int, datetime | None, list[str]] = (0, None, [])
    for moment, step, column in events:
        if step > 0:
            current.add(column)
            if len(current) > best[0]:
                best = (len(current), moment, sorted(current))
        else:
            current.discard(column)
    return best


def _rule(number: int, columns: Sequence[ColumnFreshness], threshold: int) -> dict[str, Any]:
    # Each column's stale spans are at its own allowed age: 2 weeks for news, 6 months for
    # notice/policy, `max_age` for custom columns, as sub-rules (1) and (2) ask.
    count, moment, stale = _most_at_once({c.check: list(c.stale_spans) for c in columns})
    return {
        "rule": number,
        "threshold": threshold,
        "max_count": count,
        "at": moment,
        "columns": stale,
        "assessed": [c.check for c in columns if c.observations > 0],
        "unobserved": [c.check for c in columns if c.observations == 0],
    }


def columns_not_updated(columns: Sequence[ColumnFreshness]) -> Verdict:
    """栏目不更新, sub-rules (1) and (2), over the site's non-homepage freshness checks."""
    name = "columns_not_updated"
    if not columns:
        return Verdict(name, Status.NOT_ASSESSABLE, reason="no_column_check")
    rule1 = _rule(1, [c for c in columns if c.category in ("news", "notice")], RULE1_VETO)
    rule2 = _rule(2, columns, RULE2_VETO)
    evidence: dict[str, Any] = {"rules": [rule1, rule2]}
    if rule1["max_count"] >= RULE1_VETO or rule2["max_count"] >= RULE2_VETO:
        return Verdict(name, Status.VETO, evidence)
    if rule1["max_count"] > 0 or rule2["max_count"] > 0:
        return Verdict(name, Status.WARNING, evidence)
    if any(c.observations == 0 for c in columns):
        return Verdict(name, Status.NOT_ASSESSABLE, evidence, reason="no_observations")
    return Verdict(name, Status.PASS, evidence)


def blank_spans(
    hours: Sequence[tuple[datetime, bool]], until: datetime
) -> list[tuple[datetime, datetime]]:
    """When one column was blank: each blank observed hour until its next observed hour.

    A column's state holds from one observation to the next, whatever its probe interval; the
    last one holds until `until` (the period's end). `hours` are (hour, blank) in time order,
    only hours with observations.
    """
    spans: list[tuple[datetime, datetime]] = []
    for i, (hour, blank) in enumerate(hours):
        if not blank:
            continue
        end = hours[i + 1][0] if i + 1 < len(hours) else until
        if spans and spans[-1][1] == hour:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((hour, end))
    return spans


def blank_columns(
    columns: Sequence[ColumnFreshness], spans: dict[str, list[tuple[datetime, datetime]]]
) -> Verdict:
    """栏目不更新 (3): the most columns blank (栏目无内容) at one moment.

    `spans` are each column's blank spans (`blank_spans`): columns probed at different
    intervals are blank together wherever their spans overlap.
    """
    name = "blank_columns"
    if not columns:
        return Verdict(name, Status.NOT_ASSESSABLE, reason="no_column_check")
    count, moment, blank = _most_at_once(spans)
    ever = sorted(c for c, s in spans.items() if s)
    evidence: dict[str, Any] = {
        "max_count": count,
        "at": moment,
        "columns": blank,
        "ever_blank": ever,
        "veto_count": BLANK_VETO,
        "warning_count": BLANK_WARNING,
        "reading": "state_holds_until_next_observation",
    }
    if count >= BLANK_VETO:
        return Verdict(name, Status.VETO, evidence)
    if count >= BLANK_WARNING:
        return Verdict(name, Status.WARNING, evidence)
    if all(c.observations == 0 for c in columns):
        return Verdict(name, Status.NOT_ASSESSABLE, evidence, reason="no_observations")
    return Verdict(name, Status.PASS, evidence)


# -- 互动回应差 ---------------------------------------------------------------------------------


def _board_verdict(board: InteractionFinding) -> tuple[Status, dict[str, Any]]:
    """One board against the official 3 months; the check's own limit only warns.

    The probes record the oldest open question's age and the slowest answer whatever their
    limit (`oldest_unanswered_seconds`, `slowest_answer_seconds`). Where some observations did
    not (results written before they did), their overdue count under the check's limit stands
    in, as official only when that limit is at least the official one.
    """
    official = board.max_unanswered >= INTERACTION_MAX
    partial = board.evidence_observations < board.observations
    oldest = board.oldest_unanswered_seconds
    slowest = board.slowest_answer_seconds
    evidence: dict[str, Any] = {
        "check": board.check,
        "oldest_unanswered_seconds": oldest,
        "slowest_answer_seconds": slowest,
        "first_seen": board.overdue_first,
        "last_seen": board.overdue_last,
        "unanswered_max": board.unanswered_max,
        "late_answers_max": board.late_answers_max,
        "check_first_seen": board.unanswered_first,
        "check_last_seen": board.unanswered_last,
        "max_unanswered_seconds": board.max_unanswered,
        "official_seconds": INTERACTION_MAX,
        "reading": "official_limit",
    }
    if board.max_unanswered > INTERACTION_MAX:
        # A looser limit than the rule's: overdue questions between the two go unseen.
        evidence["limit_above_official"] = True
    if oldest is not None and oldest > INTERACTION_MAX:
        return Status.VETO, evidence
    if partial and official and board.unanswered_max > 0:
        evidence["first_seen"], evidence["last_seen"] = (
            board.unanswered_first,
            (board.unanswered_last),
        )
        return Status.VETO, evidence
    if slowest is not None and slowest > INTERACTION_MAX:
        return Status.WARNING, evidence
    if board.unanswered_max > 0 or board.late_answers_max > 0:
        # Past the check's own (stricter) limit, or answered late by it: an early warning.
        if not official:
            evidence["check_limit_reached"] = True
        return Status.WARNING, evidence
    return Status.PASS, evidence


def poor_interaction(boards: Sequence[InteractionFinding]) -> Verdict:
    """互动回应差: a question unanswered for more than 3 months on any board."""
    name = "poor_interaction"
    if not boards:
        return Verdict(name, Status.NOT_ASSESSABLE, reason="no_interaction_check")
    observed = [b for b in boards if b.observations > 0]
    if not observed:
        return Verdict(
            name, Status.NOT_ASSESSABLE, {"checks": [b.check for b in boards]}, "no_observations"
        )
    judged = [_board_verdict(b) for b in observed]
    status, evidence = max(
        judged, key=lambda j: (j[0].rank, j[1]["oldest_unanswered_seconds"] or 0.0)
    )
    if status is Status.PASS and len(observed) < len(boards):
        evidence["unobserved"] = [b.check for b in boards if b.observations == 0]
        return Verdict(name, Status.NOT_ASSESSABLE, evidence, "no_observations")
    return Verdict(name, status, evidence)
