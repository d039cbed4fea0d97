"""Ages of dated content, shared by the probes that read dates (freshness, feed, interaction,
login's session): how old the newest item is, and how a detail says an age or a date."""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = ["DAY", "FUTURE_SLACK", "age_units", "content_age", "show_age", "show_date"]

DAY = 86400.0
# Clock skew and time-zone slips: a date up to a day ahead still counts.
FUTURE_SLACK = timedelta(days=1)


def content_age(newest: datetime | None, now: datetime) -> float | None:
    """A result's `content_age_seconds`: the newest item's age (0 if dated ahead), or None."""
    return None if newest is None else max(0.0, (now - newest).total_seconds())


def age_units(seconds: float) -> tuple[str, str]:
    """An age rounded as people say it, and its unit: (`45`, `d`), (`5.5`, `h`), (`20`, `min`),
    (`15`, `s`) under a minute. The web pages say the same in their language's units."""
    if seconds < 60:
        return f"{seconds:.0f}", "s"
    if seconds >= DAY:
        return f"{seconds / DAY:.0f}", "d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}", "h"
    return f"{seconds / 60:.0f}", "min"


def show_age(seconds: float) -> str:
    """An age in a probe's detail: `45 d`, `5.5 h`, `20 min`, `15 s` (see age_units)."""
    return " ".join(age_units(seconds))


def show_date(value: datetime) -> str:
    """A date as the site wrote it: with its time only when it had one."""
    return value.strftime("%Y-%m-%d %H:%M" if value.hour or value.minute else "%Y-%m-%d")
