"""What a check type measures beyond the fields every result has: one frozen class per type.

A result carries at most one (`ProbeResult.measurement`). Each field's name is its JSON key,
in `monitor check --json` and in the stored row's `data.extra`, so the names are written here
once: readers use the attributes (a renamed field breaks at type-check time), and the figures
the report's SQL aggregates are also typed columns the store writer fills from them (migration
0007). Keys stay as they were before these classes, so rows stored earlier read the same.
A field that is None does not apply to this result and is left out of the JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Literal, Self

from monitor.redact import scrub_value

__all__ = [
    "FeedMeasurement",
    "FreshnessMeasurement",
    "InteractionMeasurement",
    "LinksMeasurement",
    "LoginMeasurement",
    "Measurement",
    "SecurityMeasurement",
]


@dataclass(frozen=True, slots=True)
class Measurement:
    """The base of every check type's measurement: its fields are its JSON keys."""

    def to_json(self) -> dict[str, Any]:
        """The fields that apply, by name; tuples as lists."""
        out: dict[str, Any] = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value is not None:
                out[spec.name] = list(value) if isinstance(value, tuple) else value
        return out

    def scrubbed(self) -> Self:
        """The measurement with every secret masked in the text it holds (monitor.redact)."""
        changes = {
            spec.name: scrub_value(value)
            for spec in fields(self)
            if isinstance(value := getattr(self, spec.name), str | tuple | dict)
        }
        return replace(self, **changes) if changes else self


@dataclass(frozen=True, slots=True)
class LoginMeasurement(Measurement):
    """`login`: how long a successful login took and how long a kept session lived."""

    login_seconds: float | None = None  # the whole flow, on every successful login
    slow_login: bool | None = None  # past the check's `slow`, or a step past its own
    slow_login_threshold_seconds: float | None = None
    slow_steps: tuple[str, ...] | None = None  # the steps past their own `slow`
    session_age_seconds: float | None = None  # since the kept session logged in
    session_lifetime_seconds: float | None = None  # set when the session was found logged out


@dataclass(frozen=True, slots=True)
class InteractionMeasurement(Measurement):
    """`interaction`: the questions of a message board and how they were answered."""

    unanswered: int  # open past the check's `max_unanswered`
    open_questions: int
    late_answers: int  # answered, but after more than `max_unanswered`
    oldest_unanswered_seconds: float | None = None  # the oldest open question's age
    median_response_seconds: float | None = None  # over rows with both dates
    slowest_answer_seconds: float | None = None


PostingFrequency = Literal["assessed", "not_assessable"]


@dataclass(frozen=True, slots=True)
class FeedMeasurement(Measurement):
    """`feed`: the feed's format and recent posts, or why a bridge gave no feed."""

    feed_format: str | None = None  # "rss20", "atom10", "json" ...
    posts_in_window: int | None = None  # with `min_posts`
    posting_frequency: PostingFrequency | None = None  # with `min_posts`
    bridge_failure: str | None = None  # "refused", "rate_limited" ... (monitor.probes.feed)


@dataclass(frozen=True, slots=True)
class FreshnessMeasurement(Measurement):
    """`freshness`: the column's category, and where its newest date was read."""

    category: str
    date_source: str | None = None  # "selector", "meta" or "scan"; None without a page


@dataclass(frozen=True, slots=True)
class LinksMeasurement(Measurement):
    """`links`: how many links were checked and why each broken one is broken."""

    links_checked: int
    links_cached: int  # answered from the recent-verdict cache instead of fetched
    broken_link_reasons: dict[str, str]  # link -> "status 404", "timeout: ..."


@dataclass(frozen=True, slots=True)
class SecurityMeasurement(Measurement):
    """`security`: what the page reading and the baseline comparison found."""

    security_findings: int  # all of them
    findings: tuple[dict[str, Any], ...]  # the first ones, as `Finding.to_json` writes them
    baseline: str  # "taken", "kept", "file" ...
    links_examined: int
