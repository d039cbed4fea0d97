"""Waiting in tests: poll for the evidence a test needs instead of sleeping a fixed time.

`wait_until` is the one poll loop of the tests. A fixed sleep either wastes time or, on a loaded
machine, ends before the thing happened; a poll ends as soon as the evidence is there and fails
the test, naming what it waited for, when it never comes.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import aiohttp

T = TypeVar("T")

# What a probe of a service that is still coming up may raise: "not yet", not a failure.
NOT_YET = (aiohttp.ClientError, OSError, ValueError, KeyError)


class Watched(Protocol):
    """What a wait watches besides its probe: processes that, once dead, make waiting pointless."""

    def check_alive(self) -> None:
        """Fail the test if what it waits on has died."""

    def report(self) -> str:
        """What to show when the wait times out (the processes' output)."""


async def wait_until(
    what: str,
    probe: Callable[[], T | Awaitable[T | None] | None],
    *,
    until: Callable[[T], bool] = bool,
    timeout: float = 60.0,
    interval: float = 0.1,
    watch: Watched | None = None,
) -> T:
    """Call `probe` (plain or async) until `until` holds for what it returns (by default: until
    it returns something true), and return that.

    Fails the test after `timeout` seconds, naming `what`, the last value and the last "not yet"
    error; a probe raising one of NOT_YET counts as not yet. `watch` fails it at once if its
    processes die.
    """
    last_error: BaseException | None = None
    last: object = None
    try:
        # The deadline bounds the probes too: one that hangs fails the wait, it does not end it.
        async with asyncio.timeout(timeout) as deadline:
            while True:
                if watch is not None:
                    watch.check_alive()
                try:
                    value = probe()
                    if inspect.isawaitable(value):
                        value = await value
                except NOT_YET as exc:
                    last_error = exc
                else:
                    if value is not None and until(value):
                        return value
                    last = value
                await asyncio.sleep(interval)
    except TimeoutError:
        if not deadline.expired():
            raise
        seen = f"; last: {last!r:.500}" if last is not None else ""
        hint = f" (last error: {last_error!r})" if last_error else ""
        report = f"\n{watch.report()}" if watch is not None else ""
        raise AssertionError(f"timed out waiting for {what}{seen}{hint}{report}") from None
