"""Where pages are parsed: worker processes, off the event loop, each job bounded.

A hostile page can make any HTML or feed parser work for seconds or longer (deep nesting, a
quadratic corner of the tree builder). So no page is parsed on the event loop, where it would
stall every other probe, and no parse is trusted to end: the caller's deadline (the probe's)
cancels the wait, and the worker that was busy with it is killed and replaced, so one stuck
page never holds up the pages queued behind it.

A worker dies with the monitor, however the monitor ends (SIGKILL included): it asks the kernel
for SIGKILL when its parent goes (PR_SET_PDEATHSIG), its parent being the fork server, which
exits when the monitor does; an idle worker also exits when its pipe to the monitor closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing import forkserver, get_context
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

__all__ = ["ParseFailedError", "ParserPool"]

T = TypeVar("T")

# Workers are forked from one fork server that has imported the parsing code once, so a new
# worker (at start, or replacing a killed one) is ready in milliseconds, and inherits nothing
# of the event loop.
_CONTEXT = get_context("forkserver")
_CONTEXT.set_forkserver_preload(["monitor.probes"])  # every check type's parsing code
_PR_SET_PDEATHSIG = 1


class ParseFailedError(Exception):
    """The worker parsing a page died (killed by the kernel, a crash in the parser)."""


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _let_the_fork_server_go() -> None:
    """Close the fork server's liveness pipe, which a worker inherits: while any process holds
    it the fork server never sees the monitor go, and so would never go itself."""
    server = getattr(forkserver, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if isinstance(fd, int):
        with contextlib.suppress(OSError):
            os.close(fd)
        server._forkserver_alive_fd = None  # type: ignore[union-attr]


def _serve(conn: Connection) -> None:
    """A worker: run each job sent on `conn`, send back (True, result) or (False, error)."""
    parent = os.getppid()
    _die_with_parent()
    _let_the_fork_server_go()
    if os.getppid() != parent:  # the parent died before the kernel was asked to tell us
        return
    # Ctrl-C goes to the whole process group: the monitor shuts its workers down itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            fn, args, kwargs = conn.recv()
        except (EOFError, OSError):
            return  # the monitor closed the pipe or is gone
        try:
            reply: tuple[bool, Any] = (True, fn(*args, **kwargs))
        except Exception as exc:
            reply = (False, exc)
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return
        except Exception as exc:  # an unpicklable result or error: say so instead
            conn.send((False, RuntimeError(f"parser result not picklable: {exc!r}")))


@dataclass(eq=False, slots=True)
class _Worker:
    process: BaseProcess
    conn: Connection
    busy: bool = False

    def exchange(self, job: tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]) -> Any:
        """Send one job and wait for its reply (on an I/O thread: both may block)."""
        self.busy = True
        try:
            self.conn.send(job)
            return self.conn.recv()
        except BaseException:
            # Killed mid-job (its deadline passed) or dead: this thread owns the pipe now.
            self.conn.close()
            raise
        finally:
            self.busy = False

    def kill(self) -> None:
        """SIGKILL the worker; a thread waiting on it gets EOF and closes the pipe."""
        with contextlib.suppress(OSError, ValueError, AttributeError):
            self.process.kill()
        if not self.busy:
            with contextlib.suppress(OSError):
                self.conn.close()


def _kill_all(workers: set[_Worker]) -> None:
    for worker in list(workers):
        worker.kill()
    workers.clear()


class ParserPool:
    """Up to `size` worker processes, started on first use; `run` is one job in one of them."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._slots: asyncio.Semaphore | None = None
        # Sending a page and waiting for the answer block: they run on these threads, which
        # end as soon as their worker answers or is killed.
        self._io = ThreadPoolExecutor(size + 1, thread_name_prefix="parser-io")
        self._closed = False
        # Workers of a pool nobody closed (a test's context) go when the pool does.
        self._finalizer = weakref.finalize(self, _kill_all, self._all)
        self._warming: asyncio.Task[None] | None = None
        self.jobs = 0  # jobs run, for tests and curiosity
        self.replaced = 0  # workers killed because their job was abandoned or they died

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` in a worker (`fn` module-level, all of it picklable).

        Cancelling the call (the probe's deadline) kills the worker running it. Raises what
        `fn` raised, or ParseFailedError if the worker died.
        """
        if self._closed:
            raise ParseFailedError("the parser is shut down")
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        if self._warming is not None and not self._warming.done():
            # The workers being started are this job's (wait() never cancels what it waits
            # for: the warm-up outlives a probe cut short meanwhile).
            await asyncio.wait([self._warming])
        loop = asyncio.get_running_loop()
        async with self._slots:
            worker = self._idle.pop() if self._idle else await self._start(loop)
            answered = False
            try:
                ok, value = await loop.run_in_executor(
                    self._io, worker.exchange, (fn, args, kwargs)
                )
                answered = True
            except (EOFError, OSError) as exc:
                raise ParseFailedError(f"the parser process died ({type(exc).__name__})") from None
            finally:
                if answered and not self._closed:
                    self._idle.append(worker)
                else:
                    self.replaced += not self._closed
                    self._all.discard(worker)
                    worker.kill()
        self.jobs += 1
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    def start_warming(self) -> asyncio.Task[None]:
        """Start every worker in the background; a job asked for meanwhile waits for them.

        Only probes that parse a page wait (once, at start), not the scheduler: checks that
        parse nothing probe on time from the first second.
        """
        if self._warming is None:
            self._warming = asyncio.create_task(self.warm(), name="parser-warm")
        return self._warming

    async def warm(self) -> None:
        """Start every worker now (the fork server too, the first time: seconds on a busy
        machine), so that no probe spends its deadline waiting for one."""
        loop = asyncio.get_running_loop()
        missing = self.size - len(self._all)
        workers = await asyncio.gather(*(self._start(loop) for _ in range(missing)))
        self._idle.extend(workers)

    async def _start(self, loop: asyncio.AbstractEventLoop) -> _Worker:
        # Starting waits for the fork server (and, the first time, for it to start): a thread.
        worker = await loop.run_in_executor(self._io, self._start_blocking)
        if self._closed:
            worker.kill()
            raise ParseFailedError("the parser is shut down")
        self._all.add(worker)
        return worker

    @staticmethod
    def _start_blocking() -> _Worker:
        ours, theirs = _CONTEXT.Pipe()
        process = _CONTEXT.Process(
            target=_serve, args=(theirs,), name="monitor-parser", daemon=True
        )
        process.start()
        theirs.close()
        return _Worker(process, ours)

    def pids(self) -> list[int]:
        """The worker processes alive now."""
        return [w.process.pid for w in self._all if w.process.pid is not None]

    def close(self) -> None:
        """Kill every worker at once (a parse in progress is abandoned); idempotent."""
        self._closed = True
        if self._warming is not None:
            self._warming.cancel()  # a no-op once the workers are up
        self._idle.clear()
        _kill_all(self._all)
        self._io.shutdown(wait=False, cancel_futures=True)
