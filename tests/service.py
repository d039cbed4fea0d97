"""`monitor run` as a real process for tests: the service, its CLI, a site for it to probe.

`Service` starts `monitor run` on a config and talks to its HTTP server; `run_cli` runs one
`monitor` command as a process, `run_in_process` the same in this process (faster, for commands
that do not need a process of their own); the `target` fixture (registered in conftest) is the
site they watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor import cli
from tests.poll import wait_until

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def target() -> AsyncIterator[TestServer]:
    """A site with a good page, a failing page and a switch to take the good page down."""
    state = {"up": True}

    async def home(request: web.Request) -> web.Response:
        if not state["up"]:
            return web.Response(status=503, text="维护中")
        return web.Response(text="<html>石化离退休干部局</html>", content_type="text/html")

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500, text="error")

    app = web.Application()
    app.router.add_get("/", home)
    app.router.add_get("/broken", broken)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    server.state = state  # type: ignore[attr-defined]
    yield server
    await server.close()


async def run_cli(*args: str) -> tuple[int, str, str]:
    """`monitor ARGS` as a subprocess from the repository root: exit code, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def run_in_process(*args: str) -> tuple[int, str, str]:
    """`monitor ARGS` in this process (its own event loop, in a thread), output captured."""
    # stdout with a binary buffer below it, as a terminal's: `report` writes bytes to it.
    raw, err = io.BytesIO(), io.StringIO()
    out = io.TextIOWrapper(raw, encoding="utf-8")

    def call() -> int:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            return cli.main(list(args))

    code = await asyncio.to_thread(call)
    out.flush()
    return code, raw.getvalue().decode("utf-8"), err.getvalue()


class Service:
    """A `monitor run` subprocess and a client for its HTTP server."""

    def __init__(self, config: Path, port: int) -> None:
        self.config, self.port = config, port
        self.base = f"http://127.0.0.1:{port}"

    async def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "monitor",
            "run",
            "-c",
            str(self.config),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=ROOT,
            env=env,
        )
        self.session = aiohttp.ClientSession()

        async def healthy() -> bool:
            async with self.session.get(f"{self.base}/healthz") as resp:
                return resp.status == 200

        try:
            # Up to 30 s: a loaded 2-core machine has taken 8 s to start the embedded store
            # and workers.
            await wait_until("monitor run to come up", healthy, timeout=30, watch=self)
        except AssertionError:
            await self.session.close()
            if self.proc.returncode is None:
                self.proc.kill()
            raise

    def check_alive(self) -> None:
        """Fail the test if `monitor run` has exited (nothing to wait for any more)."""
        if self.proc.returncode is not None:
            raise AssertionError(f"monitor run exited with {self.proc.returncode}")

    def report(self) -> str:
        return f"monitor run -c {self.config} (port {self.port}) still running"

    async def metrics(self) -> str:
        async with self.session.get(f"{self.base}/metrics") as resp:
            return await resp.text()

    async def status(self) -> list[dict[str, object]]:
        async with self.session.get(f"{self.base}/api/v1/status") as resp:
            data: list[dict[str, object]] = await resp.json()
            return data

    async def wait_for(self, text: str, timeout: float = 10.0) -> str:
        """Poll /metrics until it contains `text`; return it."""
        return await wait_until(
            f"{text!r} in /metrics",
            self.metrics,
            until=lambda metrics: text in metrics,
            timeout=timeout,
            watch=self,
        )

    async def stop(self) -> tuple[int, str]:
        await self.session.close()
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(self.proc.communicate(), 30)
        assert self.proc.returncode is not None
        return self.proc.returncode, err.decode()


async def wait_incidents(
    service: Service, query: str, predicate: Callable[[list[dict[str, object]]], bool]
) -> list[dict[str, object]]:
    """Poll /api/v1/incidents until `predicate` holds (a 503 while the store opens is "not yet")."""

    async def incidents() -> list[dict[str, object]] | None:
        async with service.session.get(f"{service.base}/api/v1/incidents{query}") as resp:
            if resp.status == 503:
                return None
            assert resp.status == 200, resp.status
            found: list[dict[str, object]] = await resp.json()
            return found

    return await wait_until(
        f"/api/v1/incidents{query} to match", incidents, until=predicate, timeout=30, watch=service
    )


def write_incident_config(path: Path, port: int, database_url: str, target: TestServer) -> None:
    """One http check on `target`, probed every 300 ms, opening an incident after 3 failures."""
    path.write_text(
        textwrap.dedent(f"""
        server: {{listen: "127.0.0.1:{port}"}}
        storage: {{database_url: "{database_url}", flush_interval: 100ms}}
        defaults: {{interval: 300ms, timeout: 250ms, failure_threshold: 3, success_threshold: 2}}
        sites:
          - id: petrochem
            owner: petrochem-it
            checks:
              - {{id: home, type: http, url: "{target.make_url("/")!s}"}}
        """)
    )
