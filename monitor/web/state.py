"""What a person is told about a check right now, from its latest result."""

from __future__ import annotations

import enum

from monitor.results import Outcome, ProbeResult


class State(enum.StrEnum):
    """A check's state, from worst to best.

    `suspected` (only some probe locations fail) needs results from several locations, which
    one monitor process does not have yet: nothing produces it, the page only knows its name.
    """

    DOWN = "down"
    SUSPECTED = "suspected"
    STALE = "stale"
    # The page opens, but has broken links, unanswered questions or a suspected compromise.
    FINDING = "finding"
    PENDING = "pending"
    UP = "up"


RANK = {state: rank for rank, state in enumerate(State)}

_FINDINGS = (Outcome.BROKEN_LINKS, Outcome.UNANSWERED, Outcome.COMPROMISED)


def state_of(result: ProbeResult | None) -> State:
    """The state shown for a check whose latest result is `result` (None: not probed yet)."""
    if result is None or result.outcome is Outcome.PROBE_ERROR:
        # probe_error says nothing about the site: as if it had not been probed.
        return State.PENDING
    if result.outcome is Outcome.OK:
        return State.UP
    if result.outcome is Outcome.STALE:
        return State.STALE
    if result.outcome in _FINDINGS:
        return State.FINDING
    return State.DOWN


def worst(states: list[State]) -> State:
    """The state of a site: its worst check's (pending when it has none)."""
    return min(states, key=RANK.__getitem__, default=State.PENDING)
