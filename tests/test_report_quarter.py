"""The report of `tests/quarter.py`'s quarter, every figure against hand-derived ground truth.

Each site of the quarter sits on one boundary of an official rule. The expected evidence is
written out in full (by hand, or by a plain count over the generated results), and compared
with the JSON report's, so a figure the report adds, drops or changes fails here.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.clock import SystemClock
from monitor.report import build_report, parse_period, render
from monitor.results import Outcome, ProbeResult
from monitor.store import Store
from tests.history import write
from tests.pg import RecordingStoreMetrics, fresh_schema
from tests.quarter import (
    B60_ANSWERED,
    B60_ASKED,
    B90_ASKED,
    BRIDGE_DOWN,
    DAY,
    LOGIN_FAILED_AT,
    Q2_END,
    Q2_START,
    Quarter,
    at,
    config_data,
    scenario,
)

NOW = datetime(2026, 8, 1, tzinfo=Q2_START.tzinfo)


@dataclass
class World:
    quarter: Quarter
    zh: dict[str, Any]
    en: dict[str, Any]
    rendered: dict[tuple[str, str], str]
    half_hour: dict[str, Any]


async def _build() -> World:
    async with fresh_schema() as url:
        quarter = scenario(url)
        store = await Store.open(quarter.history.config, RecordingStoreMetrics(), SystemClock())
        try:
            await write(quarter.history, store)
            period = parse_period(quarter.history.config.timezone, quarter_text="2026Q2")
            report = await build_report(quarter.history.config, store, period, now=NOW)
            half_hour = parse_period(
                quarter.history.config.timezone,
                from_text="2026-05-04T10:15",
                to_text="2026-05-04T10:45",
            )
            short = await build_report(quarter.history.config, store, half_hour, now=NOW)
        finally:
            await store.close()
    rendered = {}
    for fmt in ("md", "html"):
        for lang in ("zh", "en"):
            out = render(report, fmt, lang)  # type: ignore[arg-type]
            assert isinstance(out, bytes)
            rendered[(fmt, lang)] = out.decode("utf-8")
    return World(
        quarter,
        json.loads(render(report, "json", "zh")),  # type: ignore[arg-type]
        json.loads(render(report, "json", "en")),  # type: ignore[arg-type]
        rendered,
        json.loads(render(short, "json", "en")),  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def world() -> World:
    """The quarter written once through the real store, and its JSON report in both languages."""
    return asyncio.run(_build())


def results(world: World, site_id: str, check: str) -> list[ProbeResult]:
    return [r for r in world.quarter.history.results if r.site == site_id and r.check == check]


def render_text(world: World, fmt: str, lang: str) -> str:
    return world.rendered[(fmt, lang)]


def site(world: World, site_id: str) -> dict[str, Any]:
    return next(s for s in world.zh["sites"] if s["id"] == site_id)


def verdict(world: World, site_id: str, indicator: str) -> dict[str, Any]:
    return next(v for v in site(world, site_id)["verdicts"] if v["indicator"] == indicator)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def not_assessable(world: World, site_id: str, indicator: str, reason: str) -> None:
    v = verdict(world, site_id, indicator)
    assert (v["status"], v["reason"], v["evidence"]) == ("not_assessable", reason, {})


# -- blank columns --------------------------------------------------------------------------


def test_blank_columns_probed_at_different_intervals_overlap_into_a_veto(world: World) -> None:
    """Five columns never probed in the same hour but blank together for two days are a veto."""
    v = verdict(world, "blanks", "blank_columns")
    columns = ["c1", "c2", "c3", "c4", "c5"]
    assert v["status"] == "veto"
    assert v["reason"] is None
    # c5 (daily at 07:00) is the last to be seen blank, at May 10 07:00; by then c1..c4 (seen
    # blank from 00:00, 03:00, 01:00 and 05:00) still are: their next probe is on May 12.
    assert v["evidence"] == {
        "max_count": 5,
        "at": iso(at(5, 10, 7)),
        "columns": columns,
        "ever_blank": columns,
        "veto_count": 5,
        "warning_count": 3,
        "reading": "state_holds_until_next_observation",
    }
    rules = verdict(world, "blanks", "columns_not_updated")
    assert rules["status"] == "pass"
    assert rules["evidence"]["rules"] == [
        {
            "rule": rule,
            "threshold": threshold,
            "max_count": 0,
            "at": None,
            "columns": [],
            "assessed": columns,
            "unobserved": [],
        }
        for rule, threshold in ((1, 5), (2, 10))
    ]
    for indicator, reason in (
        ("site_unreachable", "no_http_check"),
        ("homepage_not_updated", "no_homepage_check"),
        ("poor_interaction", "no_interaction_check"),
    ):
        not_assessable(world, "blanks", indicator, reason)
    assert site(world, "blanks")["status"] == "veto"


def test_blank_hours_of_each_column_are_counted(world: World) -> None:
    """Each column's blank hours are its probes within the two blank days (one per hour)."""
    # Probes from May 10 00:00 to May 12 00:00: every 6 h = 8, 8 h from 01:00 = 6, 12 h = 4,
    # daily = 2.
    expected = {"c1": 8, "c2": 8, "c3": 6, "c4": 4, "c5": 2}
    observations = {"c1": 364, "c2": 364, "c3": 273, "c4": 182, "c5": 91}
    for column in site(world, "blanks")["freshness"]:
        assert column["blank_hours"] == expected[column["check"]]
        assert column["observations"] == observations[column["check"]]
        assert column["undated_hours"] == 0
        assert column["stale_seconds"] == 0.0
        assert column["stale_spans"] == []
        assert column["allowed_age_seconds"] == 14 * DAY


# -- timeouts below 15 s ---------------------------------------------------------------------


def _window(start: date, probes: int, failures: int, **more: Any) -> dict[str, Any]:
    return {
        "check": "home",
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(days=6)).isoformat(),
        "probes": probes,
        "failures": failures,
        "slow": 0,
        "ratio": failures / probes,
        **more,
    }


@pytest.mark.parametrize(
    ("site_id", "status", "reason", "start", "failures", "left_out"),
    [
        # Eight timeouts in May 4-10: 5.7 % if counted, 0 % if not: they would decide.
        ("early-na", "not_assessable", "timeout_below_official", date(2026, 5, 4), 0, 8),
        # Seven HTTP errors in 140 probes (5 %): a veto whatever the two timeouts were.
        ("early-veto", "veto", None, date(2026, 5, 4), 7, 2),
        # One timeout in the quarter: below 3 % counted or not, a pass (worst window: the first).
        ("early-pass", "pass", None, date(2026, 4, 1), 0, 0),
    ],
)
def test_timeouts_below_15_s_count_only_where_they_cannot_decide(
    world: World,
    site_id: str,
    status: str,
    reason: str | None,
    start: date,
    failures: int,
    left_out: int,
) -> None:
    """A 10 s timeout is no official failure: judged on the others, not assessable if it decides."""
    v = verdict(world, site_id, "site_unreachable")
    assert (v["status"], v["reason"]) == (status, reason)
    assert v["evidence"] == _window(
        start,
        140,
        failures,
        timeouts_not_counted=left_out,
        ratio_with_timeouts=(failures + left_out) / 140,
        timeout_below_official=10.0,
    )
    assert "10秒" in v["text"] and f"超时{left_out}次" in v["text"] and "未计入" in v["text"]


def test_daily_rows_count_every_probe_and_failure(world: World) -> None:
    """Each day of a 72-minute check has 20 probes; failures are on the days they happened."""
    for site_id in ("early-na", "early-veto", "early-pass"):
        failures: dict[str, int] = {}
        for r in world.quarter.history.results:
            if r.site == site_id and r.outcome is not Outcome.OK:
                day = r.started_at.date().isoformat()
                failures[day] = failures.get(day, 0) + 1
        (home,) = site(world, site_id)["checks"]
        assert len(home["days"]) == 91
        for row in home["days"]:
            assert row == {
                "day": row["day"],
                "probes": 20,
                "failures": failures.get(row["day"], 0),
                "slow": 0,
            }
        total = sum(failures.values())
        assert site(world, site_id)["availability"] == {
            "probes": 1820,
            "failures": total,
            "ratio": (1820 - total) / 1820,
            "outcomes": dict(
                sorted(
                    {
                        "ok": 1820 - total,
                        **{
                            str(o): n
                            for o in Outcome
                            if (
                                n := sum(
                                    1
                                    for r in world.quarter.history.results
                                    if r.site == site_id and r.outcome is o
                                )
                            )
                            and o is not Outcome.OK
                        },
                    }.items()
                )
            ),
            "probe_errors": 0,
        }


def test_validate_warns_about_a_timeout_below_15_s(tmp_path: Path) -> None:
    """`monitor validate` accepts a 10 s timeout but warns, naming the config path."""
    config = tmp_path / "monitor.yaml"
    config.write_text(yaml.safe_dump(config_data(), allow_unicode=True), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "monitor", "validate", "-c", str(config)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if line.startswith("warning:")]
    assert [w.split(": ")[2] for w in warnings] == [
        f"sites[{i}].checks[0].timeout" for i in (1, 2, 3)
    ]
    assert all("below the official 15 s" in w for w in warnings)


# -- login health beside an always-up homepage -----------------------------------------------


def test_login_trouble_is_not_unreachability(world: World) -> None:
    """A homepage that answered every probe passes, whatever the login and session did."""
    v = verdict(world, "portal", "site_unreachable")
    assert (v["status"], v["reason"]) == ("pass", None)
    assert v["evidence"] == _window(date(2026, 4, 1), 168, 0)
    assert site(world, "portal")["availability"] == {
        "probes": 2184,
        "failures": 0,
        "ratio": 1.0,
        "outcomes": {"ok": 2184},
        "probe_errors": 0,
    }


def test_a_login_incident_is_no_downtime(world: World) -> None:
    """Three failed logins in a row open a login incident, listed apart from outages."""
    portal = site(world, "portal")
    logins = [i for i in portal["incidents"] if i["reason"] == "login_failed"]
    assert len(logins) == 1
    incident = logins[0]
    assert incident["opened_at"] == iso(LOGIN_FAILED_AT[0])
    # Resolved at the first of the two successes after the third failure.
    resolved = LOGIN_FAILED_AT[-1] + timedelta(minutes=30)
    assert incident["resolved_at"] == iso(resolved)
    assert incident["duration_seconds"] == (resolved - LOGIN_FAILED_AT[0]).total_seconds()
    assert incident["in_period_seconds"] == incident["duration_seconds"]
    assert (incident["failures"], incident["outage"], incident["login"]) == (3, False, True)
    # Three dropouts within 6 h (08:00, 09:00, 10:00 on Jun 1, re-logins between) are one.
    (dropouts,) = [i for i in portal["incidents"] if i["reason"] == "session_dropped"]
    assert (dropouts["opened_at"], dropouts["resolved_at"]) == (
        iso(at(6, 1, 8)),
        iso(at(6, 1, 10, 30)),
    )
    assert (dropouts["failures"], dropouts["outage"], dropouts["login"]) == (3, False, True)
    assert dropouts["duration_seconds"] == 2.5 * 3600
    summary = portal["incident_summary"]
    assert summary["count"] == 0
    assert summary["downtime_seconds"] == 0.0
    assert summary["mttr_seconds"] is None
    assert summary["content_count"] == 0
    assert summary["login_count"] == 2
    assert len(portal["incidents"]) == 2
    (login,) = [c for c in portal["checks"] if c["id"] == "login"]
    trouble = world.quarter.login_trouble
    assert login["availability"]["outcomes"] == {
        "ok": 4368 - len(trouble),
        "login_failed": 3,
        "session_dropped": 93,
    }


# -- percentiles and slow logins --------------------------------------------------------------


def nearest_rank(values: list[float], q: float) -> float:
    """The exact percentile: the ceil(q*n)-th smallest value."""
    ordered = sorted(values)
    return ordered[math.ceil(q * len(ordered)) - 1]


def assert_within_5_percent(latency: dict[str, Any], values: list[float]) -> None:
    assert latency["count"] == len(values)
    assert latency["mean_seconds"] == pytest.approx(sum(values) / len(values), rel=1e-12)
    for key, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        exact = nearest_rank(values, q)
        estimate = latency[key]
        assert abs(estimate["seconds"] - exact) <= 0.05 * exact, (key, estimate, exact)
        assert estimate["bucket_low"] < exact <= estimate["bucket_high"]
        low, high = estimate["bucket_low"], estimate["bucket_high"]
        assert estimate["max_relative_error"] == pytest.approx((high - low) / (high + low))
        assert estimate["max_relative_error"] <= 0.0431
        assert estimate["max_error"] == pytest.approx(
            max(estimate["seconds"] - low, high - estimate["seconds"])
        )


def test_percentiles_are_within_5_percent_of_the_exact_values(world: World) -> None:
    """Latencies of 0.25 to 6 s, each once a day: P50 3 s, P95 5.75 s, P99 6 s, each within 5 %."""
    home = next(c for c in site(world, "slowlogin")["checks"] if c["id"] == "home")
    values = [r.duration_seconds for r in results(world, "slowlogin", "home")]
    assert (nearest_rank(values, 0.5), nearest_rank(values, 0.95)) == (3.0, 5.75)
    assert nearest_rank(values, 0.99) == 6.0
    assert_within_5_percent(home["latency"], values)
    assert [m["month"] for m in home["months"]] == ["2026-04-01", "2026-05-01", "2026-06-01"]
    for month in home["months"]:
        number = int(month["month"][5:7])
        assert_within_5_percent(
            month,
            [
                v
                for r, v in zip(results(world, "slowlogin", "home"), values, strict=True)
                if r.started_at.month == number
            ],
        )
    # The site's latency is its homepage's; the P50 is not above the mean.
    assert site(world, "slowlogin")["latency"] == home["latency"]
    assert home["latency"]["p50"]["seconds"] <= home["latency"]["mean_seconds"]
    assert world.zh["latency_relative_error_bound"] == pytest.approx(0.04309, abs=1e-5)
    assert "4.31%" in render_text(world, "md", "zh") and "4.31%" in render_text(world, "md", "en")


def test_a_3_5_s_login_step_shows_as_3_5_s(world: World) -> None:
    """The submit step's P50/P95/P99 are 3.5 s within 5 %; timed-out steps are no latency."""
    steps = {s["step"]: s for s in site(world, "slowlogin")["login_steps"]}
    assert list(steps) == ["form", "submit"]
    submits = [3.5] * (2184 - 2 - 5) + [12.0] * 5
    assert (steps["submit"]["attempts"], steps["submit"]["failures"]) == (2184, 2)
    assert_within_5_percent(steps["submit"]["latency"], submits)
    assert (steps["form"]["attempts"], steps["form"]["failures"]) == (2184, 0)
    assert_within_5_percent(steps["form"]["latency"], [0.2] * 2184)


def test_slow_logins_and_dropped_sessions_are_counted(world: World) -> None:
    """登录不畅 5 次, 超过 10 秒 for slowlogin; 会话掉线 93 次 and 3 failed logins for portal."""
    assert site(world, "slowlogin")["login"] == [
        {
            "check": "login",
            "probes": 2184,
            "logins": 2182,
            "slow_logins": 5,
            "slow_threshold_seconds": 10.0,
            "slowest_login_seconds": 12.2,
            "failed_logins": 0,
            "sessions_dropped": 0,
            "other_failures": 2,
        }
    ]
    assert site(world, "portal")["login"] == [
        {
            "check": "login",
            "probes": 4368,
            "logins": 0,
            "slow_logins": 0,
            "slow_threshold_seconds": 10.0,
            "slowest_login_seconds": None,
            "failed_logins": 3,
            "sessions_dropped": 93,
            "other_failures": 0,
        }
    ]
    assert "登录不畅5次，超过10秒" in site(world, "slowlogin")["problems"]
    assert "会话掉线93次" in site(world, "portal")["problems"]
    assert "登录失败3次" in site(world, "portal")["problems"]
    en = next(s for s in world.en["sites"] if s["id"] == "portal")
    assert "93 dropped sessions" in en["problems"] and "3 failed logins" in en["problems"]
    # The login's trouble is not the site's: its homepage answered every probe.
    v = verdict(world, "slowlogin", "site_unreachable")
    assert (v["status"], v["evidence"]) == ("pass", _window(date(2026, 4, 1), 168, 0))


# -- new-media accounts through bridges -----------------------------------------------------


def posts_by_month(world: World, site_id: str) -> list[dict[str, Any]]:
    """Distinct newest-post dates the probes saw, by local month of the date (within Q2)."""
    seen = {
        r.newest_item_at
        for r in results(world, site_id, "feed")
        if r.newest_item_at is not None and Q2_START <= r.newest_item_at < Q2_END
    }
    return [
        {"month": f"2026-{m:02d}-01", "posts": sum(1 for d in seen if d.month == m)}
        for m in (4, 5, 6)
    ]


def test_a_failing_bridge_is_not_an_account_not_updated(world: World) -> None:
    """20 days of a bridge answering 432 prove nothing about the account: still a pass."""
    v = verdict(world, "bridged", "new_media_not_updated")
    assert (v["status"], v["reason"]) == ("pass", None)
    # The longest time without an update the probes saw: a day (Mar 31's post until Apr 1's).
    assert v["evidence"] == {
        "check": "feed",
        "name": "",
        "max_age_seconds": DAY,
        "veto_seconds": 14 * DAY,
        "warning_seconds": 10 * DAY,
        "newest_item_at": iso(at(3, 31, 9)),
        "since": iso(at(3, 31, 9)),
        "until": iso(at(4, 1, 9)),
        "updated": True,
    }
    (feed,) = site(world, "bridged")["freshness"]
    assert feed["posts_per_month"] == posts_by_month(world, "bridged")
    assert [m["posts"] for m in feed["posts_per_month"]] == [30, 12, 30]
    assert feed["stale_seconds"] == 0.0
    failed = [r for r in results(world, "bridged", "feed") if r.outcome is Outcome.HTTP_ERROR]
    assert feed["observations"] == 2184 - len(failed) == 2184 - 20 * 24
    bridged = site(world, "bridged")
    assert bridged["availability"]["outcomes"] == {"http_error": 480, "ok": 1704}
    # The bridge's 20 days are one incident of the bridge, not the account's downtime.
    (incident,) = bridged["incidents"]
    assert (incident["opened_at"], incident["resolved_at"]) == (
        iso(BRIDGE_DOWN[0]),
        iso(BRIDGE_DOWN[1]),
    )
    assert (incident["bridge"], incident["outage"], incident["failures"]) == (True, False, 480)
    summary = bridged["incident_summary"]
    assert (summary["count"], summary["downtime_seconds"], summary["bridge_count"]) == (0, 0.0, 1)
    assert summary["content_count"] == 0


def test_a_one_item_feed_is_judged_on_its_newest_post(world: World) -> None:
    """A route listing one weekly post: 7 days at most without an update, a pass."""
    v = verdict(world, "oneitem", "new_media_not_updated")
    assert (v["status"], v["reason"]) == ("pass", None)
    assert v["evidence"]["max_age_seconds"] == 7 * DAY
    assert (v["evidence"]["since"], v["evidence"]["until"]) == (
        iso(at(3, 30, 10)),
        iso(at(4, 6, 10)),
    )
    (feed,) = site(world, "oneitem")["freshness"]
    assert feed["posts_per_month"] == posts_by_month(world, "oneitem")
    assert [m["posts"] for m in feed["posts_per_month"]] == [4, 4, 5]


# -- interaction -----------------------------------------------------------------------------


def test_a_stricter_board_limit_warns_but_never_vetoes(world: World) -> None:
    """A question answered after 70 days passes a 60-day check limit: a warning, not a veto."""
    v = verdict(world, "board60", "poor_interaction")
    assert (v["status"], v["reason"]) == ("warning", None)
    last_open = B60_ANSWERED - timedelta(hours=3)  # the last 6-hourly probe before the answer
    first_late = B60_ASKED + timedelta(days=60, hours=3)  # the first probe past 60 days
    assert v["evidence"] == {
        "check": "b60",
        "oldest_unanswered_seconds": (last_open - B60_ASKED).total_seconds(),
        "slowest_answer_seconds": 70 * DAY,
        "first_seen": None,
        "last_seen": None,
        "unanswered_max": 1,
        "late_answers_max": 1,
        "check_first_seen": iso(first_late),
        "check_last_seen": iso(last_open),
        "max_unanswered_seconds": 60 * DAY,
        "official_seconds": 90 * DAY,
        "reading": "official_limit",
        "check_limit_reached": True,
    }
    assert (v["evidence"]["oldest_unanswered_seconds"], 70 * DAY - 3 * 3600) == (
        70 * DAY - 3 * 3600,
        6037200.0,
    )


def test_a_question_unanswered_past_3_months_is_a_veto(world: World) -> None:
    """A question open since Feb 20 is past 90 days from May 21 12:00: a veto from the next probe."""
    v = verdict(world, "board90", "poor_interaction")
    assert (v["status"], v["reason"]) == ("veto", None)
    first = at(5, 21, 18)  # 90 days exactly at 12:00 is not "more than"
    last = at(6, 30, 18)
    assert v["evidence"] == {
        "check": "b90",
        "oldest_unanswered_seconds": (last - B90_ASKED).total_seconds(),
        "slowest_answer_seconds": 2 * DAY,
        "first_seen": iso(first),
        "last_seen": iso(last),
        "unanswered_max": 1,
        "late_answers_max": 0,
        "check_first_seen": iso(first),
        "check_last_seen": iso(last),
        "max_unanswered_seconds": 90 * DAY,
        "official_seconds": 90 * DAY,
        "reading": "official_limit",
    }
    assert v["evidence"]["oldest_unanswered_seconds"] == 130.25 * DAY
    (board,) = site(world, "board90")["interaction"]
    assert board == {
        "check": "b90",
        "observations": 364,
        "unanswered_max": 1,
        "unanswered_first_seen": iso(first),
        "unanswered_last_seen": iso(last),
        "open_questions_max": 1,
        "late_answers_max": 0,
        "median_response_seconds": 2 * DAY,
        "max_unanswered_seconds": 90 * DAY,
        "oldest_unanswered_seconds": 130.25 * DAY,
        "slowest_answer_seconds": 2 * DAY,
    }


# -- the whole -------------------------------------------------------------------------------


def test_summary_counts_every_site(world: World) -> None:
    """Three vetoes (blanks, early-veto, board90), five not assessable, two passes."""
    summary = world.zh["summary"]
    statuses = {s["id"]: s["status"] for s in world.zh["sites"]}
    assert statuses == {
        "blanks": "veto",
        "early-na": "not_assessable",
        "early-veto": "veto",
        "early-pass": "not_assessable",
        "portal": "not_assessable",
        "slowlogin": "not_assessable",
        "bridged": "pass",
        "oneitem": "pass",
        "board60": "not_assessable",
        "board90": "veto",
    }
    assert {k: v for k, v in summary.items() if k != "text"} == {
        "sites": 10,
        "websites": 8,
        "accounts": 2,
        "passed": 2,
        "warned": 0,
        "failed": 3,
        "not_assessable": 5,
        "pass_rate": 0.4,
        "pass_rate_of": 5,
    }
    assert "合格率40.0%（合格数占可判定的5个的比例，无法判定的不计入）" in summary["text"]
    assert "(2 passed of the 5 that could be assessed" in world.en["summary"]["text"]
    assert "10 websites" not in world.en["summary"]["text"]
    assert "8 websites and 2 new-media accounts" in world.en["summary"]["text"]
    assert world.zh["notes"] == []


def test_a_window_under_an_hour_says_why_it_has_no_probes(world: World) -> None:
    """A report of 10:15-10:45 has no probe, and says that figures are kept per clock hour."""
    short = world.half_hour
    assert [n["code"] for n in short["notes"]] == ["note_under_an_hour"]
    assert "shorter than an hour" in short["summary"]["text"]
    assert all(s["availability"]["probes"] == 0 for s in short["sites"])
    assert world.zh["period"] == {
        "label": "2026Q2",
        "start": iso(Q2_START),
        "end": iso(Q2_END),
        "timezone": "Asia/Shanghai",
        "quarter": "2026Q2",
    }


def test_a_chinese_report_is_chinese(world: World) -> None:
    """The zh Markdown and HTML hold no English words but ids, the zone, HTTP, TLS, P50."""
    config = world.quarter.history.config
    ids = {s.id for s in config.sites} | {c.id for s in config.sites for c in s.checks}
    ids |= {"form", "submit", "Asia", "Shanghai", "HTTP", "TLS", "P50", "P95", "P99"}
    for fmt in ("md", "html"):
        text = world.rendered[(fmt, "zh")]
        if fmt == "html":
            text = re.sub(
                r"<style.*?</style>|<script.*?</script>|<[^>]+>|&\w+;", " ", text, flags=re.S
            )
        words = set(re.findall(r"[A-Za-z][A-Za-z0-9_-]*", text))
        assert words - ids == set(), fmt
    # The bridge's failure and the dropped session are told in Chinese in the incident table.
    assert "订阅桥接服务故障：平台拒绝了订阅桥接服务的请求" in world.rendered[("md", "zh")]


def test_every_checks_counts_equal_a_plain_count_of_its_results(world: World) -> None:
    """Per check: probes, failures, outcomes, daily rows, latency count and mean, by counting."""
    by_check: dict[tuple[str, str], list[ProbeResult]] = {}
    for r in world.quarter.history.results:
        if Q2_START <= r.started_at < Q2_END:
            by_check.setdefault((r.site, r.check), []).append(r)
    days = [(Q2_START + timedelta(days=i)).date() for i in range(91)]
    for s in world.zh["sites"]:
        for check in s["checks"]:
            mine = by_check.get((s["id"], check["id"]), [])
            failed = [r for r in mine if r.outcome is not Outcome.OK]
            outcomes: dict[str, int] = {}
            for r in mine:
                outcomes[str(r.outcome)] = outcomes.get(str(r.outcome), 0) + 1
            assert check["availability"] == {
                "probes": len(mine),
                "failures": len(failed),
                "ratio": (len(mine) - len(failed)) / len(mine) if mine else None,
                "outcomes": dict(sorted(outcomes.items())),
                "probe_errors": 0,
            }, (s["id"], check["id"])
            ok = [r.duration_seconds for r in mine if r.outcome is Outcome.OK]
            assert check["latency"]["count"] == len(ok)
            if ok:
                assert check["latency"]["mean_seconds"] == pytest.approx(sum(ok) / len(ok))
            slow = [r for r in mine if r.outcome is Outcome.OK and r.duration_seconds > 15]
            assert check["days"] == [
                {
                    "day": day.isoformat(),
                    "probes": sum(1 for r in mine if r.started_at.date() == day),
                    "failures": sum(1 for r in failed if r.started_at.date() == day),
                    "slow": sum(1 for r in slow if r.started_at.date() == day),
                }
                for day in days
            ], (s["id"], check["id"])
