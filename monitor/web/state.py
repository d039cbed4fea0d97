"""What a person is told about a check right now, from its latest result."""

from __future__ import annotations

import enum

from monitor.results import Outcome, ProbeResult


class State(enum.StrEnum):
    """A check's state, from worst to best.

    `suspected` (疑似不连通: some probe locations have an incident of the check open, fewer
    than the quorum) comes only from what the locations recorded together (`with_points`),
    never from one result.
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


def with_points(state: State, *, confirmed: bool, suspected: bool, blind_here: bool) -> State:
    """A check's state given what the probe points hold (docs/probe-points.md).

    A confirmed incident is down whatever this location's latest result; an incident only some
    locations have open is suspected; a failure seen here while this location is blind is the
    monitor's, not the site's: pending, as if not probed.
    """
    if confirmed:
        return State.DOWN
    if suspected:
        return State.SUSPECTED
    if blind_here and state is State.DOWN:
        return State.PENDING
    return state
