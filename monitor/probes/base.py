"""The one probe signature, the context every probe gets, and how a probe builds its result."""

from __future__ import annotations

import signal
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, runtime_checkable

from monitor.checkspec import CheckSpec
from monitor.results import Outcome, ProbeResult

if TYPE_CHECKING:
    from monitor.probes.httpclient import HttpClient

C = TypeVar("C", bound=CheckSpec)
C_contra = TypeVar("C_contra", bound=CheckSpec, contravariant=True)


def _parser_process_init() -> None:
    """The parser process leaves Ctrl-C to the monitor, which shuts it down in order."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


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
    # Large pages are parsed here, off the event loop, in one worker process: a parser thread
    # still takes the GIL from the loop while lexbor and the item scan run; threads are worse
    # (tests/bench/bench_parsing.py). Started on first use; "spawn" keeps the loop's state
    # out of the child.
    parser: Executor = field(
        default_factory=lambda: ProcessPoolExecutor(
            1, mp_context=get_context("spawn"), initializer=_parser_process_init
        )
    )

    def state(self, check: CheckSpec) -> dict[str, Any]:
        return self.states.setdefault(check.key, {})

    async def forget(self, key: str) -> None:
        """Drop the kept state of a check that left the config, closing what it holds."""
        for value in self.states.pop(key, {}).values():
            if isinstance(value, Closable):
                await value.close()

    async def close(self) -> None:
        """Close every kept state and the parser thread (the monitor is stopping)."""
        for key in list(self.states):
            await self.forget(key)
        self.parser.shutdown(wait=False)


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
