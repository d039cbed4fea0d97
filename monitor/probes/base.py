"""The one probe signature, the context every probe gets, and how a probe builds its result."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, runtime_checkable

from monitor.checkspec import CheckSpec
from monitor.measurements import Measurement
from monitor.probes.parser import ParseFailedError, ParserPool
from monitor.results import Outcome, ProbeResult, StepResult, Transport

if TYPE_CHECKING:
    from monitor.probes.httpclient import FetchError, HttpClient

C = TypeVar("C", bound=CheckSpec)
C_contra = TypeVar("C_contra", bound=CheckSpec, contravariant=True)
T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


def first_few(items: Sequence[T], most: int, show: Callable[[T], str]) -> list[str]:
    """The first `most` items as a detail lists them, then `and N more` for the rest."""
    shown = [show(item) for item in items[:most]]
    if len(items) > most:
        shown.append(f"and {len(items) - most} more")
    return shown


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
    # threads would still take the GIL from the loop, and a stuck parse in one could not be
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


class ProbeRun:
    """One run of a probe: which check, where and when it started, how long it has run.

    It makes the run's result, so every result of a probe is stamped the same way (identity,
    probe point, start, duration up to the moment it is made).
    """

    __slots__ = ("_t0", "check", "location", "started_at")

    def __init__(self, check: CheckSpec, ctx: ProbeContext) -> None:
        self.check = check
        self.location = ctx.location
        self.started_at = ctx.now()  # wall clock, for the record
        self._t0 = time.perf_counter()  # monotonic, for the duration

    def elapsed(self) -> float:
        return time.perf_counter() - self._t0

    def result(
        self,
        outcome: Outcome,
        detail: str = "",
        *,
        transport: Transport | None = None,
        measurement: Measurement | None = None,
        content_age_seconds: float | None = None,
        newest_item_at: datetime | None = None,
        items: int | None = None,
        broken_links: tuple[str, ...] | None = None,
        steps: tuple[StepResult, ...] = (),
    ) -> ProbeResult:
        """The run's result, timed up to now; `transport` is the fetch it rests on, if any."""
        check = self.check
        return ProbeResult(
            site=check.site,
            check=check.id,
            type=check.type,
            outcome=outcome,
            started_at=self.started_at,
            duration_seconds=self.elapsed(),
            detail=detail,
            location=self.location,
            content_age_seconds=content_age_seconds,
            newest_item_at=newest_item_at,
            items=items,
            broken_links=broken_links,
            steps=steps,
            transport=transport,
            measurement=measurement,
        )

    def failed(self, error: FetchError, *, measurement: Measurement | None = None) -> ProbeResult:
        """The result of a run whose fetch failed: its outcome, detail and what it measured."""
        return self.result(
            error.outcome, error.detail, transport=error.transport, measurement=measurement
        )


# Past a check's deadline the probe is cut short. The grace lets a fetch's own timeout (the
# same figure, armed a moment later) fire first and name the phase it stopped in.
DEADLINE_GRACE = 0.5


async def probe_within_deadline(
    probe: Probe[Any], check: CheckSpec, ctx: ProbeContext
) -> ProbeResult:
    """Run one probe, ended at the check's deadline: the one place every probe is bounded,
    however many links it checks or however long a hostile page takes to parse."""
    run = ProbeRun(check, ctx)
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
        return run.result(Outcome.TIMEOUT, detail)
    except ParseFailedError as exc:
        # A page that kills the parser (memory, a crash) is the page's doing, not a bug here.
        return run.result(Outcome.CONTENT_MISMATCH, f"page unreadable: {exc}")
