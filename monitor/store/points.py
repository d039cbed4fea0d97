"""Probe points in PostgreSQL: heartbeats, blind spans, settling slots, confirming incidents.

Every location runs `refresh()` every `points.refresh`: one transaction that says it is alive
(and whether it sees), stores its blind spans, settles the slots whose results are all in
(only one location at a time does; see monitor_settle in migration 0008) and confirms or
resolves the check-level incidents whose voters changed without an incident event (a location
gone missing or blind). The trigger on `incidents` confirms at once when an incident opens or
resolves. What the locations see together is read back as a `PointsView`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

import asyncpg

Reader = asyncpg.Connection | asyncpg.Pool | asyncpg.pool.PoolConnectionProxy


@dataclass(frozen=True, slots=True)
class BlindSpan:
    """A span in which a location could not see; `ended_at` None while it lasts."""

    id: str
    location: str
    shard: str
    started_at: datetime
    reason: str  # canaries | checks
    detail: dict[str, Any]
    ended_at: datetime | None = None

    def to_json(self, zone: tzinfo | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "location": self.location,
            "shard": self.shard,
            "reason": self.reason,
            "started_at": _show(self.started_at, zone),
            "ended_at": _show(self.ended_at, zone),
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class Agreement:
    """One location's part in a check-level incident: its own incident and reason."""

    location: str
    reason: str
    incident_id: str
    opened_at: datetime | None
    first_error: str


@dataclass(frozen=True, slots=True)
class CheckIncident:
    """An incident of a check as a whole: opened when a quorum of locations agreed."""

    id: str
    site: str
    check: str
    owner: str
    reason: str
    opened_at: datetime
    resolved_at: datetime | None
    quorum: int
    reporting: int
    expected: tuple[str, ...]
    locations: tuple[Agreement, ...]
    during_maintenance: bool = False

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    def to_json(self, zone: tzinfo | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "site": self.site,
            "check": self.check,
            "owner": self.owner,
            "reason": self.reason,
            "state": "confirmed",
            "open": self.is_open,
            "opened_at": _show(self.opened_at, zone),
            "resolved_at": _show(self.resolved_at, zone),
            "quorum": self.quorum,
            "reporting": self.reporting,
            "expected": list(self.expected),
            "locations": [
                {
                    "location": a.location,
                    "reason": a.reason,
                    "incident_id": a.incident_id,
                    "opened_at": _show(a.opened_at, zone),
                    "first_error": a.first_error,
                }
                for a in self.locations
            ],
            "during_maintenance": self.during_maintenance,
        }


@dataclass(frozen=True, slots=True)
class PointState:
    """How one expected location stands: up, blind or missing."""

    location: str
    state: str  # up | blind | missing
    last_seen_at: datetime | None
    blind_since: datetime | None

    def to_json(self, zone: tzinfo | None = None) -> dict[str, Any]:
        return {
            "location": self.location,
            "state": self.state,
            "last_seen_at": _show(self.last_seen_at, zone),
            "blind_since": _show(self.blind_since, zone),
        }


@dataclass(frozen=True, slots=True)
class Suspected:
    """A location's open incident that no quorum confirms."""

    site: str
    check: str
    location: str
    owner: str
    reason: str
    opened_at: datetime
    incident_id: str

    def to_json(self, zone: tzinfo | None = None) -> dict[str, Any]:
        return {
            "site": self.site,
            "check": self.check,
            "location": self.location,
            "owner": self.owner,
            "reason": self.reason,
            "state": "suspected",
            "opened_at": _show(self.opened_at, zone),
            "incident_id": self.incident_id,
        }


@dataclass(frozen=True, slots=True)
class PointsView:
    """What the locations see together, as PostgreSQL holds it now."""

    expected: tuple[str, ...] = ()
    quorum: int = 1
    points: tuple[PointState, ...] = ()
    confirmed: tuple[CheckIncident, ...] = ()
    suspected: tuple[Suspected, ...] = ()
    blind_spans: tuple[BlindSpan, ...] = field(default=())
    settled: int = 0  # slots this refresh decided (-1: another location was settling)


def _show(moment: datetime | None, zone: tzinfo | None) -> str | None:
    if moment is None:
        return None
    return (moment.astimezone(zone) if zone is not None else moment).isoformat()


_HEARTBEAT = """
INSERT INTO probe_points (location, shard, started_at, last_seen_at, blind, blind_since)
VALUES ($1, $2, $3, now(), $4, $5)
ON CONFLICT (location, shard) DO UPDATE SET started_at = excluded.started_at,
    last_seen_at = now(), blind = excluded.blind, blind_since = excluded.blind_since
"""
_SPAN = """
INSERT INTO blind_spans (id, location, shard, started_at, ended_at, reason, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
ON CONFLICT (id) DO UPDATE SET ended_at = excluded.ended_at, detail = excluded.detail
"""
# Checks whose voters may have changed without an incident event: any with an incident open.
_RECONFIRM = """
SELECT monitor_confirm(site, check_id, now())
FROM (SELECT site, check_id FROM incidents WHERE resolved_at IS NULL
      UNION SELECT site, check_id FROM check_incidents WHERE resolved_at IS NULL) c
ORDER BY site, check_id
"""
_POINTS = """
SELECT c.expected, c.quorum, c.missing_after_s, p.location, max(p.last_seen_at),
       bool_or(p.blind AND p.last_seen_at > now() - make_interval(secs => c.missing_after_s)),
       min(p.blind_since) FILTER (WHERE p.blind),
       max(p.last_seen_at) > now() - make_interval(secs => c.missing_after_s)
FROM points_config c
LEFT JOIN probe_points p ON p.location = ANY (c.expected)
WHERE c.id = 1
GROUP BY c.expected, c.quorum, c.missing_after_s, p.location
"""
_CHECK_INCIDENT_COLUMNS = """
id::text, site, check_id, owner, reason, opened_at, resolved_at, quorum, reporting, expected,
locations, during_maintenance
"""
_OPEN_CHECK_INCIDENTS = f"""
SELECT {_CHECK_INCIDENT_COLUMNS} FROM check_incidents WHERE resolved_at IS NULL
ORDER BY opened_at, site, check_id
"""  # noqa: S608 - a constant
_SUSPECTED = """
SELECT i.site, i.check_id, i.location, i.owner, i.reason, i.opened_at, i.id::text
FROM incidents i
WHERE i.resolved_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM check_incidents c
                  WHERE c.site = i.site AND c.check_id = i.check_id AND c.resolved_at IS NULL)
ORDER BY i.site, i.check_id, i.location
"""
_RECENT_SPANS = """
SELECT id::text, location, shard, started_at, reason, detail, ended_at FROM blind_spans
WHERE ended_at IS NULL OR ended_at > now() - interval '1 day'
ORDER BY started_at DESC LIMIT 100
"""


async def refresh(
    conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy,
    *,
    location: str,
    shard: str,
    started_at: datetime,
    blind_since: datetime | None,
    spans: Sequence[BlindSpan],
    settle_wait: float,
    settle_span: float,
    early: float,
) -> PointsView:
    """One round for this location and shard (see the module docstring), in one transaction."""
    async with conn.transaction():
        await conn.execute(
            _HEARTBEAT, location, shard, started_at, blind_since is not None, blind_since
        )
        if spans:
            await conn.executemany(
                _SPAN,
                [
                    (
                        uuid.UUID(s.id),
                        s.location,
                        s.shard,
                        s.started_at,
                        s.ended_at,
                        s.reason,
                        json.dumps(s.detail, ensure_ascii=False),
                    )
                    for s in spans
                ],
            )
        settled = await conn.fetchval(
            "SELECT monitor_settle($1, $2, $3)", settle_wait, settle_span, early
        )
        await conn.execute(_RECONFIRM)
    view = await read_view(conn)
    return PointsView(
        view.expected, view.quorum, view.points, view.confirmed, view.suspected,
        view.blind_spans, int(settled or 0),
    )  # fmt: skip


async def read_view(db: Reader) -> PointsView:
    """The expected locations and their state, open confirmed and suspected incidents."""
    rows = await db.fetch(_POINTS)
    if not rows:
        return PointsView()
    expected = tuple(rows[0][0])
    states = {}
    for row in rows:
        if row[3] is None:
            continue
        fresh = bool(row[7])
        state = "missing" if not fresh else "blind" if row[5] else "up"
        states[row[3]] = PointState(row[3], state, row[4], row[6] if row[5] else None)
    points = tuple(states.get(loc, PointState(loc, "missing", None, None)) for loc in expected)
    confirmed = tuple(_check_incident(r) for r in await db.fetch(_OPEN_CHECK_INCIDENTS))
    suspected = tuple(
        Suspected(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in await db.fetch(_SUSPECTED)
    )
    spans = tuple(
        BlindSpan(r[0], r[1], r[2], r[3], r[4], _loads(r[5]), r[6])
        for r in await db.fetch(_RECENT_SPANS)
    )
    return PointsView(expected, int(rows[0][1]), points, confirmed, suspected, spans)


async def list_check_incidents(
    db: Reader,
    *,
    open_only: bool = False,
    since: datetime | None = None,
    site: str | None = None,
    check: str | None = None,
    limit: int = 1000,
) -> list[CheckIncident]:
    """Check-level incidents, newest first."""
    query = f"""
        SELECT {_CHECK_INCIDENT_COLUMNS} FROM check_incidents
        WHERE ($1::boolean IS FALSE OR resolved_at IS NULL)
          AND ($2::timestamptz IS NULL OR coalesce(resolved_at, 'infinity') >= $2)
          AND ($3::text IS NULL OR site = $3) AND ($4::text IS NULL OR check_id = $4)
        ORDER BY opened_at DESC LIMIT $5
    """  # noqa: S608 - constants only
    rows = await db.fetch(query, open_only, since, site, check, limit)
    return [_check_incident(r) for r in rows]


def _check_incident(row: Any) -> CheckIncident:
    agreed = _loads(row[10])
    locations = tuple(
        Agreement(
            location=name,
            reason=str(part.get("reason", "")),
            incident_id=str(part.get("incident_id", "")),
            opened_at=_parse_time(part.get("opened_at")),
            first_error=str(part.get("first_error", "")),
        )
        for name, part in sorted(agreed.items())
    )
    return CheckIncident(
        id=row[0],
        site=row[1],
        check=row[2],
        owner=row[3],
        reason=row[4],
        opened_at=row[5],
        resolved_at=row[6],
        quorum=row[7],
        reporting=row[8],
        expected=tuple(row[9]),
        locations=locations,
        during_maintenance=row[11],
    )


def _loads(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        loaded = json.loads(value)
        return loaded if isinstance(loaded, dict) else {}
    return value if isinstance(value, dict) else {}


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
