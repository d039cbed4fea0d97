"""What the pages show, gathered from the runtime's latest results, the store and the report.

Current states come from the latest result of each check; incidents from the store; the
official indicators from `monitor.report` (its JSON form, whose schema is documented and
stable, so the page says exactly what `monitor report` says).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from monitor.checkspec import CheckSpec
from monitor.config import Config, Site
from monitor.measurements import InteractionMeasurement
from monitor.probes.feed import FeedCheck
from monitor.probes.freshness import FreshnessCheck
from monitor.probes.interaction import InteractionCheck
from monitor.report import Period, build_report, parse_period, quarter, quarter_of, render
from monitor.results import ProbeResult
from monitor.store.points import CheckIncident, PointState, PointsView
from monitor.store.reader import StoreReader
from monitor.web.state import State, state_of, with_points, worst

# How long a computed report is reused: the pages refresh often, the figures move slowly.
REPORT_TTL_SECONDS = 30.0
# A content age this close to its limit is shown as a warning: 10 days of the official 14, as
# the ContentAgeing alert warns, and the same heads-up before 6 months.
NEAR_LIMIT_SECONDS = 4 * 86400.0
# Days of history on a site's page (the availability strip) and of login step latency.
SITE_DAYS = 90
STEP_DAYS = 7


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    seconds: float
    outcome: str


@dataclass(frozen=True, slots=True)
class CheckView:
    """One check as the page shows it now."""

    id: str
    name: str
    type: str
    category: str | None  # freshness checks: homepage, news, notice, custom
    state: State
    outcome: str | None  # None: not probed yet
    detail: str
    started_at: datetime | None
    duration: float | None
    content_age: float | None  # seconds since the newest dated item (content checks)
    allowed_age: float | None  # the limit that age is held to
    newest_item_at: datetime | None
    unanswered: int | None  # overdue questions (interaction checks)
    steps: tuple[Step, ...] = ()
    # Probe points: the locations that confirmed its open incident, or that have one open
    # that no quorum confirmed (suspected); `blind_here`: this location failed it while blind.
    confirmed_by: tuple[str, ...] = ()
    suspected_at: tuple[str, ...] = ()
    blind_here: bool = False

    @property
    def age_level(self) -> str | None:
        """`over` past the limit (the probe's own rule: older than allowed), `near` within
        NEAR_LIMIT_SECONDS of it, `ok` below; None without an age or a limit."""
        if self.content_age is None or self.allowed_age is None:
            return None
        if self.content_age > self.allowed_age:
            return "over"
        if self.content_age >= self.allowed_age - NEAR_LIMIT_SECONDS:
            return "near"
        return "ok"


@dataclass(slots=True)
class SiteView:
    id: str
    name: str
    kind: str
    state: State
    checks: list[CheckView]
    open_incidents: list[dict[str, Any]] = field(default_factory=list)
    week: dict[str, Any] | None = None  # the site in the last 7 days' report (JSON form)
    quarter: dict[str, Any] | None = None  # the site in this quarter's report so far


def allowed_age(check: CheckSpec) -> float | None:
    """The age a content check's newest item may reach (None: not a dated content check)."""
    if isinstance(check, FreshnessCheck):
        return check.allowed_age
    if isinstance(check, FeedCheck):
        return check.max_age
    if isinstance(check, InteractionCheck):
        return check.max_unanswered
    return None


def check_view(check: CheckSpec, result: ProbeResult | None) -> CheckView:
    board = None if result is None else result.measurement
    unanswered = board.unanswered if isinstance(board, InteractionMeasurement) else None
    return CheckView(
        id=check.id,
        name=check.name or "",
        type=check.type,
        category=check.category if isinstance(check, FreshnessCheck) else None,
        state=state_of(result),
        outcome=None if result is None else str(result.outcome),
        detail="" if result is None else result.detail,
        started_at=None if result is None else result.started_at,
        duration=None if result is None else result.duration_seconds,
        content_age=None if result is None else result.content_age_seconds,
        allowed_age=allowed_age(check),
        newest_item_at=None if result is None else result.newest_item_at,
        unanswered=unanswered if isinstance(unanswered, int) else None,
        steps=()
        if result is None
        else tuple(Step(s.name, s.duration_seconds, str(s.outcome)) for s in result.steps),
    )


@dataclass(frozen=True, slots=True)
class PointsNow:
    """The probe points as the pages show them: this location, the expected ones' states, the
    open confirmed incidents and, per check, the locations with a suspected one."""

    here: str
    expected: tuple[str, ...]
    quorum: int
    states: tuple[PointState, ...]
    confirmed: dict[tuple[str, str], CheckIncident]
    suspected: dict[tuple[str, str], tuple[str, ...]]

    @property
    def several(self) -> bool:
        """More than one location expected: confirmation is in play."""
        return len(self.expected) > 1

    @property
    def blind_here(self) -> bool:
        return any(p.location == self.here and p.state == "blind" for p in self.states)

    @property
    def shown(self) -> bool:
        """Worth a word on the page: several locations, or this one blind (one location that
        sees reads as before probe points)."""
        return self.several or self.blind_here

    def mark(self, incident: Mapping[str, Any]) -> str | None:
        """`confirmed` or `suspected` for one location's incident (JSON form); None alone."""
        if not self.several:
            return None
        check = self.confirmed.get((incident["site"], incident["check"]))
        if check is not None and any(a.incident_id == incident["id"] for a in check.locations):
            return "confirmed"
        return "suspected" if incident.get("resolved_at") is None else None


def points_now(view: PointsView, here: str) -> PointsNow:
    suspected: dict[tuple[str, str], list[str]] = {}
    for s in view.suspected:
        suspected.setdefault((s.site, s.check), []).append(s.location)
    return PointsNow(
        here=here,
        expected=view.expected,
        quorum=view.quorum,
        states=view.points,
        confirmed={(c.site, c.check): c for c in view.confirmed},
        suspected={key: tuple(sorted(set(locs))) for key, locs in suspected.items()},
    )


def site_view(
    site: Site, latest: Mapping[str, ProbeResult], points: PointsNow | None = None
) -> SiteView:
    checks = [check_view(c, latest.get(c.key)) for c in site.checks]
    if points is not None:
        checks = [_with_points(site.id, c, points) for c in checks]
    return SiteView(
        id=site.id,
        name=site.name,
        kind=site.kind,
        state=worst([c.state for c in checks]),
        checks=checks,
    )


def _with_points(site: str, check: CheckView, points: PointsNow) -> CheckView:
    confirmed = points.confirmed.get((site, check.id)) if points.several else None
    suspected = points.suspected.get((site, check.id), ()) if points.several else ()
    blind_here = points.blind_here and check.state is State.DOWN
    state = with_points(
        check.state,
        confirmed=confirmed is not None,
        suspected=bool(suspected),
        blind_here=points.blind_here,
    )
    return replace(
        check,
        state=state,
        confirmed_by=() if confirmed is None else tuple(a.location for a in confirmed.locations),
        suspected_at=() if confirmed is not None else suspected,
        blind_here=blind_here and confirmed is None and not suspected,
    )


# -- periods ---------------------------------------------------------------------------------


def last_days(timezone: str, days: int, now: datetime) -> Period:
    """The last `days` local days, today included, up to now."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    first = today - timedelta(days=days - 1)
    return parse_period(timezone, from_text=first.isoformat(), now=now)


def quarter_so_far(timezone: str, now: datetime) -> tuple[str, Period]:
    """This quarter's label and its period from its first day up to now."""
    whole = quarter(*quarter_of(now.astimezone(ZoneInfo(timezone)).date()), timezone)
    first = whole.start.date()  # the local first day: `start` is its midnight, in the zone
    return whole.label, parse_period(timezone, from_text=first.isoformat(), now=now)


# -- the report, cached ------------------------------------------------------------------------


class ReportCache:
    """Reports in their JSON form, each reused for REPORT_TTL_SECONDS."""

    def __init__(self) -> None:
        self._kept: dict[tuple[Any, ...], tuple[float, Any]] = {}

    async def get(self, key: tuple[Any, ...], make: Callable[[], Awaitable[Any]]) -> Any:
        now = time.monotonic()
        kept = self._kept.get(key)
        if kept is not None and now - kept[0] < REPORT_TTL_SECONDS:
            return kept[1]
        value = await make()
        # Old entries (other periods, other sites) are dropped rather than kept for ever.
        self._kept = {k: v for k, v in self._kept.items() if now - v[0] < REPORT_TTL_SECONDS}
        self._kept[key] = (now, value)
        return value

    async def sites(
        self,
        config: Config,
        store: StoreReader,
        period: Period,
        lang: str,
        now: datetime,
        sites: tuple[str, ...] = (),
    ) -> dict[str, dict[str, Any]]:
        """The report's `sites` entries (JSON form) by site id."""

        async def make() -> dict[str, dict[str, Any]]:
            report = await build_report(config, store, period, sites=list(sites) or None, now=now)
            rendered = render(report, "json", "en" if lang == "en" else "zh")
            assert isinstance(rendered, bytes)  # only csv gives several files
            data = json.loads(rendered)
            return {site["id"]: site for site in data["sites"]}

        # Keyed on the start: a period ending "now" moves, the cached one is close enough.
        key = ("sites", id(config), period.start, lang, sites)
        result: dict[str, dict[str, Any]] = await self.get(key, make)
        return result
