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

from monitor.report.gather import Reader
from monitor.report.model import Status, Verdict
from monitor.report.period import Period
from monitor.report.texts import Texts
from monitor.reviews import Decision, Review
from monitor.store.reviews import list_reviews

__all__ = ["STATUS_ZH", "apply_reviews", "read_reviews", "review_note", "review_text"]


async def read_reviews(db: Reader, period: Period, sites: Sequence[str]) -> list[Review]:
    """The reviews in force of `sites` whose span overlaps the period."""
    found = await list_reviews(db, since=period.start, until=period.end)
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


_DECISION_ZH = {"exempt": "豁免", "confirm": "确认", "reject": "驳回"}
# Verdict statuses, and the statuses of a security finding (monitor.report.security).
STATUS_ZH = {
    **{"pass": "通过", "warning": "预警", "not_assessable": "无法判定", "veto": "否决"},
    **{"suspected": "疑似", "confirmed": "已确认", "exempted": "已豁免", "rejected": "已驳回"},
}


def review_text(t: Texts, notes: Sequence[dict[str, Any]]) -> str:
    """`人工核查：…` for each review note: decision, who, when, why, and what it changed."""
    parts = []
    for note in notes:
        effect = note["effect"]
        if t.zh:
            decision = _DECISION_ZH.get(note["decision"], note["decision"])
            changed = ""
            if "->" in effect:
                before, after = effect.split("->")
                changed = f"，{STATUS_ZH.get(before, before)}改为{STATUS_ZH.get(after, after)}"
            parts.append(
                f"人工核查：{decision}{changed}（第{note['id']}号，{note['reviewer']}，"
                f"{t.when(note['created_at'])}；理由：{note['reason']}）"
            )
        else:
            changed = f", {effect.replace('->', ' to ')}" if "->" in effect else ""
            parts.append(
                f"manual review: {note['decision']}{changed} (#{note['id']} by "
                f"{note['reviewer']}, {t.when(note['created_at'])}; reason: {note['reason']})"
            )
    return t.join(parts)
