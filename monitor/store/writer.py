"""The batched writer: probe results and incident events into Postgres, never blocking probes.

`submit_*` only append to in-memory buffers (a result as its row, its id made there). One
task drains them in transactions of up to `batch_size` results plus every waiting incident
event:

1. results are COPYed into a temporary stage table, then one statement moves them to
   `probe_results` with `ON CONFLICT (id) DO NOTHING` and, from exactly the rows it inserted,
   adds freshness observations and the hourly rollups (aggregated in Postgres, upserted with
   `ON CONFLICT DO UPDATE`). Each result's id is made once, when it is submitted, so a
   batch that committed but whose acknowledgement was lost (or a journaled result replayed
   after a crash) is stored and counted once;
2. incident events are inserted by id (idempotent) and applied to `incidents` guarded by the
   snapshot's revision.

When Postgres is slow or down the batch is retried with backoff, in order, and new results
wait. Past `buffer_size` the oldest waiting results are dropped and counted; incident events
are never dropped for lack of room. With a journal (`monitor.store.journal`) incident events,
and results while Postgres does not answer, also wait in a local file that survives SIGKILL.

One bad row never stops the rest: a result that cannot be encoded, or a batch Postgres refuses
for a value in it, is split in halves until the refused rows stand alone; those are dropped,
counted in `monitor_store_dropped_total` and logged once per check and error, and every other
row of the batch is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import re
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg
import structlog

from monitor.clock import Clock
from monitor.incidents import IncidentEvent
from monitor.measurements import (
    InteractionMeasurement,
    LinksMeasurement,
    LoginMeasurement,
    Measurement,
)
from monitor.redact import scrub
from monitor.results import Outcome, ProbeResult
from monitor.scheduler import slot_of
from monitor.store.journal import Journal

log = structlog.get_logger(__name__)

# The measurement figures the report's SQL aggregates, as typed columns (migration 0007);
# `_measurement_columns` fills them from the typed measurement, in this order.
MEASUREMENT_COLUMNS = (
    "unanswered",
    "open_questions",
    "late_answers",
    "oldest_unanswered_seconds",
    "median_response_seconds",
    "slowest_answer_seconds",
    "login_seconds",
    "slow_login",
    "broken_link_reasons",
)
_NO_MEASUREMENT: tuple[Any, ...] = (None,) * len(MEASUREMENT_COLUMNS)
RESULT_COLUMNS = (
    "id",
    "site",
    "check_id",
    "location",
    "type",
    "started_at",
    "duration_seconds",
    "outcome",
    "detail",
    "status_code",
    "phases",
    "cert_expiry_at",
    "tls_verified",
    "content_age_seconds",
    "newest_item_at",
    "items",
    "data",
    *MEASUREMENT_COLUMNS,
    "slot",
)
_COLS = ", ".join(RESULT_COLUMNS)
_STAGE = "monitor_probe_results_stage"
# Table names below are constants of this module, never input.
_CREATE_STAGE = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} "
    "(LIKE probe_results INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
_INSERT_EVENT = """
INSERT INTO incident_events (id, incident_id, kind, at, revision, snapshot)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO NOTHING
"""
# Any conflict: the same incident already stored (a retried batch), or another incident of
# this check already open (the partial unique index): never two open for one check.
_INSERT_INCIDENT = """
INSERT INTO incidents (id, site, check_id, location, owner, reason, opened_at, resolved_at,
    resolution, failures, outcome_counts, first_error, last_error, last_failure_at,
    during_maintenance, revision)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
ON CONFLICT DO NOTHING
"""
_UPDATE_INCIDENT = """
UPDATE incidents SET reason = $2, resolved_at = $3, resolution = $4, failures = $5,
    outcome_counts = $6, last_error = $7, last_failure_at = $8, revision = $9
WHERE id = $1 AND revision < $9
"""
# Errors a smaller batch can get past: a value Postgres refuses, or asyncpg's encoder (a lone
# surrogate, an integer past int32, a wrong type). Anything else (connection, timeout, a
# missing table) is retried whole, with backoff.
_REJECTED = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    ValueError,
    OverflowError,
    TypeError,
)
_MAX_EVENTS_PER_BATCH = 1000
_NAME = re.compile(r"[a-z_]+")
# Results written to the journal in one outage, at most (about 300 bytes each: 30 MB).
_JOURNAL_MAX_RESULTS = 100_000
# How many distinct (site, check, error) refusals are remembered, so each is logged once.
_LOGGED_REFUSALS = 10_000


class StoreMetrics(Protocol):
    """What the writer tells metrics (monitor.metrics.Metrics has exactly these)."""

    def store_queue_depth(self, depth: int) -> None:
        """Set `monitor_store_queue_depth`: results and events not yet written."""

    def store_write_error(self) -> None:
        """Count a failed write attempt (`monitor_store_write_errors_total`)."""

    def store_dropped(self, count: int = 1) -> None:
        """Count results dropped for lack of buffer room (`monitor_store_dropped_total`)."""


@dataclass(frozen=True, slots=True)
class WriterSettings:
    batch_size: int = 2000
    buffer_size: int = 1_000_000
    # How long a partial batch waits before it is written anyway.
    flush_interval: float = 1.0
    retry_initial: float = 0.5
    retry_max: float = 30.0
    # /readyz says "behind" when the oldest waiting result is older than this.
    behind_after: float = 120.0


# A result as a probe_results row, in RESULT_COLUMNS order.
Record = tuple[Any, ...]


@dataclass(slots=True)
class _Batch:
    records: list[Record]
    events: list[IncidentEvent]

    @property
    def size(self) -> int:
        return len(self.records) + len(self.events)

    def halves(self) -> tuple[_Batch, _Batch]:
        """The batch cut in two, in order (results before events)."""
        middle, count = self.size // 2, len(self.records)
        if middle <= count:
            return _Batch(self.records[:middle], []), _Batch(self.records[middle:], self.events)
        cut = middle - count
        return _Batch(self.records, self.events[:cut]), _Batch([], self.events[cut:])


@dataclass(frozen=True, slots=True)
class RollupShape:
    """The rollup arrays' layout, as the schema defines it (read from the database)."""

    bounds: tuple[float, ...]
    outcomes: tuple[str, ...]

    def move_statement(self) -> str:
        """The statement that moves the stage into probe_results, freshness and rollups."""
        return _move_statement(self)


Connect = Callable[[], Awaitable[asyncpg.Connection]]


class Writer:
    """Buffers results and incident events and writes them in batches, in order."""

    def __init__(
        self,
        connect: Connect,
        settings: WriterSettings,
        metrics: StoreMetrics,
        clock: Clock,
        redact: Callable[[str], str] = lambda text: text,
        journal: Journal | None = None,
    ) -> None:
        self._connect = connect
        self._journal = journal
        # Results journaled during this outage (bounded: the journal is to stay small).
        self._journaled_results = 0
        self._s = settings
        self._metrics = metrics
        self._clock = clock
        self._redact = redact
        # Each check's interval, to date its results' slots (monitor.scheduler.slot_of); the
        # store keeps it to the config. A check not in it gets no slot (it never votes).
        self.intervals: dict[str, float] = {}
        self._results: deque[Record] = deque()
        self._events: deque[IncidentEvent] = deque()
        self._inflight: _Batch | None = None
        self._conn: asyncpg.Connection | None = None
        self._move = ""
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._flush_requested = asyncio.Event()
        self._flushing = 0
        self._task: asyncio.Task[None] | None = None
        # Ids need uniqueness, not secrecy: a fast generator will do.
        self._rng = random.Random()  # noqa: S311
        self._last_error: str | None = None
        self._logged_refusals: set[tuple[str, str, str]] = set()
        # Totals, for flush() and the tests.
        self.submitted = 0
        self.written = 0
        self.dropped = 0
        self.events_submitted = 0
        self.events_written = 0

    # -- the probe loop's side: never awaits ------------------------------------------------

    def submit_result(self, result: ProbeResult) -> None:
        """Buffer one result; drops the oldest waiting one when the buffer is full."""
        self.submitted += 1
        try:
            # Made a row now: its id is fixed from here on (the journal keeps it, a retried
            # batch reuses it), and a result that cannot be one is dropped alone.
            record = self._record(result)
        except Exception as exc:  # whatever it is, it must not stop the rest of the batch
            self.dropped += 1
            self._metrics.store_dropped(1)
            self._log_refusal("store_result_unencodable", result.site, result.check, exc)
            self._report_depth()
            return
        self._results.append(record)
        if self._last_error is not None:
            self._journal_results([record])
        room = self._s.buffer_size - (len(self._inflight.records) if self._inflight else 0)
        if len(self._results) > max(room, 0):
            self._results.popleft()
            self.dropped += 1
            self._metrics.store_dropped(1)
        if len(self._results) == self._s.batch_size:
            self._wake.set()
        self._report_depth()

    def submit_event(self, event: IncidentEvent) -> None:
        """Buffer one incident event; it is written with the next batch and never dropped."""
        self.events_submitted += 1
        if self._journal is not None:
            self._journal.append_event(event)
        self._events.append(event)
        self._wake.set()
        self._report_depth()

    @property
    def pending(self) -> int:
        """Results and events not yet written."""
        inflight = len(self._inflight.records) + len(self._inflight.events) if self._inflight else 0
        return len(self._results) + len(self._events) + inflight

    def status(self) -> tuple[bool, str]:
        """(ready, why) for /readyz: unreachable, or behind by more than `behind_after`."""
        waiting = self.pending
        if self._last_error is not None:
            return False, f"store unreachable ({self._last_error}); {waiting} waiting"
        oldest = self._oldest_waiting()
        if oldest is not None:
            age = (self._clock.now() - oldest).total_seconds()
            if age > self._s.behind_after:
                return False, f"store behind: {waiting} waiting, oldest {age:.0f}s old"
        return True, "ok"

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="store-writer")

    async def flush(self, timeout: float) -> bool:  # noqa: ASYNC109 - a bound, not a cancel
        """Write everything submitted so far; False if `timeout` (real seconds) ran out."""
        target = (self.submitted, self.events_submitted)
        self._flushing += 1
        self._wake.set()
        self._flush_requested.set()
        try:
            async with asyncio.timeout(timeout):
                while self.written + self.dropped < target[0] or self.events_written < target[1]:
                    self._progress.clear()
                    await self._progress.wait()
            return True
        except TimeoutError:
            return False
        finally:
            self._flushing -= 1

    async def close(self, timeout: float) -> int:  # noqa: ASYNC109
        """Flush for up to `timeout` seconds, stop; returns how many items were left unwritten."""
        if self._task is not None:
            await self.flush(timeout)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._drop_connection()
        if self._journal is not None:
            self._journal.close()
        left = self.pending
        if left:
            log.error("store_unwritten_at_exit", waiting=left)
        return left

    # -- the writer task -------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = self._s.retry_initial
        while True:
            await self._idle()
            while self._inflight is not None or self._results or self._events:
                try:
                    await self._write_next()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._failed(exc)
                    await self._back_off(backoff)
                    backoff = min(backoff * 2, self._s.retry_max)
                    continue
                backoff = self._s.retry_initial
                # Let probes run between batches when a backlog is being written.
                await asyncio.sleep(0)

    async def _back_off(self, seconds: float) -> None:
        """Wait before retrying; a flush (the shutdown) cuts the wait short and keeps it short,
        or a database that is back would go unused while the close runs out of time."""
        if self._flushing:
            seconds = min(seconds, self._s.retry_initial)
        self._flush_requested.clear()
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        waker = asyncio.ensure_future(self._flush_requested.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()

    async def _idle(self) -> None:
        """Wait for a full batch, an event, a flush, or the flush interval."""
        if len(self._results) >= self._s.batch_size or self._events:
            return
        if self._flushing and self._results:
            return
        self._wake.clear()
        sleeper = asyncio.ensure_future(self._clock.sleep(self._s.flush_interval))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()

    async def _write_next(self) -> None:
        if self._inflight is None:
            self._inflight = self._take()
        batch = self._inflight
        conn = await self._connection()
        try:
            await self._write(conn, batch.records, batch.events)
        except _REJECTED as exc:
            # A value in the batch that Postgres refuses: the same rows would be refused
            # forever, so find them now and write the rest. A connection lost meanwhile
            # retries the whole batch; the rows already written are recognised by their ids.
            self._metrics.store_write_error()
            log.warning("store_batch_rejected", error=self._redact(str(exc)), size=batch.size)
            refused = await self._isolate(conn, batch, exc)
            self._refused(refused)
        else:
            refused = []
        dropped = sum(len(part.records) for part, _ in refused)
        self._inflight = None
        self.written += len(batch.records) - dropped
        self.events_written += len(batch.events)
        if self._journal is not None and not self._events and not self._results:
            self._journal.clear()  # everything it holds is stored
            self._journaled_results = 0
        if self._last_error is not None:
            log.info("store_reachable_again", waiting=self.pending)
        self._last_error = None
        self._report_depth()
        self._progress.set()

    def _take(self) -> _Batch:
        """The next batch, oldest first."""
        count = min(len(self._results), self._s.batch_size)
        records = [self._results.popleft() for _ in range(count)]
        events = [
            self._events.popleft() for _ in range(min(len(self._events), _MAX_EVENTS_PER_BATCH))
        ]
        return _Batch(records, events)

    async def _isolate(
        self, conn: asyncpg.Connection, part: _Batch, error: Exception
    ) -> list[tuple[_Batch, Exception]]:
        """Write a refused part in halves, in order; returns the single rows still refused.

        Halving finds k bad rows among n in about 2·k·log2(n) small writes, not n.
        """
        if part.size <= 1:
            return [(part, error)]
        refused = []
        for half in part.halves():
            if half.size == 0:
                continue
            try:
                await self._write(conn, half.records, half.events)
            except _REJECTED as exc:
                refused += await self._isolate(conn, half, exc)
        return refused

    def _refused(self, refused: list[tuple[_Batch, Exception]]) -> None:
        """Count and log the rows Postgres refused (each check and error once)."""
        for part, error in refused:
            for record in part.records:
                self.dropped += 1
                self._metrics.store_dropped(1)
                self._log_refusal("store_result_rejected", record[1], record[2], error)
            for event in part.events:
                # Our own snapshot, refused: retrying forever would stop every later write.
                i = event.incident
                self._log_refusal("store_incident_event_rejected", i.site, i.check, error)

    def _log_refusal(self, what: str, site: str, check: str, error: Exception) -> None:
        """Log a dropped row once per check and kind of error; the counter counts them all."""
        key = (site, check, f"{what}:{type(error).__name__}")
        if key in self._logged_refusals:
            return
        if len(self._logged_refusals) < _LOGGED_REFUSALS:
            self._logged_refusals.add(key)
        message = self._redact(f"{type(error).__name__}: {error}")[:300]
        log.error(what, site=site, check=check, error=message, later="counted, not logged")

    async def _write(
        self,
        conn: asyncpg.Connection,
        records: Sequence[tuple[Any, ...]],
        events: Sequence[IncidentEvent],
    ) -> None:
        async with conn.transaction():
            if records:
                await conn.copy_records_to_table(_STAGE, records=records, columns=RESULT_COLUMNS)
                await conn.execute(self._move)
            for event in events:
                await _write_event(conn, event)

    def _journal_results(self, records: Sequence[Record]) -> None:
        room = _JOURNAL_MAX_RESULTS - self._journaled_results
        if self._journal is not None and room > 0:
            self._journal.append_results([_journal_row(r) for r in records[:room]])
            self._journaled_results += min(room, len(records))

    async def replay_journal(self) -> tuple[int, int]:
        """Take up what a journal kept from a run that ended during an outage (SIGKILL): its
        incident events are stored now, its results go ahead of new ones (their ids make a
        result stored before the crash count once). Returns (events, results). Raises what
        the database raises when it cannot be reached: the journal keeps all for the retry."""
        if self._journal is None:
            return 0, 0
        events, rows = self._journal.read()
        # By id: a second outage before the journal was emptied may have written one twice.
        unique = {r[0]: r for row in rows if (r := _from_journal_row(row)) is not None}
        records = list(unique.values())
        if events:
            conn = await self._connection()
            for event in events:
                try:
                    await self._write(conn, [], [event])
                except _REJECTED as exc:
                    i = event.incident
                    self._log_refusal("store_incident_event_rejected", i.site, i.check, exc)
        if events or records:
            log.info("journal_replayed", incident_events=len(events), results=len(records))
        if records:
            self._results.extendleft(reversed(records))
            self.submitted += len(records)
            self._wake.set()
        else:
            self._journal.clear()
        return len(events), len(records)

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        conn = await self._connect()
        try:
            await self.prepare(conn)
        except BaseException:
            conn.terminate()
            raise
        self._conn = conn
        return conn

    async def prepare(self, conn: asyncpg.Connection) -> None:
        """Make `conn` ready for batches: its stage table, and the rollup layout."""
        await conn.execute(_CREATE_STAGE)
        bounds = await conn.fetchval("SELECT bounds FROM latency_buckets")
        outcomes = await conn.fetchval("SELECT names FROM rollup_outcomes")
        shape = RollupShape(tuple(bounds), tuple(outcomes))
        self._move = shape.move_statement()
        missing = [str(o) for o in Outcome if str(o) not in shape.outcomes]
        if missing:
            # A new Outcome needs a migration appending it to rollup_outcomes.
            log.error("rollup_outcomes_missing", outcomes=missing)

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await asyncio.wait_for(conn.close(), timeout=2)
        except Exception:
            conn.terminate()

    def _failed(self, exc: Exception) -> None:
        if self._last_error is None:
            # The outage begins: what waits goes into the journal, and what comes after it.
            inflight = self._inflight.records if self._inflight is not None else []
            self._journal_results([*inflight, *self._results])
        self._metrics.store_write_error()
        message = self._redact(f"{type(exc).__name__}: {exc}".strip().rstrip(":"))[:300]
        if self._last_error != message:
            log.warning("store_write_failed", error=message, waiting=self.pending)
        self._last_error = message
        if not isinstance(exc, _REJECTED):
            # The connection may be half dead; a fresh one is cheap next to a stuck writer.
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.terminate()

    def _oldest_waiting(self) -> datetime | None:
        if self._inflight is not None and self._inflight.records:
            started: datetime = self._inflight.records[0][5]
            return started
        if self._results:
            oldest: datetime = self._results[0][5]
            return oldest
        return None

    def _report_depth(self) -> None:
        self._metrics.store_queue_depth(self.pending)

    def _record(self, r: ProbeResult) -> tuple[Any, ...]:
        started = _utc(r.started_at)
        data: dict[str, Any] = {}
        if r.broken_links is not None:
            data["broken_links"] = list(r.broken_links)
        if r.steps:
            data["steps"] = [
                {
                    "name": s.name,
                    "duration_seconds": s.duration_seconds,
                    "outcome": str(s.outcome),
                    "detail": s.detail,
                }
                for s in r.steps
            ]
        measured = r.measurement
        if measured is not None and (figures := measured.to_json()):
            data["extra"] = figures
        return (
            self._result_id(started),
            r.site,
            r.check,
            r.location,
            r.type,
            started,
            r.duration_seconds,
            str(r.outcome),
            _text(r.detail),
            r.status_code,
            list(r.phases.as_tuple()) if r.phases is not None else None,
            (
                datetime.fromtimestamp(r.cert_expiry_timestamp, UTC)
                if r.cert_expiry_timestamp is not None
                else None
            ),
            r.tls_verified,
            r.content_age_seconds,
            _utc(r.newest_item_at) if r.newest_item_at is not None else None,
            r.items,
            _json(data) if data else None,
            *_measurement_columns(measured),
            self._slot(r.key, started),
        )

    def _slot(self, key: str, started: datetime) -> datetime | None:
        interval = self.intervals.get(key)
        return slot_of(key, interval, started) if interval is not None else None

    def _result_id(self, started: datetime) -> uuid.UUID:
        """A UUIDv7: time-ordered (index locality), unique without asking the database."""
        ms = int(started.timestamp() * 1000) & ((1 << 48) - 1)
        rand = self._rng.getrandbits(74)
        value = (
            (ms << 80)
            | (0x7 << 76)
            | ((rand >> 62) << 64)
            | (0b10 << 62)
            | (rand & ((1 << 62) - 1))
        )
        return uuid.UUID(int=value)


# The timestamptz columns of a row, by position.
_TIME_COLUMNS = tuple(
    RESULT_COLUMNS.index(c) for c in ("started_at", "cert_expiry_at", "newest_item_at", "slot")
)


def _journal_row(record: Record) -> list[Any]:
    """A row as JSON values (uuid and datetimes as text)."""
    return [
        v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, uuid.UUID) else v
        for v in record
    ]


def _from_journal_row(values: list[Any]) -> Record | None:
    """The row back from its JSON values; None for one that is not a row of ours."""
    if len(values) == len(RESULT_COLUMNS) - len(MEASUREMENT_COLUMNS) - 1:
        # Journaled by a monitor from before 0007: its figures are in `data` only (the report's
        # tables miss that one row's, the row itself is stored whole), and it has no slot.
        values = [*values, *_NO_MEASUREMENT, None]
    elif len(values) == len(RESULT_COLUMNS) - 1:
        values = [*values, None]  # journaled before results had a slot (0008)
    if len(values) != len(RESULT_COLUMNS):
        return None
    row = list(values)
    try:
        row[0] = uuid.UUID(row[0])
        for i in _TIME_COLUMNS:
            if row[i] is not None:
                row[i] = datetime.fromisoformat(row[i])
    except (TypeError, ValueError):
        return None
    return tuple(row)


async def _write_event(conn: asyncpg.Connection, event: IncidentEvent) -> None:
    i = event.incident
    snapshot = _json(i.to_json())
    await conn.execute(
        _INSERT_EVENT,
        uuid.UUID(event.id),
        uuid.UUID(i.id),
        event.kind,
        event.at,
        i.revision,
        snapshot,
    )
    if event.kind == "opened":
        await conn.execute(
            _INSERT_INCIDENT,
            uuid.UUID(i.id),
            i.site,
            i.check,
            i.location,
            i.owner,
            i.reason,
            i.opened_at,
            i.resolved_at,
            i.resolution,
            i.failures,
            _json(dict(i.outcome_counts)),
            _text(i.first_error),
            _text(i.last_error),
            i.last_failure_at,
            i.during_maintenance,
            i.revision,
        )
    else:
        await conn.execute(
            _UPDATE_INCIDENT,
            uuid.UUID(i.id),
            i.reason,
            i.resolved_at,
            i.resolution,
            i.failures,
            _json(dict(i.outcome_counts)),
            _text(i.last_error),
            i.last_failure_at,
            i.revision,
        )


def _move_statement(shape: RollupShape) -> str:
    """One statement: stage -> probe_results; what it inserted -> freshness and rollups.

    Generated from the schema's bucket bounds and outcome list (our own constants, checked to
    be plain names and numbers), so the rollup arrays are built by Postgres in the same pass.
    """
    for name in shape.outcomes:
        if not _NAME.fullmatch(name):
            raise ValueError(f"unexpected outcome name in rollup_outcomes: {name!r}")
    outcome_counts = ", ".join(
        f"count(*) FILTER (WHERE outcome = '{name}')" for name in shape.outcomes
    )
    edges = [float(b) for b in shape.bounds]
    buckets = []
    for i in range(len(edges) + 1):
        low = f"duration_seconds > {edges[i - 1]!r}" if i > 0 else "true"
        high = f"duration_seconds <= {edges[i]!r}" if i < len(edges) else "true"
        buckets.append(f"count(*) FILTER (WHERE outcome = 'ok' AND {low} AND {high})")
    return f"""
WITH moved AS (
    INSERT INTO probe_results ({_COLS})
    SELECT {_COLS} FROM {_STAGE}
    ON CONFLICT (id) DO NOTHING
    RETURNING id, site, check_id, location, started_at, duration_seconds, outcome,
              newest_item_at, items
), observed AS (
    INSERT INTO freshness_observations
        (result_id, site, check_id, location, observed_at, newest_item_at, items)
    SELECT id, site, check_id, location, started_at, newest_item_at, items
    FROM moved WHERE newest_item_at IS NOT NULL OR items IS NOT NULL
    ON CONFLICT (result_id) DO NOTHING
)
INSERT INTO rollups_hourly AS r (site, check_id, location, hour, probes, failures,
                                 outcome_counts, latency_buckets, latency_sum, latency_count)
SELECT site, check_id, location, date_trunc('hour', started_at, 'UTC'),
       count(*) FILTER (WHERE outcome <> 'probe_error'),
       count(*) FILTER (WHERE outcome NOT IN ('ok', 'probe_error')),
       ARRAY[{outcome_counts}]::bigint[],
       ARRAY[{", ".join(buckets)}]::bigint[],
       coalesce(sum(duration_seconds) FILTER (WHERE outcome = 'ok'), 0),
       count(*) FILTER (WHERE outcome = 'ok')
FROM moved
GROUP BY 1, 2, 3, 4
ON CONFLICT (site, check_id, location, hour) DO UPDATE SET
    probes = r.probes + excluded.probes,
    failures = r.failures + excluded.failures,
    outcome_counts = monitor_add_counts(r.outcome_counts, excluded.outcome_counts),
    latency_buckets = monitor_add_counts(r.latency_buckets, excluded.latency_buckets),
    latency_sum = r.latency_sum + excluded.latency_sum,
    latency_count = r.latency_count + excluded.latency_count
"""  # noqa: S608 - built from the schema's own constants, checked above


def _measurement_columns(measured: Measurement | None) -> tuple[Any, ...]:
    """The MEASUREMENT_COLUMNS values of a result's measurement (None where it has none)."""
    if isinstance(measured, InteractionMeasurement):
        return (
            _count(measured.unanswered),
            _count(measured.open_questions),
            _count(measured.late_answers),
            _seconds(measured.oldest_unanswered_seconds),
            _seconds(measured.median_response_seconds),
            _seconds(measured.slowest_answer_seconds),
            None,
            None,
            None,
        )
    if isinstance(measured, LoginMeasurement):
        return (None,) * 6 + (_seconds(measured.login_seconds), measured.slow_login, None)
    if isinstance(measured, LinksMeasurement):
        return (None,) * 8 + (_json(measured.broken_link_reasons),)
    return _NO_MEASUREMENT


def _count(value: int) -> int | None:
    """A count as the report's tables take it: 0 to 2e9, else NULL (as 0002's SQL read it)."""
    return value if 0 <= value <= 2_000_000_000 else None


def _seconds(value: float | None) -> float | None:
    """Seconds as the report's tables take them: 0 to 1e12, else NULL (NaN included)."""
    return float(value) if value is not None and 0 <= value <= 1e12 else None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _text(value: str) -> str:
    """Free text as a row holds it: no secret (monitor.redact), no NUL (Postgres text cannot
    hold one; a probe may have read one from a page)."""
    value = scrub(value)
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def _json(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str, allow_nan=False)
    except ValueError:  # NaN or infinity: JSON has no such numbers and Postgres refuses them
        text = json.dumps(_finite(value), ensure_ascii=False, default=str)
    return _text(text).replace("\\u0000", "\ufffd")


def _finite(value: Any) -> Any:
    """The value with every NaN or infinite float replaced by None (JSON null)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
