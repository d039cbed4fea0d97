"""Whether this location can see: a monitor that cannot see is not believed.

A location is blind while every canary (a reliable target on its own network) has failed its
last `canary_failures` probes, or while at least `blind_ratio` of the servers its checks probe
(when they are at least `blind_min_servers`) got no answer at their latest probe: a DNS
error, a refused or unreachable connection, or a timeout. Servers, not checks: a hundred
sub-sites on one CMS that goes down are one server failing, a real outage to report, not
blindness; and answers, not failures: a server that answered (an error page, stale content)
was seen. While it is blind its failures are the monitor's: the runtime keeps them from the
incident engine, the span is recorded in PostgreSQL (its votes there stay out of the official
ratios) and MonitorBlind pages the monitor's owner.

The span is dated from its first evidence: when the last canary's failing streak began, or
the earliest of the failing checks' latest failures (each within its last interval), so the
failures that made the location blind are inside it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

import structlog

from monitor.config import Points
from monitor.results import Outcome, ProbeResult
from monitor.store.points import BlindSpan

log = structlog.get_logger("monitor.points")

CANARIES = "canaries"
CHECKS = "checks"
# Outcomes of a probe that got no answer at all: what a location that cannot see gets.
NO_ANSWER = frozenset({Outcome.DNS_ERROR, Outcome.CONNECT_ERROR, Outcome.TIMEOUT})


class BlindMetrics(Protocol):
    def location_blind(self, blind: bool, reason: str = "") -> None:
        """Set `monitor_location_blind`; count a span begun (by reason) when it turns on."""

    def canary_success(self, canary: str, success: bool) -> None:
        """Set `monitor_canary_success{canary}`."""


@dataclass(slots=True)
class _Canary:
    failures: int = 0
    streak_start: datetime | None = None
    error: str = ""


@dataclass(slots=True)
class _Latest:
    failed: bool
    at: datetime


@dataclass(slots=True)
class BlindWatch:
    """Follows canary and check results; says when the location turns blind and sees again.

    `on_change(blind)` is called on every transition (the runtime resets incident streaks).
    Spans not yet stored are kept until `stored()` says they are (a dead database loses none).
    """

    location: str
    shard: str
    settings: Points
    metrics: BlindMetrics
    on_change: Callable[[bool], None] = lambda blind: None
    _canaries: dict[str, _Canary] = field(default_factory=dict)
    _latest: dict[str, _Latest] = field(default_factory=dict)
    _failing: int = 0
    span: BlindSpan | None = None
    _unstored: dict[str, BlindSpan] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._canaries = {c.id: _Canary() for c in self.settings.canaries}

    @property
    def blind(self) -> bool:
        return self.span is not None

    @property
    def since(self) -> datetime | None:
        return self.span.started_at if self.span is not None else None

    def reconfigure(self, settings: Points, servers: Iterable[str]) -> None:
        """A reloaded config: new canaries and thresholds; servers no longer probed forgotten."""
        self.settings = settings
        self._canaries = {c.id: self._canaries.get(c.id, _Canary()) for c in settings.canaries}
        keep = set(servers)
        for server in [k for k in self._latest if k not in keep]:
            if self._latest.pop(server).failed:
                self._failing -= 1

    def canary_result(self, canary: str, result: ProbeResult) -> None:
        """One canary probe."""
        state = self._canaries.get(canary)
        if state is None or result.outcome is Outcome.PROBE_ERROR:
            return
        self.metrics.canary_success(canary, result.success)
        if result.success:
            state.failures, state.streak_start, state.error = 0, None, ""
        else:
            if state.failures == 0:
                state.streak_start = result.started_at
            state.failures += 1
            state.error = f"{result.outcome}: {result.detail}"[:300]
        self._judge(result.started_at)

    def check_result(self, result: ProbeResult, server: str | None = None) -> None:
        """One probe of a check of this location; `server` is the host it probes (default:
        the check itself)."""
        if result.outcome is Outcome.PROBE_ERROR:
            return
        failed = result.outcome in NO_ANSWER
        server = server or result.key
        previous = self._latest.get(server)
        if previous is None:
            self._failing += failed
        else:
            self._failing += failed - previous.failed
        self._latest[server] = _Latest(failed, result.started_at)
        self._judge(result.started_at)

    def unstored(self) -> list[BlindSpan]:
        """Spans begun or ended that PostgreSQL does not hold yet."""
        return list(self._unstored.values())

    def stored(self, spans: Iterable[BlindSpan]) -> None:
        for span in spans:
            if self._unstored.get(span.id) is span:
                del self._unstored[span.id]

    # -- deciding -------------------------------------------------------------------------

    def _judge(self, at: datetime) -> None:
        evidence = self._canary_evidence() or self._check_evidence()
        if evidence is not None and self.span is None:
            reason, started_at, detail = evidence
            self.span = BlindSpan(
                str(uuid.uuid4()), self.location, self.shard, min(started_at, at), reason, detail
            )
            self._unstored[self.span.id] = self.span
            self.metrics.location_blind(True, reason)
            log.error("location_blind", location=self.location, reason=reason, **detail)
            self.on_change(True)
        elif evidence is None and self.span is not None:
            ended = replace(self.span, ended_at=max(at, self.span.started_at))
            self.span = None
            self._unstored[ended.id] = ended
            self.metrics.location_blind(False)
            log.info("location_sees_again", location=self.location, blind_since=ended.started_at)
            self.on_change(False)

    def _canary_evidence(self) -> tuple[str, datetime, dict[str, Any]] | None:
        canaries = self._canaries
        needed = self.settings.canary_failures
        if not canaries or any(c.failures < needed for c in canaries.values()):
            return None
        starts = [c.streak_start for c in canaries.values() if c.streak_start is not None]
        detail = {"canaries": {name: c.error for name, c in sorted(canaries.items())}}
        return CANARIES, max(starts), detail

    def _check_evidence(self) -> tuple[str, datetime, dict[str, Any]] | None:
        total = len(self._latest)
        if total < self.settings.blind_min_servers:
            return None
        if self._failing < self.settings.blind_ratio * total:
            return None
        first = min(latest.at for latest in self._latest.values() if latest.failed)
        return CHECKS, first, {"servers_without_answer": self._failing, "servers": total}
