"""History in PostgreSQL: one store, reached by URL or started embedded in the data directory.

`Store.open()` connects (or starts the embedded server), applies migrations, syncs sites and
checks from the config and starts the batched writer. The probe loop hands it results and
incident events without ever waiting on the database; readers (CLI, API, pages, report) go
through its read interface, `StoreReader` (monitor.store.reader), and never see SQL.

    reader.py          StoreReader: the read interface, one doc line per method; its values
    queries.py         incidents, rollups, config sync, pruning (SQL)
    report_queries.py  the report's tables and sums (SQL)
    reviews.py         manual reviews (SQL)
    writer.py          batching and retry (journal.py: what waits survives SIGKILL)
    rows.py            a result and an incident event as their rows (named tuples)
    migrations/        the schema, numbered .sql files; its triggers fill the derived tables
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import structlog

from monitor.clock import Clock
from monitor.config import Config
from monitor.incidents import Incident, IncidentEvent
from monitor.results import ProbeResult
from monitor.reviews import NewReview, Review
from monitor.store import points, queries, report_queries, reviews
from monitor.store.embedded import EmbeddedError, EmbeddedPostgres
from monitor.store.journal import Journal
from monitor.store.migrations import (
    MigrationError,
    SchemaTooNewError,
    SchemaTooOldError,
    require_current,
)
from monitor.store.migrations import migrate as apply_migrations
from monitor.store.reader import (
    BoardFacts,
    BrokenLink,
    CheckDays,
    CheckKey,
    CheckMonths,
    ContentHour,
    IncidentRecord,
    LoginFacts,
    PointsRecord,
    Rollup,
    StepHour,
    StepMonth,
    StoreReader,
    Version,
)
from monitor.store.rows import ResultRow
from monitor.store.writer import StoreMetrics, Writer, WriterSettings

__all__ = [
    "MigrationError",
    "Rollup",
    "SchemaTooNewError",
    "SchemaTooOldError",
    "Store",
    "StoreError",
    "StoreMetrics",
    "StoreReader",
    "StoreUnreachableError",
    "WriterSettings",
    "migrate",
]

log = structlog.get_logger(__name__)

# How often raw results older than the retention are pruned.
PRUNE_EVERY = 3600.0
CONNECT_TIMEOUT = 10.0
# Retry of a config sync that failed (the database down during a reload).
SYNC_RETRY_INITIAL = 1.0
SYNC_RETRY_MAX = 60.0
# A migration statement that takes longer is treated as a dead connection; every other
# statement is bounded by storage.timeout.
COMMAND_TIMEOUT = 60.0


class StoreError(Exception):
    """The store cannot be used; `str()` is one line for the person (no secrets)."""


class StoreUnreachableError(StoreError):
    """The database did not answer (down, starting, network): trying again later may work."""


# Connection failures worth retrying, as against a wrong password or a missing database.
_UNREACHABLE = (OSError, TimeoutError, asyncpg.CannotConnectNowError)


class _NoMetrics:
    def store_queue_depth(self, depth: int) -> None:
        pass

    def store_write_error(self) -> None:
        pass

    def store_dropped(self, count: int = 1) -> None:
        pass


class _Database:
    """Where Postgres is and how to reach it: a URL, or the embedded server."""

    def __init__(
        self,
        dsn: str,
        embedded: EmbeddedPostgres | None,
        secret: str,
        timeout: float = COMMAND_TIMEOUT,
    ) -> None:
        self.dsn = dsn
        self.embedded = embedded
        self._secret = secret
        # storage.timeout: connecting and each statement; past it the store is unreachable.
        self.timeout = timeout

    @classmethod
    async def locate(cls, config: Config, *, create: bool = True) -> _Database:
        url = config.storage.database_url.get_secret_value()
        timeout = config.storage.timeout
        if url:
            return cls(url, None, _check_url(url), timeout)
        try:
            embedded = await EmbeddedPostgres.start(config.storage.data_dir, create=create)
        except EmbeddedError as exc:
            raise StoreError(str(exc)) from None
        return cls(embedded.dsn, embedded, "", timeout)

    def where(self) -> str:
        """The database, named without credentials, for messages."""
        if self.embedded is not None:
            return f"embedded PostgreSQL in {self.embedded.pgdata}"
        parts = urlsplit(self.dsn)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
        return f"postgresql://{host}{port}{parts.path}"

    def redact(self, text: str) -> str:
        text = text.replace(self.dsn, self.where())
        return text.replace(self._secret, "***") if self._secret else text

    async def connect(self, command_timeout: float | None = None) -> asyncpg.Connection:
        return await asyncpg.connect(
            self.dsn,
            timeout=min(CONNECT_TIMEOUT, self.timeout),
            command_timeout=command_timeout or self.timeout,
        )

    async def pool(self, size: int) -> asyncpg.Pool:
        return await asyncpg.create_pool(
            self.dsn,
            # No floor: asyncpg restores a floor in the background, logging a traceback on
            # every failed try while the database is down (plain text amid the JSON lines).
            min_size=0,
            max_size=size,
            timeout=min(CONNECT_TIMEOUT, self.timeout),
            command_timeout=self.timeout,
        )

    async def close(self) -> None:
        if self.embedded is not None:
            await self.embedded.stop()


def _intervals(config: Config) -> dict[str, float]:
    """Each check's interval by key: what dates a result's slot."""
    return {check.key: check.interval_s for check in config.checks()}


def _check_url(url: str) -> str:
    """Refuse a database URL asyncpg cannot parse (in one line, no secret); its password."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise StoreError(f"storage.database_url is not a valid URL: {exc}") from None
    if parts.scheme not in ("postgres", "postgresql"):
        raise StoreError(
            f"storage.database_url must start with postgresql:// (not {parts.scheme!r}://)"
        )
    return parts.password or ""


async def _migrate(db: _Database, *, apply: bool = True) -> list[int]:
    """Bring the schema up to date; with `apply` False only check that it is (read-only)."""
    try:
        # A migration on a large table may take long: it gets the generous bound.
        conn = await db.connect(command_timeout=COMMAND_TIMEOUT)
    except _UNREACHABLE as exc:
        raise StoreUnreachableError(
            f"cannot connect to {db.where()}: {db.redact(str(exc))}"
        ) from None
    except asyncpg.PostgresError as exc:
        raise StoreError(f"cannot connect to {db.where()}: {db.redact(str(exc))}") from None
    except ValueError as exc:  # a URL asyncpg cannot use (ClientConfigurationError among them)
        message = db.redact(str(exc))
        raise StoreError(f"storage.database_url cannot be used: {message}") from None
    try:
        if not apply:
            await require_current(conn)
            return []
        applied = await apply_migrations(conn)
    except MigrationError as exc:
        raise StoreError(f"{db.where()}: {exc}") from None
    except asyncpg.PostgresError as exc:
        raise StoreError(f"{db.where()}: migration failed: {db.redact(str(exc))}") from None
    finally:
        await conn.close()
    for migration in applied:
        log.info("schema_migrated", version=migration.version, name=migration.name)
    return [m.version for m in applied]


async def migrate(config: Config) -> list[int]:
    """`monitor migrate`: bring the schema up to date; returns the versions applied."""
    db = await _Database.locate(config)
    try:
        return await _migrate(db)
    finally:
        await db.close()


async def _claim(db: _Database, location: str, shard: str) -> asyncpg.Connection:
    """Take the advisory lock of `location` and `shard` on this database (and schema), held by
    the returned connection's session: a second process probing the same checks into the
    same store is refused with StoreError instead of doubling every probe count."""
    try:
        conn = await db.connect()
    except _UNREACHABLE as exc:
        message = f"cannot connect to {db.where()}: {db.redact(str(exc))}"
        raise StoreUnreachableError(message) from None
    key = f"monitor run {location} {shard}"
    try:
        locked = await conn.fetchval(
            "SELECT pg_try_advisory_lock(hashtextextended(current_schema() || ' ' || $1, 0))", key
        )
    except BaseException:
        await conn.close()
        raise
    if not locked:
        await conn.close()
        raise StoreError(
            f"another `monitor run` already probes location {location!r} shard {shard} "
            f"into {db.where()}; stop it first, or run this one with another --shard or location"
        )
    return conn


async def _hold(conn: asyncpg.Connection) -> None:
    """Keep a connection (and the session locks it holds) open until cancelled."""
    try:
        await asyncio.Event().wait()
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.close(), timeout=5)


class Store:
    """Probe results, incidents and rollups in Postgres. Build it with `Store.open()`, or
    with `Store.disconnected()` and then `connect()` (`monitor run`: results are kept from
    the first probe on, whether the database answers yet or not).

    Its read methods are `StoreReader`'s (documented there).
    """

    def __init__(self, config: Config, writer: Writer | None, clock: Clock) -> None:
        self._config = config
        self._writer = writer
        self._clock = clock
        # Until connect(): no database yet (reads raise StoreUnreachableError).
        self._reached: _Database | None = None
        self._connected: asyncpg.Pool | None = None
        self._pruner: asyncio.Task[None] | None = None
        self._syncer: asyncio.Task[None] | None = None
        self._claim: asyncio.Task[None] | None = None

    @classmethod
    def disconnected(
        cls,
        config: Config,
        metrics: StoreMetrics | None,
        clock: Clock,
        *,
        settings: WriterSettings | None = None,
    ) -> Store:
        """A store whose writer keeps results from now on (bounded by storage.buffer_size,
        the oldest dropped and counted) and writes them once `connect()` succeeds."""
        storage = config.storage
        writer = Writer(
            None,
            settings
            or WriterSettings(
                batch_size=storage.batch_size,
                buffer_size=storage.buffer_size,
                flush_interval=storage.flush_interval,
            ),
            metrics or _NoMetrics(),
            clock,
        )
        writer.intervals = _intervals(config)
        writer.start()
        return cls(config, writer, clock)

    @classmethod
    async def open(
        cls,
        config: Config,
        metrics: StoreMetrics | None,
        clock: Clock,
        *,
        read_only: bool = False,
        migrate_schema: bool | None = None,
        settings: WriterSettings | None = None,
        journal: Path | None = None,
        owner: tuple[str, str] | None = None,
    ) -> Store:
        """Reach Postgres, migrate, and (unless `read_only`) sync the config and start writing.

        `read_only`: no writer, no config sync, and (unless `migrate_schema`) no migration: a
        schema older than this code is refused with StoreError saying to run `monitor migrate`.
        `journal` and `owner`: see `connect()`. Raises StoreError when the database cannot be
        reached or has a newer schema.
        """
        if read_only:
            store = cls(config, None, clock)
        else:
            store = cls.disconnected(config, metrics, clock, settings=settings)
        try:
            await store.connect(journal=journal, owner=owner, migrate_schema=migrate_schema)
        except BaseException:
            if store._writer is not None:
                await store._writer.close(0)
            raise
        return store

    async def connect(
        self,
        *,
        journal: Path | None = None,
        owner: tuple[str, str] | None = None,
        migrate_schema: bool | None = None,
        release: bool = True,
    ) -> None:
        """Reach Postgres, migrate, take `owner`'s lock, sync the config, replay the journal,
        and (with `release`) let the writer write; raises StoreError (StoreUnreachableError
        when trying again later may work) and leaves the store as it was.

        `owner` (location, shard): first take their advisory lock (see `_claim`), before the
        journal or anything else is touched.
        `journal` is the file that keeps incident events until they are stored (see
        `monitor.store.journal`); what it holds from an earlier run is stored first.
        `release` False: the writer waits for `release_writer()` (the runtime first hands the
        results kept meanwhile to the incidents, `waiting_results()`).
        """
        config, writer = self._config, self._writer
        read_only = writer is None
        db = await _Database.locate(config, create=not read_only)
        apply = not read_only if migrate_schema is None else migrate_schema
        try:
            await _migrate(db, apply=apply)
            try:
                pool = await db.pool(config.storage.pool_size)
            except _UNREACHABLE as exc:
                message = f"cannot connect to {db.where()}: {db.redact(str(exc))}"
                raise StoreUnreachableError(message) from None
            except asyncpg.PostgresError as exc:
                raise StoreError(f"cannot connect to {db.where()}: {db.redact(str(exc))}") from None
        except BaseException:
            await db.close()
            raise
        claimed = None
        try:
            claimed = await _claim(db, *owner) if owner is not None else None
            if writer is not None:
                writer.connect_to(
                    db.connect, db.redact, Journal(journal) if journal is not None else None
                )
                await queries.sync_config(pool, config)
                await writer.replay_journal()
        except BaseException as exc:
            if writer is not None:
                await writer.disconnect()
            if claimed is not None:
                claimed.terminate()
            await pool.close()
            await db.close()
            if isinstance(exc, _UNREACHABLE):
                message = f"cannot write to {db.where()}: {db.redact(str(exc))}"
                raise StoreUnreachableError(message) from None
            raise
        self._reached, self._connected = db, pool
        if claimed is not None:
            self._claim = asyncio.create_task(_hold(claimed), name="store-claim")
        if writer is not None:
            if release:
                writer.release()
            self._pruner = asyncio.create_task(self._prune_loop(), name="store-pruner")
        log.info("store_open", database=db.where(), read_only=read_only)

    def release_writer(self) -> None:
        """Let the writer write (after `connect(release=False)`)."""
        assert self._writer is not None and self._connected is not None, "connect() first"
        self._writer.release()

    def waiting_results(self) -> list[ResultRow]:
        """The results submitted in this process that are not written yet, oldest first."""
        return self._writer.waiting_results() if self._writer is not None else []

    @property
    def _pool(self) -> asyncpg.Pool:
        """The pool, once connected; StoreUnreachableError before."""
        if self._connected is None:
            raise StoreUnreachableError("the database has not answered since the monitor started")
        return self._connected

    @property
    def _db(self) -> _Database:
        """Where the database is, once connected; StoreUnreachableError before."""
        if self._reached is None:
            raise StoreUnreachableError("the database has not answered since the monitor started")
        return self._reached

    # -- writing (never awaits) ------------------------------------------------------------

    def submit_result(self, result: ProbeResult) -> None:
        """Queue a probe result for writing; returns at once."""
        assert self._writer is not None, "store opened read-only"
        self._writer.submit_result(result)

    def submit_incident_event(self, event: IncidentEvent) -> None:
        """Queue an incident event for writing; returns at once; never dropped."""
        assert self._writer is not None, "store opened read-only"
        self._writer.submit_event(event)

    def ready(self) -> tuple[bool, str]:
        """For /readyz: (False, why) when the store is unreachable or behind."""
        if self._writer is None:
            return True, "ok"
        return self._writer.status()

    @property
    def writer(self) -> Writer | None:
        return self._writer

    async def points_refresh(
        self,
        *,
        location: str,
        shard: str,
        started_at: datetime,
        blind_since: datetime | None,
        spans: Sequence[points.BlindSpan],
        settle_wait: float,
        settle_span: float,
        early: float,
    ) -> points.PointsView:
        """This location's probe-points round (monitor.store.points.refresh), within
        storage.timeout; StoreError when the database does not answer or refuses."""
        async with self._reading(), asyncio.timeout(self._db.timeout), self._pool.acquire() as conn:
            return await points.refresh(
                conn,
                location=location,
                shard=shard,
                started_at=started_at,
                blind_since=blind_since,
                spans=spans,
                settle_wait=settle_wait,
                settle_span=settle_span,
                early=early,
            )

    async def list_check_incidents(
        self,
        *,
        open_only: bool = False,
        since: datetime | None = None,
        site: str | None = None,
        check: str | None = None,
    ) -> list[points.CheckIncident]:
        async with self._reading(), asyncio.timeout(self._db.timeout):
            return await points.list_check_incidents(
                self._pool, open_only=open_only, since=since, site=site, check=check
            )

    async def flush(self, timeout: float = 30.0) -> bool:  # noqa: ASYNC109
        """Wait until everything submitted so far is written (False on timeout)."""
        return True if self._writer is None else await self._writer.flush(timeout)

    async def reconfigure(self, config: Config) -> None:
        """Sync sites and checks after a config reload, now (raises when it cannot)."""
        self._config = config
        if self._writer is not None:
            self._writer.intervals = _intervals(config)
        await queries.sync_config(self._pool, config)

    def reconfigure_in_background(self, config: Config) -> None:
        """Sync sites and checks after a config reload without waiting on the database.

        A reload must not wait on it (it may be down or silent): the sync is retried with
        backoff until it succeeds; a later reload replaces an unfinished one.
        """
        self._config = config
        if self._writer is not None:
            self._writer.intervals = _intervals(config)
        if self._connected is None:
            return  # connect() syncs the config it then has
        if self._connected.is_closing():
            return  # a reload racing the shutdown: nothing can be written any more
        if self._syncer is not None:
            self._syncer.cancel()
        self._syncer = asyncio.create_task(self._sync_loop(config), name="store-config-sync")

    async def _sync_loop(self, config: Config) -> None:
        backoff = SYNC_RETRY_INITIAL
        while True:
            try:
                await queries.sync_config(self._pool, config)
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("store_config_sync_failed", error=self._db.redact(str(exc)))
            await self._clock.sleep(backoff)
            backoff = min(backoff * 2, SYNC_RETRY_MAX)

    async def close(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Write what can be written within `timeout` seconds, then let go of the database."""
        for task in (self._pruner, self._syncer, self._claim):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._writer is not None:
            await self._writer.close(timeout)
        pool, db = self._connected, self._reached
        if pool is None or db is None:
            return  # never connected
        try:
            await asyncio.wait_for(pool.close(), timeout=5)
        except (TimeoutError, OSError, asyncpg.PostgresError):
            pool.terminate()
        await db.close()

    # -- reading ---------------------------------------------------------------------------

    async def list_incidents(
        self,
        *,
        open_only: bool = False,
        since: datetime | None = None,
        site: str | None = None,
        check: str | None = None,
        limit: int = 1000,
    ) -> list[Incident]:
        """Incidents, newest first; `since`: open at any moment since then."""
        async with self._reading():
            return await queries.list_incidents(
                self._pool, open_only=open_only, since=since, site=site, check=check, limit=limit
            )

    # -- manual reviews (append only; written at once, not through the writer) -------------

    async def add_review(self, review: NewReview) -> Review:
        async with self._reading():
            return await reviews.add_review(self._pool, review, self._clock.now())

    async def withdraw_review(self, review_id: int, reason: str, reviewer: str) -> Review:
        """Withdraw a review (a new record); ReviewError if it is not a review in force."""
        async with self._reading():
            return await reviews.withdraw_review(
                self._pool, review_id, reason, reviewer, self._clock.now()
            )

    async def list_reviews(
        self,
        *,
        site: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        in_force_only: bool = True,
    ) -> list[Review]:
        async with self._reading():
            return await reviews.list_reviews(
                self._pool, site=site, since=since, until=until, in_force_only=in_force_only
            )

    async def load_open_incidents(self, location: str) -> list[Incident]:
        """Incidents open at this probe location, for the incident engine after a restart."""
        async with self._reading():
            return await queries.load_open_incidents(self._pool, location)

    async def rollups(
        self, since: datetime, until: datetime, *, site: str | None = None, check: str | None = None
    ) -> list[Rollup]:
        """Hourly rollups with `since <= hour < until` (report, API)."""
        async with self._reading():
            return await queries.rollups(self._pool, since, until, site=site, check=check)

    async def points_view(self) -> points.PointsView:
        """What the locations see together, read now."""
        async with self._reading(), asyncio.timeout(self._db.timeout):
            return await points.read_view(self._pool)

    async def latency_bounds(self) -> tuple[float, ...]:
        async with self._reading():
            return await queries.latency_bounds(self._pool)

    async def rollup_outcomes(self) -> tuple[str, ...]:
        async with self._reading():
            return await queries.rollup_outcomes(self._pool)

    # -- the report's reads (monitor.store.report_queries) ----------------------------------

    async def daily_totals(
        self,
        since: datetime,
        until: datetime,
        timezone: str,
        sites: Sequence[str],
        *,
        slow_above: float,
    ) -> dict[CheckKey, CheckDays]:
        async with self._reading():
            return await report_queries.daily_totals(
                self._pool, since, until, timezone, sites, slow_above=slow_above
            )

    async def daily_totals_with_locations(
        self,
        since: datetime,
        until: datetime,
        timezone: str,
        sites: Sequence[str],
        *,
        slow_above: float,
    ) -> tuple[dict[CheckKey, CheckDays], dict[CheckKey, dict[str, CheckDays]]]:
        async with self._reading():
            return await report_queries.daily_totals_with_locations(
                self._pool, since, until, timezone, sites, slow_above=slow_above
            )

    async def monthly_totals(
        self, since: datetime, until: datetime, timezone: str, sites: Sequence[str]
    ) -> dict[CheckKey, CheckMonths]:
        async with self._reading():
            return await report_queries.monthly_totals(self._pool, since, until, timezone, sites)

    async def points_record(
        self,
        since: datetime,
        until: datetime,
        sites: Sequence[str],
        intervals: dict[CheckKey, float],
    ) -> PointsRecord:
        async with self._reading():
            return await report_queries.points_record(self._pool, since, until, sites, intervals)

    async def incidents_overlapping(
        self, since: datetime, until: datetime, sites: Sequence[str]
    ) -> list[IncidentRecord]:
        async with self._reading():
            return await report_queries.incidents_overlapping(self._pool, since, until, sites)

    async def content_versions(
        self, since: datetime, until: datetime, sites: Sequence[str]
    ) -> dict[CheckKey, list[Version]]:
        async with self._reading():
            return await report_queries.content_versions(self._pool, since, until, sites)

    async def content_hours(
        self, since: datetime, until: datetime, sites: Sequence[str]
    ) -> dict[CheckKey, list[ContentHour]]:
        async with self._reading():
            return await report_queries.content_hours(self._pool, since, until, sites)

    async def broken_links(
        self, since: datetime, until: datetime, sites: Sequence[str]
    ) -> dict[str, list[BrokenLink]]:
        async with self._reading():
            return await report_queries.broken_links(self._pool, since, until, sites)

    async def login_steps_monthly(
        self, since: datetime, until: datetime, timezone: str, sites: Sequence[str]
    ) -> dict[CheckKey, list[StepMonth]]:
        async with self._reading():
            return await report_queries.login_steps_monthly(
                self._pool, since, until, timezone, sites
            )

    async def login_steps_hourly(
        self, site: str, since: datetime
    ) -> dict[tuple[str, str], list[StepHour]]:
        async with self._reading():
            return await report_queries.login_steps_hourly(self._pool, site, since)

    async def board_facts(
        self, since: datetime, until: datetime, sites: Sequence[str], *, overdue_after: float
    ) -> dict[CheckKey, BoardFacts]:
        async with self._reading():
            return await report_queries.board_facts(
                self._pool, since, until, sites, overdue_after=overdue_after
            )

    async def login_facts(
        self, since: datetime, until: datetime, sites: Sequence[str]
    ) -> dict[CheckKey, LoginFacts]:
        async with self._reading():
            return await report_queries.login_facts(self._pool, since, until, sites)

    async def prune(self, now: datetime | None = None) -> int:
        """Delete raw results older than the retention; returns how many."""
        moment = now if now is not None else self._clock.now()
        cutoff = moment - timedelta(seconds=self._config.storage.retention)
        return await queries.prune(self._pool, cutoff)

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[None]:
        """Turn the database being unreachable during a read into one StoreError line."""
        try:
            yield
        except (OSError, asyncpg.InterfaceError, TimeoutError) as exc:
            message = self._db.redact(f"{type(exc).__name__}: {exc}")
            raise StoreError(f"{self._db.where()} unreachable: {message}") from None
        except asyncpg.PostgresError as exc:
            message = self._db.redact(f"{type(exc).__name__}: {exc}")
            raise StoreError(f"{self._db.where()}: query failed: {message}") from None

    async def _prune_loop(self) -> None:
        while True:
            try:
                deleted = await self.prune()
                if deleted:
                    log.info("store_pruned", results=deleted)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("store_prune_failed", error=self._db.redact(str(exc)))
            await self._clock.sleep(PRUNE_EVERY)


def _reads(store: Store) -> StoreReader:
    """Nothing at run time: mypy checks here that Store implements the whole StoreReader."""
    return store
