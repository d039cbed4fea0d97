"""The real PostgreSQL for tests: a fresh schema per test, on the server the environment names.

The server is `MONITOR_TEST_DATABASE_URL`, else the usual `PG*` variables, else
postgresql://postgres@127.0.0.1:5432/test. Each test gets its own schema, dropped afterwards,
and a URL whose `search_path` points at it, so tests never see each other's tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import asyncpg
import pytest

from monitor.config import Config, parse_config
from monitor.incidents import IncidentEvent
from monitor.store import Store

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def server_url() -> str:
    """The test server's URL, from the environment."""
    explicit = os.environ.get("MONITOR_TEST_DATABASE_URL")
    if explicit:
        return explicit
    if not any(name in os.environ for name in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE")):
        return DEFAULT_URL
    user = quote(os.environ.get("PGUSER", "postgres"))
    password = os.environ.get("PGPASSWORD")
    auth = f"{user}:{quote(password)}@" if password else f"{user}@"
    host = os.environ.get("PGHOST", "127.0.0.1")
    port = os.environ.get("PGPORT", "5432")
    database = quote(os.environ.get("PGDATABASE", "test"))
    if host.startswith("/"):
        return f"postgresql://{auth}/{database}?host={quote(host)}&port={port}"
    return f"postgresql://{auth}{host}:{port}/{database}"


def with_schema(url: str, schema: str) -> str:
    """The URL with `search_path` = `schema` (asyncpg passes unknown query keys as settings)."""
    parts = urlsplit(url)
    query = f"{parts.query}&" if parts.query else ""
    query += urlencode({"search_path": schema})
    return urlunsplit(parts._replace(query=query))


def via(url: str, host: str, port: int) -> str:
    """The URL pointed at another host and port (a proxy), same credentials and database."""
    parts = urlsplit(url)
    auth = parts.netloc.rpartition("@")[0]
    netloc = f"{auth}@{host}:{port}" if auth else f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


@contextlib.asynccontextmanager
async def fresh_schema() -> AsyncIterator[str]:
    """Create a new empty schema; yield a URL that uses it; drop it afterwards."""
    base = server_url()
    schema = f"test_{uuid.uuid4().hex[:16]}"
    try:
        conn = await asyncpg.connect(base, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"the test PostgreSQL at {urlsplit(base).hostname} is not reachable: {exc}")
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        yield with_schema(base, schema)
    finally:
        # Connections of the test may still be closing: retry the drop for a while, and never
        # hang on a connection a failed test left inside a transaction (the schema then stays).
        await conn.execute("SET lock_timeout = '1s'")
        for _ in range(10):
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                break
            except asyncpg.LockNotAvailableError:
                await asyncio.sleep(0.1)
        await conn.close()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A URL of the real test PostgreSQL with a fresh, empty schema of its own."""
    async with fresh_schema() as url:
        yield url


@pytest.fixture
async def pg_conn(pg_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the fresh schema of `pg_url`."""
    conn = await asyncpg.connect(pg_url)
    try:
        yield conn
    finally:
        await conn.close()


def make_config(database_url: str = "", **overrides: Any) -> Config:
    """A config with one site and two http checks, storing to `database_url`."""
    data: dict[str, Any] = {
        "storage": {"database_url": database_url},
        "timezone": "Asia/Shanghai",
        "sites": [
            {
                "id": "portal",
                "name": "门户网站",
                "owner": "portal-team",
                "checks": [
                    {"id": "home", "type": "http", "url": "http://127.0.0.1:9/", "interval": "1m"},
                    {"id": "news", "type": "http", "url": "http://127.0.0.1:9/news"},
                ],
            }
        ],
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return parse_config(data, "test-config")


class RecordingStoreMetrics:
    """monitor.store.StoreMetrics that remembers what it was told (for assertions)."""

    def __init__(self) -> None:
        self.depth = 0
        self.write_errors = 0
        self.dropped = 0

    def store_queue_depth(self, depth: int) -> None:
        self.depth = depth

    def store_write_error(self) -> None:
        self.write_errors += 1

    def store_dropped(self, count: int = 1) -> None:
        self.dropped += count


class CountingSink:
    """Passes incident events to the store and keeps them, to compare with what arrives."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.events: list[IncidentEvent] = []

    def submit_incident_event(self, event: IncidentEvent) -> None:
        self.events.append(event)
        self.store.submit_incident_event(event)


class NoGauges:
    def incident_opened(
        self, site: str, check: str, owner: str, reason: str, *, new: bool = True
    ) -> None:
        pass

    def incident_resolved(self, site: str, check: str, owner: str, reason: str) -> None:
        pass


class TcpProxy:
    """A TCP proxy on 127.0.0.1 the test controls: cut it (every connection dropped, new ones
    refused), restore it on the same port, let a commit through and lose its answer, or make it
    go silent (a black hole: connections stay open, nothing passes either way)."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._swallow_marker: bytes | None = None
        self.swallowed = asyncio.Event()
        self._silent = False
        self._held: list[asyncio.StreamWriter] = []

    @classmethod
    def to(cls, url: str) -> TcpProxy:
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 5432)

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def cut(self) -> None:
        """Stop listening and abort every open connection (like a network partition)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for client, upstream in list(self._pairs):
            client.transport.abort()
            upstream.transport.abort()
        self._pairs.clear()

    async def restore(self) -> None:
        """Listen again, on the same port."""
        await self.start()

    def go_silent(self) -> None:
        """From now on pass nothing: open connections hang, new ones are accepted and then hang
        (a database behind a dropped route: no reset, no refusal, only silence)."""
        self._silent = True

    def lose_answer_after(self, marker: bytes) -> None:
        """Forward the next client message containing `marker` (a COMMIT), then drop the
        server's answer and the connection: the work is done, the client never hears of it."""
        self._swallow_marker = marker
        self.swallowed.clear()

    async def close(self) -> None:
        await self.cut()
        for writer in self._held:
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._silent:
            self._held.append(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)
        state = {"mute": False}
        for task in (
            asyncio.create_task(self._pump(reader, up_writer, pair, state, upstream=True)),
            asyncio.create_task(self._pump(up_reader, writer, pair, state, upstream=False)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
        state: dict[str, bool],
        *,
        upstream: bool,
    ) -> None:
        try:
            while data := await source.read(65536):
                if self._silent or (not upstream and state["mute"]):
                    continue
                sink.write(data)
                await sink.drain()
                marker = self._swallow_marker
                if upstream and marker is not None and marker in data:
                    self._swallow_marker = None
                    state["mute"] = True
                    # Give the server time to do the work, then break the connection.
                    await asyncio.sleep(0.5)
                    for w in pair:
                        w.transport.abort()
                    self._pairs.discard(pair)
                    self.swallowed.set()
                    return
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            # One direction ended: end both (PostgreSQL has no use for half-closed sockets).
            for w in pair:
                w.transport.abort()
            self._pairs.discard(pair)


async def select(store: Store, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Run a raw read query on the store's own pool.

    Only tests look at the tables this way: the code reads through the store's read
    interface (monitor.store.reader), so the store has no raw-SQL method of its own.
    """
    return list(await store._pool.fetch(sql, *args))
