"""安全、泄密事故: the security verdict of a site, from its `security` checks' incidents.

A `compromised` incident (a page that answered with injected links or scripts, a redirect, a
defacement or a listed wording error) is a *suspected* security incident: the machine cannot
tell an injection from an unusual but honest page. A person decides with a review (人工核查)
naming the check (or the rule `security_incident`) over a span that overlaps the incident:
`confirm` makes it a veto, `exempt` or `reject` drops it. The latest review in force wins, so
an exemption recorded after a confirmation turns the veto into an exemption, and withdrawing
it brings the veto back.

Statuses: a confirmed finding is a veto; suspected ones (not yet reviewed) warn; none, or all
exempted or rejected, pass. Sites with no security check, no compromised incident and no
security review get no row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from monitor.config import Site
from monitor.report.gather import IncidentRecord
from monitor.report.model import Status, Verdict
from monitor.report.period import Period
from monitor.report.reviews import review_note
from monitor.reviews import Decision, Review

__all__ = ["SECURITY_INDICATOR", "security_incident"]

SECURITY_INDICATOR = "security_incident"
_FINDING_STATUS = {
    None: "suspected",
    Decision.CONFIRM: "confirmed",
    Decision.EXEMPT: "exempted",
    Decision.REJECT: "rejected",
}


def _governing(
    site: str, incident: IncidentRecord, reviews: Sequence[Review], end: datetime
) -> Review | None:
    """The latest review in force of the incident's check or of the rule, over its span."""
    span_end = max(end, incident.opened_at + timedelta(microseconds=1))
    covering = [
        r
        for r in reviews
        if r.site == site
        and (r.rule == SECURITY_INDICATOR or r.check == incident.check)
        and r.covers(incident.opened_at, span_end)
    ]
    return max(covering, key=lambda r: r.id) if covering else None


def security_incident(
    site: Site,
    incidents: Sequence[IncidentRecord],
    reviews: Sequence[Review],
    period: Period,
    now: datetime,
) -> Verdict | None:
    """The site's 安全、泄密事故 verdict, or None when nothing about it was watched or found."""
    checks = [c.id for c in site.checks if c.type == "security"]
    found = sorted(
        (i for i in incidents if i.site == site.id and i.reason == "compromised"),
        key=lambda i: (i.opened_at, i.id),
    )
    reviewed = [
        r
        for r in reviews
        if r.site == site.id and (r.rule == SECURITY_INDICATOR or r.check in checks)
    ]
    if not checks and not found and not reviewed:
        return None
    findings: list[dict[str, Any]] = []
    for incident in found:
        end = incident.resolved_at or min(now, period.end)
        review = _governing(site.id, incident, reviews, end)
        status = _FINDING_STATUS[review.decision if review is not None else None]
        findings.append(
            {
                "incident": incident.id,
                "check": incident.check,
                "location": incident.location,
                "opened_at": incident.opened_at,
                "resolved_at": incident.resolved_at,
                "failures": incident.failures,
                "detail": incident.first_error,
                "status": status,
                "review": review_note(review, f"suspected->{status}") if review else None,
            }
        )
    counts = {
        name: sum(1 for f in findings if f["status"] == name) for name in _FINDING_STATUS.values()
    }
    if counts["confirmed"]:
        status = Status.VETO
    elif counts["suspected"]:
        status = Status.WARNING
    else:
        status = Status.PASS
    evidence = {"security_checks": checks, "findings": findings, **counts}
    return Verdict(SECURITY_INDICATOR, status, evidence)
