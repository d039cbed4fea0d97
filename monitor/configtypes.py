"""Config value types every part of the config uses: durations, sizes, URLs, regexes, time
zones, secrets, TLS.

Each parses what a person writes (`90s`, `10MiB`) into the value the code uses, and `Model`
is the base of every config model: frozen, unknown keys rejected. Check specs build on these
in `monitor.checkspec`; the rest of the config in `monitor.config`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    SecretStr,
)
from yarl import URL

__all__ = [
    "ID_PATTERN",
    "MAX_STORED_INT",
    "Duration",
    "Model",
    "Pattern",
    "SecretStr",
    "Size",
    "TLSSpec",
    "TimeZoneName",
    "WebURL",
    "parse_duration",
    "parse_size",
    "valid_regex",
]

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
}
ID_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
# The longest duration anything takes (retention for years included): past it a figure is a
# typo, and sleeping on it would overflow the event loop's clock.
MAX_DURATION_S = 100 * 365 * 86400.0
# Counts that the database stores (thresholds): an INTEGER column holds up to this.
MAX_STORED_INT = 2**31 - 1
# A host name as DNS and IDNA allow it (punycode, an IPv4 or a bracketed IPv6 address).
_HOST = re.compile(r"[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]")


def parse_duration(value: object) -> float:
    """Seconds from `90s`, `5m`, `1h30m`, `14d`, `500ms` (a bare number is seconds)."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        parts = _DURATION_PART.findall(text)
        if not text or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"invalid duration {value!r} (use e.g. 500ms, 90s, 5m, 1h30m, 14d)")
        seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    else:
        raise ValueError(f"invalid duration {value!r} (use e.g. 90s, 5m, 14d)")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"duration must be positive and finite, got {value!r}")
    if seconds > MAX_DURATION_S:
        raise ValueError(f"duration {value!r} is longer than 100 years")
    return seconds


def parse_size(value: object) -> int:
    """Bytes from `10MiB`, `512KB`, `1048576`."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        match = _SIZE.fullmatch(value.strip())
        if match:
            size = int(float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()])
            if size > 0:
                return size
    raise ValueError(f"invalid size {value!r} (use e.g. 512KiB, 10MiB)")


def _check_url(value: str) -> str:
    try:
        url = URL(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"invalid URL {value!r}: {exc}") from exc
    if url.scheme not in ("http", "https"):
        raise ValueError(f"URL must start with http:// or https://, got {value!r}")
    if not url.host:
        raise ValueError(f"URL has no host: {value!r}")
    if not _HOST.fullmatch(url.raw_host or ""):
        raise ValueError(f"URL host {url.host!r} is not a valid host name")
    return value


def valid_regex(value: str) -> str:
    """`value` if it compiles as a regular expression; else a ValueError that names it."""
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regex {value!r}: {exc}") from exc
    return value


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
WebURL = Annotated[str, AfterValidator(_check_url)]
Pattern = Annotated[str, AfterValidator(valid_regex)]
# An IANA zone name (`Asia/Shanghai`) that this machine's tz database knows.
TimeZoneName = Annotated[str, AfterValidator(_known_zone)]


class Model(BaseModel):
    """Base of every config model: frozen, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class TLSSpec(Model):
    """How a check verifies the server's certificate."""

    # A CA bundle (PEM) to trust instead of the system store: many government sites are
    # signed by domestic CAs that system stores lack.
    ca_file: Path | None = None
    # Opt-out; the result reports tls_verified=false so nobody mistakes it for a checked cert.
    verify: bool = True
