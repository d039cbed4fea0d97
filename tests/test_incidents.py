"""The incident state machine: thresholds, dating, reasons, maintenance, restarts, reloads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.cli import incident_table, parse_since
from monitor.config import MaintenanceWindow
from monitor.incidents import (
    CHECK_REMOVED,
    RECOVERED,
    Incident,
    IncidentEngine,
    IncidentEvent,
)
from monitor.maintenance import MaintenanceSchedule
from monitor.results import Outcome, ProbeResult
from tests.fakeclock import FakeClock
from tests.pg import make_config

T0 = datetime(2026, 7, 1, tzinfo=UTC)


class Sink:
    """Collects the events the engine emits (stands in for the store's buffer)."""

    def __init__(self) -> None:
        self.events: list[IncidentEvent] = []

    def submit_incident_event(self, event: IncidentEvent) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


class Gauges:
    """Collects what the engine tells metrics."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, str, str]] = []

    def incident_opened(
        self, site: str, check: str, owner: str, reason: str, *, new: bool = True
    ) -> None:
        self.calls.append(("opened" if new else "restored", site, check, owner, reason))

    def incident_resolved(self, site: str, check: str, owner: str, reason: str) -> None:
        self.calls.append(("resolved", site, check, owner, reason))


def engine(
    clock: FakeClock, windows: list[MaintenanceWindow] | None = None, **overrides: object
) -> tuple[IncidentEngine, Sink, Gauges]:
    config = make_config(**overrides)  # type: ignore[arg-type]
    sink, gauges = Sink(), Gauges()
    schedule = MaintenanceSchedule(windows or [], config.timezone)
    return IncidentEngine(config.checks(), sink, gauges, clock, schedule), sink, gauges


def result(
    minute: float, outcome: Outcome = Outcome.OK, detail: str = "", **kw: object
) -> ProbeResult:
    return ProbeResult(
        site=str(kw.pop("site", "portal")),
        check=str(kw.pop("check", "home")),
        type="http",
        outcome=outcome,
        started_at=T0 + timedelta(minutes=minute),
        duration_seconds=0.1,
        detail=detail,
        location=str(kw.pop("location", "default")),
    )


def test_opens_after_threshold_dated_from_first_failure() -> None:
    """Three consecutive failures open one incident dated at the first of them, not before."""
    eng, sink, gauges = engine(FakeClock())
    eng.observe(result(0))
    eng.observe(result(1, Outcome.TIMEOUT, "no answer in 15s"))
    eng.observe(result(2, Outcome.TIMEOUT, "no answer in 15s (connect)"))
    assert sink.events == []
    eng.observe(result(3, Outcome.TIMEOUT, "no answer in 15s (processing)"))
    assert sink.kinds() == ["opened"]
    incident = sink.events[0].incident
    assert incident.opened_at == T0 + timedelta(minutes=1)
    assert incident.reason == "timeout"
    assert incident.failures == 3
    assert incident.first_error == "no answer in 15s"
    assert incident.last_error == "no answer in 15s (processing)"
    assert incident.owner == "portal-team"
    assert incident.is_open and not incident.during_maintenance
    assert gauges.calls == [("opened", "portal", "home", "portal-team", "timeout")]


def test_a_success_breaks_the_failure_streak() -> None:
    """Failures separated by a success never reach the threshold."""
    eng, sink, _ = engine(FakeClock())
    for minute, outcome in enumerate(
        [Outcome.TIMEOUT, Outcome.TIMEOUT, Outcome.OK, Outcome.TIMEOUT, Outcome.TIMEOUT]
    ):
        eng.observe(result(minute, outcome))
    assert sink.events == []


def test_resolves_after_success_threshold_dated_at_first_success() -> None:
    """Two consecutive successes resolve the incident at the first; a failure between resets."""
    eng, sink, gauges = engine(FakeClock())
    for minute in range(3):
        eng.observe(result(minute, Outcome.CONNECT_ERROR))
    eng.observe(result(3))
    eng.observe(result(4, Outcome.CONNECT_ERROR))
    eng.observe(result(5))
    assert sink.kinds() == ["opened", "updated"]
    eng.observe(result(6))
    assert sink.kinds() == ["opened", "updated", "resolved"]
    resolved = sink.events[-1].incident
    assert resolved.resolved_at == T0 + timedelta(minutes=5)
    assert resolved.resolution == RECOVERED
    assert resolved.failures == 4
    assert resolved.revision == 3
    assert gauges.calls[-1] == ("resolved", "portal", "home", "portal-team", "connect_error")
    assert eng.open_incidents() == []


def test_reason_is_the_most_frequent_outcome_and_all_counts_are_kept() -> None:
    """Mixed failures: the reason is the most frequent (the latest among equals); counts kept."""
    eng, sink, _ = engine(FakeClock(), defaults={"failure_threshold": 4})
    for minute, outcome in enumerate(
        [Outcome.HTTP_ERROR, Outcome.TIMEOUT, Outcome.TIMEOUT, Outcome.HTTP_ERROR]
    ):
        eng.observe(result(minute, outcome))
    opened = sink.events[0].incident
    assert opened.reason == "http_error"
    assert dict(opened.outcome_counts) == {"http_error": 2, "timeout": 2}
    eng.observe(result(4, Outcome.DROPOUT))
    updated = sink.events[-1].incident
    assert updated.reason == "http_error"  # fixed while open, so the alert does not flap
    assert dict(updated.outcome_counts) == {"http_error": 2, "timeout": 2, "dropout": 1}
    assert updated.failures == 5


def test_probe_error_neither_opens_nor_breaks_nor_resolves() -> None:
    """probe_error results are ignored by the state machine."""
    eng, sink, _ = engine(FakeClock())
    eng.observe(result(0, Outcome.TIMEOUT))
    eng.observe(result(1, Outcome.PROBE_ERROR))
    eng.observe(result(2, Outcome.TIMEOUT))
    eng.observe(result(3, Outcome.PROBE_ERROR))
    assert sink.events == []
    eng.observe(result(4, Outcome.TIMEOUT))
    assert sink.kinds() == ["opened"]
    assert sink.events[0].incident.failures == 3
    eng.observe(result(5))
    eng.observe(result(6, Outcome.PROBE_ERROR))
    eng.observe(result(7))
    assert sink.kinds() == ["opened", "resolved"]
    assert sink.events[-1].incident.resolved_at == T0 + timedelta(minutes=5)


def test_per_check_thresholds_apply() -> None:
    """A check's own failure_threshold overrides the default."""
    eng, sink, _ = engine(
        FakeClock(),
        sites=[
            {
                "id": "portal",
                "checks": [
                    {
                        "id": "home",
                        "type": "http",
                        "url": "http://127.0.0.1:9/",
                        "failure_threshold": 1,
                        "success_threshold": 1,
                    }
                ],
            }
        ],
    )
    eng.observe(result(0, Outcome.STALE))
    assert sink.kinds() == ["opened"]
    eng.observe(result(1))
    assert sink.kinds() == ["opened", "resolved"]


def test_checks_and_locations_are_tracked_apart() -> None:
    """Failures of different checks or locations do not add up."""
    eng, sink, _ = engine(FakeClock())
    eng.observe(result(0, Outcome.TIMEOUT))
    eng.observe(result(1, Outcome.TIMEOUT, check="news"))
    eng.observe(result(2, Outcome.TIMEOUT, location="beijing"))
    eng.observe(result(3, Outcome.TIMEOUT, location="beijing"))
    assert sink.events == []
    eng.observe(result(4, Outcome.TIMEOUT, location="beijing"))
    assert sink.kinds() == ["opened"]
    assert sink.events[0].incident.location == "beijing"


def test_incident_starting_in_maintenance_is_flagged() -> None:
    """An incident whose first failure falls inside a maintenance window is during_maintenance."""
    window = MaintenanceWindow(
        sites=["portal"],
        start=datetime(2026, 7, 1, 8, 0),  # Asia/Shanghai: 00:00 UTC
        end=datetime(2026, 7, 1, 8, 2),
    )
    eng, sink, _ = engine(FakeClock(), [window])
    for minute in range(3):
        eng.observe(result(minute, Outcome.HTTP_ERROR))
    for minute in range(3, 5):
        eng.observe(result(minute))
    for minute in range(5, 8):  # after the window
        eng.observe(result(minute, Outcome.HTTP_ERROR))
    opened = [e.incident for e in sink.events if e.kind == "opened"]
    assert [i.during_maintenance for i in opened] == [True, False]


def test_restored_incident_continues_and_resolves() -> None:
    """An incident reloaded after a restart is continued: no second one, and it resolves."""
    clock = FakeClock()
    eng, sink, gauges = engine(clock)
    before = Incident(
        id="0b5e0d3c-8f7a-4b7e-9f5e-2a6c1d9e4f10",
        site="portal",
        check="home",
        location="default",
        owner="portal-team",
        reason="timeout",
        opened_at=T0 - timedelta(hours=1),
        failures=7,
        outcome_counts={"timeout": 7},
        first_error="a",
        last_error="b",
        last_failure_at=T0 - timedelta(minutes=1),
        revision=5,
    )
    assert eng.restore([before]) == 1
    assert eng.restore([before]) == 0  # twice: still one
    assert gauges.calls == [("restored", "portal", "home", "portal-team", "timeout")]
    for minute in range(3):
        eng.observe(result(minute, Outcome.TIMEOUT))
    assert sink.kinds() == ["updated"] * 3
    assert sink.events[-1].incident.id == before.id
    assert sink.events[-1].incident.failures == 10
    eng.observe(result(3))
    eng.observe(result(4))
    assert sink.kinds()[-1] == "resolved"
    assert sink.events[-1].incident.id == before.id
    assert sink.events[-1].incident.revision == 9


def test_restored_incident_of_a_removed_check_is_resolved() -> None:
    """An open incident whose check left the config is resolved at restore, never left open."""
    clock = FakeClock()
    eng, sink, gauges = engine(clock)
    orphan = Incident(
        id="7d1b3a52-0c9e-4d7f-8a61-5f2e9b0c3d44",
        site="portal",
        check="gone",
        location="default",
        owner="portal-team",
        reason="timeout",
        opened_at=T0 - timedelta(hours=1),
        failures=3,
        outcome_counts={"timeout": 3},
        first_error="a",
        last_error="b",
        last_failure_at=T0 - timedelta(minutes=1),
    )
    assert eng.restore([orphan]) == 0
    assert sink.kinds() == ["resolved"]
    assert sink.events[0].incident.resolution == CHECK_REMOVED
    assert sink.events[0].incident.resolved_at == clock.now()
    assert gauges.calls == []


def test_reload_without_the_check_resolves_its_incident() -> None:
    """Removing a check with an open incident from the config resolves that incident."""
    clock = FakeClock()
    eng, sink, gauges = engine(clock)
    for minute in range(3):
        eng.observe(result(minute, Outcome.DNS_ERROR, check="news"))
    assert sink.kinds() == ["opened"]
    smaller = make_config(
        sites=[
            {
                "id": "portal",
                "owner": "portal-team",
                "checks": [{"id": "home", "type": "http", "url": "http://127.0.0.1:9/"}],
            }
        ]
    )
    eng.reconfigure(smaller.checks(), MaintenanceSchedule([], "Asia/Shanghai"))
    assert sink.kinds() == ["opened", "resolved"]
    assert sink.events[-1].incident.resolution == CHECK_REMOVED
    assert gauges.calls[-1] == ("resolved", "portal", "news", "portal-team", "dns_error")
    assert eng.open_incidents() == []


def test_since_and_table_use_the_configured_zone() -> None:
    """--since without an offset is local time; the table shows local times and flags."""
    shanghai = ZoneInfo("Asia/Shanghai")
    assert parse_since("2026-07-01", shanghai) == datetime(2026, 6, 30, 16, tzinfo=UTC)
    assert parse_since("2026-07-01T08:00+00:00", shanghai) == datetime(2026, 7, 1, 8, tzinfo=UTC)
    try:
        parse_since("yesterday", shanghai)
    except ValueError as exc:
        assert "invalid --since 'yesterday'" in str(exc)
    else:
        raise AssertionError("accepted a bad --since")
    incident = Incident(
        id="x",
        site="portal",
        check="home",
        location="default",
        owner="o",
        reason="timeout",
        opened_at=T0,
        failures=3,
        outcome_counts={"timeout": 3},
        first_error="",
        last_error="",
        last_failure_at=T0,
        during_maintenance=True,
    )
    header, line = incident_table([incident], shanghai)
    assert header.split() == [
        "OPENED", "RESOLVED", "SITE", "CHECK", "LOCATION", "REASON", "FAILURES", "FLAGS"
    ]  # fmt: skip
    assert line.split() == [
        "2026-07-01", "08:00:00", "open", "portal", "home", "default", "timeout", "3",
        "maintenance",
    ]  # fmt: skip


def _session_engine(**session: object) -> tuple[IncidentEngine, Sink]:
    """An engine for one login check that keeps its session (`session` overrides its keys)."""
    from monitor.config import parse_config

    login = {
        "id": "login",
        "type": "login",
        "url": "http://127.0.0.1:9/",
        "interval": "10m",
        "steps": [
            {
                "name": "submit",
                "url": "http://127.0.0.1:9/login",
                "expect": {"body_contains": ["退出登录"]},
            }
        ],
        "session": {"url": "http://127.0.0.1:9/member", "marker": "退出登录", **session},
    }
    login.pop("url")
    config = parse_config({"sites": [{"id": "portal", "checks": [login]}]}, "test")
    sink = Sink()
    schedule = MaintenanceSchedule([], config.timezone)
    return IncidentEngine(config.checks(), sink, Gauges(), FakeClock(), schedule), sink


def _login(minute: float, outcome: Outcome = Outcome.OK) -> ProbeResult:
    return ProbeResult(
        site="portal",
        check="login",
        type="login",
        outcome=outcome,
        started_at=T0 + timedelta(minutes=minute),
        duration_seconds=0.1,
        detail=f"session logged out after {minute:g} min" if outcome else "",
    )


def test_sessions_dropped_between_re_logins_open_an_incident() -> None:
    """Dropout and re-login alternating every 10 min: the third dropout within 6 h opens one."""
    eng, sink = _session_engine()
    minute = 0
    for _ in range(3):
        eng.observe(_login(minute))  # logged in
        eng.observe(_login(minute + 10, Outcome.SESSION_DROPPED))
        minute += 20
    assert sink.kinds() == ["opened"]
    incident = sink.events[0].incident
    assert (incident.reason, incident.failures) == ("session_dropped", 3)
    assert incident.opened_at == T0 + timedelta(minutes=10)  # the first dropout of the three
    assert incident.outcome_counts == {"session_dropped": 3}
    # More dropouts update it; a session that survives its check (2 successes) resolves it.
    eng.observe(_login(60))
    eng.observe(_login(70, Outcome.SESSION_DROPPED))
    eng.observe(_login(80))
    eng.observe(_login(90))
    assert sink.kinds() == ["opened", "updated", "resolved"]
    assert sink.events[-1].incident.failures == 4
    assert sink.events[-1].incident.resolved_at == T0 + timedelta(minutes=80)


def test_dropouts_spread_wider_than_the_window_open_nothing() -> None:
    """A daily dropout (3 in 2 days) stays under 3 within 6 h; the window and count are keys."""
    eng, sink = _session_engine()
    for day in range(3):
        eng.observe(_login(day * 1440))
        eng.observe(_login(day * 1440 + 10, Outcome.SESSION_DROPPED))
    assert sink.kinds() == []
    # Exactly at the window's length apart is outside it: 3 in 2 h need a window over 2 h.
    eng, sink = _session_engine(dropouts=2, dropout_window="1h")
    eng.observe(_login(0, Outcome.SESSION_DROPPED))
    eng.observe(_login(30))
    eng.observe(_login(60, Outcome.SESSION_DROPPED))
    assert sink.kinds() == []
    eng.observe(_login(70))
    eng.observe(_login(100, Outcome.SESSION_DROPPED))
    assert sink.kinds() == ["opened"]
    assert sink.events[0].incident.opened_at == T0 + timedelta(minutes=60)
