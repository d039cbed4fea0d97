"""Probe this location's canaries on a schedule of their own.

Canaries are plain http checks (`points.canaries`), probed by the same probe code as the
sites' but on their own scheduler: they are no site's, so they write no probe_results row,
open no incident and appear in no report. Their results go to the BlindWatch alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import cast

from monitor.checkspec import CheckSpec
from monitor.clock import Clock
from monitor.config import Canary
from monitor.points.blind import BlindWatch
from monitor.probes import CHECK_TYPES
from monitor.results import ProbeResult
from monitor.scheduler import RunProbe, Scheduler, SchedulerObserver

# The `site` of canary checks: shown in the probe log lines, never stored.
CANARY_SITE = "monitor-canary"


class _Quiet:
    """Canary probes tell the scheduler metrics nothing: those are the sites' figures."""

    def scheduler_lag(self, seconds: float) -> None:
        pass

    def probe_skipped(self, site: str, check: str) -> None:
        pass


def canary_check(canary: Canary) -> CheckSpec:
    """A canary as the http check it is probed as (any answer below 400 is a success)."""
    spec = CHECK_TYPES["http"].spec.model_validate(
        {
            "id": canary.id,
            "type": "http",
            "url": canary.url,
            "interval": canary.interval,
            "timeout": canary.timeout,
        }
    )
    updated = spec.model_copy(update={"site": CANARY_SITE, "owner": "monitor", "kind": "website"})
    return cast(CheckSpec, updated)


class Canaries:
    """Runs the canaries until stop(); hands each result to the watch."""

    def __init__(
        self,
        canaries: tuple[Canary, ...],
        run_probe: RunProbe,
        watch: BlindWatch,
        clock: Clock,
        observer: SchedulerObserver | None = None,
    ) -> None:
        self._watch = watch
        self._scheduler = Scheduler(
            run_probe, self._handle, clock=clock, observer=observer or _Quiet(), max_concurrency=8
        )
        self._scheduler.set_checks(canary_check(c) for c in canaries)
        self._task: asyncio.Task[None] | None = None

    def _handle(self, check: CheckSpec, result: ProbeResult) -> None:
        self._watch.canary_result(check.id, result)

    def reconfigure(self, canaries: tuple[Canary, ...]) -> None:
        self._scheduler.set_checks(canary_check(c) for c in canaries)

    def start(self) -> None:
        self._task = asyncio.create_task(self._scheduler.run(), name="canaries")

    async def stop(self, grace: float = 2.0) -> None:
        self._scheduler.stop()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._scheduler.drain(grace)
