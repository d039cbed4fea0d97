"""The batched writer: probe results and incident events into Postgres, never blocking probes.

`submit_*` only append to in-memory buffers (a result as its row, its id made there). One
task drains them in transactions of up to `batch_size` results plus every waiting incident
event:

1. results are COPYed into a temporary stage table, then one statement moves them to
   `probe_results` with `ON CONFLICT (id) DO NOTHING`; the schema's triggers fill every
   derived table (rollups, freshness, the report's tables) from exactly the rows it inserted
   (migrations 0002, 0003, 0009). Each result's id is made once, when it is submitted, so a
   batch that committed but whose acknowledgement was lost (or a journaled result replayed
   after a crash) is stored and counted once;
2. incident events are inserted by id (idempotent) and applied to `incidents` guarded by the
   snapshot's revision.

The writer starts disconnected: it buffers from the first result on, before the database
has answered once (`monitor run` with the database down), and writes once the store connects
it (`connect_to`) and lets it go (`release`). When Postgres is slow or down the batch is
retried with backoff, in order, and new results wait. Past `buffer_size` the oldest waiting
results are dropped and counted; incident events are never dropped for lack of room. With a
journal (`monitor.store.journal`) incident events, and results while Postgres does not
answer, also wait in a local file that survives SIGKILL.

One bad row never stops the rest: a result that cannot be encoded, or a batch Postgres refuses
for a value in it, is split in halves until the refused rows stand alone; those are dropped,
counted in `monitor_store_dropped_total` and logged once per check and error, and every other
row of the batch is written. How a result or an event becomes a row is `rows.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import asyncpg
import structlog

from monitor.clock import Clock
from monitor.incidents import IncidentEvent
from monitor.results import Outcome, ProbeResult
from monitor.scheduler import slot_of
from monitor.store import rows
from monitor.store.journal import Journal
from monitor.store.rows import RESULT_COLUMNS, ResultRow

log = structlog.get_logger(__name__)

_COLS = ", ".join(RESULT_COLUMNS)
_STAGE = "monitor_probe_results_stage"
# Table names below are constants of this module, never input.
_CREATE_STAGE = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} "
    "(LIKE probe_results INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
# The triggers of probe_results fill the derived tables from what this inserts.
_MOVE = (
    f"INSERT INTO probe_results ({_COLS}) SELECT {_COLS} FROM {_STAGE} "  # noqa: S608
    "ON CONFLICT (id) DO NOTHING"
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


Record = ResultRow


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


Connect = Callable[[], Awaitable[asyncpg.Connection]]


class Writer:
    """Buffers results and incident events and writes them in batches, in order."""

    def __init__(
        self,
        connect: Connect | None,
        settings: WriterSettings,
        metrics: StoreMetrics,
        clock: Clock,
        redact: Callable[[str], str] = lambda text: text,
        journal: Journal | None = None,
    ) -> None:
        """`connect` None: disconnected until `connect_to` and `release` (results wait)."""
        self._connect = connect
        # Set once the writer may write (at once when it is given where to).
        self._released = asyncio.Event()
        if connect is not None:
            self._released.set()
        # Ids of the results a journal replay put back, which this process never probed.
        self._replayed: set[uuid.UUID] = set()
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
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._flush_requested = asyncio.Event()
        self._flushing = 0
        self._task: asyncio.Task[None] | None = None
        self._ids = rows.ResultIds()
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
        if not self._released.is_set():
            return False, f"store unreachable since start ({waiting} results kept)"
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

    def connect_to(
        self, connect: Connect, redact: Callable[[str], str], journal: Journal | None
    ) -> None:
        """Say where to write (the store has reached the database); it writes once released."""
        self._connect, self._redact, self._journal = connect, redact, journal

    async def disconnect(self) -> None:
        """Forget where to write (a connect that failed half way); results keep waiting."""
        await self._drop_connection()
        if self._journal is not None:
            self._journal.close()
        self._connect, self._journal = None, None

    def release(self) -> None:
        """Start writing what waits, and from now on as results come."""
        assert self._connect is not None, "connect_to first"
        self._replayed.clear()
        self._released.set()
        self._wake.set()

    def waiting_results(self) -> list[ResultRow]:
        """The results this process submitted that wait to be written, oldest first (before
        `release`: every one since start but those dropped for room)."""
        inflight = self._inflight.records if self._inflight is not None else []
        return [r for r in (*inflight, *self._results) if r.id not in self._replayed]

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
            if self._released.is_set():  # a writer never connected has nowhere to flush to
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
        await self._released.wait()
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
                self._log_refusal("store_result_rejected", record.site, record.check_id, error)
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
        records: Sequence[Record],
        events: Sequence[IncidentEvent],
    ) -> None:
        async with conn.transaction():
            if records:
                await conn.copy_records_to_table(_STAGE, records=records, columns=RESULT_COLUMNS)
                await conn.execute(_MOVE)
            for event in events:
                await _write_event(conn, event)

    def _journal_results(self, records: Sequence[Record]) -> None:
        room = _JOURNAL_MAX_RESULTS - self._journaled_results
        if self._journal is not None and room > 0:
            self._journal.append_results([rows.journal_row(r) for r in records[:room]])
            self._journaled_results += min(room, len(records))

    async def replay_journal(self) -> tuple[int, int]:
        """Take up what a journal kept from a run that ended during an outage (SIGKILL): its
        incident events are stored now, its results go ahead of new ones (their ids make a
        result stored before the crash count once). Returns (events, results). Raises what
        the database raises when it cannot be reached: the journal keeps all for the retry."""
        if self._journal is None:
            return 0, 0
        events, kept = self._journal.read()
        # By id: a second outage before the journal was emptied may have written one twice.
        unique = {r.id: r for values in kept if (r := rows.from_journal_row(values)) is not None}
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
            known = {r.id for r in self.waiting_results()}
            records = [r for r in records if r.id not in known]
            self._replayed.update(r.id for r in records)
            self._results.extendleft(reversed(records))
            self.submitted += len(records)
            self._wake.set()
        else:
            self._journal.clear()
        return len(events), len(records)

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        assert self._connect is not None, "a writer released without a database"
        conn = await self._connect()
        try:
            await self.prepare(conn)
        except BaseException:
            conn.terminate()
            raise
        self._conn = conn
        return conn

    async def prepare(self, conn: asyncpg.Connection) -> None:
        """Make `conn` ready for batches: its stage table."""
        await conn.execute(_CREATE_STAGE)
        outcomes = await conn.fetchval("SELECT names FROM rollup_outcomes")
        missing = [str(o) for o in Outcome if str(o) not in outcomes]
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
            return self._inflight.records[0].started_at
        if self._results:
            return self._results[0].started_at
        return None

    def _report_depth(self) -> None:
        self._metrics.store_queue_depth(self.pending)

    def _record(self, result: ProbeResult) -> ResultRow:
        """The result's row, with its id and slot made now."""
        started = rows.utc(result.started_at)
        slot = self._slot(result.key, started)
        return rows.result_row(result, self._ids.make(started), slot)

    def _slot(self, key: str, started: datetime) -> datetime | None:
        interval = self.intervals.get(key)
        return slot_of(key, interval, started) if interval is not None else None

async def _write_event(conn: asyncpg.Connection, event: IncidentEvent) -> None:
    await conn.execute(_INSERT_EVENT, *rows.event_row(event))
    if event.kind == "opened":
        await conn.execute(_INSERT_INCIDENT, *rows.incident_row(event.incident))
    else:
        await conn.execute(_UPDATE_INCIDENT, *rows.incident_change(event.incident))
