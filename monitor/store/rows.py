"""What the writer stores, as rows: a probe result as its `probe_results` row, an incident
event as its `incident_events` and `incidents` rows, and a result row as the journal keeps it.

Encoding only: no batching, no database (that is `writer.py`). Rows are named tuples whose
field names are the table's column names, so a column is read by name (`row.started_at`) and
COPY gets the columns from the same definition.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from datetime import UTC, datetime
from typing import Any, NamedTuple

from monitor.incidents import Incident, IncidentEvent
from monitor.measurements import (
    InteractionMeasurement,
    LinksMeasurement,
    LoginMeasurement,
    Measurement,
)
from monitor.redact import scrub
from monitor.results import Outcome, ProbeResult


class ResultRow(NamedTuple):
    """A `probe_results` row (migrations 0001 and 0007), field for column."""

    id: uuid.UUID
    site: str
    check_id: str
    location: str
    type: str
    started_at: datetime
    duration_seconds: float
    outcome: str
    detail: str
    status_code: int | None
    phases: list[float] | None
    cert_expiry_at: datetime | None
    tls_verified: bool | None
    content_age_seconds: float | None
    newest_item_at: datetime | None
    items: int | None
    data: str | None
    # The measurement figures the report's tables aggregate, as typed columns (0007).
    unanswered: int | None = None
    open_questions: int | None = None
    late_answers: int | None = None
    oldest_unanswered_seconds: float | None = None
    median_response_seconds: float | None = None
    slowest_answer_seconds: float | None = None
    login_seconds: float | None = None
    slow_login: bool | None = None
    # broken link -> why it is broken, as JSON
    broken_link_reasons: str | None = None
    # The grid instant the probe answers (monitor.scheduler.slot_of), for probe points (0008).
    slot: datetime | None = None


RESULT_COLUMNS: tuple[str, ...] = ResultRow._fields
# The measurement figures' columns (0007): the names of the measurement fields they hold.
MEASUREMENT_COLUMNS = RESULT_COLUMNS[RESULT_COLUMNS.index("unanswered") : -1]
# How many columns a monitor journaled before 0007 (its figures are in `data` only) and
# before 0008 (no slot); the columns added since take their defaults.
_JOURNALED_BEFORE = (RESULT_COLUMNS.index("unanswered"), RESULT_COLUMNS.index("slot"))
_TIME_COLUMNS = ("started_at", "cert_expiry_at", "newest_item_at", "slot")


class EventRow(NamedTuple):
    """An `incident_events` row."""

    id: uuid.UUID
    incident_id: uuid.UUID
    kind: str
    at: datetime
    revision: int
    snapshot: str


class IncidentRow(NamedTuple):
    """An `incidents` row, as an `opened` event inserts it."""

    id: uuid.UUID
    site: str
    check_id: str
    location: str
    owner: str
    reason: str
    opened_at: datetime
    resolved_at: datetime | None
    resolution: str
    failures: int
    outcome_counts: str
    first_error: str
    last_error: str
    last_failure_at: datetime
    during_maintenance: bool
    revision: int


class IncidentChange(NamedTuple):
    """What a later event of an incident changes in its `incidents` row."""

    id: uuid.UUID
    reason: str
    resolved_at: datetime | None
    resolution: str
    failures: int
    outcome_counts: str
    last_error: str
    last_failure_at: datetime
    revision: int


class ResultIds:
    """UUIDv7 ids: time-ordered (index locality), unique without asking the database."""

    def __init__(self) -> None:
        # Ids need uniqueness, not secrecy: a fast generator will do.
        self._rng = random.Random()  # noqa: S311

    def make(self, started: datetime) -> uuid.UUID:
        ms = int(started.timestamp() * 1000) & ((1 << 48) - 1)
        rand = self._rng.getrandbits(74)
        value = (
            (ms << 80)
            | (0x7 << 76)
            | ((rand >> 62) << 64)
            | (0b10 << 62)
            | (rand & ((1 << 62) - 1))
        )
        return uuid.UUID(int=value)


def result_row(result: ProbeResult, result_id: uuid.UUID, slot: datetime | None) -> ResultRow:
    """The result as its row; raises what a value that cannot be one raises."""
    r = result
    data: dict[str, Any] = {}
    if r.broken_links is not None:
        data["broken_links"] = list(r.broken_links)
    if r.steps:
        data["steps"] = [
            {
                "name": s.name,
                "duration_seconds": s.duration_seconds,
                "outcome": str(s.outcome),
                "detail": s.detail,
            }
            for s in r.steps
        ]
    measured = r.measurement
    if measured is not None and (figures := measured.to_json()):
        data["extra"] = figures
    return ResultRow(
        id=result_id,
        site=r.site,
        check_id=r.check,
        location=r.location,
        type=r.type,
        started_at=utc(r.started_at),
        duration_seconds=r.duration_seconds,
        outcome=str(r.outcome),
        detail=text(r.detail),
        status_code=r.status_code,
        phases=list(r.phases.as_tuple()) if r.phases is not None else None,
        cert_expiry_at=(
            datetime.fromtimestamp(r.cert_expiry_timestamp, UTC)
            if r.cert_expiry_timestamp is not None
            else None
        ),
        tls_verified=r.tls_verified,
        content_age_seconds=r.content_age_seconds,
        newest_item_at=utc(r.newest_item_at) if r.newest_item_at is not None else None,
        items=r.items,
        data=to_json(data) if data else None,
        **_measurement_columns(measured),
        slot=slot,
    )


def _measurement_columns(measured: Measurement | None) -> dict[str, Any]:
    """The measurement's typed columns (those it has no figure for stay NULL)."""
    if isinstance(measured, InteractionMeasurement):
        return {
            "unanswered": _count(measured.unanswered),
            "open_questions": _count(measured.open_questions),
            "late_answers": _count(measured.late_answers),
            "oldest_unanswered_seconds": _seconds(measured.oldest_unanswered_seconds),
            "median_response_seconds": _seconds(measured.median_response_seconds),
            "slowest_answer_seconds": _seconds(measured.slowest_answer_seconds),
        }
    if isinstance(measured, LoginMeasurement):
        return {
            "login_seconds": _seconds(measured.login_seconds),
            "slow_login": measured.slow_login,
        }
    if isinstance(measured, LinksMeasurement):
        return {"broken_link_reasons": to_json(measured.broken_link_reasons)}
    return {}


def journal_row(row: ResultRow) -> list[Any]:
    """A row as JSON values (uuid and datetimes as text)."""
    return [
        v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, uuid.UUID) else v
        for v in row
    ]


def from_journal_row(values: list[Any]) -> ResultRow | None:
    """The row back from its JSON values; None for one that is not a row of ours."""
    if len(values) in _JOURNALED_BEFORE:
        # Journaled by an older monitor: from before 0007 the report's tables miss that one
        # row's figures (they are in `data`), the row itself is stored whole; it has no slot.
        defaults = ResultRow._field_defaults
        values = [*values, *(defaults[name] for name in RESULT_COLUMNS[len(values) :])]
    if len(values) != len(RESULT_COLUMNS):
        return None
    try:
        row = ResultRow(*values)
        times = {
            name: datetime.fromisoformat(value)
            for name in _TIME_COLUMNS
            if (value := getattr(row, name)) is not None
        }
        return row._replace(id=uuid.UUID(row.id), **times)  # type: ignore[arg-type]
    except (TypeError, ValueError, AttributeError):
        return None


def event_row(event: IncidentEvent) -> EventRow:
    i = event.incident
    return EventRow(
        uuid.UUID(event.id), uuid.UUID(i.id), event.kind, event.at, i.revision, _snapshot(i)
    )


def incident_row(i: Incident) -> IncidentRow:
    return IncidentRow(
        id=uuid.UUID(i.id),
        site=i.site,
        check_id=i.check,
        location=i.location,
        owner=i.owner,
        reason=i.reason,
        opened_at=i.opened_at,
        resolved_at=i.resolved_at,
        resolution=i.resolution,
        failures=i.failures,
        outcome_counts=to_json(dict(i.outcome_counts)),
        first_error=text(i.first_error),
        last_error=text(i.last_error),
        last_failure_at=i.last_failure_at,
        during_maintenance=i.during_maintenance,
        revision=i.revision,
    )


def incident_change(i: Incident) -> IncidentChange:
    return IncidentChange(
        id=uuid.UUID(i.id),
        reason=i.reason,
        resolved_at=i.resolved_at,
        resolution=i.resolution,
        failures=i.failures,
        outcome_counts=to_json(dict(i.outcome_counts)),
        last_error=text(i.last_error),
        last_failure_at=i.last_failure_at,
        revision=i.revision,
    )


def _snapshot(i: Incident) -> str:
    return to_json(i.to_json())


def _count(value: int) -> int | None:
    """A count as the report's tables take it: 0 to 2e9, else NULL (as 0002's SQL read it)."""
    return value if 0 <= value <= 2_000_000_000 else None


def _seconds(value: float | None) -> float | None:
    """Seconds as the report's tables take them: 0 to 1e12, else NULL (NaN included)."""
    return float(value) if value is not None and 0 <= value <= 1e12 else None


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def text(value: str) -> str:
    """Free text as a row holds it: no secret (monitor.redact), no NUL (Postgres text cannot
    hold one; a probe may have read one from a page)."""
    value = scrub(value)
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def to_json(value: Any) -> str:
    """JSON as a row holds it: finite numbers only, no secret, no NUL."""
    try:
        encoded = json.dumps(value, ensure_ascii=False, default=str, allow_nan=False)
    except ValueError:  # NaN or infinity: JSON has no such numbers and Postgres refuses them
        encoded = json.dumps(_finite(value), ensure_ascii=False, default=str)
    return text(encoded).replace("\\u0000", "\ufffd")


def _finite(value: Any) -> Any:
    """The value with every NaN or infinite float replaced by None (JSON null)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def observed(row: ResultRow) -> ProbeResult:
    """What the incident engine reads of a result, back from its row: the check, where and
    when, the outcome and its detail (it takes up the results kept before the database first
    answered, which wait in the writer as rows)."""
    return ProbeResult(
        site=row.site,
        check=row.check_id,
        type=row.type,
        outcome=Outcome(row.outcome),
        started_at=row.started_at,
        duration_seconds=row.duration_seconds,
        detail=row.detail,
        location=row.location,
    )
