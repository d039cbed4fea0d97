"""Run every check at its interval, spread over the interval, bounded, never drifting.

Each check's due times lie on a fixed grid: `offset + n * interval` seconds of wall-clock
(Unix) time, where `offset` comes from a stable hash of the check key alone. The next due
time is taken from the grid, never from when the last probe finished, so a schedule cannot
drift; checks with the same interval start spread across it instead of all at once; and every
probe location (each its own process, machine and monotonic clock) probes a check at the same
instants, so their results line up slot by slot (`slot_of`). Waiting is done on the monotonic
clock, converted from the wall grid at each due time, so a wall-clock step is followed at the
next probe without a probe fired twice or skipped.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import heapq
import itertools
import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import structlog

from monitor.checkspec import CheckSpec
from monitor.clock import Clock, SystemClock
from monitor.results import ProbeResult

log = structlog.get_logger("monitor.scheduler")

RunProbe = Callable[[CheckSpec], Awaitable[ProbeResult]]
HandleResult = Callable[[CheckSpec, ProbeResult], None]


class SchedulerObserver(Protocol):
    """Where the scheduler reports on itself (the metrics)."""

    def scheduler_lag(self, seconds: float) -> None: ...

    def probe_skipped(self, site: str, check: str) -> None: ...


def phase_offset(key: str, interval: float) -> float:
    """Where in its interval a check runs: a stable hash of its key, the same every start."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 * interval


def next_due(key: str, interval: float, after: float) -> float:
    """The first grid point of this check at or after `after` (seconds of Unix time)."""
    offset = phase_offset(key, interval)
    return offset + math.ceil((after - offset) / interval) * interval


# A probe that starts this share of an interval before its grid instant (a wall clock slewed
# since the wait began) still answers that instant.
_SLOT_TOLERANCE = 0.05


def slot_of(key: str, interval: float, started_at: datetime) -> datetime:
    """The grid instant a probe of this check that started at `started_at` answers: the same
    at every location, whatever its clock's skew (below half an interval) or its lag."""
    offset = phase_offset(key, interval)
    n = math.floor((started_at.timestamp() - offset) / interval + _SLOT_TOLERANCE)
    return datetime.fromtimestamp(offset + n * interval, UTC)


@dataclass(slots=True)
class _Entry:
    check: CheckSpec
    generation: int


@dataclass(frozen=True, slots=True)
class ScheduleChange:
    """What a new set of checks did to the schedule."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = field(default=(), repr=False)


class Scheduler:
    """Runs probes on schedule; every dependency comes in through the constructor."""

    def __init__(
        self,
        run_probe: RunProbe,
        handle_result: HandleResult,
        *,
        clock: Clock,
        observer: SchedulerObserver,
        max_concurrency: int = 256,
        cancel_wait: float = 5.0,
    ) -> None:
        self._run_probe = run_probe
        self._handle_result = handle_result
        self._clock = clock
        self._observer = observer
        self._slots = asyncio.Semaphore(max_concurrency)
        # How long cancelled probes get to unwind at shutdown.
        self._cancel_wait = cancel_wait
        self._entries: dict[str, _Entry] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._generations = itertools.count(1)
        self._running: dict[str, asyncio.Task[None]] = {}
        # A schedule change (or stop) wakes run(): the flag, and the future run() waits on.
        self._woken = False
        self._waiter: asyncio.Future[None] | None = None
        self._stopping = False
        self.skipped = 0

    @property
    def running(self) -> int:
        return len(self._running)

    def running_task(self, key: str) -> asyncio.Task[None] | None:
        """The probe of check `key` running now, if any."""
        return self._running.get(key)

    def set_checks(self, checks: Iterable[CheckSpec]) -> ScheduleChange:
        """Adopt a new set of checks: start added ones, stop removed ones, keep the rest's times."""
        wanted = {check.key: check for check in checks}
        now = self._clock.monotonic()
        added, changed, unchanged = [], [], []
        removed = [key for key in self._entries if key not in wanted]
        for key in removed:
            del self._entries[key]
            task = self._running.pop(key, None)
            if task is not None:
                task.cancel()
        for key, check in wanted.items():
            entry = self._entries.get(key)
            if entry is None:
                added.append(key)
                self._push(check, self._grid_due(key, check.interval_s, now))
            elif entry.check != check:
                changed.append(key)
                if entry.check.interval_s != check.interval_s:
                    self._push(check, self._grid_due(key, check.interval_s, now))
                else:
                    entry.check = check  # same slot in the schedule, new settings
            else:
                unchanged.append(key)
        self._wake()
        return ScheduleChange(tuple(added), tuple(removed), tuple(changed), tuple(unchanged))

    def _grid_due(self, key: str, interval: float, after: float) -> float:
        """The check's first wall-grid instant at or after monotonic time `after`, as
        monotonic time."""
        shift = self._clock.now().timestamp() - self._clock.monotonic()
        return next_due(key, interval, after + shift) - shift

    def _push(self, check: CheckSpec, due: float) -> None:
        generation = next(self._generations)
        self._entries[check.key] = _Entry(check, generation)
        heapq.heappush(self._heap, (due, generation, check.key))

    async def run(self) -> None:
        """Fire due probes until stop(); returns without waiting for running probes."""
        while not self._stopping:
            if not self._heap:
                await self._wait(None)
                continue
            due, generation, key = self._heap[0]
            now = self._clock.monotonic()
            if due > now:
                await self._wait(due - now)
                continue
            heapq.heappop(self._heap)
            entry = self._entries.get(key)
            if entry is None or entry.generation != generation:
                continue  # removed, or rescheduled under a new interval
            interval = entry.check.interval_s
            # The grid instant after this one, taken from the wall grid again each time.
            following = self._grid_due(key, interval, due + interval / 2)
            if following <= now:  # the loop fell more than an interval behind: rejoin the grid
                following = self._grid_due(key, interval, now + 1e-9)
            heapq.heappush(self._heap, (following, generation, key))
            if key in self._running:
                self.skipped += 1
                self._observer.probe_skipped(entry.check.site, entry.check.id)
                log.warning(
                    "probe_skipped",
                    site=entry.check.site,
                    check=entry.check.id,
                    reason="previous probe still running",
                )
                continue
            task = asyncio.create_task(self._fire(entry.check, due), name=f"probe {key}")
            self._running[key] = task
            task.add_done_callback(functools.partial(self._done, key))

    async def _wait(self, seconds: float | None) -> None:
        """Sleep until `seconds` pass or the schedule changes.

        This runs once per probe fired, so it costs one future and one timer (on the system
        clock), not helper tasks.
        """
        if not self._woken:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            timer = self._timer(seconds, waiter) if seconds is not None else None
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
        self._woken = False

    def _timer(
        self, seconds: float, waiter: asyncio.Future[None]
    ) -> asyncio.TimerHandle | asyncio.Future[None]:
        """Release `waiter` after `seconds` on the scheduler's clock; cancel() stops it."""
        if type(self._clock) is SystemClock:
            return asyncio.get_running_loop().call_later(max(0.0, seconds), _release, waiter)
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        sleeper.add_done_callback(lambda _: _release(waiter))
        return sleeper

    def _wake(self) -> None:
        self._woken = True
        if self._waiter is not None:
            _release(self._waiter)

    def _done(self, key: str, task: asyncio.Task[None]) -> None:
        if self._running.get(key) is task:
            del self._running[key]

    async def _fire(self, check: CheckSpec, due: float) -> None:
        async with self._slots:
            self._observer.scheduler_lag(max(0.0, self._clock.monotonic() - due))
            try:
                result = await self._run_probe(check)
            except Exception:
                # run_probe turns a probe's own bug into a probe_error result; this is the
                # last guard, so that nothing a probe does can stop the loop.
                log.exception("probe_crashed", site=check.site, check=check.id)
                return
        if check.key in self._entries:  # not removed while it ran
            try:
                self._handle_result(check, result)
            except Exception:
                log.exception("result_handling_failed", site=check.site, check=check.id)

    def stop(self) -> None:
        """Stop scheduling new probes; run() returns."""
        self._stopping = True
        self._wake()

    async def drain(self, grace: float) -> int:
        """Let running probes finish for up to `grace` seconds, then cancel the rest."""
        tasks = list(self._running.values())
        if not tasks:
            return 0
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            # Bounded too: a probe that swallowed its cancellation must not hold up the exit.
            _, stuck = await asyncio.wait(pending, timeout=self._cancel_wait)
            if stuck:
                log.error("probes_ignored_cancellation", probes=sorted(t.get_name() for t in stuck))
        return len(pending)


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
