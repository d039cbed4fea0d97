"""Schema migrations: numbered `.sql` files applied in order, each inside a transaction.

`migrations/0001_initial.sql`, `0002_...sql`: the number is the schema version. Applied
versions are recorded in `schema_migrations`; a transaction-scoped advisory lock lets several
replicas start at once without applying anything twice. A database whose schema is newer than
the newest file here is refused: this code would not know how to write to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any fixed number; every monitor process agrees on it.
_LOCK_KEY = 0x6D6F6E69746F72  # "monitor"
_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(Exception):
    """The schema cannot be brought to this code's version."""


class SchemaTooNewError(MigrationError):
    """The database was migrated by a newer monitor."""


class SchemaTooOldError(MigrationError):
    """The schema is older than this code, and the command may not change it."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> tuple[Migration, ...]:
    """The migrations shipped with this code, in order; numbering must run 1, 2, 3 ..."""
    found: list[Migration] = []
    for entry in resources.files("monitor.store").joinpath("migrations").iterdir():
        match = _FILE.match(entry.name)
        if match is None:
            continue
        found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"migration files must be numbered 0001, 0002, ... without gaps; "
                f"found {migration.version:04d}_{migration.name}.sql where {expected:04d} belongs"
            )
    return tuple(found)


async def current_version(conn: asyncpg.Connection) -> int:
    """The schema version of the database (0: never migrated)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations"))


async def migrate(
    conn: asyncpg.Connection, migrations: tuple[Migration, ...] | None = None
) -> list[Migration]:
    """Apply what is missing, in order; returns what was applied (empty when up to date)."""
    migrations = available() if migrations is None else migrations
    latest = migrations[-1].version if migrations else 0
    # Up to date: write nothing, so a role that may only read (a report, a dashboard) can
    # open the store too.
    version = await current_version(conn)
    _refuse_newer(version, latest)
    if version == latest:
        return []
    applied: list[Migration] = []
    for migration in migrations:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            await conn.execute(_TABLE)
            version = await current_version(conn)
            _refuse_newer(version, latest)
            if version >= migration.version:
                continue
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
            applied.append(migration)
    if not migrations:
        _refuse_newer(await current_version(conn), latest)
    return applied


async def require_current(
    conn: asyncpg.Connection, migrations: tuple[Migration, ...] | None = None
) -> None:
    """Refuse a schema that is not this code's, changing nothing (for read-only commands)."""
    migrations = available() if migrations is None else migrations
    latest = migrations[-1].version if migrations else 0
    version = await current_version(conn)
    _refuse_newer(version, latest)
    if version < latest:
        raise SchemaTooOldError(
            f"the database schema is version {version}, older than this monitor's {latest}; "
            "run `monitor migrate` first (read-only commands never change the schema)"
        )


def _refuse_newer(version: int, latest: int) -> None:
    if version > latest:
        raise SchemaTooNewError(
            f"the database schema is version {version}, newer than this monitor knows "
            f"(up to {latest}); upgrade the monitor, or point it at another database"
        )
