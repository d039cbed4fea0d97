"""Sample records for tests: results and incidents as the store keeps them, a manual review.

Each builder fills every field with a plausible value, so a test names only what it is about.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from monitor.incidents import Incident
from monitor.results import Outcome, ProbeResult
from monitor.reviews import Decision, NewReview, parse_span

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 7, 1, 3, 0, tzinfo=UTC)  # the moment sample incidents open


def result(
    at: datetime, outcome: Outcome = Outcome.OK, duration: float = 0.25, **kw: object
) -> ProbeResult:
    """An http result of portal/home at `at`; `kw` sets any other field."""
    return ProbeResult(
        site=str(kw.pop("site", "portal")),
        check=str(kw.pop("check", "home")),
        type="http",
        outcome=outcome,
        started_at=at,
        duration_seconds=duration,
        detail=str(kw.pop("detail", "")),
        location=str(kw.pop("location", "default")),
        **kw,  # type: ignore[arg-type]
    )


def incident(**kw: object) -> Incident:
    """An open timeout incident of portal/home, opened at T0 after three failures."""
    base: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "site": "portal",
        "check": "home",
        "location": "default",
        "owner": "portal-team",
        "reason": "timeout",
        "opened_at": T0,
        "failures": 3,
        "outcome_counts": {"timeout": 3},
        "first_error": "first",
        "last_error": "last",
        "last_failure_at": T0 + timedelta(minutes=2),
    }
    base.update(kw)
    return Incident(**base)  # type: ignore[arg-type]


def new_review(**changes: Any) -> NewReview:
    """A reviewer's exemption of portal/home-security for July 2026; `changes` set any field."""
    start, end = parse_span("2026-07-01", "2026-07-31", SHANGHAI)
    fields: dict[str, Any] = {
        "site": "portal",
        "check": "home-security",
        "rule": None,
        "start": start,
        "end": end,
        "decision": Decision.EXEMPT,
        "reason": "暗链为监测误报：链接指向本单位新启用的域名",
        "reviewer": "张三",
    }
    return NewReview(**(fields | changes))
