"""What the pages show, gathered from the runtime's latest results, the store and the report.

Current states come from the latest result of each check; incidents from the store; the
official indicators from `monitor.report` (its JSON form, whose schema is documented and
stable, so the page says exactly what `monitor report` says).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from monitor.checkspec import CheckSpec
from monitor.config import Config, Site
from monitor.measurements import InteractionMeasurement
from monitor.probes.feed import FeedCheck
from monitor.probes.freshness import FreshnessCheck
from monitor.probes.interaction import InteractionCheck
from monitor.report import Period, build_report, parse_period, render
from monitor.results import ProbeResult
from monitor.store.reader import StoreReader
from monitor.web.state import State, state_of, worst

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


def site_view(site: Site, latest: Mapping[str, ProbeResult]) -> SiteView:
    checks = [check_view(c, latest.get(c.key)) for c in site.checks]
    return SiteView(
        id=site.id,
        name=site.name,
        kind=site.kind,
        state=worst([c.state for c in checks]),
        checks=checks,
    )


# -- periods ---------------------------------------------------------------------------------


def last_days(timezone: str, days: int, now: datetime) -> Period:
    """The last `days` local days, today included, up to now."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    first = today - timedelta(days=days - 1)
    return parse_period(timezone, from_text=first.isoformat(), now=now)


def quarter_so_far(timezone: str, now: datetime) -> tuple[str, Period]:
    """This quarter's label and its period from its first day up to now."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    number = (today.month - 1) // 3 + 1
    first = date(today.year, 3 * number - 2, 1)
    return f"{today.year}Q{number}", parse_period(timezone, from_text=first.isoformat(), now=now)


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
