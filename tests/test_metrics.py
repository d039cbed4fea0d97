"""Metrics: series from real ProbeResults, asserted on the gathered registry."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from prometheus_client import REGISTRY, CollectorRegistry, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from monitor import exposition
from monitor import metrics as m
from monitor.checkspec import CheckSpec
from monitor.configtypes import TLSSpec
from monitor.measurements import InteractionMeasurement, LoginMeasurement, SecurityMeasurement
from monitor.metrics import Metrics
from monitor.probes.http import HttpCheck
from monitor.results import (
    PHASE_NAMES,
    Certificate,
    Outcome,
    Phases,
    ProbeResult,
    StepResult,
    Transport,
)

LOC = "beijing"
T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


TRANSPORT = Transport(
    http_version=1.1,
    content_length=-1,
    body_length=5120,
    redirects=2,
    ssl=True,
    ip_protocol=4,
    ip_addr_hash=1.5e9,
    dns_lookup_seconds=0.004,
    failed_due_to_regex=False,
    tls_version="TLS 1.3",
    last_chain_expiry=1.8e9,
    certificate=Certificate(
        fingerprint_sha256="ab" * 32,
        subject="CN=www.sasac.gov.cn,O=国务院国有资产监督管理委员会,C=CN",
        issuer='CN=CFCA OV OCA,O=China Financial Certification Authority\\, "CFCA",C=CN',
        subjectalternative="www.sasac.gov.cn,sasac.gov.cn",
        serialnumber="1a2b",
    ),
)


def http_check(site: str = "sasac", check: str = "home", *, verify: bool = True) -> HttpCheck:
    return HttpCheck(
        id=check,
        url="https://www.example.gov.cn/",
        site=site,
        owner="sasac-it",
        interval=60,
        timeout=15,
        tls=TLSSpec(verify=verify),
    )


def login_check(site: str = "portal", check: str = "login") -> CheckSpec:
    return CheckSpec(id=check, type="login", site=site, owner="portal-it", interval=60)


def result(**fields: Any) -> ProbeResult:
    base: dict[str, Any] = {
        "site": "sasac",
        "check": "home",
        "type": "http",
        "outcome": Outcome.OK,
        "started_at": T0,
        "duration_seconds": 0.3,
        "location": LOC,
    }
    base.update(fields)
    return ProbeResult(**base)


def ids(site: str = "sasac", check: str = "home", type_: str = "http") -> dict[str, str]:
    return {"site": site, "check": check, "type": type_, "location": LOC}


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Metrics:
    return Metrics(registry, location=LOC, version="1.2.3")


def promtool_check(text: bytes) -> str:
    """What `promtool check metrics` says about `text` (empty when clean)."""
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    done = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=120, check=False
    )
    return f"rc={done.returncode} {done.stdout.decode()}{done.stderr.decode()}".strip()


def samples(text: bytes) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    return {
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def populate(metrics: Metrics) -> None:
    """Give every family at least one series."""
    metrics.declare(http_check())
    metrics.declare(http_check("petrochem", "plain", verify=False))
    metrics.declare(login_check("petrochem", "login"))
    metrics.observe(
        result(
            status_code=200,
            phases=Phases(0.001, 0.002, 0.01, 0.2, 0.05),
            cert_expiry_timestamp=1.9e9,
            tls_verified=True,
            content_age_seconds=3600.0,
            items=12,
            broken_links=("https://www.example.gov.cn/a",),
            transport=TRANSPORT,
        )
    )
    metrics.observe(
        result(
            site="petrochem",
            check="login",
            type="login",
            outcome=Outcome.SESSION_DROPPED,
            steps=(StepResult("form", 0.1, Outcome.OK), StepResult("submit", 0.4, Outcome.TIMEOUT)),
            measurement=LoginMeasurement(session_lifetime_seconds=1800.0),
        )
    )
    metrics.observe(
        result(
            site="petrochem",
            check="login",
            type="login",
            measurement=LoginMeasurement(login_seconds=12.0, slow_login=True),
        )
    )
    metrics.declare(http_check("sasac", "board"))
    metrics.observe(
        result(
            site="sasac",
            check="board",
            outcome=Outcome.UNANSWERED,
            measurement=InteractionMeasurement(
                median_response_seconds=86400.0 * 3,
                unanswered=2,
                open_questions=3,
                late_answers=0,
                oldest_unanswered_seconds=86400.0 * 120,
            ),
        )
    )
    metrics.declare(http_check("sasac", "security"))
    metrics.observe(
        result(
            site="sasac",
            check="security",
            outcome=Outcome.COMPROMISED,
            measurement=SecurityMeasurement(
                security_findings=3, findings=(), baseline="taken", links_examined=0
            ),
        )
    )
    metrics.probe_skipped("sasac", "home")
    metrics.scheduler_lag(0.002)
    metrics.incident_opened("petrochem", "login", "petrochem-it", "session_dropped")
    metrics.maintenance("sasac", True)
    metrics.store_queue_depth(5)
    metrics.store_write_error()
    metrics.store_dropped(2)
    metrics.config_reloaded(True, 1.7e9)
    points = metrics.points
    points.incidents("confirmed", [("sasac", "国资委网站", "home", "sasac-web", "timeout")])
    points.incidents("suspected", [("sasac", "国资委网站", "news", "sasac-web", "timeout")])
    points.location_blind(True, "canaries")
    points.canary_success("baidu", True)
    points.settings(2, 3)
    points.point_states([("ct", "up"), ("cu", "missing")])


def test_declared_series_exist_before_the_first_probe(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    """declare() sets up every outcome counter and the histogram at zero, and no latest-probe gauge."""
    metrics.declare(http_check())
    get = registry.get_sample_value
    # Not probed yet is not down: no probe_success (nor its companions) until a result.
    assert get("probe_success", ids()) is None
    assert get("probe_duration_seconds", ids()) is None
    assert get("probe_http_status_code", ids()) is None
    for phase in PHASE_NAMES:
        assert get("probe_http_duration_seconds", {**ids(), "phase": phase}) is None
    for outcome in Outcome:
        assert get("monitor_probe_results_total", {**ids(), "outcome": str(outcome)}) == 0
    assert get("monitor_probe_duration_seconds_count", ids()) == 0
    assert get("monitor_probe_duration_seconds_bucket", {**ids(), "le": "+Inf"}) == 0
    assert (
        get("monitor_probes_skipped_total", {"site": "sasac", "check": "home", "location": LOC})
        == 0
    )
    # A zero expiry would read as "expired": the series waits for a real certificate.
    assert get("probe_ssl_earliest_cert_expiry", ids()) is None
    assert get("monitor_tls_verified", ids()) is None
    # The first result brings the latest-probe gauges, a failure as 0.
    metrics.observe(result(outcome=Outcome.TIMEOUT))
    assert get("probe_success", ids()) == 0
    assert get("probe_http_duration_seconds", {**ids(), "phase": "connect"}) == 0


def test_successful_probe_sets_latest_gauges_histogram_and_counter(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    """One ok result sets the blackbox gauges, one histogram observation and the ok count."""
    metrics.declare(http_check())
    metrics.observe(
        result(
            status_code=200,
            phases=Phases(resolve=0.001, connect=0.002, tls=0.01, processing=0.2, transfer=0.05),
            cert_expiry_timestamp=1_900_000_000.0,
            tls_verified=True,
        )
    )
    get = registry.get_sample_value
    assert get("probe_success", ids()) == 1
    assert get("probe_duration_seconds", ids()) == 0.3
    assert get("probe_http_status_code", ids()) == 200
    assert get("probe_http_duration_seconds", {**ids(), "phase": "tls"}) == 0.01
    assert get("probe_http_duration_seconds", {**ids(), "phase": "processing"}) == 0.2
    assert get("probe_ssl_earliest_cert_expiry", ids()) == 1_900_000_000.0
    assert get("monitor_tls_verified", ids()) == 1
    assert get("monitor_probe_duration_seconds_bucket", {**ids(), "le": "0.25"}) == 0
    assert get("monitor_probe_duration_seconds_bucket", {**ids(), "le": "0.5"}) == 1
    assert get("monitor_probe_duration_seconds_bucket", {**ids(), "le": "+Inf"}) == 1
    assert get("monitor_probe_duration_seconds_sum", ids()) == 0.3
    assert get("monitor_probe_duration_seconds_count", ids()) == 1
    assert get("monitor_probe_results_total", {**ids(), "outcome": "ok"}) == 1
    assert get("monitor_probe_results_total", {**ids(), "outcome": "timeout"}) == 0


def test_failed_probe_zeroes_latest_gauges_but_keeps_last_certificate(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    """A failure without status or phases shows 0 for them; the known cert expiry stays."""
    metrics.declare(http_check())
    metrics.observe(result(status_code=200, phases=Phases(0.1, 0.1, 0.1, 0.1, 0.1)))
    metrics.observe(result(cert_expiry_timestamp=1.8e9))
    metrics.observe(result(outcome=Outcome.TIMEOUT, duration_seconds=15.0))
    get = registry.get_sample_value
    assert get("probe_success", ids()) == 0
    assert get("probe_duration_seconds", ids()) == 15.0
    assert get("probe_http_status_code", ids()) == 0
    assert get("probe_http_duration_seconds", {**ids(), "phase": "resolve"}) == 0
    assert get("probe_ssl_earliest_cert_expiry", ids()) == 1.8e9
    assert get("monitor_probe_results_total", {**ids(), "outcome": "timeout"}) == 1
    assert get("monitor_probe_results_total", {**ids(), "outcome": "ok"}) == 2
    assert get("monitor_probe_duration_seconds_bucket", {**ids(), "le": "10.0"}) == 2
    assert get("monitor_probe_duration_seconds_bucket", {**ids(), "le": "15.0"}) == 3


def test_histogram_bucket_bounds_are_inclusive(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    """A duration equal to a bucket bound counts in that bucket (Prometheus `le`)."""
    metrics.declare(http_check())
    metrics.observe(result(duration_seconds=0.5))
    get = registry.get_sample_value
    assert get("monitor_probe_duration_seconds_bucket", {**ids(), "le": "0.25"}) == 0
    assert get("monitor_probe_duration_seconds_bucket", {**ids(), "le": "0.5"}) == 1


def test_content_gauges_appear_once_measured(metrics: Metrics, registry: CollectorRegistry) -> None:
    """Content age, items and broken links are set from results that carry them, kept otherwise."""
    metrics.declare(http_check())
    get = registry.get_sample_value
    assert get("monitor_content_age_seconds", ids()) is None
    metrics.observe(
        result(content_age_seconds=7200.0, items=15, broken_links=("https://a/", "https://b/"))
    )
    metrics.observe(result())
    assert get("monitor_content_age_seconds", ids()) == 7200.0
    assert get("monitor_content_items", ids()) == 15
    assert get("monitor_broken_links", ids()) == 2


def test_the_oldest_unanswered_age_is_a_metric(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    """`monitor_oldest_unanswered_question_seconds` follows the board, 0 once nothing is open."""
    metrics.declare(CheckSpec(id="board", type="interaction", site="gov", interval=60))
    board = {"site": "gov", "check": "board", "type": "interaction"}
    who = ids("gov", "board", "interaction")
    name = "monitor_oldest_unanswered_question_seconds"
    assert registry.get_sample_value(name, who) is None
    opened = InteractionMeasurement(
        open_questions=1, unanswered=0, late_answers=0, oldest_unanswered_seconds=70 * 86400.0
    )
    metrics.observe(result(**board, measurement=opened))
    assert registry.get_sample_value(name, who) == 70 * 86400.0
    nothing_open = InteractionMeasurement(open_questions=0, unanswered=0, late_answers=0)
    metrics.observe(result(**board, measurement=nothing_open))
    assert registry.get_sample_value(name, who) == 0


def test_login_steps_and_session_dropouts(metrics: Metrics, registry: CollectorRegistry) -> None:
    """Step durations feed a per-step histogram; a session_dropped outcome counts a dropout."""
    who = ids("portal", "login", "login")
    metrics.declare(login_check())
    metrics.declare(http_check())
    steps = (StepResult("form", 0.1, Outcome.OK), StepResult("submit", 0.7, Outcome.OK))
    metrics.observe(result(site="portal", check="login", type="login", steps=steps))
    get = registry.get_sample_value
    assert get("monitor_session_dropouts_total", who) == 0
    metrics.observe(
        result(site="portal", check="login", type="login", outcome=Outcome.SESSION_DROPPED)
    )
    assert get("monitor_session_dropouts_total", who) == 1
    submit = {**who, "step": "submit"}
    assert get("monitor_login_step_duration_seconds_count", submit) == 1
    assert get("monitor_login_step_duration_seconds_bucket", {**submit, "le": "0.5"}) == 0
    assert get("monitor_login_step_duration_seconds_bucket", {**submit, "le": "1.0"}) == 1
    assert get("monitor_login_step_duration_seconds_sum", {**who, "step": "form"}) == 0.1
    # A plain http check never logs in: no dropout series for it.
    metrics.observe(result())
    assert get("monitor_session_dropouts_total", ids()) is None


def test_session_dropout_counter_starts_at_zero_for_a_kept_session(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    """A login check that keeps a session counts 0 dropouts from its declaration on; one without a session has no such series before it logs in."""
    from monitor.probes.login import LoginCheck

    step = {"name": "form", "url": "https://www.example.gov.cn/login",
            "expect": {"body_contains": ["退出登录"]}}  # fmt: skip
    kept = LoginCheck.model_validate(
        {"id": "member", "site": "portal", "owner": "portal-it", "interval": 60, "steps": [step],
         "session": {"url": "https://www.example.gov.cn/member", "marker": "退出登录"}}
    )  # fmt: skip
    metrics.declare(kept)
    metrics.declare(login_check())
    get = registry.get_sample_value
    assert get("monitor_session_dropouts_total", ids("portal", "member", "login")) == 0
    assert get("monitor_session_dropouts_total", ids("portal", "login", "login")) is None


def test_timed_out_login_steps_are_counted_apart_from_latencies(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    """A step that timed out is counted by outcome and kept out of the step latency histogram (slow successes only)."""
    who = ids("portal", "login", "login")
    metrics.declare(login_check())
    slow_ok = (StepResult("form", 0.1, Outcome.OK), StepResult("submit", 7.0, Outcome.OK))
    timed_out = (StepResult("form", 0.1, Outcome.OK), StepResult("submit", 3.0, Outcome.TIMEOUT))
    metrics.observe(result(site="portal", check="login", type="login", steps=slow_ok))
    metrics.observe(result(site="portal", check="login", type="login", steps=timed_out,
                           outcome=Outcome.TIMEOUT))  # fmt: skip
    get = registry.get_sample_value
    submit = {**who, "step": "submit"}
    assert get("monitor_login_step_duration_seconds_count", submit) == 1
    assert get("monitor_login_step_duration_seconds_sum", submit) == 7.0
    assert get("monitor_login_step_duration_seconds_count", {**who, "step": "form"}) == 2
    failures = {**submit, "outcome": "timeout"}
    assert get("monitor_login_step_failures_total", failures) == 1
    assert (
        get("monitor_login_step_failures_total", {**who, "step": "form", "outcome": "timeout"})
        is None
    )
    assert metrics.exposition() == generate_latest(registry)
    assert promtool_check(metrics.exposition()) == "rc=0"


def test_metrics_count_slow_logins_and_leave_failed_steps_out(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    """`monitor_slow_logins_total` counts slow successes; a timed-out step is not a duration."""
    metrics.declare(login_check())
    who = ids("portal", "login", "login")
    login = {"site": "portal", "check": "login", "type": "login"}
    fast = LoginMeasurement(login_seconds=1.0, slow_login=False)
    steps = (StepResult("submit", 1.0, Outcome.OK),)
    metrics.observe(result(**login, steps=steps, measurement=fast))
    assert registry.get_sample_value("monitor_slow_logins_total", who) == 0
    slow = LoginMeasurement(login_seconds=12.0, slow_login=True)
    steps = (StepResult("submit", 12.0, Outcome.OK),)
    metrics.observe(result(**login, steps=steps, measurement=slow))
    timed_out = (StepResult("submit", 15.0, Outcome.TIMEOUT),)
    metrics.observe(result(**login, outcome=Outcome.TIMEOUT, steps=timed_out))
    assert registry.get_sample_value("monitor_slow_logins_total", who) == 1
    submit = {**who, "step": "submit"}
    assert registry.get_sample_value("monitor_login_step_duration_seconds_count", submit) == 2
    assert registry.get_sample_value("monitor_login_step_duration_seconds_sum", submit) == 13.0


def test_tls_opt_out_is_visible_before_any_probe(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    """An opted-out check shows monitor_tls_verified 0 from the start, until it opts back in."""
    metrics.declare(http_check(verify=False))
    assert registry.get_sample_value("monitor_tls_verified", ids()) == 0
    metrics.observe(result(tls_verified=False))
    assert registry.get_sample_value("monitor_tls_verified", ids()) == 0
    metrics.declare(http_check(verify=True))
    assert registry.get_sample_value("monitor_tls_verified", ids()) is None


def test_forget_removes_every_series_of_the_check(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    """forget() drops a removed check's series (incidents too) and leaves other checks alone."""
    metrics.declare(http_check())
    metrics.declare(http_check(check="news"))
    metrics.observe(result(cert_expiry_timestamp=1.8e9, steps=(StepResult("a", 0.1, Outcome.OK),)))
    metrics.incident_opened("sasac", "home", "sasac-it", "timeout")
    metrics.forget("sasac", "home", "http")
    text = metrics.exposition()
    assert b'check="home"' not in text
    assert b'check="news"' in text
    assert registry.get_sample_value("probe_success", ids(check="news")) is None
    labels = {**ids(check="news"), "outcome": "ok"}
    assert registry.get_sample_value("monitor_probe_results_total", labels) == 0
    assert registry.get_sample_value("probe_success", ids()) is None


def test_results_of_undeclared_or_forgotten_checks_are_ignored(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    """A probe finishing after its check left the config does not bring its series back."""
    metrics.declare(http_check())
    metrics.forget("sasac", "home", "http")
    metrics.observe(result())
    metrics.observe(result(check="never-declared"))
    metrics.probe_skipped("sasac", "home")
    assert registry.get_sample_value("probe_success", ids()) is None
    assert b'check="' not in metrics.exposition()


def test_redeclare_keeps_totals_and_a_changed_type_starts_afresh(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    """A reload that keeps a check keeps its counts; a changed type replaces its series."""
    metrics.declare(http_check())
    metrics.observe(result())
    metrics.declare(http_check())
    get = registry.get_sample_value
    assert get("monitor_probe_results_total", {**ids(), "outcome": "ok"}) == 1
    changed = http_check().model_copy(update={"type": "freshness"})
    metrics.declare(changed)
    assert get("probe_success", ids()) is None
    assert get("monitor_probe_results_total", {**ids(type_="freshness"), "outcome": "ok"}) == 0
    # Forgetting the check under its old type leaves the new series alone.
    metrics.forget("sasac", "home", "http")
    assert get("monitor_probe_results_total", {**ids(type_="freshness"), "outcome": "ok"}) == 0


def test_skipped_probes_are_counted(metrics: Metrics, registry: CollectorRegistry) -> None:
    """probe_skipped() increments monitor_probes_skipped_total of that check."""
    metrics.declare(http_check())
    metrics.probe_skipped("sasac", "home")
    metrics.probe_skipped("sasac", "home")
    labels = {"site": "sasac", "check": "home", "location": LOC}
    assert registry.get_sample_value("monitor_probes_skipped_total", labels) == 2


def test_scheduler_lag_histogram_resolves_milliseconds(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    """Lag of 0.5 ms and 3 ms land in different buckets (1 ms granularity at the bottom)."""
    metrics.scheduler_lag(0.0005)
    metrics.scheduler_lag(0.003)
    get = registry.get_sample_value
    assert get("monitor_scheduler_lag_seconds_bucket", {"le": "0.001"}) == 1
    assert get("monitor_scheduler_lag_seconds_bucket", {"le": "0.005"}) == 2
    assert get("monitor_scheduler_lag_seconds_count") == 2


def test_config_reload_outcome(metrics: Metrics, registry: CollectorRegistry) -> None:
    """A refused reload sets the success gauge to 0 and keeps the last success time."""
    metrics.config_reloaded(True, 1000.0)
    get = registry.get_sample_value
    assert get("monitor_config_last_reload_successful") == 1
    assert get("monitor_config_last_reload_success_timestamp_seconds") == 1000.0
    metrics.config_reloaded(False, 2000.0)
    assert get("monitor_config_last_reload_successful") == 0
    assert get("monitor_config_last_reload_success_timestamp_seconds") == 1000.0


def test_incident_open_gauge_and_count(metrics: Metrics, registry: CollectorRegistry) -> None:
    """Opening shows the gauge and counts; resolving removes it; a reloaded one isn't counted."""
    open_labels = {
        "site": "sasac",
        "check": "home",
        "owner": "sasac-it",
        "reason": "timeout",
        "location": LOC,
        "site_name": "sasac",  # no declare(): the site id stands for the name
    }
    count_labels = {"site": "sasac", "check": "home", "reason": "timeout", "location": LOC}
    get = registry.get_sample_value
    metrics.incident_opened("sasac", "home", "sasac-it", "timeout")
    assert get("monitor_incident_open", open_labels) == 1
    assert get("monitor_incidents_total", count_labels) == 1
    metrics.incident_resolved("sasac", "home", "sasac-it", "timeout")
    assert get("monitor_incident_open", open_labels) is None
    assert get("monitor_incidents_total", count_labels) == 1
    metrics.incident_opened("sasac", "home", "sasac-it", "timeout", new=False)
    assert get("monitor_incident_open", open_labels) == 1
    assert get("monitor_incidents_total", count_labels) == 1


@pytest.mark.parametrize(
    ("type_", "outcome", "reachable"),
    [
        ("http", Outcome.OK, 1),
        ("http", Outcome.TIMEOUT, 0),
        ("http", Outcome.HTTP_ERROR, 0),
        ("http", Outcome.CONTENT_MISMATCH, 0),  # the page is not the page
        ("freshness", Outcome.CONTENT_MISMATCH, 1),  # a blank column answered
        ("freshness", Outcome.STALE, 1),
        ("feed", Outcome.STALE, 1),
        ("feed", Outcome.DNS_ERROR, 0),
        ("links", Outcome.BROKEN_LINKS, 1),
        ("interaction", Outcome.UNANSWERED, 1),
        ("login", Outcome.LOGIN_FAILED, 1),
        ("login", Outcome.SESSION_DROPPED, 1),
        ("login", Outcome.CONTENT_MISMATCH, 0),
        ("login", Outcome.DROPOUT, 0),
    ],
)
def test_reachable_says_whether_the_page_opened_whatever_its_content(
    metrics: Metrics, registry: CollectorRegistry, type_: str, outcome: Outcome, reachable: int
) -> None:
    """monitor_probe_reachable is 1 when the page answered (stale, broken links, failed login) and 0 when it did not open."""
    metrics.declare(CheckSpec(id="c", type=type_, site="s", owner="o", interval=60))
    labels = ids("s", "c", type_)
    assert registry.get_sample_value("monitor_probe_reachable", labels) is None
    metrics.observe(result(site="s", check="c", type=type_, outcome=outcome))
    assert registry.get_sample_value("monitor_probe_reachable", labels) == reachable
    assert registry.get_sample_value("probe_success", labels) == (outcome is Outcome.OK)
    # The monitor's own failure leaves what was known.
    metrics.observe(result(site="s", check="c", type=type_, outcome=Outcome.PROBE_ERROR))
    assert registry.get_sample_value("monitor_probe_reachable", labels) == reachable


def test_check_info_carries_the_site_name(metrics: Metrics, registry: CollectorRegistry) -> None:
    """monitor_check_info and monitor_incident_open name the site as its config does (石化离退休干部局网站)."""
    check = http_check("petrochem").model_copy(update={"site_name": "石化离退休干部局网站"})
    metrics.declare(check)
    info = {**ids("petrochem"), "owner": "sasac-it", "kind": "", "category": "",
            "site_name": "石化离退休干部局网站"}  # fmt: skip
    assert registry.get_sample_value("monitor_check_info", info) == 1
    assert metrics.exposition() == generate_latest(registry)


def test_blackbox_http_series_follow_the_latest_probe(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    """The blackbox HTTP series carry the latest probe's transport facts; TLS ones only over TLS."""
    metrics.declare(http_check())
    get = registry.get_sample_value
    assert get("probe_http_version", ids()) is None  # not probed yet
    metrics.observe(result(transport=TRANSPORT))
    assert get("probe_http_version", ids()) == 1.1
    assert get("probe_http_content_length", ids()) == -1
    assert get("probe_http_uncompressed_body_length", ids()) == 5120
    assert get("probe_http_redirects", ids()) == 2
    assert get("probe_http_ssl", ids()) == 1
    assert get("probe_ip_protocol", ids()) == 4
    assert get("probe_ip_addr_hash", ids()) == 1.5e9
    assert get("probe_dns_lookup_time_seconds", ids()) == 0.004
    assert get("probe_failed_due_to_regex", ids()) == 0
    assert get("probe_ssl_last_chain_expiry_timestamp_seconds", ids()) == 1.8e9
    assert get("probe_tls_version_info", {**ids(), "version": "TLS 1.3"}) == 1
    cert = TRANSPORT.certificate
    assert cert is not None
    info = {**ids(), "fingerprint_sha256": cert.fingerprint_sha256, "issuer": cert.issuer,
            "serialnumber": "1a2b", "subject": cert.subject,
            "subjectalternative": cert.subjectalternative}  # fmt: skip
    assert get("probe_ssl_last_chain_info", info) == 1
    # Then a plain-HTTP answer that failed its markers: the TLS series go.
    metrics.observe(result(outcome=Outcome.CONTENT_MISMATCH,
                           transport=Transport(http_version=1.0, content_length=12,
                                               body_length=12, failed_due_to_regex=True)))  # fmt: skip
    assert get("probe_http_version", ids()) == 1.0
    assert get("probe_failed_due_to_regex", ids()) == 1
    assert get("probe_http_ssl", ids()) == 0
    assert get("probe_tls_version_info", {**ids(), "version": "TLS 1.3"}) is None
    assert get("probe_ssl_last_chain_expiry_timestamp_seconds", ids()) is None
    assert get("probe_ssl_last_chain_info", info) is None
    assert metrics.exposition() == generate_latest(registry)


def test_incident_counters_start_at_zero_for_each_reason_of_the_type(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    """A declared check counts 0 incidents for every reason its type can give, so increase() sees the first."""
    metrics.declare(http_check())
    metrics.declare(login_check("petrochem", "member"))
    get = registry.get_sample_value

    def count(site: str, check: str, reason: str) -> float | None:
        labels = {"site": site, "check": check, "reason": reason, "location": LOC}
        return get("monitor_incidents_total", labels)

    for reason in ("dns_error", "connect_error", "timeout", "tls_error", "dropout",
                   "http_error", "content_mismatch"):  # fmt: skip
        assert count("sasac", "home", reason) == 0
        assert count("petrochem", "member", reason) == 0
    assert count("petrochem", "member", "login_failed") == 0
    assert count("petrochem", "member", "session_dropped") == 0
    # Reasons the type cannot give, and the non-reasons, have no series.
    assert count("sasac", "home", "login_failed") is None
    assert count("sasac", "home", "stale") is None
    assert count("sasac", "home", "ok") is None
    assert count("sasac", "home", "probe_error") is None
    metrics.incident_opened("sasac", "home", "sasac-it", "timeout")
    assert count("sasac", "home", "timeout") == 1
    # A reload keeps the count.
    metrics.declare(http_check())
    assert count("sasac", "home", "timeout") == 1


def test_process_wide_metrics(metrics: Metrics, registry: CollectorRegistry) -> None:
    """Maintenance, store and build info metrics carry what they were given."""
    metrics.maintenance("sasac", True)
    metrics.store_queue_depth(42)
    metrics.store_write_error()
    metrics.store_dropped(3)
    get = registry.get_sample_value
    assert get("monitor_maintenance", {"site": "sasac", "location": LOC}) == 1
    metrics.maintenance("sasac", False)
    assert get("monitor_maintenance", {"site": "sasac", "location": LOC}) == 0
    assert get("monitor_store_queue_depth") == 42
    assert get("monitor_store_write_errors_total") == 1
    assert get("monitor_store_dropped_total") == 3
    assert get("monitor_build_info", {"version": "1.2.3"}) == 1


def test_registry_is_injected_not_global(metrics: Metrics) -> None:
    """Nothing lands in prometheus-client's global default registry."""
    metrics.declare(http_check())
    metrics.observe(result())
    assert REGISTRY.get_sample_value("monitor_build_info", {"version": "1.2.3"}) is None
    assert REGISTRY.get_sample_value("probe_success", ids()) is None


def test_registering_a_clashing_name_is_refused(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    """The per-check families are named to the registry, so a duplicate is refused."""
    with pytest.raises(ValueError, match="Duplicated"):
        Gauge("probe_success", "dup", registry=registry)


def test_label_values_are_escaped(registry: CollectorRegistry) -> None:
    """Quotes, backslashes, newlines and Chinese in label values survive the exposition."""
    odd = 'a"b\\c\n登录'
    metrics = Metrics(registry, location=odd, version="1")
    metrics.declare(http_check())
    metrics.observe(result(steps=(StepResult(odd, 0.1, Outcome.OK),)))
    labels = {"site": "sasac", "check": "home", "type": "http", "location": odd}
    assert registry.get_sample_value("probe_success", labels) == 1
    assert (
        registry.get_sample_value(
            "monitor_login_step_duration_seconds_count", {**labels, "step": odd}
        )
        == 1
    )
    assert metrics.exposition() == generate_latest(registry)
    assert promtool_check(metrics.exposition()) == "rc=0"


def test_fast_exposition_equals_prometheus_client_rendering(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    """exposition() is byte for byte what generate_latest(registry) writes, others' included."""
    populate(metrics)
    extra = Gauge("someone_elses_gauge", "Registered by another part.", registry=registry)
    extra.set(7)
    fast = metrics.exposition()
    assert fast == generate_latest(registry)
    assert b"".join(metrics.exposition_chunks()) == fast
    assert ("someone_elses_gauge", (), 7.0) in samples(fast)


def test_every_family_passes_promtool(metrics: Metrics, registry: CollectorRegistry) -> None:
    """With every family populated, promtool finds no problem in either rendering."""
    populate(metrics)
    labels = ids("sasac", "board")
    assert registry.get_sample_value("monitor_unanswered_questions", labels) == 2
    assert registry.get_sample_value("monitor_interaction_response_seconds", labels) == 259200
    # A check without a site name shows its site id as the name.
    info = {**labels, "owner": "sasac-it", "kind": "", "category": "", "site_name": "sasac"}
    assert registry.get_sample_value("monitor_check_info", info) == 1
    families = {
        f.name for f in text_string_to_metric_families(metrics.exposition().decode()) if f.samples
    }
    names = {
        value
        for key, value in vars(m).items()
        if key.isupper() and isinstance(value, str) and value.startswith(("probe_", "monitor_"))
    }
    # Every name defined in monitor.metrics has samples (counters parse without _total).
    assert {n.removesuffix("_total") for n in names} <= families
    assert promtool_check(metrics.exposition()) == "rc=0"
    assert promtool_check(generate_latest(registry)) == "rc=0"


def test_forget_site_removes_its_maintenance_series(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    """A site that left the config has no monitor_maintenance series left (not a stale 0)."""
    metrics.maintenance("sasac", True)
    labels = {"site": "sasac", "location": LOC}
    assert registry.get_sample_value("monitor_maintenance", labels) == 1
    metrics.forget_site("sasac")
    assert registry.get_sample_value("monitor_maintenance", labels) is None
    metrics.forget_site("sasac")  # forgetting twice is harmless


def test_family_table_names_every_per_check_series(metrics: Metrics) -> None:
    """Every per-check family in the exposition is one entry of m.FAMILIES, each named once."""
    populate(metrics)
    names = [family.name for family in m.FAMILIES]
    assert len(names) == len(set(names))
    # The probe points' incident series name a check too, but they are what PostgreSQL holds
    # about the check as a whole, kept by PointsMetrics, not series of this process's checks.
    points = {m.CONFIRMED_INCIDENT_OPEN, m.SUSPECTED_INCIDENT_OPEN}
    per_check = {
        f.name
        for f in text_string_to_metric_families(metrics.exposition().decode())
        if any("check" in s.labels for s in f.samples) and f.name not in points
    }
    assert per_check == {name.removesuffix("_total") for name in names}


@given(st.one_of(st.floats(), st.integers(-(10**12), 10**12)))
def test_numbers_are_written_as_prometheus_client_writes_them(value: float) -> None:
    """exposition.number spells every float and count as prometheus-client's floatToGoString."""
    assert exposition.number(value) == floatToGoString(value)


def test_points_series_follow_what_the_locations_see(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    """Confirmed incidents are shown exactly as given (a gone one removed, a kept one never
    blinks), a blind span is counted when it begins, and a location no longer expected
    leaves no series."""
    points, get = metrics.points, registry.get_sample_value
    home = ("sasac", "国资委网站", "home", "sasac-web", "timeout")
    news = ("sasac", "国资委网站", "news", "sasac-web", "http_error")

    def labels(i: tuple[str, ...]) -> dict[str, str]:
        names = ("site", "site_name", "check", "owner", "reason")
        return {**dict(zip(names, i, strict=True)), "location": LOC}

    points.incidents("confirmed", [home, news])
    points.incidents("confirmed", [home])
    assert get("monitor_confirmed_incident_open", labels(home)) == 1
    assert get("monitor_confirmed_incident_open", labels(news)) is None
    points.location_blind(True, "checks")
    points.location_blind(False)
    assert get("monitor_location_blind", {"location": LOC}) == 0
    assert get("monitor_location_blind_spans_total", {"reason": "checks", "location": LOC}) == 1
    points.point_states([("ct", "up"), ("cu", "missing")])
    points.point_states([("ct", "blind")])
    assert get("monitor_location_up", {"point": "ct", "location": LOC}) == 0
    assert get("monitor_location_missing", {"point": "cu", "location": LOC}) is None


_EVENTS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "declare",
                "observe",
                "skip",
                "open",
                "resolve",
                "forget",
                "retype",
                "rename",
                "scrape",
            ]
        ),
        st.sampled_from(["home", "news", "login"]),
        st.sampled_from(list(Outcome)),
        st.floats(0.001, 40.0),
    ),
    max_size=40,
)


@given(_EVENTS)
@example(  # an open incident's series carries the site's name, which a reload may change
    [("declare", "home", Outcome.OK, 1.0), ("open", "home", Outcome.TIMEOUT, 1.0),
     ("scrape", "home", Outcome.OK, 1.0), ("rename", "home", Outcome.OK, 2.0)]
)  # fmt: skip
def test_a_scrape_that_renders_only_changes_writes_what_a_fresh_one_does(
    events: list[tuple[str, str, Outcome, float]],
) -> None:
    """Scrapes in between (which render again only checks that changed) end at the same text as rendering the same history once, from scratch."""
    scraped = Metrics(CollectorRegistry(), location=LOC, version="1")
    fresh = Metrics(CollectorRegistry(), location=LOC, version="1")
    for what, check, outcome, seconds in events:
        for metrics in (scraped, fresh):
            type_ = "login" if check == "login" else "http"
            if what == "declare":
                metrics.declare(
                    http_check(check=check) if type_ == "http" else login_check("sasac", check)
                )
            elif what == "observe":
                metrics.observe(result(check=check, type=type_, outcome=outcome, duration_seconds=seconds,
                                       transport=TRANSPORT if outcome is Outcome.OK else None,
                                       steps=(StepResult("form", seconds, outcome),)))  # fmt: skip
            elif what == "skip":
                metrics.probe_skipped("sasac", check)
            elif what == "open":
                metrics.incident_opened("sasac", check, "sasac-it", str(outcome))
            elif what == "resolve":
                metrics.incident_resolved("sasac", check, "sasac-it", str(outcome))
            elif what == "forget":
                metrics.forget("sasac", check, type_)
            elif what == "retype":
                metrics.declare(http_check(check=check).model_copy(update={"type": "freshness"}))
            elif what == "rename":
                metrics.declare(
                    http_check(check=check).model_copy(update={"site_name": f"国资委{seconds:.0f}"})
                )
            elif metrics is scraped:
                metrics.exposition()
    assert (
        scraped.exposition().split(b"# HELP monitor_scheduler_lag")[0]
        == (fresh.exposition().split(b"# HELP monitor_scheduler_lag")[0])
    )
