"""Probe points on a real network: three `monitor run` locations in network namespaces of
their own probe a target in another, all writing to one PostgreSQL; Prometheus and
Alertmanager (Debian's) page through the project's rules and routes.

The namespaces are made by the test (`ip netns`, as root) and joined only to each other by
veth pairs with addresses from 198.18.0.0/15 (the range reserved for such test networks):

    location ct ──veth── target (198.18.0.10:80)      location ct ──veth── canaries
    location cu ──veth──   "                           location cu ──veth──  (198.18.0.20:80)
    location cm ──veth──   "                           location cm ──veth──   "

No namespace has a link or a route to the host's network: nothing leaves the machine. What
crosses between a namespace and the host does so through Unix sockets (socat), never a
network: each monitor reaches PostgreSQL through a socket the test forwards to 127.0.0.1:5432,
and Prometheus (on the host's loopback) scrapes each monitor through a socket forwarded into
its namespace. A link is cut by setting its veth down.

Scenes, in order: one location's link cut (its failures suspected, no confirmed incident, no
page, no confirmed or unreachable slot), the target cut (a confirmed incident naming all
three locations, one page, one recovery), one location's canaries cut (it is blind: MonitorBlind
pages monitor-ops, its failures open no incident, its votes in the span are left out), and a
location SIGKILLed while a confirmed incident is open (it resolves once).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest
import yaml

from tests.pg import fresh_schema, server_url
from tests.poll import wait_until
from tests.stack import (
    RULES_DIR,
    ProcessGroup,
    SmtpSink,
    Webhook,
    alertmanager_config,
    free_port,
    process_group,
    prom_query,
    start_alertmanager,
    start_prometheus,
)

LOCATIONS = ("ct", "cu", "cm")
TARGET = "198.18.0.10"
CANARY = "198.18.0.20"
SITE, CHECK, OWNER = "np-portal", "home", "petrochem-it"


def _namespaces_unavailable() -> str | None:
    """Why network namespaces cannot be made here (None: they can)."""
    if shutil.which("ip") is None or shutil.which("socat") is None:
        return "needs iproute2 (ip) and socat"
    if os.geteuid() != 0:
        return "needs root to make network namespaces (ip netns)"
    name = f"ptprobe{uuid.uuid4().hex[:6]}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "delete", name], capture_output=True)
    return None


_WHY_NOT = _namespaces_unavailable()
pytestmark = pytest.mark.skipif(_WHY_NOT is not None, reason=_WHY_NOT or "")


def ip(*argv: str, netns: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    done = subprocess.run([*prefix, "ip", *argv], capture_output=True, text=True)
    assert done.returncode == 0, f"ip {' '.join(argv)} (netns {netns}): {done.stderr}"


@dataclass
class Network:
    """The namespaces and veth pairs of one test; `cut`/`mend` set a link's veth down/up."""

    tag: str

    def ns(self, role: str) -> str:
        return f"pt{self.tag}-{role}"

    def link(self, role: str, location: str) -> str:
        """The location-side interface of its link to `role` (t: target, c: canaries)."""
        return f"pt{self.tag}{location}{role}"

    def peer(self, role: str, location: str) -> str:
        return f"pt{self.tag}{role}{location}"

    def make(self) -> None:
        for role in ("t", "c", *LOCATIONS):
            ip("netns", "add", self.ns(role))
            ip("link", "set", "lo", "up", netns=self.ns(role))
        ip("addr", "add", f"{TARGET}/32", "dev", "lo", netns=self.ns("t"))
        ip("addr", "add", f"{CANARY}/32", "dev", "lo", netns=self.ns("c"))
        for i, location in enumerate(LOCATIONS):
            for role, subnet, address in (("t", 1, TARGET), ("c", 2, CANARY)):
                near, far = self.link(role, location), self.peer(role, location)
                ip("link", "add", near, "type", "veth", "peer", "name", far)
                ip("link", "set", near, "netns", self.ns(location))
                ip("link", "set", far, "netns", self.ns(role))
                base = 4 * (i + 1)
                ip("addr", "add", f"198.18.{subnet}.{base + 1}/30", "dev", far, netns=self.ns(role))
                ip("addr", "add", f"198.18.{subnet}.{base + 2}/30", "dev", near,
                   netns=self.ns(location))  # fmt: skip
                ip("link", "set", far, "up", netns=self.ns(role))
                ip("link", "set", near, "up", netns=self.ns(location))
                ip("route", "add", f"{address}/32", "via", f"198.18.{subnet}.{base + 1}",
                   netns=self.ns(location))  # fmt: skip

    def delete(self) -> None:
        for role in ("t", "c", *LOCATIONS):
            subprocess.run(["ip", "netns", "delete", self.ns(role)], capture_output=True)

    def cut(self, role: str, location: str) -> None:
        ip("link", "set", self.link(role, location), "down", netns=self.ns(location))

    def mend(self, role: str, location: str) -> None:
        ip("link", "set", self.link(role, location), "up", netns=self.ns(location))
        base = 4 * (LOCATIONS.index(location) + 1)
        subnet, address = (1, TARGET) if role == "t" else (2, CANARY)
        # The route through a link that went down went with it.
        ip("route", "replace", f"{address}/32", "via", f"198.18.{subnet}.{base + 1}",
           netns=self.ns(location))  # fmt: skip

    def cut_target(self) -> None:
        """The target's side of every link down: the locations' probes get no answer."""
        for location in LOCATIONS:
            ip("link", "set", self.peer("t", location), "down", netns=self.ns("t"))

    def mend_target(self) -> None:
        for location in LOCATIONS:
            ip("link", "set", self.peer("t", location), "up", netns=self.ns("t"))


@contextlib.contextmanager
def network() -> Iterator[Network]:
    net = Network(uuid.uuid4().hex[:4])
    try:
        net.make()
        yield net
    finally:
        net.delete()


def unix_url(url: str, socket_dir: Path) -> str:
    """The database URL through the Unix socket `socket_dir/.s.PGSQL.5432` (same user,
    database and search_path)."""
    parts = urlsplit(url)
    auth = parts.netloc.rpartition("@")[0]
    query = f"{parts.query}&" if parts.query else ""
    query += urlencode({"host": str(socket_dir)})
    return urlunsplit(parts._replace(netloc=f"{auth}@", query=query))


def monitor_config(location: str, database_url: str, data_dir: Path) -> dict[str, Any]:
    return {
        "defaults": {"interval": "1s", "timeout": "800ms", "failure_threshold": 2,
                     "success_threshold": 2},
        "storage": {"database_url": database_url, "data_dir": str(data_dir), "flush_interval":
                    "200ms"},
        "server": {"listen": "127.0.0.1:9108"},
        "scheduler": {"shutdown_grace": "2s"},
        "location": location,
        "points": {
            "expected": list(LOCATIONS),
            "missing_after": "4s",
            "settle_after": "2s",
            "refresh": "500ms",
            "canaries": [{"id": "net", "url": f"http://{CANARY}/", "interval": "1s",
                          "timeout": "800ms"}],
            "canary_failures": 2,
        },
        "sites": [{
            "id": SITE, "name": "石化离退休干部局网站", "owner": OWNER,
            "checks": [{"id": CHECK, "type": "http", "url": f"http://{TARGET}/",
                        "expect": {"body_contains": "np-portal-home"}}],
        }],
    }  # fmt: skip


@dataclass
class Stack:
    net: Network
    group: ProcessGroup
    db: asyncpg.Connection
    http: aiohttp.ClientSession
    prometheus: str
    webhook: Webhook
    monitors: dict[str, Any]
    ports: dict[str, int]

    async def q(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        try:
            return await self.db.fetch(sql, *args)
        except asyncpg.UndefinedTableError:  # the monitors have not migrated the schema yet
            return []

    async def until(self, what: str, probe: Any, timeout: float = 40.0) -> Any:
        return await wait_until(what, probe, timeout=timeout, interval=0.3, watch=self.group)

    async def open_incidents(self, location: str) -> list[asyncpg.Record]:
        return await self.q(
            "SELECT * FROM incidents WHERE location = $1 AND resolved_at IS NULL", location
        )

    async def check_incidents(self) -> list[asyncpg.Record]:
        return await self.q("SELECT * FROM check_incidents ORDER BY opened_at")

    async def alerts(self, name: str) -> list[dict[str, Any]]:
        return await prom_query(self.http, self.prometheus, f'ALERTS{{alertname="{name}",'
                                'alertstate="firing"}')  # fmt: skip

    def pages(self, path: str, alert: str, status: str) -> list[dict[str, Any]]:
        out = []
        for note in self.webhook.received:
            if note.path != path:
                continue
            for a in note.body["alerts"]:
                if a["labels"].get("alertname") == alert and a["status"] == status:
                    out.append(a)
        return out

    async def settled_past(self, moment: Any) -> bool:
        done = await self.db.fetchval("SELECT settled_to FROM points_progress")
        return done is not None and done > moment

    async def now(self) -> Any:
        return await self.db.fetchval("SELECT now()")


@contextlib.asynccontextmanager
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    webhook, smtp = Webhook(), SmtpSink()
    await webhook.start()
    await smtp.start()
    sockets = tmp_path / "sockets"
    sockets.mkdir()
    os.chmod(sockets, 0o777)
    pg = urlsplit(server_url())
    try:
        with network() as net:
            async with (
                fresh_schema() as url,
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
                process_group(tmp_path) as group,
            ):
                # The one way to PostgreSQL from the namespaces: a Unix socket, forwarded here.
                group.start("pg-socket", [
                    "socat", f"UNIX-LISTEN:{sockets}/.s.PGSQL.5432,fork,mode=777",
                    f"TCP:{pg.hostname or '127.0.0.1'}:{pg.port or 5432}",
                ])  # fmt: skip
                ports: dict[str, int] = {}
                for role, text in (("t", "np-portal-home"), ("c", "canary")):
                    root = tmp_path / f"www-{role}"
                    root.mkdir()
                    (root / "index.html").write_text(f"<html><body>{text}</body></html>")
                    address = TARGET if role == "t" else CANARY
                    group.start(f"www-{role}", [
                        "ip", "netns", "exec", net.ns(role), sys.executable, "-m", "http.server",
                        "80", "--bind", address, "--directory", str(root),
                    ])  # fmt: skip
                monitors = {}
                for location in LOCATIONS:
                    config = monitor_config(location, unix_url(url, sockets), tmp_path / location)
                    path = tmp_path / f"{location}.yaml"
                    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
                    monitors[location] = group.start(location, [
                        "ip", "netns", "exec", net.ns(location), sys.executable, "-m", "monitor",
                        "run", "-c", str(path),
                    ])  # fmt: skip
                    # Its /metrics, to Prometheus on the host, through a socket.
                    sock = sockets / f"metrics-{location}.sock"
                    group.start(f"metrics-in-{location}", [
                        "ip", "netns", "exec", net.ns(location), "socat",
                        f"UNIX-LISTEN:{sock},fork,mode=777", "TCP:127.0.0.1:9108",
                    ])  # fmt: skip
                    ports[location] = free_port()
                    group.start(f"metrics-out-{location}", [
                        "socat", f"TCP-LISTEN:{ports[location]},bind=127.0.0.1,fork,reuseaddr",
                        f"UNIX-CONNECT:{sock}",
                    ])  # fmt: skip
                _, am_port = await start_alertmanager(
                    group, http, alertmanager_config(webhook.port, smtp.port)
                )
                prometheus = await start_prometheus(group, http, {
                    "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                               "evaluation_interval": "1s"},
                    "rule_files": [str(RULES_DIR / "*.yml")],
                    "scrape_configs": [{"job_name": "monitor", "static_configs": [
                        {"targets": [f"127.0.0.1:{p}" for p in ports.values()]}]}],
                    "alerting": {"alertmanagers": [
                        {"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
                })  # fmt: skip
                db = await asyncpg.connect(url)
                try:
                    yield Stack(net, group, db, http, prometheus, webhook, monitors, ports)
                finally:
                    await db.close()
    finally:
        await webhook.stop()
        await smtp.stop()


async def all_up(s: Stack) -> bool:
    """Every location heartbeats and sees, and its probes of the target succeed."""
    rows = await s.q(
        "SELECT location FROM probe_points WHERE last_seen_at > now() - interval '3 seconds' "
        "AND NOT blind"
    )
    if {r["location"] for r in rows} != set(LOCATIONS):
        return False
    ok = await s.q(
        "SELECT DISTINCT location FROM probe_results WHERE outcome = 'ok' "
        "AND started_at > now() - interval '2 seconds'"
    )
    return {r["location"] for r in ok} == set(LOCATIONS)


async def test_locations_confirm_suspect_and_are_not_believed_when_blind(tmp_path: Path) -> None:
    """On a real network of namespaces: one location's cut link is suspected (no confirmed
    incident, no page, no confirmed or unreachable slot); the target cut is a confirmed
    incident naming all three, paged once and resolved once; a location whose canaries are
    cut is blind (MonitorBlind pages monitor-ops, no incident of it, its votes left out); a
    location SIGKILLed while a confirmed incident is open leaves it to resolve once."""
    async with stack(tmp_path) as s:
        await s.until("three locations up and seeing", lambda: all_up(s), timeout=90)
        await s.until("SiteDown and MonitorBlind known to Prometheus", lambda: _rules_loaded(s))

        # 1. One location's link to the target is cut: suspected, never confirmed.
        cut_at = await s.now()
        s.net.cut("t", "cm")
        await s.until("cm's own incident", lambda: _nonempty(s.open_incidents("cm")))
        suspected = await s.until("cm's incident shown as suspected", lambda: _series(
            s, 'monitor_suspected_incident_open{location="cm"}'))  # fmt: skip
        assert suspected[0]["metric"]["site"] == SITE
        await asyncio.sleep(4)  # several evaluations and group waits of Prometheus/Alertmanager
        assert await s.check_incidents() == []
        assert await s.alerts("SiteDown") == []
        assert s.pages(f"/alerts/{OWNER}", "SiteDown", "firing") == []
        s.net.mend("t", "cm")
        mended_at = await s.now()
        await s.until("cm's incident resolved", lambda: _empty(s.open_incidents("cm")))
        await s.until("the cut's slots settled", lambda: s.settled_past(mended_at))
        slots = await s.q(
            "SELECT state, votes FROM check_slots WHERE slot BETWEEN $1 AND $2", cut_at, mended_at
        )
        assert slots and {r["state"] for r in slots} == {"suspected"}
        assert all(json.loads(r["votes"])["cm"] != "ok" for r in slots)
        hourly = await s.q("SELECT sum(confirmed) c, sum(unreachable) u, sum(suspected) s "
                           "FROM check_hourly")  # fmt: skip
        assert (hourly[0]["c"], hourly[0]["u"]) == (0, 0) and hourly[0]["s"] >= 2
        failures = await s.db.fetchval(
            "SELECT sum(failures) FROM rollups_hourly WHERE location = 'cm'"
        )
        assert failures >= 2  # cm's own figures keep what it saw

        # 2. The target is cut: confirmed by all three, paged once, resolved once.
        s.net.cut_target()
        incident = await s.until("a confirmed incident naming all three locations",
                                 lambda: _confirmed_by(s, set(LOCATIONS)))  # fmt: skip
        agreed = json.loads(incident["locations"])
        assert all(agreed[loc]["reason"] in ("timeout", "connect_error") for loc in LOCATIONS)
        await s.until("SiteDown paged", lambda: _pages(s, "SiteDown", "firing"), timeout=30)
        s.net.mend_target()
        await s.until("the check incident resolved", lambda: _all_resolved(s))
        await s.until("the recovery delivered", lambda: _pages(s, "SiteDown", "resolved"))
        assert len(s.pages(f"/alerts/{OWNER}", "SiteDown", "firing")) == 1
        assert len(await s.check_incidents()) == 1

        # 3. cu's canaries are cut, then its target link: it is blind, and not believed.
        await s.until("all up again", lambda: all_up(s))
        s.net.cut("c", "cu")
        span = await s.until("cu blind", lambda: _blind_span(s, "cu"))
        assert span["reason"] == "canaries" and "net" in json.loads(span["detail"])["canaries"]
        await s.until("MonitorBlind pages monitor-ops",
                      lambda: _pages(s, "MonitorBlind", "firing", "/alerts/monitor-ops"),
                      timeout=30)  # fmt: skip
        s.net.cut("t", "cu")
        blind_cut = await s.now()
        await asyncio.sleep(4)  # four probes of the target fail at cu
        assert await s.open_incidents("cu") == []
        s.net.mend("t", "cu")
        s.net.mend("c", "cu")
        seen_at = await s.now()
        await s.until("cu sees again", lambda: _blind_span(s, "cu", ended=True))
        await s.until("its span's slots settled", lambda: s.settled_past(seen_at))
        votes = await s.q("SELECT votes FROM check_slots WHERE slot BETWEEN $1 AND $2",
                          blind_cut, seen_at)  # fmt: skip
        assert all(json.loads(r["votes"]).get("cu", "blind") == "blind" for r in votes)
        blind_votes = await s.db.fetchval("SELECT sum(blind_votes) FROM check_hourly")
        assert blind_votes >= 3
        assert await s.db.fetchval("SELECT sum(confirmed) FROM check_hourly") >= 1  # scene 2
        assert len(await s.check_incidents()) == 1

        # 4. A location is SIGKILLed while a confirmed incident is open: it resolves once.
        await s.until("all up again", lambda: all_up(s))
        s.net.cut_target()
        await s.until("confirmed again", lambda: _confirmed_by(s, set(LOCATIONS)))
        killed = s.monitors["ct"]
        os.killpg(killed.popen.pid, signal.SIGKILL)
        killed.popen.wait()
        s.group.processes.remove(killed)
        s.net.mend_target()
        await s.until("the second check incident resolved", lambda: _all_resolved(s))
        await asyncio.sleep(3)
        rows = await s.check_incidents()
        assert len(rows) == 2 and all(r["resolved_at"] is not None for r in rows)
        assert len(await s.open_incidents("ct")) == 1  # left open by the killed location
        await s.until("ct missing", lambda: _missing(s, "ct"))
        assert len(await s.check_incidents()) == 2


async def _rules_loaded(s: Stack) -> bool:
    async with s.http.get(f"{s.prometheus}/api/v1/rules") as response:
        body = await response.json()
    names = {r["name"] for g in body["data"]["groups"] for r in g["rules"]}
    return {"SiteDown", "MonitorBlind", "monitor:confirmed_incident_open"} <= names


async def _nonempty(rows: Any) -> Any:
    return (await rows) or None


async def _empty(rows: Any) -> bool:
    return not await rows


async def _series(s: Stack, expr: str) -> Any:
    return (await prom_query(s.http, s.prometheus, f"{expr} == 1")) or None


async def _confirmed_by(s: Stack, locations: set[str]) -> asyncpg.Record | None:
    rows = await s.q("SELECT * FROM check_incidents WHERE resolved_at IS NULL")
    if rows and set(json.loads(rows[0]["locations"])) == locations:
        return rows[0]
    return None


async def _all_resolved(s: Stack) -> bool:
    rows = await s.check_incidents()
    return bool(rows) and all(r["resolved_at"] is not None for r in rows)


async def _pages(s: Stack, alert: str, status: str, path: str = f"/alerts/{OWNER}") -> bool:
    return bool(s.pages(path, alert, status))


async def _blind_span(s: Stack, location: str, ended: bool = False) -> asyncpg.Record | None:
    rows = await s.q(
        "SELECT * FROM blind_spans WHERE location = $1 AND (ended_at IS NOT NULL) = $2",
        location,
        ended,
    )
    return rows[0] if rows else None


async def _missing(s: Stack, location: str) -> bool:
    return bool(await _series(s, f'monitor_location_missing{{point="{location}"}}'))
