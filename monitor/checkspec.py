"""The keys every check has: `CheckSpec`, the base of each check type's model.

Each probe module defines its own check model on top of `CheckSpec`; `monitor.config` finds
them through the probe registry. The value types (durations, sizes, TLS) are in
`monitor.configtypes`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from monitor.configtypes import ID_PATTERN, MAX_STORED_INT, Duration, Model

__all__ = ["CheckSpec"]


class CheckSpec(Model):
    """Keys every check has. `interval`..`success_threshold` fall back to `defaults`."""

    id: str = Field(pattern=ID_PATTERN, max_length=64)
    type: str
    name: str = ""
    interval: Duration | None = None
    timeout: Duration | None = None
    failure_threshold: int | None = Field(default=None, ge=1, le=MAX_STORED_INT)
    success_threshold: int | None = Field(default=None, ge=1, le=MAX_STORED_INT)
    # Filled in by the config loader from the check's site, so a check stands alone.
    site: str = ""
    site_name: str = ""  # the site's own name (石化离退休干部局网站), for messages and panels
    owner: str = ""
    kind: str = ""

    @property
    def key(self) -> str:
        """The check's identity, `site/check` (also the shard and schedule hash input)."""
        return f"{self.site}/{self.id}"

    # The resolved values; the loader guarantees they are set.
    @property
    def interval_s(self) -> float:
        assert self.interval is not None
        return self.interval

    @property
    def timeout_s(self) -> float:
        assert self.timeout is not None
        return self.timeout

    @property
    def deadline_s(self) -> float:
        """The most one probe may take, all of it together (fetches, parsing, every link of a
        `links` check); the probe is ended there as a `timeout`. A type whose probe makes
        several fetches, each with its own timeout, says so by overriding this."""
        return self.timeout_s

    def identity(self) -> dict[str, Any]:
        return {"site": self.site, "check": self.id, "type": self.type}
