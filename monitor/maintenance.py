"""Maintenance windows: when a site's incidents are recorded but do not page.

Windows come from config: one-off ranges (`start`/`end`; a time without an offset is read in
the configured time zone) and weekly ones (`days`, local `start`, `duration`). Weekly windows
follow the wall clock of the zone, so a Sunday 02:00 window stays at 02:00 across a DST change;
its length is always `duration` of real time. A start that falls in a DST gap (02:30 on the
spring-forward night) is read with the offset before the gap, as zoneinfo does (fold=0).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

from monitor.clock import Clock
from monitor.config import MaintenanceWindow

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Longest the gauge loop sleeps between evaluations, so a config reload is picked up.
_MAX_TICK = 60.0


class MaintenanceMetrics(Protocol):
    def maintenance(self, site: str, active: bool) -> None:
        """Set `monitor_maintenance{site}` to 1 while a window is active, else 0."""

    def forget_site(self, site: str) -> None:
        """Remove `monitor_maintenance{site}` of a site that left the config."""


class MaintenanceSchedule:
    """Answers 'is this site in maintenance at this instant?' for the configured windows."""

    def __init__(self, windows: Sequence[MaintenanceWindow], timezone: str) -> None:
        self._zone: tzinfo = ZoneInfo(timezone)
        self._windows = tuple(windows)

    @property
    def windows(self) -> tuple[MaintenanceWindow, ...]:
        return self._windows

    def active(self, site: str, at: datetime) -> MaintenanceWindow | None:
        """The first window covering `site` at instant `at` (aware), or None."""
        for window in self._windows:
            if window.sites and site not in window.sites:
                continue
            if any(start <= at < end for start, end in self._spans(window, at)):
                return window
        return None

    def next_change(
        self, after: datetime, horizon: timedelta = timedelta(days=8)
    ) -> datetime | None:
        """The earliest window start or end strictly after `after`, within `horizon`."""
        edges = [
            edge
            for window in self._windows
            for span in self._spans(window, after, horizon)
            for edge in span
            if after < edge <= after + horizon
        ]
        return min(edges, default=None)

    def _spans(
        self, window: MaintenanceWindow, at: datetime, ahead: timedelta = timedelta(0)
    ) -> Iterable[tuple[datetime, datetime]]:
        """The window's occurrences (UTC start, end) that may cover [at, at + ahead]."""
        if window.weekly is None:
            assert window.start is not None and window.end is not None
            yield self._aware(window.start), self._aware(window.end)
            return
        weekly = window.weekly
        length = timedelta(seconds=weekly.duration)
        local_day = at.astimezone(self._zone).date()
        # An occurrence that began up to `length` (plus a day for the start time) ago may still
        # cover `at`; look that far back and `ahead` forward.
        back = length.days + 2
        forward = ahead.days + 2
        days = set(weekly.days)
        for offset in range(-back, forward + 1):
            day = local_day + timedelta(days=offset)
            if _WEEKDAYS[day.weekday()] not in days:
                continue
            start = datetime.combine(day, weekly.start, tzinfo=self._zone).astimezone(UTC)
            yield start, start + length

    def _aware(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            return moment.replace(tzinfo=self._zone).astimezone(UTC)
        return moment.astimezone(UTC)


class MaintenanceGauge:
    """Keeps `monitor_maintenance{site}` in step with the schedule."""

    def __init__(
        self,
        schedule: MaintenanceSchedule,
        sites: Iterable[str],
        metrics: MaintenanceMetrics,
        clock: Clock,
    ) -> None:
        self._schedule = schedule
        self._sites = tuple(sites)
        self._metrics = metrics
        self._clock = clock
        self._state: dict[str, bool] = {}
        self._changed = asyncio.Event()

    def reconfigure(self, schedule: MaintenanceSchedule, sites: Iterable[str]) -> None:
        """Use new windows and sites (config reload), at once: a window that covers now must
        hold the page from the reload on, and the loop must wake for the new edges."""
        self._schedule = schedule
        gone = set(self._sites) - set(sites)
        self._sites = tuple(sites)
        for site in gone:
            self._state.pop(site, None)
            self._metrics.forget_site(site)
        self.update()
        self._changed.set()

    def update(self) -> None:
        """Set every site's gauge for the current instant (the first call sets them all)."""
        now = self._clock.now()
        for site in self._sites:
            active = self._schedule.active(site, now) is not None
            if self._state.get(site) != active:
                self._state[site] = active
                self._metrics.maintenance(site, active)

    async def run(self) -> None:
        """Update now and at every window edge until cancelled."""
        while True:
            self.update()
            now = self._clock.now()
            edge = self._schedule.next_change(now)
            wait = _MAX_TICK if edge is None else min(_MAX_TICK, (edge - now).total_seconds())
            self._changed.clear()
            sleeper = asyncio.ensure_future(self._clock.sleep(max(wait, 0.001)))
            waker = asyncio.ensure_future(self._changed.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()


__all__ = ["MaintenanceGauge", "MaintenanceMetrics", "MaintenanceSchedule"]
