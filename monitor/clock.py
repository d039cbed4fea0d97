"""Time, injected: the scheduler, incidents and windows ask a Clock, so tests need not sleep."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never jumps; schedules are computed on it."""

    def now(self) -> datetime:
        """The wall time, in UTC, for what is recorded."""

    async def sleep(self, seconds: float) -> None:
        """Wait this long on the monotonic clock."""


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))
