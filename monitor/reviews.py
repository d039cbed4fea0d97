"""Manual reviews (人工核查): a person's recorded judgement on a verdict or a finding.

Inspection contracts require a person to clear false findings (a column that rightly had no
news for a year, a question that was not a valid question, an outage caused by the monitor's own
network) and to confirm what the machine only suspects (a security finding). A review names the
site, a check or a rule (an indicator such as `security`), the span it covers, the decision and
the reason; the store keeps it with who and when, and never deletes it: withdrawing is a new
record. The report applies the reviews in force to its verdicts and shows each one beside the
evidence it changed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

__all__ = [
    "Decision",
    "NewReview",
    "Review",
    "ReviewError",
    "ReviewNotFoundError",
    "Withdrawal",
    "check_withdrawal",
    "parse_decision",
    "parse_span",
]

# A reason is a sentence or a paragraph; a name is a name.
MAX_REASON = 2000
MAX_NAME = 200


class ReviewError(ValueError):
    """A review that cannot be recorded as given (one line, naming the field)."""


class ReviewNotFoundError(ReviewError):
    """No review in force has that id (never recorded, or already withdrawn)."""


class Decision(enum.StrEnum):
    """What a review decides about the findings of its site, check or rule in its span."""

    # Not counted: the finding is the monitor's mistake, or rightly so (a veto becomes exempt).
    EXEMPT = "exempt"
    # Real: a suspected finding (a security finding) becomes a veto.
    CONFIRM = "confirm"
    # Wrong: the finding is rejected (a suspected finding is dropped).
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class NewReview:
    """A review as a person gives it, checked before it is stored."""

    site: str
    check: str | None
    rule: str | None
    start: datetime
    end: datetime
    decision: Decision
    reason: str
    reviewer: str

    def __post_init__(self) -> None:
        if not self.site.strip():
            raise ReviewError("review: site is required")
        if (self.check is None) == (self.rule is None):
            raise ReviewError("review: give either check or rule")
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ReviewError("review: span times need a time zone")
        if self.end <= self.start:
            raise ReviewError("review: the span ends before it starts")
        _text("reason", self.reason, MAX_REASON)
        _text("reviewer", self.reviewer, MAX_NAME)
        for name, value in (("site", self.site), ("check", self.check), ("rule", self.rule)):
            if value is not None:
                _text(name, value, MAX_NAME)

    @classmethod
    def from_json(cls, data: Any, zone: tzinfo) -> NewReview:
        """A review from the API's JSON: site, check or rule, start, end, decision, reason,
        reviewer; times are ISO dates or times (a bare `end` date is included whole)."""
        if not isinstance(data, dict):
            raise ReviewError("review: expected a JSON object")
        data = _canonical(data)
        unknown = set(data) - {
            "site",
            "check",
            "rule",
            "start",
            "end",
            "decision",
            "reason",
            "reviewer",
        }
        if unknown:
            raise ReviewError(f"review: unknown field {sorted(unknown)[0]!r}")
        for name in ("site", "start", "end", "decision", "reason", "reviewer"):
            if not isinstance(data.get(name), str):
                raise ReviewError(f"review: {name} is required (a string)")
        for name in ("check", "rule"):
            if data.get(name) is not None and not isinstance(data[name], str):
                raise ReviewError(f"review: {name} must be a string")
        start, end = parse_span(data["start"], data["end"], zone)
        return NewReview(  # a new review whichever class it is asked on
            site=data["site"],
            check=data.get("check"),
            rule=data.get("rule"),
            start=start,
            end=end,
            decision=parse_decision(data["decision"]),
            reason=data["reason"],
            reviewer=data["reviewer"],
        )


# Other names people (and other tools) give the fields.
_ALIASES = {"from": "start", "to": "end", "by": "reviewer"}


def _canonical(data: dict[str, Any]) -> dict[str, Any]:
    """The API's fields under their own names: aliases mapped, a `span` object
    ({start, end}) or string (`2026-07-01/2026-07-31`) split."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = _ALIASES.get(key, key)
        if name in out:
            raise ReviewError(f"review: {name} given twice")
        out[name] = value
    span = out.pop("span", None)
    if span is not None:
        if isinstance(span, str) and span.count("/") == 1:
            span = dict(zip(("start", "end"), span.split("/"), strict=True))
        if not isinstance(span, dict) or set(span) != {"start", "end"}:
            raise ReviewError("review: span is {start, end} or 'START/END'")
        if "start" in out or "end" in out:
            raise ReviewError("review: give span or start and end, not both")
        out.update(span)
    return out


def _text(name: str, value: str, limit: int) -> None:
    if not value.strip():
        raise ReviewError(f"review: {name} is required")
    if len(value) > limit:
        raise ReviewError(f"review: {name} is longer than {limit} characters")
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise ReviewError(f"review: {name} holds control characters")


def check_withdrawal(reason: str, reviewer: str) -> None:
    """A withdrawal needs its reason and who withdraws, like a review."""
    _text("reason", reason, MAX_REASON)
    _text("reviewer", reviewer, MAX_NAME)


def parse_decision(text: str) -> Decision:
    try:
        return Decision(text.strip().lower())
    except ValueError:
        choices = ", ".join(d.value for d in Decision)
        raise ReviewError(f"review: invalid decision {text!r} (use {choices})") from None


def _moment(text: str, zone: tzinfo, *, end: bool) -> datetime:
    value = text.strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        which = "end" if end else "start"
        raise ReviewError(
            f"review: invalid {which} {text!r} (use a date like 2026-07-01 or 2026-07-01T08:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    if end and len(value) == 10:  # a bare date: the whole day is in the span
        moment += timedelta(days=1)
    return moment


def parse_span(start: str, end: str, zone: tzinfo) -> tuple[datetime, datetime]:
    """A review's span from two dates or ISO times (in `zone` without an offset); a bare end
    date includes that whole day, as the report's --to does."""
    first, last = _moment(start, zone, end=False), _moment(end, zone, end=True)
    if last <= first:
        raise ReviewError("review: the span ends before it starts")
    return first, last


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """The record that withdrew a review: who, when, why."""

    id: int
    reason: str
    reviewer: str
    created_at: datetime

    def to_json(self, zone: tzinfo) -> dict[str, Any]:
        return {
            "id": self.id,
            "reason": self.reason,
            "reviewer": self.reviewer,
            "created_at": self.created_at.astimezone(zone).isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Review(NewReview):
    """A stored review: the review as given (its fields are NewReview's, checked the same
    way), its number and when it was recorded, and its withdrawal if it was withdrawn."""

    id: int = field(kw_only=True)
    created_at: datetime = field(kw_only=True)
    withdrawn: Withdrawal | None = field(default=None, kw_only=True)

    @property
    def in_force(self) -> bool:
        return self.withdrawn is None

    @property
    def subject(self) -> str:
        """What it reviews: `check home-security` or `rule security`."""
        return f"check {self.check}" if self.check is not None else f"rule {self.rule}"

    def covers(self, start: datetime, end: datetime) -> bool:
        """Whether the review's span overlaps [start, end)."""
        return self.start < end and start < self.end

    def to_json(self, zone: tzinfo) -> dict[str, Any]:
        return {
            "id": self.id,
            "site": self.site,
            "check": self.check,
            "rule": self.rule,
            "start": self.start.astimezone(zone).isoformat(),
            "end": self.end.astimezone(zone).isoformat(),
            "decision": str(self.decision),
            "reason": self.reason,
            "reviewer": self.reviewer,
            "created_at": self.created_at.astimezone(zone).isoformat(),
            "in_force": self.in_force,
            "withdrawn": self.withdrawn.to_json(zone) if self.withdrawn else None,
        }
