"""Every `points.refresh`: this location's round trip to the shared record, and its metrics.

One transaction (monitor.store.points.refresh): the heartbeat (alive, blind or not), the blind
spans not yet stored, settling the slots whose results are all in, re-confirming the checks
whose voters may have changed; then what the locations see together is read back and shown:
`monitor_confirmed_incident_open` (what PostgreSQL holds, whichever location decided it),
`monitor_suspected_incident_open` (this location's incidents no quorum confirms), and each
expected location up, blind or missing.

A location that is alone (expected = itself) shows its own incidents as confirmed the moment
its engine opens them, without waiting for the database: with one location the quorum is 1,
and a database outage must not silence its pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import structlog

from monitor.clock import Clock
from monitor.config import Config
from monitor.incidents import IncidentMetrics
from monitor.metrics import IncidentLabels, PointsMetrics
from monitor.points.blind import BlindWatch
from monitor.store import StoreError
from monitor.store.points import BlindSpan, PointsView

log = structlog.get_logger("monitor.points")

# At most this much of the past is settled in one refresh (after an outage it catches up).
SETTLE_SPAN = 3600.0


class PointsService:
    """The refresh loop of one location and shard."""

    def __init__(
        self,
        config: Config,
        shard: str,
        store: PointsStore,
        metrics: PointsMetrics,
        watch: BlindWatch,
        clock: Clock,
    ) -> None:
        self.config = config
        self._shard = shard
        self._store = store
        self._metrics = metrics
        self._watch = watch
        self._clock = clock
        self._started_at = clock.now()
        self.view = PointsView()
        self._failed = False
        self.alone = _alone(config)
        self._site_names: dict[str, str] = {}
        self.reconfigure(config)

    def reconfigure(self, config: Config) -> None:
        self.config = config
        self.alone = _alone(config)
        points = config.probe_points
        self._site_names = {site.id: site.name or site.id for site in config.sites}
        expected = points.locations(config.location)
        self._metrics.settings(points.majority(config.location), len(expected))
        self._metrics.canaries_configured(c.id for c in points.canaries)

    async def run(self) -> None:
        """Refresh every `points.refresh` until cancelled; a failing database is retried."""
        while True:
            await self.refresh_once()
            await self._clock.sleep(self.config.probe_points.refresh)

    async def refresh_once(self) -> PointsView | None:
        config = self.config
        points = config.probe_points
        spans = self._watch.unstored()
        checks = list(config.checks())
        # A slot is decided once its slowest probe has ended and been written, with room.
        wait = points.settle_after + max((c.timeout_s for c in checks), default=0.0)
        early = 0.05 * max((c.interval_s for c in checks), default=60.0) + 1.0
        try:
            view = await self._store.points_refresh(
                location=config.location,
                shard=self._shard,
                started_at=self._started_at,
                blind_since=self._watch.since,
                spans=spans,
                settle_wait=wait,
                settle_span=SETTLE_SPAN,
                early=early,
            )
        except StoreError as exc:
            if not self._failed:
                log.warning("points_refresh_failed", error=str(exc)[:300])
            self._failed = True
            return None
        if self._failed:
            log.info("points_refresh_recovered")
        self._failed = False
        self._watch.stored(spans)
        self.view = view
        self._show(view)
        return view

    def _show(self, view: PointsView) -> None:
        own = self.config.location
        if not self.alone:
            self._metrics.incidents(
                "confirmed",
                (
                    (i.site, self._site_name(i.site), i.check, i.owner, i.reason)
                    for i in view.confirmed
                ),
            )
            self._metrics.incidents(
                "suspected",
                (
                    (s.site, self._site_name(s.site), s.check, s.owner, s.reason)
                    for s in view.suspected
                    if s.location == own
                ),
            )
        self._metrics.point_states((p.location, p.state) for p in view.points)

    def _site_name(self, site: str) -> str:
        return self._site_names.get(site, site)


class PointsStore(Protocol):
    """What the service needs of the store (monitor.store.Store has it)."""

    async def points_refresh(
        self,
        *,
        location: str,
        shard: str,
        started_at: datetime,
        blind_since: datetime | None,
        spans: Sequence[BlindSpan],
        settle_wait: float,
        settle_span: float,
        early: float,
    ) -> PointsView:
        """One refresh round (monitor.store.points.refresh) within storage.timeout."""


class AloneIncidents:
    """The incident engine's metrics for a location that is alone: its incidents are the
    check's, so the confirmed series follows them at once (no database round trip)."""

    def __init__(
        self, inner: IncidentMetrics, points: PointsMetrics, site_names: dict[str, str]
    ) -> None:
        self._inner = inner
        self._points = points
        self._site_names = site_names
        self._open: set[IncidentLabels] = set()

    def incident_opened(
        self, site: str, check: str, owner: str, reason: str, *, new: bool = True
    ) -> None:
        self._inner.incident_opened(site, check, owner, reason, new=new)
        self._open.add((site, self._site_names.get(site, site), check, owner, reason))
        self._points.incidents("confirmed", self._open)

    def incident_resolved(self, site: str, check: str, owner: str, reason: str) -> None:
        self._inner.incident_resolved(site, check, owner, reason)
        self._open.discard((site, self._site_names.get(site, site), check, owner, reason))
        self._points.incidents("confirmed", self._open)


def _alone(config: Config) -> bool:
    return config.probe_points.locations(config.location) == (config.location,)
