"""The report with probe points: three locations that disagree in known slots.

A week of one hourly http check probed from `ct`, `cu` and `cm` (quorum 2), written through the
project's incident engine and store as `monitor run` would, then settled by the migration's own
`monitor_settle`. The ground truth is the table of votes below (`VOTES`); every figure the
report shows is recomputed here from it alone, by the rule's text: a slot counts as failed when
at least the quorum of the locations that voted in it failed (the quorum scaled to the voters
when one is missing or blind), a probe slower than 15 s that opened counts for 站点无法访问
only, fewer failing locations make a suspected failure, listed and never counted. The cases
sit on the rule's boundaries: one location of three (one short), two of three (exactly the
quorum), one of two with a location missing (one short again), two of two, and a blind
location's votes left out.

A second test: with one location, settled or not, the report reads exactly as before.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from monitor.clock import SystemClock
from monitor.config import Config, parse_config
from monitor.report import build_report, parse_period, render
from monitor.results import Outcome, ProbeResult
from monitor.scheduler import next_due
from monitor.store import Store
from tests.history import ReplayClock
from tests.pg import NoGauges, RecordingStoreMetrics, fresh_schema

SHANGHAI = ZoneInfo("Asia/Shanghai")
LOCATIONS = ("ct", "cu", "cm")
QUORUM = 2
HOUR = 3600.0
FIRST_DAY = date(2026, 7, 6)
DAYS = 7
START = datetime(2026, 7, 6, tzinfo=SHANGHAI)
END = START + timedelta(days=DAYS)
# Each location probes a little after the slot, in its own order (distinct opened_at times).
LAG = {"ct": 0.1, "cu": 0.2, "cm": 0.3}
TRANSPORT = {"dns_error", "connect_error", "timeout", "tls_error", "dropout", "http_error"}
SLOW = 20.0  # an ok that took longer than the official 15 s


def config_data(location: str, expected: tuple[str, ...] | None, url: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "location": location,
        "timezone": "Asia/Shanghai",
        "storage": {"database_url": url},
        "defaults": {"failure_threshold": 2, "success_threshold": 1},
        "sites": [
            {
                "id": "portal",
                "name": "门户",
                "kind": "website",
                "owner": "web",
                "checks": [
                    {
                        "id": "home",
                        "type": "http",
                        "url": "https://portal.example/",
                        "interval": "1h",
                        "timeout": "15s",
                    }
                ],
            }
        ],
    }
    if expected is not None:
        data["points"] = {"expected": list(expected), "quorum": QUORUM, "canaries": []}
    return data


def slots() -> list[datetime]:
    """The check's grid instants within the week (the same at every location)."""
    first = next_due("portal/home", HOUR, START.timestamp())
    return [
        datetime.fromtimestamp(first + i * HOUR, UTC)
        for i in range(math.floor((END.timestamp() - first) / HOUR) + 1)
        if first + i * HOUR < END.timestamp()
    ]


# Votes that are not ok: (day index, slot of that day) -> {location: outcome}; `slow` is an ok
# that took SLOW seconds; a location absent from a day in MISSING gives no vote at all.
VOTES: dict[tuple[int, int], dict[str, str]] = {
    # day 0: ct alone, five slots: one of three is one short of the quorum -> suspected.
    **{(0, i): {"ct": "timeout"} for i in range(3, 8)},
    # day 1: ct and cu, exactly the quorum -> confirmed, three slots.
    **{(1, i): {"ct": "connect_error", "cu": "connect_error"} for i in (10, 11, 12)},
    # day 2: all three, two slots -> confirmed.
    (2, 5): {"ct": "timeout", "cu": "timeout", "cm": "timeout"},
    (2, 6): {"ct": "timeout", "cu": "dropout", "cm": "timeout"},
    # day 3: cm missing all day. ct alone: one of two voters, q scaled to 2 -> suspected;
    # ct and cu: two of two -> confirmed.
    (3, 3): {"ct": "timeout"},
    (3, 4): {"ct": "timeout"},
    (3, 8): {"ct": "http_error", "cu": "http_error"},
    (3, 9): {"ct": "http_error", "cu": "http_error"},
    # day 4: two slow pages (opened, after 15 s): unreachable, not a failure; one slow alone.
    (4, 6): {"ct": "slow", "cu": "slow"},
    (4, 7): {"cm": "slow"},
    # day 5: cm blind from slot 0 to 6 (its canaries failed): its failures are left out.
    # Slot 2: ct fails, cm's vote is blind -> one of two -> suspected. Slot 4: ct and cu fail,
    # cm blind -> two of two -> confirmed (no incident: one failure is below the threshold).
    **{(5, i): {"cm": "timeout"} for i in range(6)},
    (5, 2): {"ct": "timeout", "cm": "timeout"},
    (5, 4): {"ct": "timeout", "cu": "timeout", "cm": "timeout"},
}
MISSING = {(3, "cm")}
BLIND_DAY, BLIND_FROM, BLIND_TO = 5, 0, 6  # cm's blind span: slots [0, 6) of day 5


def day_slots(all_slots: list[datetime]) -> dict[tuple[int, int], datetime]:
    """(local day index, n-th slot of that day) -> the slot."""
    out: dict[tuple[int, int], datetime] = {}
    counts: dict[int, int] = {}
    for slot in all_slots:
        day = (slot.astimezone(SHANGHAI).date() - FIRST_DAY).days
        out[(day, counts.get(day, 0))] = slot
        counts[day] = counts.get(day, 0) + 1
    return out


def vote_of(key: tuple[int, int], location: str) -> str | None:
    if (key[0], location) in MISSING:
        return None
    return VOTES.get(key, {}).get(location, "ok")


def blind(key: tuple[int, int], location: str) -> bool:
    return location == "cm" and key[0] == BLIND_DAY and BLIND_FROM <= key[1] < BLIND_TO


def results(grid: dict[tuple[int, int], datetime]) -> Iterator[ProbeResult]:
    for key, slot in sorted(grid.items(), key=lambda kv: kv[1]):
        for location in LOCATIONS:
            vote = vote_of(key, location)
            if vote is None:
                continue
            outcome = "ok" if vote == "slow" else vote
            yield ProbeResult(
                site="portal",
                check="home",
                type="http",
                location=location,
                started_at=slot + timedelta(seconds=LAG[location]),
                duration_seconds=SLOW if vote == "slow" else 0.25,
                outcome=Outcome(outcome),
                detail="" if outcome == "ok" else f"{outcome} at {location}",
            )


@dataclass
class Truth:
    """The figures the rule gives, from VOTES alone."""

    slots: int
    confirmed: int
    unreachable: int
    suspected_slots: list[tuple[int, int]]
    confirmed_reasons: dict[str, int]
    per_location: dict[str, tuple[int, int, int]]  # probes, failures, slow


def truth(grid: dict[tuple[int, int], datetime]) -> Truth:
    slots_n = confirmed = unreachable = 0
    suspected: list[tuple[int, int]] = []
    reasons: dict[str, int] = {}
    per: dict[str, list[int]] = {loc: [0, 0, 0] for loc in LOCATIONS}
    for key in sorted(grid):
        voters = {}
        for location in LOCATIONS:
            vote = vote_of(key, location)
            if vote is None:
                continue
            per[location][0] += 1
            per[location][1] += vote not in ("ok", "slow")
            per[location][2] += vote == "slow"
            if not blind(key, location):
                voters[location] = vote
        if not voters:
            continue
        slots_n += 1
        # The quorum taken over the locations that voted: 2 of 3, scaled to 2 of 2, 1 of 1.
        needed = max(1, math.ceil(QUORUM * len(voters) / len(LOCATIONS)))
        failed = [v for v in voters.values() if v not in ("ok", "slow")]
        unopened = [v for v in voters.values() if v in TRANSPORT or v == "slow"]
        if len(failed) >= needed:
            confirmed += 1
            reason = max(sorted(set(failed)), key=failed.count)
            reasons[reason] = reasons.get(reason, 0) + 1
        elif failed:
            suspected.append(key)
        unreachable += len(unopened) >= needed
    return Truth(
        slots_n,
        confirmed,
        unreachable,
        suspected,
        reasons,
        {loc: (p, f, s) for loc, (p, f, s) in per.items()},
    )


async def write(config: Config, grid: dict[tuple[int, int], datetime], url: str) -> None:
    """The week through the incident engine and the store, heartbeats and cm's blind span
    beside it, then settled by monitor_settle."""
    from monitor.incidents import IncidentEngine
    from monitor.maintenance import MaintenanceSchedule

    store = await Store.open(config, RecordingStoreMetrics(), SystemClock())
    conn = await asyncpg.connect(url)
    try:
        # Every location heartbeats (fresh well past the test): all three are voters.
        for location in LOCATIONS:
            await conn.execute(
                "INSERT INTO probe_points (location, shard, started_at, last_seen_at) "
                "VALUES ($1, '0/1', now(), now() + interval '30 days')",
                location,
            )
        clock = ReplayClock(START)
        engine = IncidentEngine(
            config.checks(),
            store,
            NoGauges(),
            clock,
            MaintenanceSchedule(config.maintenance, config.timezone),
        )
        for result in results(grid):
            clock.at = result.started_at
            engine.observe(result)
            store.submit_result(result)
        assert await store.flush(120)
        await conn.execute(
            "INSERT INTO blind_spans (id, location, shard, started_at, ended_at, reason) "
            "VALUES (gen_random_uuid(), 'cm', '0/1', $1, $2, 'canaries')",
            grid[(BLIND_DAY, BLIND_FROM)],
            grid[(BLIND_DAY, BLIND_TO)],
        )
        await conn.execute("UPDATE points_progress SET settled_to = $1", START - timedelta(days=1))
        assert await conn.fetchval("SELECT monitor_settle(0, 864000, 60)") > 0
    finally:
        await conn.close()
        await store.close()


async def test_three_locations_that_disagree_count_only_what_the_quorum_saw() -> None:
    grid = day_slots(slots())
    expected = truth(grid)
    # The table's cases are where the rule turns (a sanity check of the ground truth itself).
    assert expected.suspected_slots == [
        *((0, i) for i in range(3, 8)),
        (3, 3),
        (3, 4),
        (5, 2),
    ]
    async with fresh_schema() as url:
        config = parse_config(config_data("ct", LOCATIONS, url), "points.yaml")
        await write(config, grid, url)
        period = parse_period("Asia/Shanghai", from_text="2026-07-06", to_text="2026-07-12")
        store = await Store.open(config, RecordingStoreMetrics(), SystemClock())
        try:
            report = await build_report(config, store, period, now=END + timedelta(days=30))
            conn = await asyncpg.connect(url)
            try:
                spans = await conn.fetch(
                    "SELECT opened_at, resolved_at, locations FROM check_incidents "
                    "ORDER BY opened_at"
                )
                own = await conn.fetch(
                    "SELECT location, opened_at, resolved_at FROM incidents ORDER BY opened_at"
                )
            finally:
                await conn.close()
        finally:
            await store.close()
    data = json.loads(render(report, "json", "en"))
    [site] = data["sites"]
    [check] = site["checks"]

    # Which locations took part, and the quorum used.
    assert data["points"]["expected"] == list(LOCATIONS)
    assert data["points"]["quorum"] == QUORUM
    assert data["points"]["locations"] == sorted(LOCATIONS)
    assert [(b["location"], b["reason"]) for b in data["points"]["blind_spans"]] == [
        ("cm", "canaries")
    ]

    # Availability from confirmed failures only.
    availability = check["availability"]
    assert (availability["probes"], availability["failures"]) == (
        expected.slots,
        expected.confirmed,
    )
    assert availability["outcomes"] == {
        **expected.confirmed_reasons,
        "ok": expected.slots - expected.confirmed,
    }
    assert site["availability"]["ratio"] == (expected.slots - expected.confirmed) / expected.slots

    # The official 7-day ratio: slots the quorum could not open within 15 s, over slots.
    [verdict] = [v for v in site["verdicts"] if v["indicator"] == "site_unreachable"]
    evidence = verdict["evidence"]
    # (`failures` holds the slow ones too; `slow` says how many of them there were.)
    assert (evidence["probes"], evidence["failures"], evidence["slow"]) == (
        expected.slots,
        expected.unreachable,
        expected.unreachable - expected.confirmed,
    )
    assert evidence["ratio"] == expected.unreachable / expected.slots
    # Each location's own figures beside it: raw, blind failures and all; cm missed a whole
    # day, so no 7-day window of its own can be judged.
    by_location = {loc["location"]: loc for loc in check["locations"]}
    for location, (probes, failures, slow) in expected.per_location.items():
        mine = by_location[location]
        assert (mine["probes"], mine["failures"]) == (probes, failures), location
        if (3, location) in {(d, loc) for d, loc in MISSING}:
            assert mine["unreachable_ratio"] is None
        else:
            assert mine["unreachable_ratio"] == (failures + slow) / probes, location

    # Suspected failures listed as runs, never counted.
    suspected = [
        (s["first_slot"], s["last_slot"], s["slots"], s["locations"]) for s in site["suspected"]
    ]

    def shown(key: tuple[int, int]) -> str:
        return grid[key].astimezone(SHANGHAI).isoformat()

    assert suspected == [
        (shown((0, 3)), shown((0, 7)), 5, ["ct"]),
        (shown((3, 3)), shown((3, 4)), 2, ["ct"]),
        (shown((5, 2)), shown((5, 2)), 1, ["ct"]),
    ]

    # Incidents: each confirmed one once, naming the locations that agreed; each location's
    # incident no quorum confirmed is listed as suspected and not counted.
    incidents = site["incidents"]
    confirmed = [i for i in incidents if not i["suspected"]]
    assert [sorted(i["confirmed_by"]) for i in confirmed] == [
        ["ct", "cu"],
        ["cm", "ct", "cu"],
        ["ct", "cu"],
    ]
    assert [sorted(json.loads(r["locations"])) for r in spans] == [
        sorted(i["confirmed_by"]) for i in confirmed
    ]
    suspected_incidents = [(i["location"], i["opened_at"]) for i in incidents if i["suspected"]]

    def probed(key: tuple[int, int], location: str) -> str:
        return (grid[key] + timedelta(seconds=LAG[location])).astimezone(SHANGHAI).isoformat()

    # (cm's blind failures open an incident here because this replay's engine does not know
    # of the span; listed as suspected, it still counts nowhere.)
    assert suspected_incidents == [
        ("ct", probed((0, 3), "ct")),
        ("ct", probed((3, 3), "ct")),
        ("cm", probed((5, 0), "cm")),
    ]
    # Per location the incidents stay as today: day 0 ct; day 1 ct, cu; day 2 all three;
    # day 3 ct, then ct and cu; day 5 cm.
    assert len(own) == 1 + 2 + 3 + 1 + 2 + 1
    assert len(incidents) == len(own) - (2 + 3 + 2) + 3
    summary = site["incident_summary"]
    assert summary["count"] == 3
    assert summary["downtime_seconds"] == sum(
        (r["resolved_at"] - r["opened_at"]).total_seconds() for r in spans
    )

    # Every key of this JSON, the probe points' included, is in the documented schema.
    doc = (Path(__file__).resolve().parent.parent / "docs" / "report-schema.md").read_text()
    documented = set(re.findall(r"`([a-z_0-9]+)`", doc))
    outcomes = {str(o) for o in Outcome}

    def keys(node: object) -> set[str]:
        if isinstance(node, dict):
            return {k for k in node if k not in outcomes}.union(*map(keys, node.values()))
        if isinstance(node, list):
            return set().union(*map(keys, node))
        return set()

    assert keys(data) - documented == set()

    # The words: the page names the locations, the quorum and the suspected failures.
    md = render(report, "md", "zh")
    assert isinstance(md, bytes)
    text = md.decode()
    assert "ct、cu、cm" in text and "至少2个监测点" in text
    assert "疑似不连通" in text and "监测点盲区" in text
    assert "已确认（cm、ct、cu）" in text and "疑似不连通（ct），不计入" in text
    assert "各监测点访问情况" in text
    html = render(report, "html", "en")
    assert isinstance(html, bytes) and b"suspected (cm), not counted" in html
    incidents_csv = render(report, "csv", "en", table="incidents")
    assert isinstance(incidents_csv, bytes)
    lines = incidents_csv.decode("utf-8-sig").splitlines()
    assert lines[0].endswith(",confirmation")
    assert sum("suspected (" in line for line in lines) == 3
    assert sum("confirmed (" in line for line in lines) == 3


async def test_one_location_reads_as_before_probe_points() -> None:
    """With one location (no points section) the report, settled or not, is byte for byte the
    one of the rollups alone: no locations, no quorum, no suspected list."""
    grid = day_slots(slots())
    async with fresh_schema() as url:
        config = parse_config(config_data("ct", None, url), "one.yaml")
        store = await Store.open(config, RecordingStoreMetrics(), SystemClock())
        clock = ReplayClock(START)
        from monitor.incidents import IncidentEngine
        from monitor.maintenance import MaintenanceSchedule

        engine = IncidentEngine(
            config.checks(),
            store,
            NoGauges(),
            clock,
            MaintenanceSchedule(config.maintenance, config.timezone),
        )
        for result in results(grid):
            if result.location != "ct":
                continue
            clock.at = result.started_at
            engine.observe(result)
            store.submit_result(result)
        assert await store.flush(120)
        period = parse_period("Asia/Shanghai", from_text="2026-07-06", to_text="2026-07-12")
        now = END + timedelta(days=30)
        try:
            # Before settling: the rollups alone, as before probe points.
            before = {
                (fmt, lang): render(await build_report(config, store, period, now=now), fmt, lang)
                for fmt in ("md", "json")
                for lang in ("zh", "en")
            }
            conn = await asyncpg.connect(url)
            try:
                await conn.execute(
                    "UPDATE points_progress SET settled_to = $1", START - timedelta(days=1)
                )
                assert await conn.fetchval("SELECT monitor_settle(0, 864000, 60)") > 0
                assert await conn.fetchval("SELECT sum(slots) FROM check_hourly") > 0
            finally:
                await conn.close()
            report = await build_report(config, store, period, now=now)
            after = {(fmt, lang): render(report, fmt, lang) for fmt, lang in before}
        finally:
            await store.close()
    assert report.points is None
    for key, rendered in before.items():
        assert after[key] == rendered, key
    data = json.loads(after[("json", "en")])
    assert data["points"] is None
    assert data["sites"][0]["suspected"] == []
    assert "locations" not in data["sites"][0]["checks"][0]
