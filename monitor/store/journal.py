"""What the database has not taken yet, in a small local file that outlives the process.

Incidents may not be lost in a crash during a database outage. Every incident event the writer
takes is appended to the journal, one JSON line each, at once; results are appended from the
moment the database stops answering (those waiting then, and each new one, up to a bound:
past it a crash loses the newest, as the buffer would). Once the writer has stored everything
it holds, the journal is emptied. At start the store takes up what a journal holds before the
incident engine reads the open incidents back: events are stored at once (inserted by id,
applied by revision), results go ahead of new ones (inserted by id: one stored before the crash
counts once). So an incident opened or resolved during an outage is neither lost nor opened
twice after SIGKILL.

A line is written with one `write()` and no fsync: it survives the process being killed (the
page cache is the kernel's), not a power cut. A line torn by a crash mid-write is skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from monitor.incidents import Incident, IncidentEvent

__all__ = ["Journal"]

log = structlog.get_logger(__name__)

_TIMES = frozenset(f.name for f in fields(Incident) if "datetime" in str(f.type))


class Journal:
    """An append-only file of incident events and results, emptied once they are stored."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._failed = False
        # Whether the file may hold something (so emptying an empty journal costs nothing).
        self._dirty = path.exists() and path.stat().st_size > 0

    def append_event(self, event: IncidentEvent) -> None:
        """Add one incident event."""
        self._write([{"event": _encode_event(event)}])

    def append_results(self, rows: Sequence[list[Any]]) -> None:
        """Add results, as JSON rows of the writer's making."""
        if rows:
            self._write([{"result": row} for row in rows])

    def _write(self, entries: list[dict[str, Any]]) -> None:
        """Append lines. A disk that refuses is logged once: probing goes on regardless."""
        data = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries).encode()
        try:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.write(self._fd, data)
        except OSError as exc:
            if not self._failed:
                log.error("journal_unwritable", path=str(self.path), error=str(exc))
            self._failed = True
            return
        self._failed = False
        self._dirty = True

    def read(self) -> tuple[list[IncidentEvent], list[list[Any]]]:
        """The events and the results the journal holds, each in order (a torn or unreadable
        line is skipped)."""
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return [], []
        events, records = [], []
        for number, line in enumerate(lines, 1):
            try:
                entry = json.loads(line)
                if "event" in entry:
                    events.append(_decode_event(entry["event"]))
                elif isinstance(entry["result"], list):
                    records.append(entry["result"])
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("journal_line_skipped", line=number, error=str(exc))
        return events, records

    def clear(self) -> None:
        """Empty the journal: every event in it is stored."""
        if not self._dirty:
            return
        try:
            if self._fd is not None:
                os.ftruncate(self._fd, 0)
            else:
                self.path.write_bytes(b"")
        except OSError as exc:
            log.error("journal_unwritable", path=str(self.path), error=str(exc))
            return
        self._dirty = False

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _encode_event(event: IncidentEvent) -> dict[str, Any]:
    incident: dict[str, Any] = {}
    for f in fields(Incident):
        value = getattr(event.incident, f.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif f.name == "outcome_counts":
            value = dict(value)
        incident[f.name] = value
    return {"id": event.id, "kind": event.kind, "at": event.at.isoformat(), "incident": incident}


def _decode_event(data: dict[str, Any]) -> IncidentEvent:
    incident = dict(data["incident"])
    for name in _TIMES:
        if incident.get(name) is not None:
            incident[name] = datetime.fromisoformat(incident[name])
    if data["kind"] not in ("opened", "updated", "resolved"):
        raise ValueError(f"unknown event kind {data['kind']!r}")
    return IncidentEvent(
        kind=data["kind"],
        at=datetime.fromisoformat(data["at"]),
        incident=Incident(**incident),
        id=data["id"],
    )
