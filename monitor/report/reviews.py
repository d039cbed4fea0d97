"""Manual reviews (人工核查) applied to the report's verdicts, shown beside the evidence.

A review in force whose site matches and whose span overlaps the period changes the verdict of
its rule (`--rule INDICATOR`), or the verdict its check decided (`--check C`, C being the
evidence's `check`: the window, homepage or board that decided it): `exempt` or `reject` turns
a veto or a warning into a pass, `confirm` a warning into a veto, the evidence staying as it
was, with `machine_status` (what the monitor alone found) and `reviews` (the review that
decided) added. Reviews naming a security check act on that check's findings
(`monitor.report.security`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from monitor.report.model import Status, Verdict
from monitor.report.period import Period
from monitor.reviews import Decision, Review
from monitor.store.reader import StoreReader

__all__ = ["apply_reviews", "read_reviews", "review_note"]


async def read_reviews(store: StoreReader, period: Period, sites: Sequence[str]) -> list[Review]:
    """The reviews in force of `sites` whose span overlaps the period."""
    found = await store.list_reviews(since=period.start, until=period.end)
    wanted = set(sites)
    return [review for review in found if review.site in wanted]


def review_note(review: Review, effect: str) -> dict[str, Any]:
    """A review as the evidence shows it: who, when, what, why, and what it changed."""
    return {
        "id": review.id,
        "decision": str(review.decision),
        "check": review.check,
        "rule": review.rule,
        "start": review.start,
        "end": review.end,
        "reason": review.reason,
        "reviewer": review.reviewer,
        "created_at": review.created_at,
        "effect": effect,
    }


def apply_reviews(
    site: str, verdicts: Iterable[Verdict], reviews: Sequence[Review], period: Period
) -> tuple[Verdict, ...]:
    """The verdicts with the site's rule reviews applied (the latest review of a rule wins)."""
    out = []
    for verdict in verdicts:
        decider = verdict.evidence.get("check")
        mine = [
            r
            for r in reviews
            if r.site == site
            and (r.rule == verdict.indicator or (r.check is not None and r.check == decider))
            and r.covers(period.start, period.end)
        ]
        if not mine:
            out.append(verdict)
            continue
        latest = max(mine, key=lambda r: r.id)
        status = verdict.status
        if latest.decision in (Decision.EXEMPT, Decision.REJECT) and status in (
            Status.VETO,
            Status.WARNING,
        ):
            status = Status.PASS
        elif latest.decision is Decision.CONFIRM and status is Status.WARNING:
            status = Status.VETO  # a suspected finding confirmed by a person
        effect = f"{verdict.status}->{status}" if status is not verdict.status else "none"
        evidence = {
            **verdict.evidence,
            "machine_status": str(verdict.status),
            "reviews": [review_note(latest, effect)],
        }
        out.append(dataclasses.replace(verdict, status=status, evidence=evidence))
    return tuple(out)
