"""The scheduler, driven by a FakeClock so that intervals pass without sleeping."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from monitor.checkspec import CheckSpec
from monitor.results import Outcome, ProbeResult
from monitor.scheduler import Scheduler, next_due, phase_offset, slot_of
from tests.fakeclock import FakeClock


class Observer:
    def __init__(self) -> None:
        self.lags: list[float] = []
        self.skipped: list[tuple[str, str]] = []

    def scheduler_lag(self, seconds: float) -> None:
        self.lags.append(seconds)

    def probe_skipped(self, site: str, check: str) -> None:
        self.skipped.append((site, check))


def grid_first(clock: FakeClock, key: str, interval: float) -> float:
    """The check's first due time from the clock's start (monotonic 1000), on that clock."""
    shift = clock.now().timestamp() - clock.monotonic()
    return next_due(key, interval, 1000.0 + shift) - shift


def make_check(check_id: str, interval: float = 60.0, site: str = "s") -> CheckSpec:
    return CheckSpec(id=check_id, type="http", interval=interval, timeout=1.0, site=site)


class Harness:
    """A scheduler whose probes record when they started and take `duration` fake seconds."""

    def __init__(
        self,
        clock: FakeClock,
        duration: Callable[[CheckSpec], float] = lambda c: 0.0,
        max_concurrency: int = 256,
    ) -> None:
        self.clock = clock
        self.duration = duration
        self.starts: dict[str, list[float]] = defaultdict(list)
        self.results: list[ProbeResult] = []
        self.observer = Observer()
        self.scheduler = Scheduler(
            self.probe,
            self.handle,
            clock=clock,
            observer=self.observer,
            max_concurrency=max_concurrency,
        )

    async def probe(self, check: CheckSpec) -> ProbeResult:
        self.starts[check.key].append(self.clock.monotonic())
        await self.clock.sleep(self.duration(check))
        return ProbeResult(
            site=check.site,
            check=check.id,
            type=check.type,
            outcome=Outcome.OK,
            started_at=self.clock.now(),
            duration_seconds=self.duration(check),
        )

    def handle(self, check: CheckSpec, result: ProbeResult) -> None:
        self.results.append(result)

    async def __aenter__(self) -> Harness:
        self.task = asyncio.create_task(self.scheduler.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.scheduler.stop()
        await self.task
        await self.scheduler.drain(0)


def test_phase_offset_is_stable_and_inside_interval() -> None:
    """A check's offset depends only on its key and lies within its interval."""
    assert phase_offset("a/home", 60) == phase_offset("a/home", 60)
    offsets = [phase_offset(f"site/check-{i}", 60) for i in range(1000)]
    assert all(0 <= o < 60 for o in offsets)
    assert len(set(offsets)) == 1000


async def test_checks_are_spread_across_the_interval() -> None:
    """100 checks with one interval start spread over it, not all at once."""
    clock = FakeClock()
    harness = Harness(clock)
    harness.scheduler.set_checks(make_check(f"c{i}") for i in range(100))
    async with harness:
        await clock.advance(60)
    firsts = sorted(starts[0] - 1000.0 for starts in harness.starts.values())
    assert len(firsts) == 100
    # Every 10-second sixth of the minute gets some of the checks, none gets most of them.
    buckets = [sum(1 for t in firsts if k * 10 <= t < (k + 1) * 10) for k in range(6)]
    assert all(5 <= b <= 35 for b in buckets), buckets


async def test_due_times_follow_the_grid_without_drift() -> None:
    """A probe taking 7 s on a 10 s interval still starts exactly every 10 s."""
    clock = FakeClock()
    harness = Harness(clock, duration=lambda c: 7.0)
    check = make_check("slowish", interval=10)
    harness.scheduler.set_checks([check])
    async with harness:
        await clock.advance(100)
    starts = harness.starts[check.key]
    assert len(starts) == 10
    first = grid_first(clock, check.key, 10)
    assert starts == pytest.approx([first + 10 * n for n in range(10)])


async def test_probe_still_running_is_skipped_not_stacked() -> None:
    """A probe that outlasts its interval is skipped and counted, never run twice at once."""
    clock = FakeClock()
    harness = Harness(clock, duration=lambda c: 25.0)
    check = make_check("stuck", interval=10)
    harness.scheduler.set_checks([check])
    async with harness:
        await clock.advance(60)
    starts = harness.starts[check.key]
    assert all(b - a >= 25.0 for a, b in itertools.pairwise(starts))
    assert len(harness.observer.skipped) >= 3
    assert harness.scheduler.skipped == len(harness.observer.skipped)


async def test_one_slot_makes_later_probes_wait_and_report_lag() -> None:
    """50 s of probes due within 30 s on one slot: the later ones start late and say by how much."""
    clock = FakeClock()
    harness = Harness(clock, duration=lambda c: 5.0, max_concurrency=1)
    checks = [make_check(f"c{i}", interval=30) for i in range(10)]
    harness.scheduler.set_checks(checks)
    async with harness:
        await clock.advance(58)
    first_round = harness.observer.lags[:10]
    assert len(first_round) == 10
    # The tenth probe cannot start before nine others ran 5 s each after the first was due.
    assert max(first_round) >= 45 - 30


async def test_exception_in_probe_does_not_stop_the_loop() -> None:
    """A probe that raises is logged; the loop and the other checks go on."""
    clock = FakeClock()
    calls: dict[str, int] = defaultdict(int)

    async def probe(check: CheckSpec) -> ProbeResult:
        calls[check.id] += 1
        if check.id == "bad":
            raise RuntimeError("boom")
        return ProbeResult(
            site=check.site,
            check=check.id,
            type="http",
            outcome=Outcome.OK,
            started_at=clock.now(),
            duration_seconds=0.0,
        )

    def handle(check: CheckSpec, result: ProbeResult) -> None:
        if check.id == "good":
            raise ValueError("a sink failed")

    scheduler = Scheduler(probe, handle, clock=clock, observer=Observer())
    scheduler.set_checks([make_check("bad", 10), make_check("good", 10)])
    task = asyncio.create_task(scheduler.run())
    await clock.advance(50)
    scheduler.stop()
    await task
    assert calls["bad"] == 5 and calls["good"] == 5


async def test_set_checks_adds_removes_and_keeps_schedules() -> None:
    """Reload: added checks start, removed ones stop, unchanged ones keep their times."""
    clock = FakeClock()
    harness = Harness(clock)
    keep, drop = make_check("keep", 10), make_check("drop", 10)
    harness.scheduler.set_checks([keep, drop])
    async with harness:
        await clock.advance(30)
        new = make_check("new", 10)
        change = harness.scheduler.set_checks([keep, new])
        assert change.added == ("s/new",) and change.removed == ("s/drop",)
        assert change.unchanged == ("s/keep",)
        await clock.advance(30)
    assert len(harness.starts[drop.key]) == 3
    assert len(harness.starts[new.key]) == 3
    first = grid_first(clock, keep.key, 10)
    assert harness.starts[keep.key] == pytest.approx([first + 10 * n for n in range(6)])


async def test_changed_interval_moves_to_the_new_grid() -> None:
    """A check whose interval changes runs on the new interval from then on."""
    clock = FakeClock()
    harness = Harness(clock)
    harness.scheduler.set_checks([make_check("c", 10)])
    async with harness:
        await clock.advance(30)
        change = harness.scheduler.set_checks([make_check("c", 20)])
        assert change.changed == ("s/c",)
        await clock.advance(60)
    starts = harness.starts["s/c"]
    later = [t for t in starts if t > 1030.0]
    assert len(later) == 3
    assert all(b - a == pytest.approx(20) for a, b in itertools.pairwise(later))


async def test_drain_waits_for_running_probes_then_cancels() -> None:
    """On stop, running probes get the grace period; those still running after it are cancelled."""
    clock = FakeClock()
    harness = Harness(clock, duration=lambda c: 1000.0)
    harness.scheduler.set_checks([make_check("long", 60)])
    task = asyncio.create_task(harness.scheduler.run())
    await clock.advance(60)
    assert harness.scheduler.running == 1
    harness.scheduler.stop()
    await task
    cancelled = await harness.scheduler.drain(0.01)
    assert cancelled == 1
    assert harness.scheduler.running == 0


async def test_drain_does_not_wait_forever_for_a_probe_that_ignores_cancellation() -> None:
    """A probe that swallows its cancellation is given up on, so shutdown still ends."""
    clock = FakeClock()
    release = asyncio.Event()

    async def stubborn(check: CheckSpec) -> ProbeResult:
        while True:
            try:
                await release.wait()
                break
            except asyncio.CancelledError:
                continue  # a buggy probe: it swallows cancellation
        raise AssertionError("released")

    scheduler = Scheduler(
        stubborn, lambda c, r: None, clock=clock, observer=Observer(), cancel_wait=0.05
    )
    scheduler.set_checks([make_check("stubborn", 60)])
    task = asyncio.create_task(scheduler.run())
    await clock.advance(60)
    scheduler.stop()
    await task
    try:
        assert await scheduler.drain(0.01) == 1
    finally:
        release.set()
        await asyncio.sleep(0)


async def test_two_locations_with_different_clocks_probe_at_the_same_instants() -> None:
    """Two processes whose monotonic clocks differ (two machines) and whose wall clocks differ
    by 2 s probe a check at the same wall-clock grid instants, so their results answer the
    same slots; the phase depends on the check alone."""
    check = make_check("home", interval=60)
    slots: list[list[datetime]] = []
    for monotonic, skew in ((1000.0, 0.0), (987_654.3, 2.0)):
        clock = FakeClock(
            start=datetime(2026, 7, 1, tzinfo=UTC) + timedelta(seconds=skew), monotonic=monotonic
        )
        harness = Harness(clock)
        harness.scheduler.set_checks([check])
        async with harness:
            await clock.advance(300)
        walls = [
            clock.now() - timedelta(seconds=clock.monotonic() - t)
            for t in harness.starts[check.key]
        ]
        offset = phase_offset(check.key, 60)
        assert all(
            abs((w.timestamp() - offset) / 60 - round((w.timestamp() - offset) / 60)) < 1e-6
            for w in walls
        )
        slots.append([slot_of(check.key, 60, w) for w in walls])
    assert slots[0] == slots[1]  # skew of 2 s: the same instants, the same slots
    assert len(slots[0]) == 5


def test_slot_of_is_the_grid_instant_a_late_or_slightly_early_start_answers() -> None:
    """A start 40 s late answers its grid instant; one 1 s early (a slewed clock) too."""
    offset = phase_offset("s/home", 60)
    instant = datetime.fromtimestamp(offset + 60 * 29_500_000, UTC)
    for delta in (0.0, 40.0, -1.0, 59.0 - 60 * 0.05):
        assert slot_of("s/home", 60, instant + timedelta(seconds=delta)) == instant
    assert slot_of("s/home", 60, instant + timedelta(seconds=58)) != instant
