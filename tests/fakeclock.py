"""Clocks tests move by hand: `FakeClock` for the scheduler (sleepers wake in time order as it
advances, nobody waits) and `WallClock`, the date a probe sees."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta


class FakeClock:
    """Implements monitor.clock.Clock; `advance()` moves time and runs what became due."""

    def __init__(
        self, start: datetime = datetime(2026, 7, 1, tzinfo=UTC), monotonic: float = 1000.0
    ):
        self._wall0 = start
        self._mono0 = monotonic
        self._t = monotonic
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._t

    def now(self) -> datetime:
        return self._wall0 + timedelta(seconds=self._t - self._mono0)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._t + seconds, next(self._seq), future))
        await future

    async def settle(self) -> None:
        """Let every task that can run, run (a few loop turns)."""
        for _ in range(20):
            await asyncio.sleep(0)

    async def advance(self, seconds: float, step: float | None = None) -> None:
        """Move time forward by `seconds`, waking sleepers in order (at most `step` at a time)."""
        target = self._t + seconds
        await self.settle()
        while True:
            if self._sleepers and self._sleepers[0][0] <= target:
                wake = self._sleepers[0][0]
                if step is not None:
                    wake = min(wake, self._t + step)
                self._t = max(self._t, wake)
                while self._sleepers and self._sleepers[0][0] <= self._t:
                    _, _, future = heapq.heappop(self._sleepers)
                    if not future.done():
                        future.set_result(None)
                await self.settle()
            else:
                self._t = target
                await self.settle()
                return


class WallClock:
    """A probe's wall clock (`ProbeContext.now`) that stands still until the test moves it."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
