"""The incident state machine: consecutive failures open an incident, successes resolve it.

Per check and location, `failure_threshold` consecutive failures open one incident dated from
the first failure of the streak; `success_threshold` consecutive successes resolve it, dated
at the first success. The reason is the streak's outcome (the most frequent if mixed, the most
recent among equals) and stays fixed while the incident is open, so the alert that carries it
as a label does not flap; every outcome's count is kept on the incident. `probe_error` (the
monitor's own failure) is ignored: it neither opens, resolves nor breaks a streak.

Repeated session dropouts are an incident too. A site that logs out every session alternates
dropout and re-login, so its failures never run `failure_threshold` in a row; a login check
with a kept session therefore also opens an incident (reason `session_dropped`) when
`session.dropouts` sessions (default 3) dropped within `session.dropout_window` (default 6 h),
dated at the first of them. It resolves like any other: after `success_threshold` successes
in a row (a session that survived its checks), dated at the first.

`observe()` runs on the event loop for every result and never waits: what changed leaves as an
`IncidentEvent` handed to a sink (the store buffers it, and never drops one).
"""

from __future__ import annotations

import uuid
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from typing import Any, Literal, Protocol

import structlog

from monitor.checkspec import CheckSpec
from monitor.clock import Clock
from monitor.maintenance import MaintenanceSchedule
from monitor.results import Outcome, ProbeResult

EventKind = Literal["opened", "updated", "resolved"]
# How an incident ended: the check recovered, or it left the config while open.
RECOVERED = "recovered"
CHECK_REMOVED = "check_removed"
_MAX_DETAIL = 1000

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Incident:
    """One incident as recorded: a snapshot, replaced (revision + 1) whenever it changes."""

    id: str
    site: str
    check: str
    location: str
    owner: str
    reason: str
    opened_at: datetime
    failures: int
    outcome_counts: Mapping[str, int]
    first_error: str
    last_error: str
    last_failure_at: datetime
    during_maintenance: bool = False
    resolved_at: datetime | None = None
    resolution: str = ""
    revision: int = 1

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def key(self) -> str:
        return f"{self.site}/{self.check}"

    def to_json(self, zone: tzinfo | None = None) -> dict[str, Any]:
        """The `/api/v1/incidents` and `monitor incidents --json` object; times in `zone`."""

        def show(moment: datetime | None) -> str | None:
            if moment is None:
                return None
            return (moment.astimezone(zone) if zone is not None else moment).isoformat()

        return {
            "id": self.id,
            "site": self.site,
            "check": self.check,
            "location": self.location,
            "owner": self.owner,
            "reason": self.reason,
            "open": self.is_open,
            "opened_at": show(self.opened_at),
            "resolved_at": show(self.resolved_at),
            "resolution": self.resolution or None,
            "duration_seconds": (
                (self.resolved_at - self.opened_at).total_seconds()
                if self.resolved_at is not None
                else None
            ),
            "failures": self.failures,
            "outcome_counts": dict(self.outcome_counts),
            "first_error": self.first_error,
            "last_error": self.last_error,
            "last_failure_at": show(self.last_failure_at),
            "during_maintenance": self.during_maintenance,
        }


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """A change to an incident; `id` makes writing it idempotent."""

    kind: EventKind
    at: datetime
    incident: Incident
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


class IncidentSink(Protocol):
    def submit_incident_event(self, event: IncidentEvent) -> None:
        """Take an event for durable storage without waiting; never drop it."""


class IncidentMetrics(Protocol):
    """What the engine tells metrics (monitor.metrics.Metrics has exactly these)."""

    def incident_opened(
        self, site: str, check: str, owner: str, reason: str, *, new: bool = True
    ) -> None:
        """Show `monitor_incident_open{...}` = 1; count it in `monitor_incidents_total` if new
        (False: an incident open before a restart continues)."""

    def incident_resolved(self, site: str, check: str, owner: str, reason: str) -> None:
        """The incident is no longer open."""


@dataclass(slots=True)
class _Policy:
    owner: str
    failure_threshold: int
    success_threshold: int
    # Session dropouts within `dropout_window` that open an incident (0: not a kept session).
    dropouts: int = 0
    dropout_window: timedelta = timedelta(0)


@dataclass(slots=True)
class _State:
    """What the engine remembers about one check at one location."""

    failures: int = 0
    first_failure_at: datetime | None = None
    counts: Counter[str] = field(default_factory=Counter)
    last_seen: dict[str, int] = field(default_factory=dict)
    first_error: str = ""
    last_error: str = ""
    last_failure_at: datetime | None = None
    successes: int = 0
    first_success_at: datetime | None = None
    incident: Incident | None = None
    # Recent session dropouts (with their error texts), within the policy's window.
    dropped: deque[tuple[datetime, str]] = field(default_factory=deque)

    def reset_failures(self) -> None:
        self.failures = 0
        self.first_failure_at = None
        self.counts = Counter()
        self.last_seen = {}
        self.first_error = self.last_error = ""
        self.last_failure_at = None

    def reset_successes(self) -> None:
        self.successes = 0
        self.first_success_at = None


_DEFAULT_POLICY = _Policy(owner="default", failure_threshold=3, success_threshold=2)


class IncidentEngine:
    """Turns the stream of probe results into incident events."""

    def __init__(
        self,
        checks: Iterable[CheckSpec],
        sink: IncidentSink,
        metrics: IncidentMetrics,
        clock: Clock,
        schedule: MaintenanceSchedule,
    ) -> None:
        self._sink = sink
        self._metrics = metrics
        self._clock = clock
        self._schedule = schedule
        self._policies = _policies(checks)
        self._states: dict[tuple[str, str], _State] = {}
        self._unknown_logged: set[str] = set()

    def open_incidents(self) -> list[Incident]:
        return [s.incident for s in self._states.values() if s.incident is not None]

    def observe(self, result: ProbeResult) -> None:
        """Feed one probe result; emits events when an incident opens, changes or resolves."""
        if result.outcome is Outcome.PROBE_ERROR:
            return
        policy = self._policy(result.key)
        state = self._states.setdefault((result.key, result.location), _State())
        if result.success:
            self._success(result, state, policy)
        else:
            self._failure(result, state, policy)

    def restore(self, incidents: Iterable[Incident]) -> int:
        """Continue incidents that were open before a restart; returns how many continue.

        Those of checks no longer configured are resolved now, so none stays open forever.
        Incidents of other probe locations are ignored.
        """
        continued = 0
        for incident in incidents:
            if not incident.is_open:
                continue
            state = self._states.setdefault((incident.key, incident.location), _State())
            if state.incident is not None:
                # Already known (restore called twice): never hold two for one check.
                continue
            if incident.key not in self._policies:
                self._emit("resolved", _resolve(incident, self._clock.now(), CHECK_REMOVED))
                del self._states[(incident.key, incident.location)]
                continue
            state.incident = incident
            continued += 1
            self._metrics.incident_opened(
                incident.site, incident.check, incident.owner, incident.reason, new=False
            )
        return continued

    def forget_streaks(self) -> None:
        """Forget the failure streaks in progress (open incidents stay): the failures of a
        location that turned blind are the monitor's, and must not count once it sees again."""
        for state in self._states.values():
            state.reset_failures()
            state.dropped.clear()

    def reconfigure(self, checks: Iterable[CheckSpec], schedule: MaintenanceSchedule) -> None:
        """Apply a reloaded config: new thresholds; incidents of removed checks resolve now."""
        self._policies = _policies(checks)
        self._schedule = schedule
        for key_location, state in list(self._states.items()):
            if key_location[0] in self._policies:
                continue
            if state.incident is not None:
                self._close(state, self._clock.now(), CHECK_REMOVED)
            del self._states[key_location]

    def _policy(self, key: str) -> _Policy:
        policy = self._policies.get(key)
        if policy is None:
            if key not in self._unknown_logged:
                self._unknown_logged.add(key)
                log.warning("incident_unknown_check", check_key=key)
            return _DEFAULT_POLICY
        return policy

    def _failure(self, result: ProbeResult, state: _State, policy: _Policy) -> None:
        state.reset_successes()
        outcome = str(result.outcome)
        error = _error_text(result)
        if state.incident is not None:
            incident = state.incident
            counts = dict(incident.outcome_counts)
            counts[outcome] = counts.get(outcome, 0) + 1
            state.incident = replace(
                incident,
                failures=incident.failures + 1,
                outcome_counts=counts,
                last_error=error,
                last_failure_at=result.started_at,
                revision=incident.revision + 1,
            )
            self._emit("updated", state.incident)
            return
        if state.failures == 0:
            state.first_failure_at = result.started_at
            state.first_error = error
        state.failures += 1
        state.counts[outcome] += 1
        state.last_seen[outcome] = state.failures
        state.last_error = error
        state.last_failure_at = result.started_at
        if state.failures >= policy.failure_threshold:
            self._open(result, state, policy)
        elif result.outcome is Outcome.SESSION_DROPPED and policy.dropouts:
            self._dropout(result, state, policy, error)

    def _dropout(self, result: ProbeResult, state: _State, policy: _Policy, error: str) -> None:
        """Count a dropout in its window; enough of them open a `session_dropped` incident."""
        dropped = state.dropped
        dropped.append((result.started_at, error))
        while dropped and dropped[0][0] <= result.started_at - policy.dropout_window:
            dropped.popleft()
        if len(dropped) < policy.dropouts:
            return
        state.reset_failures()
        state.first_failure_at, state.first_error = dropped[0]
        state.failures = len(dropped)
        state.counts = Counter({str(Outcome.SESSION_DROPPED): len(dropped)})
        state.last_seen = {str(Outcome.SESSION_DROPPED): len(dropped)}
        state.last_error = error
        state.last_failure_at = result.started_at
        dropped.clear()
        self._open(result, state, policy)

    def _open(self, result: ProbeResult, state: _State, policy: _Policy) -> None:
        assert state.first_failure_at is not None and state.last_failure_at is not None
        reason = max(state.counts, key=lambda o: (state.counts[o], state.last_seen[o]))
        incident = Incident(
            id=str(uuid.uuid4()),
            site=result.site,
            check=result.check,
            location=result.location,
            owner=policy.owner,
            reason=reason,
            opened_at=state.first_failure_at,
            failures=state.failures,
            outcome_counts=dict(state.counts),
            first_error=state.first_error,
            last_error=state.last_error,
            last_failure_at=state.last_failure_at,
            during_maintenance=self._schedule.active(result.site, state.first_failure_at)
            is not None,
        )
        state.reset_failures()
        state.incident = incident
        self._emit("opened", incident)
        self._metrics.incident_opened(incident.site, incident.check, incident.owner, reason)

    def _success(self, result: ProbeResult, state: _State, policy: _Policy) -> None:
        state.reset_failures()
        if state.incident is None:
            return
        if state.successes == 0:
            state.first_success_at = result.started_at
        state.successes += 1
        if state.successes >= policy.success_threshold:
            assert state.first_success_at is not None
            self._close(state, state.first_success_at, RECOVERED)
            state.reset_successes()

    def _close(self, state: _State, at: datetime, resolution: str) -> None:
        assert state.incident is not None
        incident = _resolve(state.incident, at, resolution)
        state.incident = None
        self._emit("resolved", incident)
        self._metrics.incident_resolved(
            incident.site, incident.check, incident.owner, incident.reason
        )

    def _emit(self, kind: EventKind, incident: Incident) -> None:
        self._sink.submit_incident_event(IncidentEvent(kind, self._clock.now(), incident))
        if kind != "updated":
            log.info(
                f"incident_{kind}",
                incident_id=incident.id,
                site=incident.site,
                check=incident.check,
                location=incident.location,
                reason=incident.reason,
                failures=incident.failures,
            )


def _resolve(incident: Incident, at: datetime, resolution: str) -> Incident:
    # A resolution never predates the opening (a clock step back must not make it negative).
    return replace(
        incident,
        resolved_at=max(at, incident.opened_at),
        resolution=resolution,
        revision=incident.revision + 1,
    )


def _policies(checks: Iterable[CheckSpec]) -> dict[str, _Policy]:
    out = {}
    for check in checks:
        policy = _Policy(
            owner=check.owner or "default",
            failure_threshold=check.failure_threshold or _DEFAULT_POLICY.failure_threshold,
            success_threshold=check.success_threshold or _DEFAULT_POLICY.success_threshold,
        )
        session = getattr(check, "session", None)  # a login check that keeps its session
        if session is not None:
            policy.dropouts = session.dropouts
            policy.dropout_window = timedelta(seconds=session.dropout_window)
        out[check.key] = policy
    return out


def _error_text(result: ProbeResult) -> str:
    detail = result.detail or str(result.outcome)
    return detail if len(detail) <= _MAX_DETAIL else detail[: _MAX_DETAIL - 1] + "…"
