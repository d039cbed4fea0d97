"""Incident events not yet in the database, in a small local file that outlives the process.

Results may be lost in a crash during a database outage (bounded, counted); incidents may not.
Every incident event the writer takes is appended to the journal, one JSON line each, before
anything else happens to it; once the writer has stored every event it holds, the journal is
emptied. At start the store writes what a journal holds (events are idempotent: inserted by
id, applied by revision) before the incident engine reads the open incidents, so an incident
opened or resolved during an outage is neither lost nor opened twice after SIGKILL.

A line is written with one `write()` and no fsync: it survives the process being killed (the
page cache is the kernel's), not a power cut. A line torn by a crash mid-write is skipped.
"""

from __future__ import annotations

import json
import os
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
    """An append-only file of incident events, emptied once they are all stored."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._failed = False
        # Whether the file may hold events (so emptying an empty journal costs nothing).
        self._dirty = path.exists() and path.stat().st_size > 0

    def append(self, event: IncidentEvent) -> None:
        """Add one event. A disk that refuses is logged once: probing goes on regardless."""
        line = (json.dumps(_encode(event), ensure_ascii=False) + "\n").encode("utf-8")
        try:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.write(self._fd, line)
        except OSError as exc:
            if not self._failed:
                log.error("incident_journal_unwritable", path=str(self.path), error=str(exc))
            self._failed = True
            return
        self._failed = False
        self._dirty = True

    def read(self) -> list[IncidentEvent]:
        """The events the journal holds, in order (a torn or unreadable line is skipped)."""
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        events = []
        for number, line in enumerate(lines, 1):
            try:
                events.append(_decode(json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("incident_journal_line_skipped", line=number, error=str(exc))
        return events

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
            log.error("incident_journal_unwritable", path=str(self.path), error=str(exc))
            return
        self._dirty = False

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _encode(event: IncidentEvent) -> dict[str, Any]:
    incident: dict[str, Any] = {}
    for f in fields(Incident):
        value = getattr(event.incident, f.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif f.name == "outcome_counts":
            value = dict(value)
        incident[f.name] = value
    return {"id": event.id, "kind": event.kind, "at": event.at.isoformat(), "incident": incident}


def _decode(data: dict[str, Any]) -> IncidentEvent:
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
