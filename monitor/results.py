"""What a probe returns: one outcome of a closed set, timings, and what it saw."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.measurements import Measurement
from monitor.redact import scrub


class Outcome(enum.StrEnum):
    """The closed set of probe outcomes; every failure gets exactly one (ARCHITECTURE.md)."""

    OK = "ok"
    DNS_ERROR = "dns_error"
    CONNECT_ERROR = "connect_error"
    TIMEOUT = "timeout"
    TLS_ERROR = "tls_error"
    DROPOUT = "dropout"
    HTTP_ERROR = "http_error"
    CONTENT_MISMATCH = "content_mismatch"
    LOGIN_FAILED = "login_failed"
    SESSION_DROPPED = "session_dropped"
    STALE = "stale"
    BROKEN_LINKS = "broken_links"
    UNANSWERED = "unanswered"
    # The page answered but carries an injection, a defacement or a listed wording error
    # (安全、泄密事故); suspected until a person confirms it with a review.
    COMPROMISED = "compromised"
    # The monitor itself failed to run the probe (a bug, logged with its traceback). It says
    # nothing about the site, so it never opens an incident and is left out of availability.
    PROBE_ERROR = "probe_error"


# Outcomes of a probe whose page did not open: availability is reachability, and these are
# its failures (the Prometheus rules in deploy/prometheus/rules/availability.yml name the same).
UNREACHABLE_OUTCOMES = (
    Outcome.DNS_ERROR,
    Outcome.CONNECT_ERROR,
    Outcome.TIMEOUT,
    Outcome.TLS_ERROR,
    Outcome.DROPOUT,
    Outcome.HTTP_ERROR,
)
# Check types that open a page for its own sake (security reads a page as a visitor gets
# it): their content_mismatch is a page that is not the page (a marker missing, an error page
# served with 200), so it did not open either. A content check's content_mismatch (a blank
# column, an unparsable feed) had its page answer.
PAGE_CHECK_TYPES = frozenset({"http", "login", "security"})


def page_opened(outcome: Outcome, check_type: str) -> bool:
    """Whether a probe with this outcome reached its page (stale content or a failed login did)."""
    if outcome is Outcome.CONTENT_MISMATCH:
        return check_type not in PAGE_CHECK_TYPES
    return outcome not in UNREACHABLE_OUTCOMES


# Order in which phases happen; also the label values of probe_http_duration_seconds{phase}.
PHASE_NAMES = ("resolve", "connect", "tls", "processing", "transfer")


@dataclass(frozen=True, slots=True)
class Phases:
    """Seconds spent in each phase of one HTTP exchange (blackbox_exporter's split)."""

    resolve: float = 0.0
    connect: float = 0.0
    tls: float = 0.0
    processing: float = 0.0
    transfer: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in PHASE_NAMES}

    def __add__(self, other: Phases) -> Phases:
        return Phases(*(a + b for a, b in zip(self.as_tuple(), other.as_tuple(), strict=True)))

    def as_tuple(self) -> tuple[float, ...]:
        return tuple(getattr(self, name) for name in PHASE_NAMES)


@dataclass(frozen=True, slots=True)
class Certificate:
    """The verified leaf certificate, as blackbox_exporter's probe_ssl_last_chain_info labels it.

    `subject` and `issuer` are RFC 4514 strings (most specific first, as Go writes them),
    `subjectalternative` the DNS names joined by commas, `serialnumber` lower-case hex.
    """

    fingerprint_sha256: str
    subject: str
    issuer: str
    subjectalternative: str
    serialnumber: str


@dataclass(frozen=True, slots=True)
class Transport:
    """What one HTTP fetch measured, answered or failed: the one value a `Response` and a
    `FetchError` carry and a result takes whole (`ProbeResult(transport=...)`).

    `status_code`, `phases`, `cert_expiry_timestamp` and `tls_verified` become the result's
    fields of the same names; the rest is what blackbox_exporter's HTTP prober says of a fetch,
    one `probe_*` series each (see monitor.metrics). A fetch that failed keeps what it got to:
    the name lookup, the address, the redirects followed, the TLS version.
    """

    status_code: int | None = None  # the latest answer's; None when none came
    phases: Phases = Phases()
    cert_expiry_timestamp: float | None = None  # earliest notAfter of the chain the peer sent
    tls_verified: bool | None = None  # None without TLS; False when verification is off
    http_version: float = 0.0  # probe_http_version: 1.1, 1.0; 0 without an answer
    content_length: int = 0  # the Content-Length header; -1 when the answer had none
    body_length: int = 0  # bytes of body read, after decompression
    redirects: int = 0
    ssl: bool = False  # the final answer came over TLS
    ip_protocol: int = 0  # 4 or 6; 0 when no address was reached
    ip_addr_hash: float = 0.0  # FNV-1a (32 bit) of the address' bytes, to see it change
    dns_lookup_seconds: float = 0.0  # the first name lookup (the resolve phase sums all hops)
    failed_due_to_regex: bool = False  # the body's markers failed (expect.body_*)
    tls_version: str | None = None  # "TLS 1.3"
    last_chain_expiry: float | None = None  # earliest notAfter of the verified chain
    certificate: Certificate | None = None


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step of a multi-step check (a login flow)."""

    name: str
    duration_seconds: float
    outcome: Outcome
    detail: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "detail", scrub(self.detail))

    def to_json(self) -> dict[str, Any]:
        """The step as JSON, as `monitor check --json` gives it."""
        return {
            "name": self.name,
            "duration_seconds": round(self.duration_seconds, 6),
            "outcome": str(self.outcome),
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The result of probing one check once.

    `site`, `check` and `type` identify the check; `location` the probe point. Optional fields
    are None where the check type does not measure them; what only one check type measures
    is its typed `measurement`.
    """

    site: str
    check: str
    type: str
    outcome: Outcome
    started_at: datetime
    duration_seconds: float
    detail: str = ""
    location: str = "default"
    status_code: int | None = None
    phases: Phases | None = None
    cert_expiry_timestamp: float | None = None
    tls_verified: bool | None = None
    content_age_seconds: float | None = None
    newest_item_at: datetime | None = None
    items: int | None = None
    broken_links: tuple[str, ...] | None = None
    steps: tuple[StepResult, ...] = ()
    # The fetch behind the result, if one ran: the four transport fields above come from it
    # (where not given), so a probe puts a fetch's facts on its result in one argument.
    transport: Transport | None = None
    # What the check type measures besides (monitor.measurements); None where it has nothing.
    measurement: Measurement | None = None

    def __post_init__(self) -> None:
        # What a probe saw may quote a secret (a body or a URL the site echoes): scrubbed here,
        # once, so every output of the result (API, logs, store, reports) is clean.
        object.__setattr__(self, "detail", scrub(self.detail))
        if (fetched := self.transport) is not None:
            if self.status_code is None:
                object.__setattr__(self, "status_code", fetched.status_code)
            if self.phases is None:
                object.__setattr__(self, "phases", fetched.phases)
            if self.cert_expiry_timestamp is None:
                object.__setattr__(self, "cert_expiry_timestamp", fetched.cert_expiry_timestamp)
            if self.tls_verified is None:
                object.__setattr__(self, "tls_verified", fetched.tls_verified)
        if self.broken_links:
            object.__setattr__(self, "broken_links", tuple(map(scrub, self.broken_links)))
        if self.measurement is not None:
            object.__setattr__(self, "measurement", self.measurement.scrubbed())

    @property
    def success(self) -> bool:
        return self.outcome is Outcome.OK

    @property
    def key(self) -> str:
        """The check's identity, `site/check`."""
        return f"{self.site}/{self.check}"

    def to_json(self) -> dict[str, Any]:
        """The `monitor check --json` object: fixed keys first, optional ones where they apply."""
        out: dict[str, Any] = {
            "site": self.site,
            "check": self.check,
            "type": self.type,
            "location": self.location,
            "outcome": str(self.outcome),
            "success": self.success,
            "started_at": self.started_at.isoformat(),
            "duration_seconds": round(self.duration_seconds, 6),
            "detail": self.detail,
        }
        if self.status_code is not None:
            out["status_code"] = self.status_code
        if self.phases is not None:
            out["phases"] = {k: round(v, 6) for k, v in self.phases.as_dict().items()}
        if self.cert_expiry_timestamp is not None:
            out["cert_expiry_timestamp"] = self.cert_expiry_timestamp
        if self.tls_verified is not None:
            out["tls_verified"] = self.tls_verified
        if self.content_age_seconds is not None:
            out["content_age_seconds"] = round(self.content_age_seconds, 3)
        if self.newest_item_at is not None:
            out["newest_item_at"] = self.newest_item_at.isoformat()
        if self.items is not None:
            out["items"] = self.items
        if self.broken_links is not None:
            out["broken_links"] = list(self.broken_links)
        if self.steps:
            out["steps"] = [s.to_json() for s in self.steps]
        if self.measurement is not None:
            out.update(self.measurement.to_json())
        return out
