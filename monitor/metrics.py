"""Prometheus metrics: every name defined once, here, into an injected registry.

Per-check series (the blackbox-compatible `probe_*` gauges and the `monitor_*` ones labelled by
check) live in plain per-check objects and are written as exposition text directly. Measured
with 10,000 checks: prometheus-client's labelled children took 180 MB and 7 s of CPU per
scrape; this takes about 1 KB per check and 0.25 s per scrape, with byte for byte the same
text. Process-wide metrics (scheduler, store, config, build) are ordinary prometheus-client
metrics. `Metrics.exposition()` is the fast scrape; the registry itself still answers
`generate_latest()` and `get_sample_value()` with the same samples, only slower.
"""

from __future__ import annotations

import contextlib
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterator
from types import MappingProxyType

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.parser import text_string_to_metric_families

from monitor.checkspec import CheckSpec
from monitor.configtypes import TLSSpec
from monitor.measurements import InteractionMeasurement, LoginMeasurement, SecurityMeasurement
from monitor.results import (
    PHASE_NAMES,
    UNREACHABLE_OUTCOMES,
    Outcome,
    Phases,
    ProbeResult,
    Transport,
    page_opened,
)

# Blackbox-compatible gauges for the latest probe of each check.
PROBE_SUCCESS = "probe_success"
PROBE_DURATION = "probe_duration_seconds"
PROBE_HTTP_STATUS_CODE = "probe_http_status_code"
PROBE_HTTP_PHASE_DURATION = "probe_http_duration_seconds"
PROBE_SSL_EARLIEST_CERT_EXPIRY = "probe_ssl_earliest_cert_expiry"
PROBE_DNS_LOOKUP_TIME = "probe_dns_lookup_time_seconds"
PROBE_HTTP_SSL = "probe_http_ssl"
PROBE_HTTP_VERSION = "probe_http_version"
PROBE_HTTP_CONTENT_LENGTH = "probe_http_content_length"
PROBE_HTTP_UNCOMPRESSED_BODY_LENGTH = "probe_http_uncompressed_body_length"
PROBE_HTTP_REDIRECTS = "probe_http_redirects"
PROBE_IP_PROTOCOL = "probe_ip_protocol"
PROBE_IP_ADDR_HASH = "probe_ip_addr_hash"
PROBE_FAILED_DUE_TO_REGEX = "probe_failed_due_to_regex"
PROBE_SSL_LAST_CHAIN_EXPIRY = "probe_ssl_last_chain_expiry_timestamp_seconds"
PROBE_SSL_LAST_CHAIN_INFO = "probe_ssl_last_chain_info"
PROBE_TLS_VERSION_INFO = "probe_tls_version_info"
# The project's own per-check series.
PROBE_DURATION_HISTOGRAM = "monitor_probe_duration_seconds"
PROBE_REACHABLE = "monitor_probe_reachable"
PROBE_RESULTS = "monitor_probe_results_total"
PROBES_SKIPPED = "monitor_probes_skipped_total"
TLS_VERIFIED = "monitor_tls_verified"
CONTENT_AGE = "monitor_content_age_seconds"
CONTENT_ITEMS = "monitor_content_items"
BROKEN_LINKS = "monitor_broken_links"
LOGIN_STEP_DURATION = "monitor_login_step_duration_seconds"
LOGIN_STEP_FAILURES = "monitor_login_step_failures_total"
SESSION_DROPOUTS = "monitor_session_dropouts_total"
SLOW_LOGINS = "monitor_slow_logins_total"
SESSION_LIFETIME = "monitor_session_lifetime_seconds"
INTERACTION_RESPONSE = "monitor_interaction_response_seconds"
UNANSWERED_QUESTIONS = "monitor_unanswered_questions"
OLDEST_UNANSWERED = "monitor_oldest_unanswered_question_seconds"
SECURITY_FINDINGS = "monitor_security_findings"
CHECK_INFO = "monitor_check_info"
INCIDENT_OPEN = "monitor_incident_open"
INCIDENTS = "monitor_incidents_total"
# Process-wide.
SCHEDULER_LAG = "monitor_scheduler_lag_seconds"
STORE_QUEUE_DEPTH = "monitor_store_queue_depth"
STORE_WRITE_ERRORS = "monitor_store_write_errors_total"
STORE_DROPPED = "monitor_store_dropped_total"
MAINTENANCE = "monitor_maintenance"
CONFIG_RELOAD_SUCCESSFUL = "monitor_config_last_reload_successful"
CONFIG_RELOAD_SUCCESS_TIMESTAMP = "monitor_config_last_reload_success_timestamp_seconds"
BUILD_INFO = "monitor_build_info"

# Probes take 10 ms (loopback, a near CDN) to the 15 s timeout; 30 s catches slow checks
# configured with a longer timeout.
PROBE_DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)
# A healthy scheduler starts probes within a millisecond or two; seconds mean it is starved.
SCHEDULER_LAG_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

_OUTCOMES = tuple(Outcome)
_NO_PHASES = Phases()
_OUTCOME_INDEX = MappingProxyType({outcome: i for i, outcome in enumerate(_OUTCOMES)})
# Checks per rendered chunk (see _CheckCollector.render).
_CHUNK_CHECKS = 500
_PROBE_LE = (*(repr(bound) for bound in PROBE_DURATION_BUCKETS), "+Inf")

# (name, type, help) of every per-check family, in exposition order.
_CHECK_FAMILIES = (
    (
        CHECK_INFO,
        "gauge",
        "Always 1; the owner, kind and site name of each check, to join onto its series.",
    ),
    (PROBE_SUCCESS, "gauge", "Whether the latest probe of the check succeeded (1) or not (0)."),
    (PROBE_DURATION, "gauge", "How long the latest probe of the check took, in seconds."),
    (PROBE_HTTP_STATUS_CODE, "gauge", "HTTP status code of the latest probe (0 if none)."),
    (PROBE_HTTP_PHASE_DURATION, "gauge", "Seconds the latest probe spent in each HTTP phase."),
    (PROBE_SSL_EARLIEST_CERT_EXPIRY, "gauge", "Expiry of the peer certificate, unix seconds."),
    # blackbox_exporter's other HTTP series, with its meaning (http checks, once probed).
    (PROBE_DNS_LOOKUP_TIME, "gauge", "Seconds the latest probe's first name lookup took."),
    (PROBE_HTTP_SSL, "gauge", "Whether the latest probe's final answer came over TLS."),
    (PROBE_HTTP_VERSION, "gauge", "HTTP version of the latest probe's answer (1.1; 0: none)."),
    (
        PROBE_HTTP_CONTENT_LENGTH,
        "gauge",
        "Content-Length of the latest probe's answer (-1: not given).",
    ),
    (
        PROBE_HTTP_UNCOMPRESSED_BODY_LENGTH,
        "gauge",
        "Bytes of body the latest probe read, after decompression.",
    ),
    (PROBE_HTTP_REDIRECTS, "gauge", "Redirects the latest probe followed."),
    (PROBE_IP_PROTOCOL, "gauge", "IP version (4 or 6) the latest probe connected over."),
    (
        PROBE_IP_ADDR_HASH,
        "gauge",
        "Hash of the address the latest probe connected to, to see it change.",
    ),
    (
        PROBE_FAILED_DUE_TO_REGEX,
        "gauge",
        "Whether the latest probe failed on the body's expected markers.",
    ),
    (
        PROBE_SSL_LAST_CHAIN_EXPIRY,
        "gauge",
        "Earliest expiry in the verified certificate chain, unix seconds.",
    ),
    (PROBE_SSL_LAST_CHAIN_INFO, "gauge", "Always 1; the verified leaf certificate's identity."),
    (PROBE_TLS_VERSION_INFO, "gauge", "Always 1; the TLS version of the latest probe's answer."),
    (
        PROBE_REACHABLE,
        "gauge",
        "Whether the latest probe opened its page (1), even if its content or login failed.",
    ),
    (PROBE_DURATION_HISTOGRAM, "histogram", "Duration of probes, in seconds."),
    (PROBE_RESULTS, "counter", "Probes run, by outcome."),
    (PROBES_SKIPPED, "counter", "Probes skipped because the previous one was still running."),
    (TLS_VERIFIED, "gauge", "Whether the check verifies TLS certificates (0: opted out)."),
    (CONTENT_AGE, "gauge", "Age of the newest dated item the latest probe found, in seconds."),
    (CONTENT_ITEMS, "gauge", "Number of items the latest probe found."),
    (BROKEN_LINKS, "gauge", "Number of broken links the latest probe found."),
    (LOGIN_STEP_DURATION, "histogram", "Duration of each successful step of a login, seconds."),
    (LOGIN_STEP_FAILURES, "counter", "Login steps that failed (timed out, refused), by outcome."),
    (SESSION_DROPOUTS, "counter", "Logged-in sessions that were logged out before they should."),
    (SLOW_LOGINS, "counter", "Logins that succeeded but slower than the check's slow limit."),
    (SESSION_LIFETIME, "gauge", "How long the latest dropped session had lived, in seconds."),
    (INTERACTION_RESPONSE, "gauge", "Median time to answer a public question, in seconds."),
    (UNANSWERED_QUESTIONS, "gauge", "Public questions unanswered for longer than allowed."),
    (OLDEST_UNANSWERED, "gauge", "Age of the oldest unanswered public question, in seconds."),
    (SECURITY_FINDINGS, "gauge", "Suspected injections, defacements, wording errors found."),
    (INCIDENT_OPEN, "gauge", "1 while an incident of the check is open."),
    (INCIDENTS, "counter", "Incidents opened, by reason."),
)

# Families whose series show only once measured, and the _CheckSeries attribute they read.
_OPTIONAL = MappingProxyType(
    {
        PROBE_SSL_EARLIEST_CERT_EXPIRY: "cert_expiry",
        PROBE_REACHABLE: "reachable",
        TLS_VERIFIED: "tls_verified",
        CONTENT_AGE: "content_age",
        CONTENT_ITEMS: "items",
        BROKEN_LINKS: "broken_links",
        SESSION_DROPOUTS: "session_dropouts",
        SLOW_LOGINS: "slow_logins",
        SESSION_LIFETIME: "session_lifetime",
        INTERACTION_RESPONSE: "response_median",
        UNANSWERED_QUESTIONS: "unanswered",
        OLDEST_UNANSWERED: "oldest_unanswered",
        SECURITY_FINDINGS: "security_findings",
    }
)


# The reasons an incident of each check type can have (the failing outcomes its probes give):
# monitor_incidents_total{reason} starts at 0 for each from declare() on, so that increase()
# sees a check's first incident. A type not listed gets every failing outcome.
_PAGE_REASONS = (*UNREACHABLE_OUTCOMES, Outcome.CONTENT_MISMATCH)
_INCIDENT_REASONS: MappingProxyType[str, tuple[Outcome, ...]] = MappingProxyType(
    {
        "http": _PAGE_REASONS,
        "login": (*_PAGE_REASONS, Outcome.LOGIN_FAILED, Outcome.SESSION_DROPPED),
        "freshness": (*_PAGE_REASONS, Outcome.STALE),
        "feed": (*_PAGE_REASONS, Outcome.STALE),
        "links": (*_PAGE_REASONS, Outcome.BROKEN_LINKS),
        "interaction": (*_PAGE_REASONS, Outcome.UNANSWERED),
        "security": (*_PAGE_REASONS, Outcome.COMPROMISED),
    }
)
_ALL_REASONS = tuple(o for o in Outcome if o not in (Outcome.OK, Outcome.PROBE_ERROR))

# blackbox_exporter's HTTP series read from the latest probe's Transport (None: left out).
_TRANSPORT_VALUES: MappingProxyType[str, Callable[[Transport], float | None]] = MappingProxyType(
    {
        PROBE_DNS_LOOKUP_TIME: lambda t: t.dns_lookup_seconds,
        PROBE_HTTP_SSL: lambda t: float(t.ssl),
        PROBE_HTTP_VERSION: lambda t: t.http_version,
        PROBE_HTTP_CONTENT_LENGTH: lambda t: float(t.content_length),
        PROBE_HTTP_UNCOMPRESSED_BODY_LENGTH: lambda t: float(t.body_length),
        PROBE_HTTP_REDIRECTS: lambda t: float(t.redirects),
        PROBE_IP_PROTOCOL: lambda t: float(t.ip_protocol),
        PROBE_IP_ADDR_HASH: lambda t: t.ip_addr_hash,
        PROBE_FAILED_DUE_TO_REGEX: lambda t: float(t.failed_due_to_regex),
        PROBE_SSL_LAST_CHAIN_EXPIRY: lambda t: t.last_chain_expiry,
    }
)

# The latest probe's gauges: no sample before a check's first result.
_LATEST_PROBE = frozenset(
    {PROBE_SUCCESS, PROBE_DURATION, PROBE_HTTP_STATUS_CODE, PROBE_HTTP_PHASE_DURATION}
)


def _escape(value: str) -> str:
    """Escape a label value for the text exposition format."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _num(value: float) -> str:
    """A sample value written exactly as prometheus-client writes it (`floatToGoString`)."""
    text = repr(float(value))
    if text[-1] in "fn":  # inf, -inf, nan
        return {"inf": "+Inf", "-inf": "-Inf"}.get(text, "NaN")
    dot = text.find(".")
    if value > 0 and dot > 6:  # Go switches to exponents sooner than Python
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


def _count(value: int) -> str:
    """An integer count as prometheus-client writes it (as a float)."""
    return f"{value}.0" if value < 1_000_000 else _num(value)


class _Histogram:
    """Bucket counts (not cumulative) and sum of one histogram series."""

    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * len(_PROBE_LE)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bucket (le is inclusive).
        self.counts[bisect_left(PROBE_DURATION_BUCKETS, value)] += 1
        self.sum += value

    def lines(self, name: str, head: str, tail: str, out: list[str]) -> None:
        """Append the samples; labels are `head`, `le`, `tail` (in sorted order, like le)."""
        cumulative = 0
        for le, count in zip(_PROBE_LE, self.counts, strict=True):
            cumulative += count
            out.append(f'{name}_bucket{{{head},le="{le}",{tail}}} {_count(cumulative)}\n')
        out.append(f"{name}_sum{{{head},{tail}}} {_num(self.sum)}\n")
        out.append(f"{name}_count{{{head},{tail}}} {_count(cumulative)}\n")


class _CheckSeries:
    """Every per-check series of one check: the latest probe's values and the running totals.

    None means "not measured yet / does not apply": the series is left out rather than shown
    as 0 (a 0 certificate expiry would page as expired, a 0 content age as fresh). The
    latest-probe gauges (`success` and the rest) are left out until the check's first result: a
    check not probed yet has no `probe_success` at all, so nothing reads it as down. Counters
    and histograms start at 0 from declare() on, so `increase()` sees their first event.
    """

    __slots__ = (
        "broken_links",
        "cert_expiry",
        "check_label",
        "content_age",
        "duration",
        "histogram",
        "info_labels",
        "items",
        "labels",
        "location_label",
        "oldest_unanswered",
        "outcomes",
        "phases",
        "probed",
        "reachable",
        "response_median",
        "security_findings",
        "session_dropouts",
        "session_lifetime",
        "site_label",
        "site_type_labels",
        "skipped",
        "slow_logins",
        "status_code",
        "step_failures",
        "steps",
        "success",
        "tls_verified",
        "transport",
        "type",
        "type_label",
        "unanswered",
    )

    def __init__(self, site: str, check: str, type_: str, location: str) -> None:
        self.type = type_
        # Label pairs pre-rendered once; lines put them in sorted order (check, le, location,
        # outcome, phase, site, step, type), as prometheus-client does, so the fast exposition
        # is byte for byte what generate_latest writes.
        self.check_label = f'check="{_escape(check)}"'
        self.location_label = f'location="{_escape(location)}"'
        self.site_label = f'site="{_escape(site)}"'
        self.type_label = f'type="{_escape(type_)}"'
        self.site_type_labels = f"{self.site_label},{self.type_label}"
        self.labels = f"{self.check_label},{self.location_label},{self.site_type_labels}"
        self.probed = False  # no latest-probe gauges until the first result (see above)
        self.success = 0
        self.duration = 0.0
        self.status_code = 0
        self.phases = _NO_PHASES  # the latest result's (frozen) Phases, split up when rendered
        self.cert_expiry: float | None = None
        self.reachable: int | None = None  # None: not probed yet, or only probe errors
        self.transport: Transport | None = None  # the latest http probe's, for blackbox series
        self.tls_verified: int | None = None
        self.content_age: float | None = None
        self.items: int | None = None
        self.broken_links: int | None = None
        self.histogram = _Histogram()
        self.outcomes = [0] * len(_OUTCOMES)
        self.skipped = 0
        self.steps: dict[str, _Histogram] = {}
        self.step_failures: dict[tuple[str, str], int] = {}  # (step, outcome) -> count
        self.session_dropouts: int | None = None
        self.slow_logins: int | None = None
        self.session_lifetime: float | None = None
        self.response_median: float | None = None
        self.unanswered: int | None = None
        self.oldest_unanswered: float | None = None
        self.security_findings: int | None = None
        self.info_labels = ""  # set by Metrics.declare, which knows owner and kind


class _Incidents:
    """The open incidents (by owner and reason) and the incident count (by reason) of a check."""

    __slots__ = ("open", "opened", "site_name")

    def __init__(self, site_name: str) -> None:
        self.open: dict[tuple[str, str], None] = {}  # an ordered set
        self.opened: dict[str, int] = {}
        # On monitor_incident_open, so alerts on it can name the site without a join.
        self.site_name = site_name


class _CheckCollector:
    """The per-check families, rendered straight to exposition text.

    Registered in the injected registry so generic readers (`generate_latest`,
    `get_sample_value`) see these families too: for them `collect()` parses the text back,
    so there is one renderer and both views always agree.
    """

    def __init__(self, location: str) -> None:
        self.location = location
        self.series: dict[tuple[str, str], _CheckSeries] = {}
        self.incidents: dict[tuple[str, str], _Incidents] = {}
        # Set while Metrics.exposition() runs generate_latest, having rendered our families
        # itself; per thread, because scrapes render in a worker thread.
        self.muted = threading.local()

    def describe(self) -> Iterator[Metric]:
        """Name the families, so the registry refuses anything registered under the same names."""
        for name, kind, doc in _CHECK_FAMILIES:
            if kind == "counter":
                yield CounterMetricFamily(name, doc, labels=())
            elif kind == "histogram":
                yield HistogramMetricFamily(name, doc, labels=())
            else:
                yield GaugeMetricFamily(name, doc, labels=())

    def collect(self) -> Iterator[Metric]:
        if getattr(self.muted, "on", False):
            return
        yield from text_string_to_metric_families(b"".join(self.render()).decode())

    def render(self) -> list[bytes]:
        """The text exposition of every per-check family, in chunks.

        Chunks of a few hundred checks keep each join and encode short: they hold the GIL,
        and one 40 MB string would stall the event loop for tens of milliseconds.
        """
        chunks: list[bytes] = []
        # Snapshots: the event loop may add or drop checks while a worker thread renders.
        checks = list(self.series.values())
        incidents = list(self.incidents.items())
        for name, kind, doc in _CHECK_FAMILIES:
            chunks.append(f"# HELP {name} {doc}\n# TYPE {name} {kind}\n".encode())
            out: list[str] = []
            if name in (INCIDENT_OPEN, INCIDENTS):
                self._incident_lines(name, incidents, out)
                chunks.append("".join(out).encode())
                continue
            for start in range(0, len(checks), _CHUNK_CHECKS):
                _check_lines(name, checks[start : start + _CHUNK_CHECKS], out)
                chunks.append("".join(out).encode())
                out.clear()
        return chunks

    def _incident_lines(
        self, name: str, incidents: list[tuple[tuple[str, str], _Incidents]], out: list[str]
    ) -> None:
        location = f'location="{_escape(self.location)}"'
        for (site, check), state in incidents:
            head = f'check="{_escape(check)}",{location}'
            tail = f'site="{_escape(site)}"'
            if name == INCIDENT_OPEN:
                named = f'{tail},site_name="{_escape(state.site_name)}"'
                for owner, reason in list(state.open):
                    labels = f'{head},owner="{_escape(owner)}",reason="{_escape(reason)}",{named}'
                    out.append(f"{name}{{{labels}}} 1.0\n")
            else:
                for reason, count in list(state.opened.items()):
                    labels = f'{head},reason="{_escape(reason)}",{tail}'
                    out.append(f"{name}{{{labels}}} {_count(count)}\n")


def _check_lines(name: str, checks: list[_CheckSeries], out: list[str]) -> None:
    """Append the samples of family `name` for `checks` to `out` (labels in sorted order)."""
    add = out.append
    if name == CHECK_INFO:
        for s in checks:
            add(f"{name}{{{s.info_labels}}} 1.0\n")
        return
    if name in _LATEST_PROBE:
        checks = [s for s in checks if s.probed]
    if name == PROBE_SUCCESS:
        for s in checks:
            add(f"{name}{{{s.labels}}} {_count(s.success)}\n")
    elif name == PROBE_DURATION:
        for s in checks:
            add(f"{name}{{{s.labels}}} {_num(s.duration)}\n")
    elif name == PROBE_HTTP_STATUS_CODE:
        for s in checks:
            add(f"{name}{{{s.labels}}} {_count(s.status_code)}\n")
    elif name == PROBE_HTTP_PHASE_DURATION:
        for s in checks:
            head = f"{s.check_label},{s.location_label}"
            for phase, seconds in zip(PHASE_NAMES, s.phases.as_tuple(), strict=True):
                add(f'{name}{{{head},phase="{phase}",{s.site_type_labels}}} {_num(seconds)}\n')
    elif name == PROBE_DURATION_HISTOGRAM:
        for s in checks:
            tail = f"{s.location_label},{s.site_type_labels}"
            s.histogram.lines(name, s.check_label, tail, out)
    elif name == PROBE_RESULTS:
        for s in checks:
            head = f"{s.check_label},{s.location_label}"
            for outcome, count in zip(_OUTCOMES, s.outcomes, strict=True):
                add(f'{name}{{{head},outcome="{outcome}",{s.site_type_labels}}} {_count(count)}\n')
    elif name == PROBES_SKIPPED:
        for s in checks:
            labels = f"{s.check_label},{s.location_label},{s.site_label}"
            add(f"{name}{{{labels}}} {_count(s.skipped)}\n")
    elif name in _TRANSPORT_VALUES:
        read = _TRANSPORT_VALUES[name]
        for s in checks:
            if s.transport is not None and (value := read(s.transport)) is not None:
                add(f"{name}{{{s.labels}}} {_num(value)}\n")
    elif name == PROBE_SSL_LAST_CHAIN_INFO:
        for s in checks:
            cert = s.transport.certificate if s.transport is not None else None
            if cert is not None:
                labels = (
                    f'{s.check_label},fingerprint_sha256="{cert.fingerprint_sha256}",'
                    f'issuer="{_escape(cert.issuer)}",{s.location_label},'
                    f'serialnumber="{cert.serialnumber}",{s.site_label},'
                    f'subject="{_escape(cert.subject)}",'
                    f'subjectalternative="{_escape(cert.subjectalternative)}",{s.type_label}'
                )
                add(f"{name}{{{labels}}} 1.0\n")
    elif name == PROBE_TLS_VERSION_INFO:
        for s in checks:
            version = s.transport.tls_version if s.transport is not None else None
            if version is not None:
                head = f"{s.check_label},{s.location_label}"
                add(f'{name}{{{head},{s.site_type_labels},version="{_escape(version)}"}} 1.0\n')
    elif name == LOGIN_STEP_DURATION:
        for s in checks:
            for step, histogram in list(s.steps.items()):
                tail = f'{s.location_label},{s.site_label},step="{_escape(step)}",{s.type_label}'
                histogram.lines(name, s.check_label, tail, out)
    elif name == LOGIN_STEP_FAILURES:
        for s in checks:
            head = f"{s.check_label},{s.location_label}"
            for (step, failed), count in list(s.step_failures.items()):
                labels = (
                    f'{head},outcome="{failed}",{s.site_label},step="{_escape(step)}",'
                    f"{s.type_label}"
                )
                add(f"{name}{{{labels}}} {_count(count)}\n")
    else:  # the optional gauges and counters: shown once measured
        attribute = _OPTIONAL[name]
        for s in checks:
            value = getattr(s, attribute)
            if value is not None:
                add(f"{name}{{{s.labels}}} {_num(value)}\n")


class Metrics:
    """The monitor's metrics, in one injected registry (never prometheus-client's global one)."""

    def __init__(self, registry: CollectorRegistry, *, location: str, version: str) -> None:
        self.registry = registry
        self.location = location
        self._checks = _CheckCollector(location)
        registry.register(self._checks)
        self._scheduler_lag = Histogram(
            SCHEDULER_LAG,
            "How late probes started against their schedule, in seconds.",
            buckets=SCHEDULER_LAG_BUCKETS,
            registry=registry,
        )
        self._store_queue_depth = Gauge(
            STORE_QUEUE_DEPTH,
            "Probe results waiting to be written to the store.",
            registry=registry,
        )
        self._store_write_errors = Counter(
            STORE_WRITE_ERRORS, "Failed attempts to write to the store.", registry=registry
        )
        self._store_dropped = Counter(
            STORE_DROPPED,
            "Probe results dropped because the store's buffer was full.",
            registry=registry,
        )
        self._maintenance = Gauge(
            MAINTENANCE,
            "1 while the site is in a maintenance window (incidents do not page).",
            ["site", "location"],
            registry=registry,
        )
        self._reload_successful = Gauge(
            CONFIG_RELOAD_SUCCESSFUL,
            "Whether the last configuration reload attempt succeeded.",
            registry=registry,
        )
        self._reload_success_timestamp = Gauge(
            CONFIG_RELOAD_SUCCESS_TIMESTAMP,
            "Timestamp of the last successful configuration reload, unix seconds.",
            registry=registry,
        )
        build_info = Gauge(
            BUILD_INFO, "Always 1; the version of the monitor.", ["version"], registry=registry
        )
        build_info.labels(version).set(1)

    # -- checks --------------------------------------------------------------------------

    def declare(self, check: CheckSpec) -> None:
        """Set up every series of a check before its first probe, so a failing one is seen.

        Calling it again for a check that kept its type (a config reload) keeps its series and
        totals; a changed type starts afresh, since `type` is a label.
        """
        key = (check.site, check.id)
        series = self._checks.series.get(key)
        if series is None or series.type != check.type:
            series = _CheckSeries(check.site, check.id, check.type, self.location)
            self._checks.series[key] = series
        # The freshness category (homepage, news, notice) lets alert rules tell a stale
        # homepage from a stale column; empty for other check types. site_name (the site's
        # name from the config, its id when it has none) is what messages and panels show.
        category = str(getattr(check, "category", "") or "")
        series.info_labels = (
            f'category="{_escape(category)}",{series.check_label},kind="{_escape(check.kind)}",'
            f'{series.location_label},owner="{_escape(check.owner)}",{series.site_label},'
            f'site_name="{_escape(check.site_name or check.site)}",{series.type_label}'
        )
        incidents = self._checks.incidents.get(key)
        if incidents is None:
            incidents = self._checks.incidents[key] = _Incidents(check.site)
        incidents.site_name = check.site_name or check.site
        for reason in _INCIDENT_REASONS.get(check.type, _ALL_REASONS):
            incidents.opened.setdefault(str(reason), 0)
        if getattr(check, "session", None) is not None and series.session_dropouts is None:
            # A check that keeps a session: its dropout counter exists at 0 from the start, so
            # increase() sees even a dropout found by the first session probe.
            series.session_dropouts = 0
        tls = getattr(check, "tls", None)
        if isinstance(tls, TLSSpec):
            if not tls.verify:
                # Known from the config: show the opt-out before any probe, so nobody reads
                # an unverified site as a checked one.
                series.tls_verified = 0
            elif series.tls_verified == 0:
                series.tls_verified = None  # opted back in: known again after the next probe

    def observe(self, result: ProbeResult) -> None:
        """Record one probe result: latest-probe gauges, histograms and counters.

        Results of checks not declared are ignored: a probe that finishes after its check
        left the config (or changed type) must not bring back series forget() removed.
        """
        series = self._checks.series.get((result.site, result.check))
        if series is None or series.type != result.type:
            return
        outcome = result.outcome
        duration = result.duration_seconds
        series.probed = True
        series.success = 1 if outcome is Outcome.OK else 0
        series.duration = duration
        series.status_code = result.status_code or 0
        phases = result.phases
        series.phases = phases if phases is not None else _NO_PHASES
        if outcome is not Outcome.PROBE_ERROR:  # the monitor's own failure says nothing of it
            series.reachable = 1 if page_opened(outcome, result.type) else 0
            # blackbox_exporter's HTTP prober series are the http check's: other check types
            # fetch too, but report only status, phases and certificate (as before).
            series.transport = result.transport if result.type == "http" else None
        series.histogram.observe(duration)
        series.outcomes[_OUTCOME_INDEX[outcome]] += 1
        if result.cert_expiry_timestamp is not None:
            series.cert_expiry = result.cert_expiry_timestamp
        if result.tls_verified is not None:
            series.tls_verified = 1 if result.tls_verified else 0
        if result.content_age_seconds is not None:
            series.content_age = result.content_age_seconds
        if result.items is not None:
            series.items = result.items
        if result.broken_links is not None:
            series.broken_links = len(result.broken_links)
        if result.steps:
            steps = series.steps
            for step in result.steps:
                if step.outcome is not Outcome.OK:
                    # A step that timed out at 3 s is a failure, not a 3 s login: counted by
                    # outcome, kept out of the latencies (and their p95).
                    failed = (step.name, str(step.outcome))
                    series.step_failures[failed] = series.step_failures.get(failed, 0) + 1
                    continue
                histogram = steps.get(step.name)
                if histogram is None:
                    histogram = steps[step.name] = _Histogram()
                histogram.observe(step.duration_seconds)
            if series.session_dropouts is None:
                # A check that logs in: its dropout counter exists from its first login on.
                series.session_dropouts = 0
        if outcome is Outcome.SESSION_DROPPED:
            series.session_dropouts = (series.session_dropouts or 0) + 1
        # Figures only some check types report (login sessions, message boards, findings).
        measured = result.measurement
        if isinstance(measured, LoginMeasurement):
            if measured.session_lifetime_seconds is not None:
                series.session_lifetime = measured.session_lifetime_seconds
            if measured.slow_login is not None:  # a login ran: the counter exists from then on
                series.slow_logins = (series.slow_logins or 0) + measured.slow_login
        elif isinstance(measured, InteractionMeasurement):
            if measured.median_response_seconds is not None:
                series.response_median = measured.median_response_seconds
            series.unanswered = measured.unanswered
            # A board read: no open question is an age of 0.
            series.oldest_unanswered = measured.oldest_unanswered_seconds or 0.0
        elif isinstance(measured, SecurityMeasurement):
            series.security_findings = measured.security_findings

    def forget(self, site: str, check: str, type: str) -> None:
        """Remove every series of a check that left the config (`type` is part of its identity)."""
        series = self._checks.series.get((site, check))
        if series is not None and series.type != type:
            return  # the check is back under another type: its series are the new ones
        self._checks.series.pop((site, check), None)
        self._checks.incidents.pop((site, check), None)

    def probe_skipped(self, site: str, check: str) -> None:
        """Count a probe not started because the previous one of the check was still running."""
        series = self._checks.series.get((site, check))
        if series is not None:
            series.skipped += 1

    # -- incidents (called by the incident engine) ---------------------------------------

    def incident_opened(
        self, site: str, check: str, owner: str, reason: str, *, new: bool = True
    ) -> None:
        """Show an open incident; count it unless `new` is False.

        Pass `new=False` for incidents reloaded from the store at start: an earlier process
        counted them already.
        """
        state = self._checks.incidents.get((site, check))
        if state is None:
            state = self._checks.incidents[(site, check)] = _Incidents(site)
        state.open[(owner, reason)] = None
        if new:
            state.opened[reason] = state.opened.get(reason, 0) + 1

    def incident_resolved(self, site: str, check: str, owner: str, reason: str) -> None:
        """Remove the open-incident series of a resolved incident (its count stays)."""
        state = self._checks.incidents.get((site, check))
        if state is not None:
            state.open.pop((owner, reason), None)

    def maintenance(self, site: str, active: bool) -> None:
        """Say whether the site is in a maintenance window."""
        self._maintenance.labels(site, self.location).set(1 if active else 0)

    def forget_site(self, site: str) -> None:
        """Remove the maintenance series of a site that left the config."""
        with contextlib.suppress(KeyError):
            self._maintenance.remove(site, self.location)

    # -- scheduler, store, config --------------------------------------------------------

    def scheduler_lag(self, seconds: float) -> None:
        """Record how late a probe started against its schedule."""
        self._scheduler_lag.observe(seconds)

    def store_queue_depth(self, depth: int) -> None:
        """Set how many results wait to be written to the store."""
        self._store_queue_depth.set(depth)

    def store_write_error(self) -> None:
        """Count one failed attempt to write to the store."""
        self._store_write_errors.inc()

    def store_dropped(self, count: int = 1) -> None:
        """Count results dropped because the store's buffer was full."""
        self._store_dropped.inc(count)

    def config_reloaded(self, success: bool, when: float) -> None:
        """Record a config (re)load attempt at unix time `when`, as blackbox_exporter does."""
        self._reload_successful.set(1 if success else 0)
        if success:
            self._reload_success_timestamp.set(when)

    # -- scrape --------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The whole registry in the Prometheus text format, per-check families rendered fast.

        The same bytes as `generate_latest(registry)` when Metrics was the registry's first
        collector.
        """
        return b"".join(self.exposition_chunks())

    def exposition_chunks(self) -> list[bytes]:
        """`exposition()` in chunks of a few hundred KB, for a server to send or compress.

        Safe to call from a worker thread; with many checks, do, so that a scrape never
        stalls the event loop (each chunk is built with the GIL held only briefly).
        """
        chunks = self._checks.render()
        muted = self._checks.muted
        muted.on = True
        try:
            chunks.append(generate_latest(self.registry))
        finally:
            muted.on = False
        return chunks
