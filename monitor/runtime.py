"""The one place where the pipeline is wired: config -> scheduler -> probes -> results ->
metrics, incidents, store; and the HTTP server that reads them (its handlers live in
monitor/server.py and monitor/web/; the results wait in the store's writer, nowhere here).

Everything with state lives on a Runtime object; nothing is module-global. `monitor run` makes
one, `monitor check` uses it to run probes once, tests make as many as they like.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import os
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog
from aiohttp.abc import AbstractResolver
from prometheus_client import CollectorRegistry

from monitor import __version__, server
from monitor.checkspec import CheckSpec
from monitor.clock import Clock, SystemClock
from monitor.config import Config, ConfigError, load_config
from monitor.incidents import IncidentEngine, IncidentMetrics
from monitor.maintenance import MaintenanceGauge, MaintenanceSchedule
from monitor.metrics import Metrics
from monitor.points.blind import BlindWatch
from monitor.points.canaries import Canaries
from monitor.points.service import AloneIncidents, PointsService
from monitor.probes import CHECK_TYPES, ProbeContext, ProbeRun
from monitor.probes.base import probe_within_deadline
from monitor.probes.httpclient import HttpClient
from monitor.results import Outcome, ProbeResult
from monitor.scheduler import ScheduleChange, Scheduler
from monitor.shard import ALL, Shard
from monitor.store import Store, StoreError, StoreUnreachableError
from monitor.store.rows import observed
from monitor.web import access, web_routes

log = structlog.get_logger("monitor")


class ListenError(Exception):
    """The HTTP server cannot listen where configured (the port is taken); one line."""


class Runtime:
    """Config, probes, scheduler, metrics and the HTTP server of one monitor process."""

    def __init__(
        self,
        config: Config,
        *,
        config_path: str | None = None,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
        resolver: AbstractResolver | None = None,
        shard: Shard = ALL,
    ) -> None:
        self.config = config
        self.shard = shard
        self.config_path = config_path or config.source
        self.clock = clock or SystemClock()
        self.registry = registry or CollectorRegistry()
        self.metrics = Metrics(self.registry, location=config.location, version=__version__)
        self.http = HttpClient(resolver=resolver)
        self.ctx = ProbeContext(http=self.http, location=config.location, now=self.clock.now)
        self.scheduler = Scheduler(
            self.run_probe,
            self.handle_result,
            clock=self.clock,
            observer=self.metrics,
            max_concurrency=config.scheduler.max_concurrency,
        )
        # Whether this location can see (docs/probe-points.md): its canaries and its checks.
        self.blind = BlindWatch(
            config.location,
            str(shard),
            config.probe_points,
            self.metrics.points,
            on_change=self._blind_changed,
        )
        self.canaries: Canaries | None = None
        self.points: PointsService | None = None
        self.latest: dict[str, ProbeResult] = {}
        # Where every result goes besides metrics and `latest`: the incident engine and the
        # store once start() opened them. Each is synchronous and never waits.
        self._sinks: list[Callable[[ProbeResult], None]] = []
        self.store: Store | None = None
        self.incidents: IncidentEngine | None = None
        self._maintenance: MaintenanceGauge | None = None
        self._checks: dict[str, CheckSpec] = {}
        # The server (host) each check probes: what blindness is judged on.
        self._servers: dict[str, str] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._scheduler_task: asyncio.Task[None] | None = None
        self._web: Any = None
        self._reload_lock = asyncio.Lock()
        self._queued_reload: asyncio.Task[tuple[bool, str]] | None = None
        self._forgetting: set[asyncio.Task[None]] = set()

    # --- the pipeline -------------------------------------------------------------------

    async def run_probe(self, check: CheckSpec) -> ProbeResult:
        """Probe a check once; a bug in a probe becomes a probe_error result, never a crash."""
        run = ProbeRun(check, self.ctx)
        try:
            return await probe_within_deadline(CHECK_TYPES[check.type].probe, check, self.ctx)
        except Exception as exc:
            log.exception("probe_error", site=check.site, check=check.id, type=check.type)
            detail = f"the monitor failed to run this probe ({type(exc).__name__}); see its log"
            return run.result(Outcome.PROBE_ERROR, detail)

    def handle_result(self, check: CheckSpec, result: ProbeResult) -> None:
        """Send one result on: metrics, latest status, and a log line when something is wrong."""
        previous = self.latest.get(check.key)
        self.latest[check.key] = result
        self.metrics.observe(result)
        self.blind.check_result(result, self._servers.get(check.key))
        for sink in self._sinks:
            sink(result)
        if not result.success:
            log.warning(
                "probe_failed",
                site=result.site,
                check=result.check,
                type=result.type,
                outcome=str(result.outcome),
                detail=result.detail,
                duration_seconds=round(result.duration_seconds, 3),
            )
        elif previous is not None and not previous.success:
            log.info(
                "probe_recovered",
                site=result.site,
                check=result.check,
                type=result.type,
                after=str(previous.outcome),
            )

    def _observe_incident(self, result: ProbeResult) -> None:
        """Hand a result to the incident engine, unless it is a failure of a blind location
        (the monitor's failure, not the site's: it opens nothing and counts in no streak)."""
        assert self.incidents is not None
        if self.blind.blind and not result.success:
            return
        self.incidents.observe(result)

    def _blind_changed(self, blind: bool) -> None:
        if blind and self.incidents is not None:
            self.incidents.forget_streaks()

    def _checks_probed_here(self, config: Config) -> list[CheckSpec]:
        """The checks of `config` this process probes (all of them unless sharded)."""
        return [check for check in config.checks() if self.shard.owns(check.key)]

    async def _apply_checks(self, checks: Iterable[CheckSpec]) -> ScheduleChange:
        """Probe these checks from now on: schedule them, declare their metrics, and forget
        what was kept for the ones removed or changed."""
        wanted = {check.key: check for check in checks}
        change = self.scheduler.set_checks(wanted.values())
        for key in change.removed:
            old = self._checks[key]
            self.metrics.forget(old.site, old.id, old.type)
            await self.ctx.forget(key)
            self.latest.pop(key, None)
        for key in change.changed:
            # What a probe kept (a logged-in session, link verdicts) was made under the old
            # settings: a changed check starts afresh, or a changed login is never tried. A probe
            # running under the old settings still uses (and may store) it: forget once it ends.
            running = self.scheduler.running_task(key)
            if running is None:
                await self.ctx.forget(key)
            else:
                running.add_done_callback(functools.partial(self._forget_later, key))
        for key in (*change.added, *change.changed):
            self.metrics.declare(wanted[key])
        self._checks = wanted
        self._servers = {key: _server(check) for key, check in wanted.items()}
        return change

    def _forget_later(self, key: str, _: object) -> None:
        task = asyncio.create_task(self.ctx.forget(key), name=f"forget {key}")
        self._forgetting.add(task)
        task.add_done_callback(self._forgetting.discard)

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self, *, serve: bool = True, store: bool = True) -> None:
        """Start probing; open the store and serve /metrics and the API unless told not to.

        Raises StoreError when the database cannot be used (a wrong password, a newer schema;
        one that does not answer yet is retried in the background), ListenError when the
        server's address is taken.
        """
        # The parser workers start meanwhile (seconds on a busy machine): only a probe that
        # parses a page waits for them, not the scheduler nor the server.
        self.ctx.parser.start_warming().add_done_callback(_parser_warmed)
        if store:
            await self._open_store()
        await self.http.start()
        await self._apply_checks(self._checks_probed_here(self.config))
        canaries = self.config.probe_points.canaries
        if canaries:
            self.canaries = Canaries(canaries, self.run_probe, self.blind, self.clock)
            self.canaries.start()
        self.metrics.config_reloaded(True, time.time())
        _settle_the_heap(collect=True)
        if serve:
            app = server.make_app(
                registry=self.registry,
                status=self.status,
                ready=self.ready,
                reload=self.reload,
                exposition=self.metrics.exposition_chunks,
                routes=[
                    *server.incident_routes(lambda: self.store, lambda: self.config),
                    *server.points_routes(
                        lambda: self.store, lambda: self.config, lambda: self.blind.blind
                    ),
                    *server.review_routes(lambda: self.store, lambda: self.config),
                    *web_routes(self),
                ],
                api_guard=lambda request: access.api_refusal(request, self.config.server),
            )
            try:
                self._web = await server.start(
                    app, self.config.server.host, self.config.server.port
                )
            except OSError as exc:
                # uvloop's message repeats the address; a resolver error has a negative errno.
                errno = exc.errno or 0
                reason = os.strerror(errno) if errno > 0 else exc.strerror or str(exc)
                listen = self.config.server.listen
                raise ListenError(f"cannot listen on {listen}: {reason}") from None
        self._scheduler_task = asyncio.create_task(self.scheduler.run(), name="scheduler")
        log.info(
            "monitor_started",
            version=__version__,
            checks=len(self._checks),
            listen=self.config.server.listen if serve else None,
            location=self.config.location,
            shard=str(self.shard),
        )

    async def _open_store(self) -> None:
        """Open the store and the incident engine. A database that does not answer at start
        does not stop probing: the store's writer keeps the results (bounded, as in any
        outage) and the database is tried again in the background; once it answers, the kept
        results go through the incidents in their order, then into the database."""
        config = self.config
        self._maintenance = MaintenanceGauge(
            MaintenanceSchedule(config.maintenance, config.timezone),
            [site.id for site in config.sites],
            self.metrics,
            self.clock,
        )
        self._tasks.append(asyncio.create_task(self._maintenance.run(), name="maintenance"))
        self.store = Store.disconnected(config, self.metrics, self.clock)
        self._sinks = [self.store.submit_result]
        try:
            await self._connect_store(self.store)
        except StoreUnreachableError as exc:
            log.warning("store_unreachable_at_start", error=str(exc))
            self._tasks.append(
                asyncio.create_task(self._connect_store_later(self.store), name="store-open")
            )

    async def _connect_store_later(self, store: Store) -> None:
        delay = 1.0
        while True:
            await self.clock.sleep(delay)
            try:
                await self._connect_store(store)
            except StoreUnreachableError as exc:
                delay = min(delay * 2, 30.0)
                log.warning("store_still_unreachable", error=str(exc), retry_in=delay)
            except StoreError as exc:  # it answered, but cannot be used (a newer schema)
                log.error("store_unusable", error=str(exc))
                return
            else:
                return

    async def _connect_store(self, store: Store) -> None:
        """Reach the database, restore incidents left open, then let results flow to both."""
        config = self.config
        await store.connect(
            journal=self._journal(), owner=(config.location, str(self.shard)), release=False
        )
        schedule = MaintenanceSchedule(config.maintenance, config.timezone)
        points = PointsService(
            config, str(self.shard), store, self.metrics.points, self.blind, self.clock
        )
        engine_metrics: IncidentMetrics = self.metrics
        if points.alone:
            names = {site.id: site.name or site.id for site in config.sites}
            engine_metrics = AloneIncidents(self.metrics, self.metrics.points, names)
        incidents = IncidentEngine(
            self._checks_probed_here(config), store, engine_metrics, self.clock, schedule
        )
        left_open = await store.load_open_incidents(config.location)
        restored = incidents.restore(i for i in left_open if self.shard.owns(i.key))
        if restored:
            log.info("incidents_restored", open=restored)
        # No await from here on: no result can slip between the kept ones and the switch.
        self.incidents, self.points = incidents, points
        kept = store.waiting_results()
        for row in kept:
            self._observe_incident(observed(row))
        if kept:
            log.info("store_reachable", results_kept_meanwhile=len(kept))
        self._sinks = [self._observe_incident, store.submit_result]
        store.release_writer()
        self._tasks.append(asyncio.create_task(points.run(), name="points"))

    def _journal(self) -> Path:
        """The file that keeps this process's incident events until they are stored: one per
        location and shard, as each writes only its own checks' incidents."""
        shard = f"{self.shard.index}-of-{self.shard.count}"
        name = f"incident-journal-{self.config.location}-{shard}.jsonl"
        return self.config.storage.data_dir / name

    async def stop(self) -> None:
        """Stop scheduling, let running probes finish (bounded), flush the store, close all.
        `monitor_stopped` is logged whatever fails on the way."""
        cancelled = 0
        try:
            self.scheduler.stop()
            if self._scheduler_task is not None:
                await self._scheduler_task
            cancelled = await self.scheduler.drain(self.config.scheduler.shutdown_grace)
            if self.canaries is not None:
                await self.canaries.stop()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if self.store is not None:
                await self.store.close(timeout=10)
            if self._web is not None:
                await self._web.cleanup()
            await self.ctx.close()
            await self.http.close()
        finally:
            self.ctx.parser.close()  # no parser worker outlives the monitor, whatever failed
            log.info("monitor_stopped", cancelled_probes=cancelled)

    async def reload(self) -> tuple[bool, str]:
        """Load the config file again; a config that fails validation is refused.

        Reloads asked for while another waits its turn share that one (it reads the file after
        all of them asked), so a thousand at once read it twice, not a thousand times.
        """
        if self._queued_reload is None:
            self._queued_reload = asyncio.create_task(self._reload_in_turn(), name="reload")
        return await asyncio.shield(self._queued_reload)

    async def _reload_in_turn(self) -> tuple[bool, str]:
        async with self._reload_lock:
            self._queued_reload = None  # from now on a new request waits for the next turn
            try:
                # Off the loop: a large config takes a while to read, and probes go on.
                new = await asyncio.to_thread(load_config, self.config_path)
            except ConfigError as exc:
                self.metrics.config_reloaded(False, time.time())
                log.error("config_reload_refused", error=str(exc))
                return False, str(exc)
            restart_needed = [
                name
                for name in ("server", "storage", "location", "scheduler")
                if getattr(new, name) != getattr(self.config, name)
            ]
            self.config = new
            change = await self._apply_checks(self._checks_probed_here(new))
            schedule = MaintenanceSchedule(new.maintenance, new.timezone)
            if self._maintenance is not None:
                self._maintenance.reconfigure(schedule, [site.id for site in new.sites])
            if self.incidents is not None:
                self.incidents.reconfigure(self._checks_probed_here(new), schedule)
            self.blind.reconfigure(new.probe_points, self._servers.values())
            if self.canaries is not None:
                self.canaries.reconfigure(new.probe_points.canaries)
            if self.points is not None:
                self.points.reconfigure(new)
            if self.store is not None:
                self.store.reconfigure_in_background(new)
            self.metrics.config_reloaded(True, time.time())
            _settle_the_heap(collect=False)  # probes run: no full collection's pause now
            message = (
                f"config reloaded: {len(change.added)} added, {len(change.removed)} removed, "
                f"{len(change.changed)} changed, {len(change.unchanged)} unchanged"
            )
            if restart_needed:
                message += f"; changes to {', '.join(restart_needed)} take effect on restart"
            log.info("config_reloaded", message=message)
            return True, message

    # --- read side for the HTTP API -----------------------------------------------------

    def status(self) -> list[dict[str, Any]]:
        return [result.to_json() for result in self.latest.values()]

    def ready(self) -> tuple[bool, str]:
        if self._scheduler_task is None or self._scheduler_task.done():
            return False, "scheduler not running"
        if self.store is not None:
            return self.store.ready()
        return True, "ok"


def _settle_the_heap(*, collect: bool) -> None:
    """Take what start-up (or a reload) built out of the garbage collector's sight.

    The checks, their metric series and schedule are hundreds of thousands of objects at 50k
    checks, alive for the whole run; each full collection walked all of them again, stopping
    the loop for a second or more (the scheduler lag's p99 at that size). Frozen, they are
    still freed when no longer referenced; only a cycle among them would outlive a reload.
    At start the garbage is collected first, so none of it is frozen with them.
    """
    if collect:
        gc.collect()
    gc.freeze()


def _parser_warmed(warming: asyncio.Task[None]) -> None:
    if not warming.cancelled() and (error := warming.exception()) is not None:
        # A parser that cannot start shows in the probes that need it.
        log.error("parser_start_failed", error=repr(error))


def _server(check: CheckSpec) -> str:
    """The host a check probes (its `url`'s), or the check itself when it has no URL."""
    url = getattr(check, "url", None)
    host = urlsplit(url).hostname if isinstance(url, str) else None
    return host or check.key


async def serve_forever(runtime: Runtime) -> None:
    """Run until SIGTERM/SIGINT; SIGHUP reloads the config."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    reloads: set[asyncio.Task[tuple[bool, str]]] = set()

    def on_hup() -> None:
        task = asyncio.create_task(runtime.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    try:
        await runtime.start()
        await stopping.wait()
        log.info("monitor_stopping")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        await runtime.stop()


async def check_once(
    config: Config, checks: list[CheckSpec], *, resolver: AbstractResolver | None = None
) -> list[ProbeResult]:
    """Run the given checks once, now, bounded by the configured concurrency."""
    runtime = Runtime(config, resolver=resolver)
    slots = asyncio.Semaphore(config.scheduler.max_concurrency)

    async def one(check: CheckSpec) -> ProbeResult:
        async with slots:
            return await runtime.run_probe(check)

    await runtime.http.start()
    try:
        await runtime.ctx.parser.warm()
        return list(await asyncio.gather(*(one(check) for check in checks)))
    finally:
        await runtime.ctx.close()
        await runtime.http.close()
