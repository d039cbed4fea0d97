"""The one probe signature, the context every probe gets, and how a probe builds its result."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, runtime_checkable

from monitor.checkspec import CheckSpec
from monitor.probes.parser import ParseFailedError, ParserPool
from monitor.results import Outcome, ProbeResult

if TYPE_CHECKING:
    from monitor.probes.httpclient import HttpClient

C = TypeVar("C", bound=CheckSpec)
C_contra = TypeVar("C_contra", bound=CheckSpec, contravariant=True)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class ProbeContext:
    """What a probe may use besides its check: the HTTP client, the probe point, the time.

    A probe knows nothing of metrics or Postgres; it turns a check into a ProbeResult.
    """

    http: HttpClient
    location: str = "default"
    # Wall clock for content ages and certificate expiry, injectable for tests.
    now: Callable[[], datetime] = utc_now
    # State a check keeps between probes (a logged-in session), keyed by check key.
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Pages are parsed here, off the event loop, in worker processes (monitor.probes.parser):
    # a parser thread would still take the GIL from the loop, and a stuck parse could not be
    # stopped (tests/bench/bench_parsing.py). Started on first use.
    parser: ParserPool = field(default_factory=ParserPool)

    def state(self, check: CheckSpec) -> dict[str, Any]:
        return self.states.setdefault(check.key, {})

    async def forget(self, key: str) -> None:
        """Drop the kept state of a check that left the config, closing what it holds."""
        for value in self.states.pop(key, {}).values():
            if isinstance(value, Closable):
                await value.close()

    async def close(self) -> None:
        """Close every kept state and kill the parser workers (the monitor is stopping)."""
        self.parser.close()
        for key in list(self.states):
            await self.forget(key)


@runtime_checkable
class Closable(Protocol):
    """Probe state holding something to close (a logged-in HTTP session)."""

    async def close(self) -> None: ...


class Probe(Protocol[C_contra]):
    """Probe a check once. Never raises for anything the target does: that is an outcome."""

    def __call__(self, check: C_contra, ctx: ProbeContext) -> Awaitable[ProbeResult]: ...


@dataclass(frozen=True, slots=True)
class CheckType(Generic[C]):
    """A check type: its config model and its probe."""

    spec: type[C]
    probe: Probe[C]


class Stopwatch:
    """When a probe started (wall clock, for the record) and how long it ran (monotonic)."""

    __slots__ = ("_t0", "started_at")

    def __init__(self, ctx: ProbeContext) -> None:
        self.started_at = ctx.now()
        self._t0 = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self._t0

    def result(
        self, check: CheckSpec, ctx: ProbeContext, outcome: Outcome, detail: str = "", **fields: Any
    ) -> ProbeResult:
        """Build the check's result, timed up to now."""
        return ProbeResult(
            site=check.site,
            check=check.id,
            type=check.type,
            outcome=outcome,
            started_at=self.started_at,
            duration_seconds=self.elapsed(),
            detail=detail,
            location=ctx.location,
            **fields,
        )


ProbeFunction = Callable[[Any, ProbeContext], Awaitable[ProbeResult]]

# Past a check's deadline the probe is cut short. The grace lets a fetch's own timeout (the
# same figure, armed a moment later) fire first and name the phase it stopped in.
DEADLINE_GRACE = 0.5


async def probe_within_deadline(
    probe: Probe[Any], check: CheckSpec, ctx: ProbeContext
) -> ProbeResult:
    """Run one probe, ended at the check's deadline: the one place every probe is bounded,
    however many links it checks or however long a hostile page takes to parse."""
    stopwatch = Stopwatch(ctx)
    deadline = check.deadline_s + DEADLINE_GRACE
    try:
        async with asyncio.timeout(deadline) as bound:
            return await probe(check, ctx)
    except TimeoutError:
        if not bound.expired():
            raise
        detail = (
            f"probe deadline passed: not done within {check.deadline_s:g}s "
            "(the check's timeout bounds the whole probe)"
        )
        return stopwatch.result(check, ctx, Outcome.TIMEOUT, detail)
    except ParseFailedError as exc:
        # A page that kills the parser (memory, a crash) is the page's doing, not a bug here.
        return stopwatch.result(check, ctx, Outcome.CONTENT_MISMATCH, f"page unreadable: {exc}")
