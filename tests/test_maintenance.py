"""Maintenance windows: one-off and weekly, in the configured zone, across DST changes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from monitor.config import MaintenanceWindow, WeeklyWindow
from monitor.maintenance import MaintenanceGauge, MaintenanceSchedule
from tests.fakeclock import FakeClock

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def weekly(days: list[str], start: time, duration: float, **kw: Any) -> MaintenanceWindow:
    return MaintenanceWindow(
        weekly=WeeklyWindow(days=days, start=start, duration=duration),  # type: ignore[arg-type]
        **kw,
    )


def test_one_off_window_without_offset_is_read_in_the_configured_zone() -> None:
    """A one-off window written without an offset is local time; start inclusive, end exclusive."""
    window = MaintenanceWindow(start=datetime(2026, 7, 1, 2, 0), end=datetime(2026, 7, 1, 4, 0))
    schedule = MaintenanceSchedule([window], "Asia/Shanghai")
    # 02:00 Shanghai is 18:00 UTC the day before.
    assert schedule.active("portal", utc(2026, 6, 30, 17, 59, 59)) is None
    assert schedule.active("portal", utc(2026, 6, 30, 18, 0)) is window
    assert schedule.active("portal", utc(2026, 6, 30, 19, 59, 59)) is window
    assert schedule.active("portal", utc(2026, 6, 30, 20, 0)) is None


def test_one_off_window_with_offset_is_taken_as_given() -> None:
    """A one-off window with an explicit offset ignores the configured zone."""
    window = MaintenanceWindow(
        start=datetime(2026, 7, 1, 2, 0, tzinfo=UTC), end=datetime(2026, 7, 1, 3, 0, tzinfo=UTC)
    )
    schedule = MaintenanceSchedule([window], "Asia/Shanghai")
    assert schedule.active("portal", utc(2026, 7, 1, 2, 30)) is window
    assert schedule.active("portal", utc(2026, 7, 1, 3, 30)) is None


def test_window_applies_only_to_its_sites() -> None:
    """A window naming sites covers those sites only; one naming none covers every site."""
    only = MaintenanceWindow(
        sites=["portal"], start=datetime(2026, 7, 1), end=datetime(2026, 7, 2), reason="upgrade"
    )
    schedule = MaintenanceSchedule([only], "Asia/Shanghai")
    at = datetime(2026, 7, 1, 12, tzinfo=SHANGHAI)
    assert schedule.active("portal", at) is only
    assert schedule.active("wechat", at) is None
    everyone = MaintenanceWindow(start=datetime(2026, 7, 1), end=datetime(2026, 7, 2))
    assert MaintenanceSchedule([everyone], "Asia/Shanghai").active("wechat", at) is everyone


def test_weekly_window_in_shanghai() -> None:
    """A weekly Sunday 02:00-04:00 window is active on Sundays at local 02:00-04:00 only."""
    window = weekly(["sun"], time(2, 0), 2 * 3600)
    schedule = MaintenanceSchedule([window], "Asia/Shanghai")
    sunday = datetime(2026, 7, 5, 2, 30, tzinfo=SHANGHAI)  # 2026-07-05 is a Sunday
    assert sunday.weekday() == 6
    assert schedule.active("portal", sunday) is window
    assert schedule.active("portal", datetime(2026, 7, 5, 1, 59, tzinfo=SHANGHAI)) is None
    assert schedule.active("portal", datetime(2026, 7, 5, 4, 0, tzinfo=SHANGHAI)) is None
    assert schedule.active("portal", datetime(2026, 7, 6, 2, 30, tzinfo=SHANGHAI)) is None


def test_weekly_window_crossing_midnight_covers_the_next_day() -> None:
    """A Saturday 23:00 window of 3 hours is still active at Sunday 01:30 and over at 02:00."""
    window = weekly(["sat"], time(23, 0), 3 * 3600)
    schedule = MaintenanceSchedule([window], "Asia/Shanghai")
    assert schedule.active("portal", datetime(2026, 7, 5, 1, 30, tzinfo=SHANGHAI)) is window
    assert schedule.active("portal", datetime(2026, 7, 5, 2, 0, tzinfo=SHANGHAI)) is None
    assert schedule.active("portal", datetime(2026, 7, 4, 22, 59, tzinfo=SHANGHAI)) is None


def test_weekly_window_follows_berlin_wall_clock_across_dst() -> None:
    """In Europe/Berlin a Sunday 02:00 window starts at 01:00 UTC in winter, 00:00 UTC in summer,
    and on the spring-forward night (02:00 does not exist) at the instant the clock jumps."""
    window = weekly(["sun"], time(2, 0), 3600)
    schedule = MaintenanceSchedule([window], "Europe/Berlin")
    # 2026-03-22, winter time (UTC+1).
    assert schedule.active("portal", utc(2026, 3, 22, 0, 59)) is None
    assert schedule.active("portal", utc(2026, 3, 22, 1, 0)) is window
    assert schedule.active("portal", utc(2026, 3, 22, 1, 59)) is window
    # 2026-04-05, summer time (UTC+2).
    assert schedule.active("portal", utc(2026, 4, 5, 0, 0)) is window
    assert schedule.active("portal", utc(2026, 4, 5, 1, 0)) is None
    # 2026-03-29: clocks jump from 02:00 CET to 03:00 CEST at 01:00 UTC. The nonexistent 02:00
    # is read with the offset before the gap (UTC+1): the window runs 01:00-02:00 UTC.
    assert schedule.active("portal", utc(2026, 3, 29, 0, 59)) is None
    assert schedule.active("portal", utc(2026, 3, 29, 1, 30)) is window
    assert schedule.active("portal", utc(2026, 3, 29, 2, 0)) is None


def test_weekly_window_in_the_repeated_hour_of_autumn_takes_the_first() -> None:
    """On the fall-back night 02:30 happens twice; the window starts at the first (CEST)."""
    window = weekly(["sun"], time(2, 30), 1800)
    schedule = MaintenanceSchedule([window], "Europe/Berlin")
    # 2026-10-25: 02:30 CEST = 00:30 UTC, 02:30 CET = 01:30 UTC.
    assert schedule.active("portal", utc(2026, 10, 25, 0, 45)) is window
    assert schedule.active("portal", utc(2026, 10, 25, 1, 45)) is None


def test_next_change_finds_the_nearest_window_edge() -> None:
    """next_change returns the next start or end of any window after the given instant."""
    window = weekly(["mon", "thu"], time(3, 0), 1800)
    schedule = MaintenanceSchedule([window], "Asia/Shanghai")
    monday_noon = datetime(2026, 7, 6, 12, 0, tzinfo=SHANGHAI)
    assert schedule.next_change(monday_noon) == datetime(2026, 7, 9, 3, 0, tzinfo=SHANGHAI)
    inside = datetime(2026, 7, 9, 3, 10, tzinfo=SHANGHAI)
    assert schedule.next_change(inside) == datetime(2026, 7, 9, 3, 30, tzinfo=SHANGHAI)
    assert MaintenanceSchedule([], "Asia/Shanghai").next_change(inside) is None


class GaugeLog:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bool, datetime]] = []
        self.forgotten: list[str] = []
        self.clock: FakeClock | None = None

    def maintenance(self, site: str, active: bool) -> None:
        assert self.clock is not None
        self.calls.append((site, active, self.clock.now()))

    def forget_site(self, site: str) -> None:
        self.forgotten.append(site)


async def test_gauge_turns_on_and_off_at_the_window_edges() -> None:
    """The monitor_maintenance gauge is set for every site at start and flips at the edges."""
    start = datetime(2026, 7, 1, 1, 0, tzinfo=SHANGHAI)
    clock = FakeClock(start=start.astimezone(UTC))
    window = MaintenanceWindow(
        sites=["portal"], start=datetime(2026, 7, 1, 1, 30), end=datetime(2026, 7, 1, 2, 0)
    )
    metrics = GaugeLog()
    metrics.clock = clock
    gauge = MaintenanceGauge(
        MaintenanceSchedule([window], "Asia/Shanghai"), ["portal", "wechat"], metrics, clock
    )
    task = asyncio.create_task(gauge.run())
    try:
        await clock.advance(3 * 3600)
    finally:
        task.cancel()
    assert [(site, active) for site, active, _ in metrics.calls] == [
        ("portal", False),
        ("wechat", False),
        ("portal", True),
        ("portal", False),
    ]
    assert metrics.calls[2][2] == datetime(2026, 7, 1, 1, 30, tzinfo=SHANGHAI)
    assert metrics.calls[3][2] == datetime(2026, 7, 1, 2, 0, tzinfo=SHANGHAI)
