"""Probe points in the real PostgreSQL: the quorum that confirms a check-level incident and
decides each slot, with locations missing, blind, an even number of them, or one alone.

The rows are written as each location's writer writes them (incidents, probe_results with
their slot, heartbeats); the decisions are the migration's own functions, read back.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from monitor.config import effective_quorum
from monitor.store.migrations import migrate
from monitor.store.points import _RECONFIRM as RECONFIRM
from monitor.store.points import BlindSpan, read_view, refresh

NOW = datetime.now(UTC).replace(microsecond=0)
# A minute-grid slot well in the past, so every result of it is in, and ten minutes into its
# hour, so the few slots a test writes after it fall in one hourly rollup row whatever the
# time of day (30 minutes back from 06:26 gave 05:56, and its slots spread over two hours).
SLOT = NOW.replace(minute=10, second=0) - timedelta(hours=1)


async def setup(conn: asyncpg.Connection, expected: list[str], quorum: int | None = None) -> None:
    await migrate(conn)
    await conn.execute(
        "INSERT INTO points_config (id, expected, quorum, missing_after_s) VALUES (1, $1, $2, 90)",
        expected,
        quorum or len(expected) // 2 + 1,
    )


async def heartbeat(
    conn: asyncpg.Connection, location: str, *, age: float = 0.0, blind: bool = False
) -> None:
    await conn.execute(
        """INSERT INTO probe_points (location, shard, started_at, last_seen_at, blind)
           VALUES ($1, '0/1', now(), now() - make_interval(secs => $2), $3)
           ON CONFLICT (location, shard) DO UPDATE SET
               last_seen_at = excluded.last_seen_at, blind = excluded.blind""",
        location,
        age,
        blind,
    )


async def open_incident(
    conn: asyncpg.Connection, location: str, reason: str = "timeout", check: str = "home"
) -> uuid.UUID:
    incident = uuid.uuid4()
    await conn.execute(
        """INSERT INTO incidents (id, site, check_id, location, owner, reason, opened_at,
               failures, outcome_counts, first_error, last_failure_at, revision)
           VALUES ($1, 'portal', $2, $3, 'portal-team', $4, $5, 3, '{}', $6, $5, 1)""",
        incident,
        check,
        location,
        reason,
        NOW - timedelta(minutes=5),
        f"{reason} from {location}",
    )
    return incident


async def resolve(conn: asyncpg.Connection, incident: uuid.UUID, at: datetime = NOW) -> None:
    await conn.execute(
        "UPDATE incidents SET resolved_at = $2, revision = revision + 1 WHERE id = $1",
        incident,
        at,
    )


async def check_incidents(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT reason, opened_at, resolved_at, quorum, reporting, locations FROM check_incidents "
        "ORDER BY opened_at"
    )


async def vote(
    conn: asyncpg.Connection, location: str, outcome: str, slot: datetime = SLOT,
    check: str = "home", duration: float = 0.2,
) -> None:  # fmt: skip
    await conn.execute(
        """INSERT INTO probe_results (id, site, check_id, location, type, started_at,
               duration_seconds, outcome, slot)
           VALUES ($1, 'portal', $2, $3, 'http', $4, $5, $6, $7)""",
        uuid.uuid4(),
        check,
        location,
        slot + timedelta(seconds=0.3),
        duration,
        outcome,
        slot,
    )


async def settle(conn: asyncpg.Connection) -> int:
    await conn.execute("UPDATE points_progress SET settled_to = $1", SLOT - timedelta(hours=1))
    decided: int = await conn.fetchval("SELECT monitor_settle(60, 86400, 5)")
    return decided


async def hourly(conn: asyncpg.Connection, check: str = "home") -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT slots, confirmed, suspected, unreachable, blind_votes, missing_votes, "
        "confirmed_outcomes FROM check_hourly WHERE site = 'portal' AND check_id = $1",
        check,
    )
    assert row is not None
    return row


def test_effective_quorum_is_taken_over_the_locations_that_reported() -> None:
    """2 of 3: with one missing 2 of 2, with two missing 1 of 1; 3 of 4: 2 of 2 left, 3 of 3."""
    assert [effective_quorum(2, 3, r) for r in (3, 2, 1)] == [2, 2, 1]
    assert [effective_quorum(3, 4, r) for r in (4, 3, 2, 1)] == [3, 3, 2, 1]
    assert effective_quorum(1, 1, 1) == 1


async def test_sql_quorum_is_the_same_rule_as_python(
    pg_conn: asyncpg.Connection,
) -> None:
    """monitor_quorum() in the database gives effective_quorum() for every small case."""
    await migrate(pg_conn)
    for expected in range(1, 8):
        for quorum in range(1, expected + 1):
            for reporting in range(0, expected + 1):
                got = await pg_conn.fetchval(
                    "SELECT monitor_quorum($1, $2, $3)", quorum, expected, reporting
                )
                assert got == effective_quorum(quorum, expected, reporting), (
                    quorum, expected, reporting,
                )  # fmt: skip


async def test_one_location_of_three_failing_is_suspected_two_confirm(
    pg_conn: asyncpg.Connection,
) -> None:
    """One open incident of three locations opens no check incident; the second location's
    opens it, naming both with their reasons; the third joins; it resolves once, when only one
    is left, at that location's resolution time."""
    await setup(pg_conn, ["ct", "cu", "cm"])
    for location in ("ct", "cu", "cm"):
        await heartbeat(pg_conn, location)
    ct = await open_incident(pg_conn, "ct", "timeout")
    assert await check_incidents(pg_conn) == []
    view = await read_view(pg_conn)
    assert [(s.location, s.reason) for s in view.suspected] == [("ct", "timeout")]
    cu = await open_incident(pg_conn, "cu", "connect_error")
    [incident] = await check_incidents(pg_conn)
    assert incident["resolved_at"] is None and incident["quorum"] == 2
    assert incident["reporting"] == 3
    agreed = json.loads(incident["locations"])
    assert {k: v["reason"] for k, v in agreed.items()} == {"ct": "timeout", "cu": "connect_error"}
    cm = await open_incident(pg_conn, "cm", "timeout")
    [incident] = await check_incidents(pg_conn)
    assert set(json.loads(incident["locations"])) == {"ct", "cu", "cm"}
    view = await read_view(pg_conn)
    assert view.suspected == () and len(view.confirmed) == 1
    await resolve(pg_conn, ct, NOW - timedelta(minutes=2))
    [incident] = await check_incidents(pg_conn)
    assert incident["resolved_at"] is None  # two of three still fail
    await resolve(pg_conn, cu, NOW - timedelta(minutes=1))
    [incident] = await check_incidents(pg_conn)
    assert incident["resolved_at"] == NOW - timedelta(minutes=1)
    await resolve(pg_conn, cm)
    assert len(await check_incidents(pg_conn)) == 1  # resolved once, not reopened


async def test_a_missing_location_leaves_the_quorum_to_those_that_report(
    pg_conn: asyncpg.Connection,
) -> None:
    """Three expected, two missing (no heartbeat for longer than missing_after): the one left
    is the quorum, so its incident is confirmed; an incident of a missing location never
    counts."""
    await setup(pg_conn, ["ct", "cu", "cm"])
    await heartbeat(pg_conn, "ct")
    await heartbeat(pg_conn, "cu", age=600)
    await open_incident(pg_conn, "cu")  # left open by a location that died
    assert await check_incidents(pg_conn) == []
    view = await read_view(pg_conn)
    assert {p.location: p.state for p in view.points} == {
        "ct": "up", "cu": "missing", "cm": "missing",
    }  # fmt: skip
    await open_incident(pg_conn, "ct")
    [incident] = await check_incidents(pg_conn)
    assert incident["quorum"] == 1 and incident["reporting"] == 1
    assert set(json.loads(incident["locations"])) == {"ct"}


async def test_two_of_four_is_suspected_three_of_four_confirmed(
    pg_conn: asyncpg.Connection,
) -> None:
    """An even number of locations: the majority of four is three, so a two-two split is
    suspected."""
    await setup(pg_conn, ["a", "b", "c", "d"])
    for location in "abcd":
        await heartbeat(pg_conn, location)
    await open_incident(pg_conn, "a")
    await open_incident(pg_conn, "b")
    assert await check_incidents(pg_conn) == []
    await open_incident(pg_conn, "c")
    [incident] = await check_incidents(pg_conn)
    assert incident["quorum"] == 3


async def test_one_location_alone_confirms_its_own_incidents(
    pg_conn: asyncpg.Connection,
) -> None:
    """With one expected location every incident of it is confirmed, and resolves with it."""
    await setup(pg_conn, ["default"])
    await heartbeat(pg_conn, "default")
    incident = await open_incident(pg_conn, "default", "http_error")
    [row] = await check_incidents(pg_conn)
    assert row["reason"] == "http_error" and row["quorum"] == 1
    await resolve(pg_conn, incident)
    [row] = await check_incidents(pg_conn)
    assert row["resolved_at"] == NOW


async def test_a_blind_location_does_not_vote_and_going_blind_resolves(
    pg_conn: asyncpg.Connection,
) -> None:
    """Two of three confirm; one of them turns blind: the re-confirmation every refresh runs
    resolves the check incident (one failing of the two that see is short of the 2 needed)."""
    await setup(pg_conn, ["ct", "cu", "cm"])
    for location in ("ct", "cu", "cm"):
        await heartbeat(pg_conn, location)
    await open_incident(pg_conn, "ct")
    await open_incident(pg_conn, "cu")
    assert len(await check_incidents(pg_conn)) == 1
    await heartbeat(pg_conn, "cu", blind=True)
    await pg_conn.execute(RECONFIRM)
    [row] = await check_incidents(pg_conn)
    assert row["resolved_at"] is not None


async def test_slots_are_confirmed_suspected_or_ok_by_the_quorum_of_their_voters(
    pg_conn: asyncpg.Connection,
) -> None:
    """Slot by slot (ground truth written beside): two of three fail -> confirmed; one ->
    suspected; one of two voters (a location missing) -> suspected; a blind location's vote
    is left out; none fail -> ok. The hourly rollup counts each slot once, and only the
    confirmed count as unreachable."""
    await setup(pg_conn, ["ct", "cu", "cm"])
    slots = [SLOT + timedelta(minutes=i) for i in range(5)]
    votes = [
        {"ct": "timeout", "cu": "timeout", "cm": "ok"},  # confirmed (timeout)
        {"ct": "timeout", "cu": "ok", "cm": "ok"},  # suspected
        {"ct": "connect_error", "cu": "ok"},  # cm missing: 1 of 2 needed 2 -> suspected
        {"ct": "ok", "cu": "ok", "cm": "ok"},  # ok
        {"ct": "timeout", "cu": "timeout", "cm": "timeout"},  # cm blind here: 2 of 2 confirmed
    ]
    for slot, by_location in zip(slots, votes, strict=True):
        for location, outcome in by_location.items():
            await vote(pg_conn, location, outcome, slot)
    await vote(pg_conn, "other", "timeout", slots[1])  # not expected: never votes
    span_start = slots[4]
    await pg_conn.execute(
        "INSERT INTO blind_spans (id, location, shard, started_at, ended_at, reason) "
        "VALUES ($1, 'cm', '0/1', $2, $3, 'canaries')",
        uuid.uuid4(),
        span_start,
        span_start + timedelta(seconds=30),
    )
    assert await settle(pg_conn) == 5
    states = {
        r["slot"]: (r["state"], r["reason"], r["quorum"], r["reporting"])
        for r in await pg_conn.fetch("SELECT * FROM check_slots")
    }
    assert states == {
        slots[0]: ("confirmed", "timeout", 2, 3),
        slots[1]: ("suspected", "timeout", 2, 3),
        slots[2]: ("suspected", "connect_error", 2, 2),
        slots[4]: ("confirmed", "timeout", 2, 2),
    }
    row = await hourly(pg_conn)
    assert (row["slots"], row["confirmed"], row["suspected"], row["unreachable"]) == (5, 2, 2, 2)
    assert (row["blind_votes"], row["missing_votes"]) == (1, 1)
    names = await pg_conn.fetchval("SELECT names FROM rollup_outcomes")
    assert row["confirmed_outcomes"][names.index("timeout")] == 2
    assert sum(row["confirmed_outcomes"]) == 2
    # Settling again decides nothing twice.
    assert await pg_conn.fetchval("SELECT monitor_settle(60, 86400, 5)") == 0
    assert (await hourly(pg_conn))["slots"] == 5


async def test_one_location_settles_its_own_slots_and_blind_slots_do_not_count(
    pg_conn: asyncpg.Connection,
) -> None:
    """One location: each failure is confirmed (quorum 1 of 1), except in its blind span,
    where the slot has no vote at all and is left out of the ratio."""
    await setup(pg_conn, ["solo"])
    await vote(pg_conn, "solo", "http_error", SLOT)
    await vote(pg_conn, "solo", "timeout", SLOT + timedelta(minutes=1))
    await pg_conn.execute(
        "INSERT INTO blind_spans (id, location, shard, started_at, reason) "
        "VALUES ($1, 'solo', '0/1', $2, 'checks')",
        uuid.uuid4(),
        SLOT + timedelta(seconds=50),
    )
    await settle(pg_conn)
    row = await hourly(pg_conn)
    assert (row["slots"], row["confirmed"], row["unreachable"], row["blind_votes"]) == (1, 1, 1, 1)


async def test_slow_ok_votes_of_a_quorum_are_unreachable_not_failed(
    pg_conn: asyncpg.Connection,
) -> None:
    """Two of three locations waited more than 15 s for a page that did open: the slot is
    unreachable under the official rule (站点无法访问) but no failure; one slow one is not."""
    await setup(pg_conn, ["ct", "cu", "cm"])
    for location, duration in (("ct", 16.0), ("cu", 15.5), ("cm", 1.0)):
        await vote(pg_conn, location, "ok", SLOT, duration=duration)
    for location, duration in (("ct", 16.0), ("cu", 1.0), ("cm", 1.0)):
        await vote(pg_conn, location, "ok", SLOT + timedelta(minutes=1), duration=duration)
    await settle(pg_conn)
    row = await hourly(pg_conn)
    assert (row["slots"], row["confirmed"], row["unreachable"]) == (2, 0, 1)


async def test_refresh_heartbeats_stores_spans_settles_and_reads_back(
    pg_conn: asyncpg.Connection,
) -> None:
    """One refresh round: the heartbeat says blind, the span is stored and updated by id, and
    the view names the location blind."""
    await setup(pg_conn, ["ct", "cu"])
    span = BlindSpan(str(uuid.uuid4()), "ct", "0/1", NOW, "canaries", {"canaries": {"a": "x"}})
    view = await refresh(
        pg_conn, location="ct", shard="0/1", started_at=NOW, blind_since=NOW, spans=[span],
        settle_wait=60, settle_span=3600, early=3,
    )  # fmt: skip
    assert {p.location: p.state for p in view.points} == {"ct": "blind", "cu": "missing"}
    assert [s.id for s in view.blind_spans] == [span.id]
    ended = BlindSpan(span.id, "ct", "0/1", NOW, "canaries", {}, NOW + timedelta(seconds=40))
    view = await refresh(
        pg_conn, location="ct", shard="0/1", started_at=NOW, blind_since=None, spans=[ended],
        settle_wait=60, settle_span=3600, early=3,
    )  # fmt: skip
    assert {p.location: p.state for p in view.points}["ct"] == "up"
    assert view.blind_spans[0].ended_at == NOW + timedelta(seconds=40)


async def test_only_one_location_settles_at_a_time(
    pg_url: str,
) -> None:
    """While one location's transaction settles, another's call skips (-1) instead of waiting
    or deciding a slot twice."""
    first = await asyncpg.connect(pg_url)
    second = await asyncpg.connect(pg_url)
    try:
        await setup(first, ["ct"])
        await vote(first, "ct", "timeout")
        async with first.transaction():
            await first.execute("UPDATE points_progress SET settled_to = $1", SLOT)
            assert await first.fetchval("SELECT monitor_settle(60, 86400, 5)") == 1
            assert await second.fetchval("SELECT monitor_settle(60, 86400, 5)") == -1
        assert await second.fetchval("SELECT monitor_settle(60, 86400, 5)") == 0
        assert await second.fetchval("SELECT sum(slots) FROM check_hourly") == 1
    finally:
        await first.close()
        await second.close()
