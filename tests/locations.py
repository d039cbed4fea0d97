"""Probe points on loopback, for tests and benchmarks: a site that fails on demand, a config of
its one check at a location, and a gauge read from a runtime's own exposition."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from monitor.config import parse_config
from monitor.runtime import Runtime


class Site:
    """A loopback site that answers 200, or 503 while `down`."""

    def __init__(self) -> None:
        self.down = False
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(status=503 if self.down else 200, text="portal-home")

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._page)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def config(
    database_url: str, port: int, location: str, points: dict[str, Any] | None, tmp: Any
) -> Any:
    """A config of portal/home on 127.0.0.1:`port`, probed every 500 ms at `location`."""
    data: dict[str, Any] = {
        "defaults": {"interval": "500ms", "timeout": "400ms", "failure_threshold": 2,
                     "success_threshold": 2},
        "storage": {"database_url": database_url, "data_dir": str(tmp / location),
                    "flush_interval": "100ms"},
        "location": location,
        "sites": [{"id": "portal", "name": "门户网站", "owner": "portal-team", "checks": [
            {"id": "home", "type": "http", "url": f"http://127.0.0.1:{port}/"}]}],
    }  # fmt: skip
    if points is not None:
        data["points"] = points
    return parse_config(data, "test-config")


def gauge(runtime: Runtime, name: str, **labels: str) -> float | None:
    """The first sample `name` with `labels` in the runtime's exposition, None if there is none."""
    text = runtime.metrics.exposition().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return float(sample.value)
    return None
