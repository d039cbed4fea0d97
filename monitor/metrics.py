"""Prometheus metrics: every name defined once, here, into an injected registry.

Per-check series (the blackbox-compatible `probe_*` gauges and the `monitor_*` ones labelled by
check) are one table, `FAMILIES`: each entry names a family, its kind, help and labels, and
how its value is read from a result (or set when the check is declared). That table drives
the values kept per check, their update from each result and their rendering, which
`monitor.exposition` writes as text directly. Process-wide metrics (scheduler, store, config,
build) are ordinary prometheus-client metrics. `Metrics.exposition()` is the fast scrape; the
registry itself still answers `generate_latest()` and `get_sample_value()` with the same
samples, only slower.
"""

from __future__ import annotations

import contextlib
import functools
import operator
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.parser import text_string_to_metric_families

from monitor import exposition
from monitor.checkspec import CheckSpec
from monitor.configtypes import TLSSpec
from monitor.exposition import Kind, escape
from monitor.measurements import (
    InteractionMeasurement,
    LoginMeasurement,
    Measurement,
    SecurityMeasurement,
)
from monitor.results import (
    PHASE_NAMES,
    UNREACHABLE_OUTCOMES,
    Certificate,
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
# Probe points (docs/probe-points.md).
CONFIRMED_INCIDENT_OPEN = "monitor_confirmed_incident_open"
SUSPECTED_INCIDENT_OPEN = "monitor_suspected_incident_open"
LOCATION_BLIND = "monitor_location_blind"
LOCATION_BLIND_SPANS = "monitor_location_blind_spans_total"
LOCATION_MISSING = "monitor_location_missing"
LOCATION_UP = "monitor_location_up"
CANARY_SUCCESS = "monitor_canary_success"
POINTS_QUORUM = "monitor_points_quorum"
POINTS_EXPECTED = "monitor_points_expected"

# Probes take 10 ms (loopback, a near CDN) to the 15 s timeout; 30 s catches slow checks
# configured with a longer timeout.
PROBE_DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)
# A healthy scheduler starts probes within a millisecond or two; seconds mean it is starved.
SCHEDULER_LAG_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

# The labels every per-check series carries, unless its family says otherwise.
CHECK_LABELS = ("check", "location", "site", "type")
# Labels a family may take from its check (see _CheckSeries.own).
_OWN_LABELS = frozenset({*CHECK_LABELS, "site_name"})


# -- the family table -------------------------------------------------------------------------

# How a gauge follows results:
#   "latest": every result sets it (read None: no series until a result has it again);
#   "site":   like latest, but a probe_error result (the monitor's own failure, which says
#             nothing of the site) leaves what was known;
#   "kept":   a result that measured it sets it; one that did not keeps the last value.
# Counters add what `read` gives (None: nothing, the series does not start); histograms
# observe it. A family with `labels` reads (label values, number) pairs instead of a number.
Follow = Literal["latest", "site", "kept"]
Read = Callable[[ProbeResult], Any]
Start = Callable[[CheckSpec, Any], Any]
M = TypeVar("M", bound=Measurement)


@dataclass(frozen=True, slots=True)
class Family:
    """One per-check metric family, all that defines it: adding a metric is adding one.

    `labels` are the ones beyond `own` (the check's: check, location, site, type, or
    site_name); a sample's label values are escaped once, where they are read. `read` takes
    the family's value from a result (None: results do not move it, `Metrics` methods do);
    `start` gives its value when the check is declared, from the check and its value so far
    (None before, or kept across a config reload). A family without a value has no series.
    """

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    read: Read | None = None
    follow: Follow = "latest"
    start: Start | None = None
    own: tuple[str, ...] = CHECK_LABELS
    buckets: tuple[float, ...] = ()
    writer: exposition.Writer = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        assert set(self.own) <= _OWN_LABELS, self.own
        assert self.kind == "gauge" or self.follow == "latest", "counters and histograms add up"
        writer = exposition.Writer(
            self.name, self.kind, self.own, self.labels, CHECK_LABELS, self.buckets
        )
        object.__setattr__(self, "writer", writer)

    def update(self, value: Any, result: ProbeResult) -> Any:
        """The family's value after `result`, from its value before."""
        assert self.read is not None
        read = self.read(result)
        if self.kind == "gauge":
            return value if read is None and self.follow == "kept" else read
        if read is None:
            return value
        return self.add(value, read)

    def add(self, value: Any, read: Any) -> Any:
        """A counter's or histogram's value with what was read from a result added to it."""
        if not self.labels:
            if self.kind == "counter":
                return (value or 0) + read
            value.observe(read)
            return value
        if value is None:
            value = {}
        for key, number in read:
            if self.kind == "counter":
                value[key] = value.get(key, 0) + number
            else:
                histogram = value.get(key)
                if histogram is None:
                    histogram = value[key] = exposition.Histogram(self.buckets)
                histogram.observe(number)
        return value


def _http_fetch(result: ProbeResult) -> Transport | None:
    """The fetch behind an http check's result, for blackbox_exporter's HTTP prober series.

    Other check types fetch too, but report only status, phases and certificate (as before).
    """
    return result.transport if result.type == "http" else None


def _transport(name: str) -> Read:
    """Read one of blackbox_exporter's HTTP facts, a field of an http check's fetch."""
    read = operator.attrgetter(name)  # a bool or int is written as the float it stands for
    return lambda r: read(r.transport) if r.type == "http" and r.transport is not None else None


def _measured(kind: type[M], read: Callable[[M], float | None]) -> Read:
    """Read a figure only one check type reports, from its measurement (None: not this one)."""
    return lambda r: read(m) if isinstance(m := r.measurement, kind) else None


def _keep(start: Any) -> Start:
    """Start at `start` when declared; a reload keeps the value so far."""
    return lambda check, value: start() if value is None else value


_OUTCOMES = tuple(Outcome)
_OUTCOME_KEYS = MappingProxyType({o: (str(o),) for o in _OUTCOMES})
_PHASE_KEYS = tuple((name,) for name in PHASE_NAMES)
_NO_PHASES = Phases()

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


def _check_info(check: CheckSpec, value: Any) -> Any:
    # The freshness category (homepage, news, notice) lets alert rules tell a stale homepage
    # from a stale column; empty for other check types. site_name is the record's own.
    category = str(getattr(check, "category", "") or "")
    return (((escape(category), escape(check.kind), escape(check.owner)), 1),)


def _tls_verified(check: CheckSpec, value: Any) -> Any:
    tls = getattr(check, "tls", None)
    if isinstance(tls, TLSSpec):
        if not tls.verify:
            # Known from the config: show the opt-out before any probe, so nobody reads an
            # unverified site as a checked one.
            return 0
        if value == 0:
            return None  # opted back in: known again after the next probe
    return value


def _session_dropouts(check: CheckSpec, value: Any) -> Any:
    if value is None and getattr(check, "session", None) is not None:
        # A check that keeps a session: its dropout counter exists at 0 from the start, so
        # increase() sees even a dropout found by the first session probe.
        return 0
    return value


def _dropouts(result: ProbeResult) -> int | None:
    if result.outcome is Outcome.SESSION_DROPPED:
        return 1
    return 0 if result.steps else None  # a check that logs in: the counter exists from then on


def _incident_reasons(check: CheckSpec, value: Any) -> Any:
    counts: dict[tuple[str, ...], int] = {} if value is None else value
    missing = [
        r for r in _INCIDENT_REASONS.get(check.type, _ALL_REASONS) if (str(r),) not in counts
    ]
    return {**counts, **{(str(r),): 0 for r in missing}} if missing else counts


# Escaped once per certificate or version seen, not once per probe.
@functools.lru_cache(maxsize=4096)
def _certificate_sample(cert: Certificate) -> Any:
    key = (cert.fingerprint_sha256, escape(cert.issuer), cert.serialnumber,
           escape(cert.subject), escape(cert.subjectalternative))  # fmt: skip
    return ((key, 1),)


@functools.lru_cache(maxsize=64)
def _tls_version_sample(version: str) -> Any:
    return (((escape(version),), 1),)


def _certificate(result: ProbeResult) -> Any:
    cert = fetched.certificate if (fetched := _http_fetch(result)) is not None else None
    return None if cert is None else _certificate_sample(cert)


def _tls_version(result: ProbeResult) -> Any:
    version = fetched.tls_version if (fetched := _http_fetch(result)) is not None else None
    return None if version is None else _tls_version_sample(version)


_phase_values = operator.attrgetter(*PHASE_NAMES)


def _phases(result: ProbeResult) -> Any:
    return tuple(zip(_PHASE_KEYS, _phase_values(result.phases or _NO_PHASES), strict=True))


def _step_durations(result: ProbeResult) -> Any:
    if not result.steps:
        return None
    # A step that timed out at 3 s is a failure, not a 3 s login: counted by outcome (below),
    # kept out of the latencies (and their p95).
    return [
        ((escape(s.name),), s.duration_seconds) for s in result.steps if s.outcome is Outcome.OK
    ]


def _step_failures(result: ProbeResult) -> Any:
    if not result.steps:
        return None
    return [
        ((escape(s.name), str(s.outcome)), 1) for s in result.steps if s.outcome is not Outcome.OK
    ]


# Every per-check family, in exposition order. Adding a per-check metric is adding an entry.
FAMILIES: tuple[Family, ...] = (
    Family(
        CHECK_INFO,
        "gauge",
        "Always 1; the owner, kind and site name of each check, to join onto its series.",
        labels=("category", "kind", "owner"),
        own=(*CHECK_LABELS, "site_name"),
        start=_check_info,
    ),
    # The latest probe's gauges: no series before a check's first result, so a check not
    # probed yet is not read as down.
    Family(
        PROBE_SUCCESS,
        "gauge",
        "Whether the latest probe of the check succeeded (1) or not (0).",
        read=lambda r: 1 if r.outcome is Outcome.OK else 0,
    ),
    Family(
        PROBE_DURATION,
        "gauge",
        "How long the latest probe of the check took, in seconds.",
        read=lambda r: r.duration_seconds,
    ),
    Family(
        PROBE_HTTP_STATUS_CODE,
        "gauge",
        "HTTP status code of the latest probe (0 if none).",
        read=lambda r: r.status_code or 0,
    ),
    Family(
        PROBE_HTTP_PHASE_DURATION,
        "gauge",
        "Seconds the latest probe spent in each HTTP phase.",
        labels=("phase",),
        read=_phases,
    ),
    # A 0 expiry would page as expired: the series waits for a real certificate, then stays.
    Family(
        PROBE_SSL_EARLIEST_CERT_EXPIRY,
        "gauge",
        "Expiry of the peer certificate, unix seconds.",
        read=lambda r: r.cert_expiry_timestamp,
        follow="kept",
    ),
    # blackbox_exporter's other HTTP series, with its meaning (http checks, once probed).
    Family(
        PROBE_DNS_LOOKUP_TIME,
        "gauge",
        "Seconds the latest probe's first name lookup took.",
        read=_transport("dns_lookup_seconds"),
        follow="site",
    ),
    Family(
        PROBE_HTTP_SSL,
        "gauge",
        "Whether the latest probe's final answer came over TLS.",
        read=_transport("ssl"),
        follow="site",
    ),
    Family(
        PROBE_HTTP_VERSION,
        "gauge",
        "HTTP version of the latest probe's answer (1.1; 0: none).",
        read=_transport("http_version"),
        follow="site",
    ),
    Family(
        PROBE_HTTP_CONTENT_LENGTH,
        "gauge",
        "Content-Length of the latest probe's answer (-1: not given).",
        read=_transport("content_length"),
        follow="site",
    ),
    Family(
        PROBE_HTTP_UNCOMPRESSED_BODY_LENGTH,
        "gauge",
        "Bytes of body the latest probe read, after decompression.",
        read=_transport("body_length"),
        follow="site",
    ),
    Family(
        PROBE_HTTP_REDIRECTS,
        "gauge",
        "Redirects the latest probe followed.",
        read=_transport("redirects"),
        follow="site",
    ),
    Family(
        PROBE_IP_PROTOCOL,
        "gauge",
        "IP version (4 or 6) the latest probe connected over.",
        read=_transport("ip_protocol"),
        follow="site",
    ),
    Family(
        PROBE_IP_ADDR_HASH,
        "gauge",
        "Hash of the address the latest probe connected to, to see it change.",
        read=_transport("ip_addr_hash"),
        follow="site",
    ),
    Family(
        PROBE_FAILED_DUE_TO_REGEX,
        "gauge",
        "Whether the latest probe failed on the body's expected markers.",
        read=_transport("failed_due_to_regex"),
        follow="site",
    ),
    Family(
        PROBE_SSL_LAST_CHAIN_EXPIRY,
        "gauge",
        "Earliest expiry in the verified certificate chain, unix seconds.",
        read=_transport("last_chain_expiry"),
        follow="site",
    ),
    Family(
        PROBE_SSL_LAST_CHAIN_INFO,
        "gauge",
        "Always 1; the verified leaf certificate's identity.",
        labels=("fingerprint_sha256", "issuer", "serialnumber", "subject", "subjectalternative"),
        read=_certificate,
        follow="site",
    ),
    Family(
        PROBE_TLS_VERSION_INFO,
        "gauge",
        "Always 1; the TLS version of the latest probe's answer.",
        labels=("version",),
        read=_tls_version,
        follow="site",
    ),
    Family(
        PROBE_REACHABLE,
        "gauge",
        "Whether the latest probe opened its page (1), even if its content or login failed.",
        read=lambda r: 1 if page_opened(r.outcome, r.type) else 0,
        follow="site",
    ),
    # Counters and histograms start at 0 from declare() on, so increase() sees their first event.
    Family(
        PROBE_DURATION_HISTOGRAM,
        "histogram",
        "Duration of probes, in seconds.",
        read=lambda r: r.duration_seconds,
        buckets=PROBE_DURATION_BUCKETS,
        start=_keep(lambda: exposition.Histogram(PROBE_DURATION_BUCKETS)),
    ),
    Family(
        PROBE_RESULTS,
        "counter",
        "Probes run, by outcome.",
        labels=("outcome",),
        read=lambda r: ((_OUTCOME_KEYS[r.outcome], 1),),
        start=_keep(lambda: dict.fromkeys(_OUTCOME_KEYS.values(), 0)),
    ),
    Family(
        PROBES_SKIPPED,
        "counter",
        "Probes skipped because the previous one was still running.",
        own=("check", "location", "site"),
        start=_keep(int),
    ),
    Family(
        TLS_VERIFIED,
        "gauge",
        "Whether the check verifies TLS certificates (0: opted out).",
        read=lambda r: None if r.tls_verified is None else int(r.tls_verified),
        follow="kept",
        start=_tls_verified,
    ),
    # Shown once measured, kept while results do not measure them (a 0 age would read as fresh).
    Family(
        CONTENT_AGE,
        "gauge",
        "Age of the newest dated item the latest probe found, in seconds.",
        read=lambda r: r.content_age_seconds,
        follow="kept",
    ),
    Family(
        CONTENT_ITEMS,
        "gauge",
        "Number of items the latest probe found.",
        read=lambda r: r.items,
        follow="kept",
    ),
    Family(
        BROKEN_LINKS,
        "gauge",
        "Number of broken links the latest probe found.",
        read=lambda r: None if r.broken_links is None else len(r.broken_links),
        follow="kept",
    ),
    Family(
        LOGIN_STEP_DURATION,
        "histogram",
        "Duration of each successful step of a login, seconds.",
        labels=("step",),
        read=_step_durations,
        buckets=PROBE_DURATION_BUCKETS,
    ),
    Family(
        LOGIN_STEP_FAILURES,
        "counter",
        "Login steps that failed (timed out, refused), by outcome.",
        labels=("step", "outcome"),
        read=_step_failures,
    ),
    Family(
        SESSION_DROPOUTS,
        "counter",
        "Logged-in sessions that were logged out before they should.",
        read=_dropouts,
        start=_session_dropouts,
    ),
    Family(
        SLOW_LOGINS,
        "counter",
        "Logins that succeeded but slower than the check's slow limit.",
        read=_measured(
            LoginMeasurement, lambda m: None if m.slow_login is None else int(m.slow_login)
        ),
    ),
    Family(
        SESSION_LIFETIME,
        "gauge",
        "How long the latest dropped session had lived, in seconds.",
        read=_measured(LoginMeasurement, lambda m: m.session_lifetime_seconds),
        follow="kept",
    ),
    Family(
        INTERACTION_RESPONSE,
        "gauge",
        "Median time to answer a public question, in seconds.",
        read=_measured(InteractionMeasurement, lambda m: m.median_response_seconds),
        follow="kept",
    ),
    Family(
        UNANSWERED_QUESTIONS,
        "gauge",
        "Public questions unanswered for longer than allowed.",
        read=_measured(InteractionMeasurement, lambda m: m.unanswered),
        follow="kept",
    ),
    Family(
        OLDEST_UNANSWERED,
        "gauge",
        "Age of the oldest unanswered public question, in seconds.",
        # A board read: no open question is an age of 0.
        read=_measured(InteractionMeasurement, lambda m: m.oldest_unanswered_seconds or 0.0),
        follow="kept",
    ),
    Family(
        SECURITY_FINDINGS,
        "gauge",
        "Suspected injections, defacements, wording errors found.",
        read=_measured(SecurityMeasurement, lambda m: m.security_findings),
        follow="kept",
    ),
    # Set by the incident engine (Metrics.incident_opened/resolved). site_name is on
    # monitor_incident_open so that alerts on it can name the site without a join.
    Family(
        INCIDENT_OPEN,
        "gauge",
        "1 while an incident of the check is open.",
        labels=("owner", "reason"),
        own=("check", "location", "site", "site_name"),
        start=_keep(dict),
    ),
    Family(
        INCIDENTS,
        "counter",
        "Incidents opened, by reason.",
        labels=("reason",),
        own=("check", "location", "site"),
        start=_incident_reasons,
    ),
)

_INDEX = MappingProxyType({family.name: i for i, family in enumerate(FAMILIES)})
_DECLARED = tuple((i, f.start) for i, f in enumerate(FAMILIES) if f.start is not None)
# What observe() does with each family that reads results: (index, read) of the gauges it
# sets, of those it sets unless the result is a probe_error, of those it sets when measured;
# (index, read, add) of the counters and histograms.
_GAUGES = tuple(
    (i, f.read, f.follow) for i, f in enumerate(FAMILIES) if f.kind == "gauge" and f.read
)
_SET = tuple((i, read) for i, read, follow in _GAUGES if follow == "latest")
_SET_FROM_SITE = tuple((i, read) for i, read, follow in _GAUGES if follow == "site")
_SET_MEASURED = tuple((i, read) for i, read, follow in _GAUGES if follow == "kept")
_FOLD = tuple((i, f.read, f.add) for i, f in enumerate(FAMILIES) if f.read and f.kind != "gauge")
# A family without the type label is the check's whatever its type: kept when the type changes.
_UNTYPED = tuple(i for i, f in enumerate(FAMILIES) if "type" not in f.own)
_SKIPPED, _OPEN, _OPENED = _INDEX[PROBES_SKIPPED], _INDEX[INCIDENT_OPEN], _INDEX[INCIDENTS]
_WRITERS = tuple(family.writer for family in FAMILIES)
_NOTHING = (None,) * len(FAMILIES)
_NO_TEXT = (b"",) * len(FAMILIES)
# Every value is replaced when it changes, so a scrape knows an unchanged one by identity,
# except the counters and histograms observe() adds results to in place: always rendered.
_IN_PLACE = tuple(f.read is not None and f.kind != "gauge" for f in FAMILIES)
# Checks per rendered chunk (see _CheckCollector.render).
_CHUNK_CHECKS = 500


class _CheckSeries:
    """The values of every per-check family of one check, by family index (None: no series).

    `labels` holds the check's own labels rendered once (`site="..."`), so rendering only
    joins strings. Whatever changes a value bumps `version` after it: a scrape renders again
    only the checks whose version moved since the last, and reuses the text of the rest
    (between two scrapes most checks were not probed: three in four at 60 s and 15 s).
    """

    __slots__ = ("labels", "rendered", "sources", "text", "type", "values", "version")

    def __init__(self, site: str, check: str, type_: str | None, location: str) -> None:
        self.type = type_  # None: not declared (an incident reloaded before its check)
        own = {
            "check": f'check="{escape(check)}"',
            "location": f'location="{escape(location)}"',
            "site": f'site="{escape(site)}"',
            "type": f'type="{escape(type_ or "")}"',
            "site_name": f'site_name="{escape(site)}"',  # until declare() gives its name
        }
        self.labels = exposition.Labels(own, CHECK_LABELS)
        self.values: list[Any] = [None] * len(FAMILIES)
        self.version = 0
        self.rendered = -1  # the version `text` was rendered from
        self.text: tuple[bytes, ...] = ()
        self.sources: tuple[Any, ...] = ()  # the values `text` was rendered from

    def render(self) -> bool:
        """Render `text` again, by family index, if a value changed since; say if it did.

        Called by one scrape at a time (_CheckCollector.render holds a lock); the event loop
        may change values meanwhile: a change after `version` was read shows next scrape.
        """
        version = self.version
        if version == self.rendered:
            return False
        labels = self.labels
        values = tuple(self.values)
        before = self.sources or _NOTHING
        texts = self.text or _NO_TEXT
        self.text = tuple(
            [
                b""
                if value is None
                else text
                if value is old and not in_place
                else writer.text(value, labels).encode()
                for writer, in_place, value, old, text in zip(
                    _WRITERS, _IN_PLACE, values, before, texts, strict=True
                )
            ]
        )
        self.sources = values
        self.rendered = version
        return True


class _CheckCollector:
    """The per-check families, rendered straight to exposition text.

    Registered in the injected registry so generic readers (`generate_latest`,
    `get_sample_value`) see these families too: for them `collect()` parses the text back,
    so there is one renderer and both views always agree.

    The text is kept by family (`_columns[family][position of the check]`), so a scrape
    joins slices of it, and only the checks that changed are rendered and put back in place.
    """

    def __init__(self) -> None:
        self.series: dict[tuple[str, str], _CheckSeries] = {}
        # Set when a check comes or goes: the next scrape lays the columns out again.
        self.reshaped = True
        self._order: list[_CheckSeries] = []
        self._columns: list[list[bytes]] = [[] for _ in FAMILIES]
        # One scrape renders changed checks at a time; another waits, then finds them done.
        self._rendering = threading.Lock()
        # Set while Metrics.exposition() runs generate_latest, having rendered our families
        # itself; per thread, because scrapes render in a worker thread.
        self.muted = threading.local()

    def describe(self) -> Iterator[Metric]:
        """Name the families, so the registry refuses anything registered under the same names."""
        for family in FAMILIES:
            if family.kind == "counter":
                yield CounterMetricFamily(family.name, family.help, labels=())
            elif family.kind == "histogram":
                yield HistogramMetricFamily(family.name, family.help, labels=())
            else:
                yield GaugeMetricFamily(family.name, family.help, labels=())

    def collect(self) -> Iterator[Metric]:
        if getattr(self.muted, "on", False):
            return
        yield from text_string_to_metric_families(b"".join(self.render()).decode())

    def render(self) -> Iterator[bytes]:
        """The text exposition of every per-check family, in chunks of a few hundred checks.

        Short joins, each holding the GIL briefly, rather than one 300 MB join that would
        stall the event loop; and a scrape that sends chunks as they come never holds all.
        """
        with self._rendering:
            columns = self._refresh()
        checks = len(columns[0])
        for index, family in enumerate(FAMILIES):
            yield exposition.header(family.name, family.kind, family.help)
            column = columns[index]
            for start in range(0, checks, _CHUNK_CHECKS):
                yield b"".join(column[start : start + _CHUNK_CHECKS])

    def _refresh(self) -> list[list[bytes]]:
        """Render the checks that changed into the columns; lay them out anew if checks came
        or went (a snapshot: the event loop may add or drop checks meanwhile)."""
        if self.reshaped:
            self.reshaped = False
            self._order = list(self.series.values())
            for series in self._order:
                series.render()
            # New lists: a scrape still sending the old ones keeps them whole.
            self._columns = [list(c) for c in zip(*(s.text for s in self._order), strict=True)]
            if not self._order:
                self._columns = [[] for _ in FAMILIES]
            return self._columns
        columns = self._columns
        for position, series in enumerate(self._order):
            if series.render():
                for column, text in zip(columns, series.text, strict=True):
                    column[position] = text
        return columns


class Metrics:
    """The monitor's metrics, in one injected registry (never prometheus-client's global one)."""

    def __init__(self, registry: CollectorRegistry, *, location: str, version: str) -> None:
        self.registry = registry
        self.location = location
        self._checks = _CheckCollector()
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
        self.points = PointsMetrics(registry, location)

    # -- checks --------------------------------------------------------------------------

    def declare(self, check: CheckSpec) -> None:
        """Set up every series of a check before its first probe, so a failing one is seen.

        Calling it again for a check that kept its type (a config reload) keeps its series and
        totals; a changed type starts afresh, since `type` is a label.
        """
        key = (check.site, check.id)
        series = self._checks.series.get(key)
        if series is None or series.type != check.type:
            before = series
            series = _CheckSeries(check.site, check.id, check.type, self.location)
            if before is not None:
                for index in _UNTYPED:
                    series.values[index] = before.values[index]
            self._checks.series[key] = series
            self._checks.reshaped = True
        # site_name (the site's name from the config, its id when it has none) is what
        # messages and panels show.
        site_name = f'site_name="{escape(check.site_name or check.site)}"'
        if series.labels.own["site_name"] != site_name:
            series.labels.own["site_name"] = site_name
            series.sources = ()  # its text changes with no value changing: render it all
        values = series.values
        for index, start in _DECLARED:
            values[index] = start(check, values[index])
        series.version += 1

    def observe(self, result: ProbeResult) -> None:
        """Record one probe result: every family that reads results reads it.

        Results of checks not declared are ignored: a probe that finishes after its check
        left the config (or changed type) must not bring back series forget() removed.
        """
        series = self._checks.series.get((result.site, result.check))
        if series is None or series.type != result.type:
            return
        values = series.values
        # An unchanged value stays the same object, so a scrape sees it needs no new text.
        for index, read in _SET:
            if (value := read(result)) != values[index]:
                values[index] = value
        for index, read in _SET_MEASURED:
            if (value := read(result)) is not None and value != values[index]:
                values[index] = value
        for index, read, add in _FOLD:
            if (value := read(result)) is not None:
                values[index] = add(values[index], value)
        if result.outcome is not Outcome.PROBE_ERROR:
            for index, read in _SET_FROM_SITE:
                if (value := read(result)) != values[index]:
                    values[index] = value
        series.version += 1

    def forget(self, site: str, check: str, type: str) -> None:
        """Remove every series of a check that left the config (`type` is part of its identity)."""
        series = self._checks.series.get((site, check))
        if series is not None and series.type not in (type, None):
            return  # the check is back under another type: its series are the new ones
        if self._checks.series.pop((site, check), None) is not None:
            self._checks.reshaped = True

    def probe_skipped(self, site: str, check: str) -> None:
        """Count a probe not started because the previous one of the check was still running."""
        series = self._checks.series.get((site, check))
        if series is not None and series.type is not None:
            series.values[_SKIPPED] += 1
            series.version += 1

    # -- incidents (called by the incident engine) ---------------------------------------

    def incident_opened(
        self, site: str, check: str, owner: str, reason: str, *, new: bool = True
    ) -> None:
        """Show an open incident; count it unless `new` is False.

        Pass `new=False` for incidents reloaded from the store at start: an earlier process
        counted them already.
        """
        series = self._checks.series.get((site, check))
        if series is None:  # reloaded before its check is declared
            series = self._checks.series[(site, check)] = _CheckSeries(
                site, check, None, self.location
            )
            self._checks.reshaped = True
        values = series.values
        values[_OPEN] = {**(values[_OPEN] or {}), (escape(owner), escape(reason)): 1}
        if new:
            opened = dict(values[_OPENED] or {})
            key = (escape(reason),)
            opened[key] = opened.get(key, 0) + 1
            values[_OPENED] = opened
        series.version += 1

    def incident_resolved(self, site: str, check: str, owner: str, reason: str) -> None:
        """Remove the open-incident series of a resolved incident (its count stays)."""
        series = self._checks.series.get((site, check))
        key = (escape(owner), escape(reason))
        if series is not None and key in (series.values[_OPEN] or ()):
            series.values[_OPEN] = {k: v for k, v in series.values[_OPEN].items() if k != key}
            series.version += 1

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

    def exposition_chunks(self) -> Iterator[bytes]:
        """`exposition()` in chunks of up to a few MB, made as they are taken.

        For a server to send or compress as it goes, from a worker thread: the first chunk
        renders the checks that changed since the last scrape, which with many checks takes
        a noticeable fraction of a second (the interpreter lets the event loop run meanwhile).
        """
        yield from self._checks.render()
        muted = self._checks.muted
        muted.on = True
        try:
            process_wide = generate_latest(self.registry)
        finally:
            muted.on = False
        yield process_wide


# (site, site_name, check, owner, reason): the labels of an incident series of a check.
IncidentLabels = tuple[str, str, str, str, str]


class PointsMetrics:
    """What this location says about the probe points: the confirmed and suspected incidents
    PostgreSQL holds, whether it is blind, which expected locations are missing."""

    def __init__(self, registry: CollectorRegistry, location: str) -> None:
        self.location = location
        incident = ["site", "site_name", "check", "owner", "reason", "location"]
        self._confirmed = Gauge(
            CONFIRMED_INCIDENT_OPEN,
            "1 while a check-level incident, confirmed by a quorum of locations, is open.",
            incident,
            registry=registry,
        )
        self._suspected = Gauge(
            SUSPECTED_INCIDENT_OPEN,
            "1 while this location has an incident of the check open that no quorum confirms.",
            incident,
            registry=registry,
        )
        self._blind = Gauge(
            LOCATION_BLIND,
            "1 while this location cannot see (its canaries fail, or nearly every check).",
            ["location"],
            registry=registry,
        )
        self._blind.labels(location).set(0)
        self._blind_spans = Counter(
            LOCATION_BLIND_SPANS,
            "Spans begun in which this location was blind, by reason.",
            ["reason", "location"],
            registry=registry,
        )
        for reason in ("canaries", "checks"):
            self._blind_spans.labels(reason, location)
        self._missing = Gauge(
            LOCATION_MISSING,
            "1 while the expected location `point` has not reported for points.missing_after.",
            ["point", "location"],
            registry=registry,
        )
        self._up = Gauge(
            LOCATION_UP,
            "1 while the expected location `point` reports and sees.",
            ["point", "location"],
            registry=registry,
        )
        self._canary = Gauge(
            CANARY_SUCCESS,
            "Whether the latest probe of this location's canary succeeded.",
            ["canary", "location"],
            registry=registry,
        )
        self._quorum = Gauge(
            POINTS_QUORUM, "Locations that must fail at once to confirm.", ["location"],
            registry=registry,
        )  # fmt: skip
        self._expected = Gauge(
            POINTS_EXPECTED, "Locations expected to probe.", ["location"], registry=registry
        )
        self._shown: dict[str, set[IncidentLabels]] = {"confirmed": set(), "suspected": set()}
        self._points: set[str] = set()
        self._canaries: set[str] = set()

    def location_blind(self, blind: bool, reason: str = "") -> None:
        """Set `monitor_location_blind`; count the span when one begins."""
        self._blind.labels(self.location).set(1 if blind else 0)
        if blind:
            self._blind_spans.labels(reason, self.location).inc()

    def canary_success(self, canary: str, success: bool) -> None:
        self._canaries.add(canary)
        self._canary.labels(canary, self.location).set(1 if success else 0)

    def canaries_configured(self, canaries: Iterable[str]) -> None:
        """Drop the series of canaries no longer configured."""
        keep = set(canaries)
        for canary in self._canaries - keep:
            self._canary.remove(canary, self.location)
        self._canaries &= keep

    def settings(self, quorum: int, expected: int) -> None:
        self._quorum.labels(self.location).set(quorum)
        self._expected.labels(self.location).set(expected)

    def incidents(self, kind: str, shown: Iterable[IncidentLabels]) -> None:
        """Show exactly these confirmed (or suspected) incidents: new series set, gone ones
        removed, the others left alone (a series never blinks out and back)."""
        gauge = self._confirmed if kind == "confirmed" else self._suspected
        wanted = set(shown)
        for labels in self._shown[kind] - wanted:
            gauge.remove(*labels, self.location)
        for labels in wanted - self._shown[kind]:
            gauge.labels(*labels, self.location).set(1)
        self._shown[kind] = wanted

    def point_states(self, states: Iterable[tuple[str, str]]) -> None:
        """(location, up | blind | missing) of every expected location."""
        seen = set()
        for point, state in states:
            seen.add(point)
            self._missing.labels(point, self.location).set(1 if state == "missing" else 0)
            self._up.labels(point, self.location).set(1 if state == "up" else 0)
        for point in self._points - seen:
            self._missing.remove(point, self.location)
            self._up.remove(point, self.location)
        self._points = seen
