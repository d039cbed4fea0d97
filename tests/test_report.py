"""The quarterly report against a synthetic quarter written through the real store into Postgres.

`tests/history.py` makes the quarter; every figure asserted here is recomputed from its ground
truth (the probe results it generated, its outages and publications), never from the report's
own code. The raw results are pruned before the reports are built: a report must not need them.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from monitor.clock import SystemClock
from monitor.measurements import InteractionMeasurement, LinksMeasurement
from monitor.report import ReportError, Status, build_report, parse_period, render
from monitor.report.histogram import Quantile
from monitor.report.model import Report, SiteReport, Verdict
from monitor.results import Outcome, ProbeResult
from monitor.store import Store, migrate
from tests.history import (
    BROKEN,
    LOGIN_TROUBLE,
    Q3_END,
    Q3_START,
    SHANGHAI,
    History,
    config_data,
    local,
    scenario,
    write,
)
from tests.pg import RecordingStoreMetrics, fresh_schema, select

NOW = datetime(2026, 11, 1, tzinfo=UTC)
DAY = 86400.0
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class World:
    history: History
    q3: Report
    q2: Report
    july: Report
    petro: Report
    accounts: Report
    raw_left: int
    unknown_site: str
    cli_json: subprocess.CompletedProcess[bytes]
    cli_csv: subprocess.CompletedProcess[bytes]


async def _build_world() -> World:
    async with fresh_schema() as url:
        history = scenario(url)
        store = await Store.open(history.config, RecordingStoreMetrics(), SystemClock())
        try:
            await write(history, store)
            # Long after the quarter: the raw results are gone, the report must not mind.
            await store.prune(now=datetime(2027, 1, 1, tzinfo=UTC))
            raw_left = (await select(store, "SELECT count(*) FROM probe_results"))[0][0]
            zone = history.config.timezone

            async def report(**kw: object) -> Report:
                period = parse_period(
                    zone,
                    quarter_text=kw.pop("quarter", None),  # type: ignore[arg-type]
                    from_text=kw.pop("from_text", None),  # type: ignore[arg-type]
                    to_text=kw.pop("to_text", None),  # type: ignore[arg-type]
                )
                return await build_report(history.config, store, period, now=NOW, **kw)  # type: ignore[arg-type]

            q3 = await report(quarter="2026Q3")
            q2 = await report(quarter="2026Q2")
            july = await report(from_text="2026-07-01", to_text="2026-07-31")
            petro = await report(quarter="2026Q3", sites=["petro"])
            accounts = await report(quarter="2026Q3", kind="new_media")
            try:
                await report(quarter="2026Q3", sites=["nope"])
                unknown = ""
            except ReportError as exc:
                unknown = str(exc)
            # The command a person runs, against the same database.
            with tempfile.TemporaryDirectory() as tmp:
                config = Path(tmp) / "monitor.yaml"
                config.write_text(yaml.safe_dump(config_data(url), allow_unicode=True))
                command = [sys.executable, "-m", "monitor", "report", "-c", str(config)]
                cli_json = subprocess.run(
                    [*command, "--quarter", "2026Q3", "--format", "json"], capture_output=True
                )
                cli_csv = subprocess.run(
                    [*command, "--quarter", "2026Q3", "--format", "csv", "--table", "incidents"],
                    capture_output=True,
                )
        finally:
            await store.close()
    return World(history, q3, q2, july, petro, accounts, raw_left, unknown, cli_json, cli_csv)


@pytest.fixture(scope="module")
def world() -> World:
    """The history written once for the module, and the reports built from it."""
    return asyncio.run(_build_world())


# -- ground truth helpers ---------------------------------------------------------------------


def in_q3(result: ProbeResult) -> bool:
    return Q3_START <= result.started_at < Q3_END


def site(report: Report, site_id: str) -> SiteReport:
    return next(s for s in report.sites if s.id == site_id)


def verdict(report: Report, site_id: str, indicator: str) -> Verdict:
    return next(v for v in site(report, site_id).verdicts if v.indicator == indicator)


def true_quantile(values: Sequence[float], q: float) -> float:
    """The ceil(q*n)-th smallest value: the one the histogram's bucket search lands on."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def assert_within_bucket(estimate: Quantile | None, truth: float) -> None:
    """The true value is in the estimate's bucket, and within 5 % of the estimate's value."""
    assert estimate is not None
    assert estimate.low <= truth <= estimate.high, (estimate, truth)
    assert abs(estimate.value - truth) <= estimate.high - estimate.low
    if estimate.low > 0 and not estimate.above_range:
        assert abs(estimate.value - truth) <= 0.05 * truth, (estimate, truth)


def observed_segments(
    results: Sequence[ProbeResult],
) -> list[tuple[datetime, datetime, datetime]]:
    """(newest item, first seen, next newer first seen or last probe) from the raw results."""
    segments: list[list[datetime]] = []
    for r in sorted(results, key=lambda r: r.started_at):
        if r.newest_item_at is not None and (not segments or r.newest_item_at != segments[-1][0]):
            if segments:
                segments[-1][2] = r.started_at
            segments.append([r.newest_item_at, r.started_at, r.started_at])
        elif segments:
            segments[-1][2] = max(segments[-1][2], r.started_at)
    return [(a, b, c) for a, b, c in segments]


def observed_max_age(results: Sequence[ProbeResult]) -> float:
    """The longest time without an update the probes could see within Q3."""
    best = 0.0
    for newest, first, end in observed_segments(results):
        if end > Q3_START and first < Q3_END:
            best = max(best, (min(end, Q3_END) - newest).total_seconds())
    return best


def observed_stale_seconds(results: Sequence[ProbeResult], allowed: float) -> float:
    total = 0.0
    for newest, first, end in observed_segments(results):
        start = max(newest + timedelta(seconds=allowed), first, Q3_START)
        stop = min(end, Q3_END)
        if start < stop:
            total += (stop - start).total_seconds()
    return total


# -- the store ----------------------------------------------------------------------------------


def test_report_command_writes_the_same_report(world: World) -> None:
    """`monitor report --quarter 2026Q3` prints the quarter's JSON and the incident CSV."""
    assert world.cli_json.returncode == 0, world.cli_json.stderr.decode()
    printed = json.loads(world.cli_json.stdout)
    expected = json.loads(render(world.q3, "json"))
    assert [s["id"] for s in printed["sites"]] == [s["id"] for s in expected["sites"]]
    assert [s["availability"] for s in printed["sites"]] == [
        s["availability"] for s in expected["sites"]
    ]
    assert world.cli_csv.returncode == 0, world.cli_csv.stderr.decode()
    assert world.cli_csv.stdout.startswith(b"\xef\xbb\xbf")
    assert world.cli_csv.stdout == render(world.q3, "csv", "zh", "incidents")


def test_reports_are_built_from_rollups_after_raw_results_are_pruned(world: World) -> None:
    """Every raw result was pruned before the reports were built, and they still hold data."""
    assert world.raw_left == 0
    assert site(world.q3, "alpha").checks[0].availability.probes > 0


# -- availability --------------------------------------------------------------------------------


def test_availability_per_check_equals_the_ground_truth(world: World) -> None:
    """Probes, failures and the count of every outcome per check equal the generated results."""
    for s in world.q3.sites:
        for check in s.checks:
            truth = [r for r in world.history.of(s.id, check.id) if in_q3(r)]
            outcomes = Counter(str(r.outcome) for r in truth)
            assert check.availability.probes == len(truth), check.id
            assert check.availability.failures == len(truth) - outcomes["ok"]
            assert check.availability.outcomes == dict(outcomes)


def test_daily_rows_are_days_in_shanghai(world: World) -> None:
    """Each day's probes and failures are those of the local (Asia/Shanghai) day, not the UTC one."""
    beta = site(world.q3, "beta").checks[0]
    truth = [r for r in world.history.of("beta", "home") if in_q3(r)]
    by_day: Counter[date] = Counter(r.started_at.astimezone(SHANGHAI).date() for r in truth)
    failed: Counter[date] = Counter(
        r.started_at.astimezone(SHANGHAI).date() for r in truth if not r.success
    )
    assert [d.day for d in beta.days] == sorted(by_day)
    for day in beta.days:
        assert (day.probes, day.failures) == (by_day[day.day], failed[day.day])
    # 02:00 on Jul 6 in Shanghai is Jul 5 in UTC: its failure is on Jul 6's row.
    jul6 = next(d for d in beta.days if d.day == date(2026, 7, 6))
    assert jul6.failures == 1
    assert beta.days[0].day == date(2026, 7, 1) and beta.days[-1].day == date(2026, 9, 30)


def test_quarter_boundaries_are_local_midnights(world: World) -> None:
    """A failure at 22:48 on Jun 30 (Shanghai) is Q2's, one at 00:00 on Oct 1 is Q4's."""
    q3 = world.q3.period
    assert q3.start == datetime(2026, 6, 30, 16, tzinfo=UTC)
    assert q3.end == datetime(2026, 9, 30, 16, tzinfo=UTC)
    alpha_q3 = site(world.q3, "alpha").checks[0]
    alpha_q2 = site(world.q2, "alpha").checks[0]
    assert alpha_q3.availability.failures == 7
    assert alpha_q2.availability.failures == 1  # Jun 30 22:48, the only one before Jul 1
    assert alpha_q3.days[0].probes == 20 and alpha_q3.days[-1].probes == 20
    q2_truth = [r for r in world.history.of("alpha", "home") if r.started_at < Q3_START]
    assert alpha_q2.availability.probes == len(q2_truth)


def test_a_date_range_includes_its_last_day(world: World) -> None:
    """`--from 2026-07-01 --to 2026-07-31` covers July whole, in Shanghai time."""
    july = site(world.july, "beta").checks[0]
    truth = [
        r for r in world.history.of("beta", "home") if local(7, 1) <= r.started_at < local(8, 1)
    ]
    assert july.availability.probes == len(truth) == 31 * 24
    assert world.july.period.end == local(8, 1)


# -- 站点无法访问 ------------------------------------------------------------------------------


def test_unreachable_exactly_at_5_percent_is_a_veto(world: World) -> None:
    """7 failures in 140 probes over Jul 6-12 (20 a day) is exactly 5 %: a veto naming the window."""
    v = verdict(world.q3, "alpha", "site_unreachable")
    truth = [
        r for r in world.history.of("alpha", "home") if local(7, 6) <= r.started_at < local(7, 13)
    ]
    assert (len(truth), sum(1 for r in truth if not r.success)) == (140, 7)
    assert v.status is Status.VETO
    assert v.evidence["window_start"] == date(2026, 7, 6)
    assert v.evidence["window_end"] == date(2026, 7, 12)
    assert (v.evidence["probes"], v.evidence["failures"]) == (140, 7)
    assert v.evidence["ratio"] == 0.05


def test_unreachable_just_below_5_percent_is_a_warning(world: World) -> None:
    """8 failures in 168 probes (4.76 %) over Jul 20-26 is a warning, not a veto."""
    v = verdict(world.q3, "beta", "site_unreachable")
    assert v.status is Status.WARNING
    assert (v.evidence["window_start"], v.evidence["window_end"]) == (
        date(2026, 7, 20),
        date(2026, 7, 26),
    )
    assert (v.evidence["probes"], v.evidence["failures"]) == (168, 8)


def test_successes_slower_than_15_s_count_as_unreachable(world: World) -> None:
    """Twelve probes that answered after 20 s on Aug 25 make 12/168 of Aug 19-25: a veto."""
    v = verdict(world.q3, "petro", "site_unreachable")
    assert v.status is Status.VETO
    assert (v.evidence["window_start"], v.evidence["window_end"]) == (
        date(2026, 8, 19),
        date(2026, 8, 25),
    )
    assert (v.evidence["probes"], v.evidence["failures"], v.evidence["slow"]) == (168, 12, 12)
    # They were successes: availability does not count them as failures.
    home = site(world.q3, "petro").checks[0]
    truth = [r for r in world.history.of("petro", "home") if in_q3(r)]
    assert home.availability.failures == sum(1 for r in truth if not r.success)


def test_too_few_probes_a_day_is_not_assessable(world: World) -> None:
    """12 probes a day cannot support the rule: not assessable, the short days named, never pass."""
    v = verdict(world.q3, "gamma", "site_unreachable")
    assert v.status is Status.NOT_ASSESSABLE
    assert v.reason == "too_few_probes"
    assert v.evidence["short_days_count"] == 92
    assert v.evidence["short_days"][0] == {"check": "home", "day": date(2026, 7, 1), "probes": 12}


def test_missing_checks_and_silent_checks_are_not_assessable(world: World) -> None:
    """No check configured, or one that never reported: not assessable with the reason."""
    assert verdict(world.q3, "petro", "homepage_not_updated").reason == "no_homepage_check"
    assert verdict(world.q3, "petro", "columns_not_updated").reason == "no_column_check"
    assert verdict(world.q3, "petro", "poor_interaction").reason == "no_interaction_check"
    assert verdict(world.q3, "gamma", "homepage_not_updated").reason == "no_homepage_check"
    silent = verdict(world.q3, "beta", "columns_not_updated")
    assert (silent.status, silent.reason) == (Status.NOT_ASSESSABLE, "no_observations")
    for s in world.q3.sites:
        for v in s.verdicts:
            if v.reason is not None:
                assert v.status is Status.NOT_ASSESSABLE


# -- incidents -----------------------------------------------------------------------------------


def test_incidents_match_the_generated_outages(world: World) -> None:
    """Each outage is one incident from its first failure to its first success, reason kept."""
    for outage in world.history.outages:
        rows = [
            i
            for i in site(world.q3, outage.site).incidents
            if i.check == outage.check and i.opened_at == outage.first_failure
        ]
        assert len(rows) == 1, outage
        row = rows[0]
        assert row.resolved_at == outage.first_success
        assert row.reason == str(outage.outcome)
        assert row.during_maintenance is outage.maintenance
        assert row.outage


def test_downtime_mttr_and_longest_equal_the_ground_truth(world: World) -> None:
    """Downtime is the outages' time inside Q3, MTTR the mean of those resolved in it."""
    for s in world.q3.sites:
        outages = [
            o
            for o in world.history.outages
            if o.site == s.id
            and not o.maintenance
            and o.first_success > Q3_START
            and o.first_failure < Q3_END
        ]
        inside = sum(
            (min(o.first_success, Q3_END) - max(o.first_failure, Q3_START)).total_seconds()
            for o in outages
        )
        resolved = [
            (o.first_success - o.first_failure).total_seconds()
            for o in outages
            if o.first_success <= Q3_END
        ]
        summary = s.incident_summary
        assert summary.count == len(outages), s.id
        assert summary.downtime_seconds == inside, s.id
        assert summary.mttr_seconds == (sum(resolved) / len(resolved) if resolved else None)
        if outages:
            assert summary.longest is not None
            assert summary.longest.duration_seconds == max(
                (o.first_success - o.first_failure).total_seconds() for o in outages
            )
    petro = site(world.q3, "petro").incident_summary
    # 6 h on Aug 17-18, and 2 of the 4 hours of the outage across the quarter's end.
    assert (petro.count, petro.downtime_seconds, petro.mttr_seconds) == (2, 8 * 3600, 6 * 3600)
    assert (petro.maintenance_count, petro.maintenance_seconds) == (1, 3 * 3600)


def test_content_alerts_are_listed_but_are_no_downtime(world: World) -> None:
    """Stale columns and unanswered questions open incidents, listed apart from outages."""
    gamma = site(world.q3, "gamma")
    assert gamma.incident_summary.count == 0
    assert gamma.incident_summary.downtime_seconds == 0
    assert (
        gamma.incident_summary.content_count == sum(1 for i in gamma.incidents if not i.outage) > 0
    )
    assert {i.reason for i in gamma.incidents} >= {"stale", "unanswered", "broken_links"}


# -- latency -------------------------------------------------------------------------------------


def test_latency_percentiles_are_within_the_bucket_error(world: World) -> None:
    """p50/p95/p99 per check, for Q3 and each month, hold the true value in their bucket."""
    for s in world.q3.sites:
        for check in s.checks:
            ok = [r for r in world.history.of(s.id, check.id) if in_q3(r) and r.success]
            durations = [r.duration_seconds for r in ok]
            assert check.latency.count == len(ok)
            if not ok:
                continue
            assert check.latency.mean == pytest.approx(sum(durations) / len(durations), rel=1e-9)
            for q, est in (
                (0.5, check.latency.p50),
                (0.95, check.latency.p95),
                (0.99, check.latency.p99),
            ):
                assert_within_bucket(est, true_quantile(durations, q))
            for month in check.months:
                values = [
                    r.duration_seconds
                    for r in ok
                    if r.started_at.astimezone(SHANGHAI).month == month.month.month
                ]
                assert month.latency.count == len(values)
                if values:
                    assert_within_bucket(month.latency.p95, true_quantile(values, 0.95))


def test_login_steps_latency_and_failures(world: World) -> None:
    """Each login step's attempts, failures and percentiles come from the steps generated."""
    steps = {s.step: s for s in site(world.q3, "petro").login_steps}
    assert list(steps) == ["form", "submit"]
    login = [r for r in world.history.of("petro", "login") if in_q3(r)]
    for name in ("form", "submit"):
        done = [st for r in login for st in r.steps if st.name == name]
        ok = [st.duration_seconds for st in done if st.outcome is Outcome.OK]
        assert steps[name].attempts == len(done)
        assert steps[name].failures == len(done) - len(ok)
        assert_within_bucket(steps[name].latency.p95, true_quantile(ok, 0.95))
        assert_within_bucket(steps[name].latency.p50, true_quantile(ok, 0.5))
    failed_logins = sum(1 for at, o in LOGIN_TROUBLE.items() if o is Outcome.LOGIN_FAILED)
    assert steps["submit"].failures == failed_logins


# -- freshness -----------------------------------------------------------------------------------


def test_homepage_not_updated_for_two_weeks_is_a_veto(world: World) -> None:
    """alpha's homepage went 16 days without a new item: a veto with the item and the dates."""
    v = verdict(world.q3, "alpha", "homepage_not_updated")
    results = world.history.of("alpha", "homepage")
    assert v.status is Status.VETO
    assert v.evidence["max_age_seconds"] == observed_max_age(results)
    assert v.evidence["newest_item_at"] == local(7, 19, 9, 30)
    assert v.evidence["until"] == local(8, 4, 11) and v.evidence["updated"]
    column = site(world.q3, "alpha").freshness[0]
    assert column.stale_seconds == observed_stale_seconds(results, 14 * DAY)


def test_homepage_not_updated_for_eleven_days_is_a_warning(world: World) -> None:
    """beta's homepage went 11 days without a new item: past 10 days, short of 2 weeks."""
    v = verdict(world.q3, "beta", "homepage_not_updated")
    assert v.status is Status.WARNING
    assert v.evidence["max_age_seconds"] == observed_max_age(world.history.of("beta", "homepage"))
    assert v.evidence["max_age_seconds"] == 11 * DAY


def test_five_columns_stale_at_once_is_a_veto_under_rule_1(world: World) -> None:
    """Four news columns past 2 weeks and a notice column past 6 months, together, from Aug 12."""
    v = verdict(world.q3, "gamma", "columns_not_updated")
    rule1, rule2 = v.evidence["rules"]
    assert v.status is Status.VETO
    assert rule1["max_count"] == 5
    assert rule1["at"] == local(7, 29, 9) + timedelta(days=14)
    assert rule1["columns"] == ["news1", "news2", "news3", "news4", "notice1"]
    assert rule2["max_count"] == 5  # below rule 2's 10
    columns = {c.check: c for c in site(world.q3, "gamma").freshness}
    for name, allowed in (("news1", 14 * DAY), ("notice1", 180 * DAY)):
        results = world.history.of("gamma", name)
        assert columns[name].max_age == observed_max_age(results)
        assert columns[name].stale_seconds == observed_stale_seconds(results, allowed)


def test_three_blank_columns_at_once_is_a_warning(world: World) -> None:
    """blank1..3 held no items from Sep 1 to Sep 5: three at once, above 2, below 5."""
    v = verdict(world.q3, "gamma", "blank_columns")
    assert v.status is Status.WARNING
    assert (v.evidence["max_count"], v.evidence["at"]) == (3, local(9, 1))
    assert v.evidence["columns"] == ["blank1", "blank2", "blank3"]
    columns = {c.check: c for c in site(world.q3, "gamma").freshness}
    for k in (1, 2, 3):
        truth = [r for r in world.history.of("gamma", f"blank{k}") if in_q3(r)]
        assert columns[f"blank{k}"].blank_hours == sum(1 for r in truth if r.items == 0)
    undated = [
        r
        for r in world.history.of("gamma", "blank1")
        if in_q3(r) and r.items and r.newest_item_at is None
    ]
    assert columns["blank1"].undated_hours == len(undated) == 4


def test_account_not_updated_and_posts_per_month(world: World) -> None:
    """国资小新 went 16 days without a post (veto); posts per month count each day's post."""
    v = verdict(world.q3, "xiaoxin", "new_media_not_updated")
    assert v.status is Status.VETO
    assert v.evidence["max_age_seconds"] == observed_max_age(world.history.of("xiaoxin", "feed"))
    for account in ("xiaoxin", "efting"):
        pubs = [p for p in world.history.publications[(account, "feed")] if Q3_START <= p < Q3_END]
        months = Counter(
            date(p.astimezone(SHANGHAI).year, p.astimezone(SHANGHAI).month, 1) for p in pubs
        )
        column = site(world.q3, account).freshness[0]
        assert dict(column.posts_per_month) == dict(months)
    assert verdict(world.q3, "efting", "new_media_not_updated").status is Status.PASS
    assert site(world.q3, "efting").status is Status.PASS


def test_unanswered_questions_are_a_veto_with_dates(world: World) -> None:
    """Overdue questions seen Aug 1-9 make 互动回应差 a veto naming when they were seen."""
    v = verdict(world.q3, "gamma", "poor_interaction")
    overdue = [
        r for r in world.history.of("gamma", "board") if in_q3(r) and r.measurement.unanswered
    ]
    assert v.status is Status.VETO
    assert v.evidence["unanswered_max"] == 2
    assert v.evidence["first_seen"] == overdue[0].started_at
    assert v.evidence["last_seen"] == overdue[-1].started_at
    assert v.evidence["late_answers_max"] == 1


def test_broken_links_of_the_quarter_are_listed(world: World) -> None:
    """Links broken during Q3 are listed with reason and sightings; one broken only in June is not."""
    links = {b.url: b for b in site(world.q3, "gamma").broken_links}
    in_q3_urls = {u for u, (_, a, b) in BROKEN.items() if a < Q3_END and b > Q3_START}
    assert set(links) == in_q3_urls
    for url, (why, _, _) in BROKEN.items():
        if url in links:
            seen = [r for r in world.history.of("gamma", "links") if url in (r.broken_links or ())]
            assert links[url].reason == why
            assert links[url].observations == len(seen)
            assert links[url].first_seen_at == seen[0].started_at


# -- the whole report ------------------------------------------------------------------------------


def test_summary_counts_and_statuses(world: World) -> None:
    """The summary counts sites by their worst verdict; pass rate is over decided sites."""
    statuses = {s.id: s.status for s in world.q3.sites}
    assert statuses == {
        "alpha": Status.VETO,
        "beta": Status.NOT_ASSESSABLE,
        "gamma": Status.VETO,
        "petro": Status.VETO,
        "xiaoxin": Status.VETO,
        "efting": Status.PASS,
    }
    s = world.q3.summary
    assert (s.sites, s.websites, s.accounts, s.passed, s.failed, s.not_assessable) == (
        6,
        4,
        2,
        1,
        4,
        1,
    )
    assert s.pass_rate == 1 / 5


def test_site_and_kind_filters(world: World) -> None:
    """`--site` keeps one site, `--kind new_media` the accounts; an unknown site is an error."""
    assert [s.id for s in world.petro.sites] == ["petro"]
    assert [s.id for s in world.accounts.sites] == ["xiaoxin", "efting"]
    assert "unknown site 'nope'" in world.unknown_site


def test_markdown_states_the_findings_in_both_languages(world: World) -> None:
    """The Markdown names sites, verdicts and windows in the notice's Chinese, and in English."""
    zh = render(world.q3, "md", "zh")
    en = render(world.q3, "md", "en")
    assert isinstance(zh, bytes) and isinstance(en, bytes)
    text = zh.decode()
    assert text.startswith("# 2026年第三季度网站和政务新媒体监测情况报告")
    assert "“甲网站”2026年7月6日至2026年7月12日无法访问比例达5.00%（单项否决）" in text
    assert "首页最长16天1小时未更新" in text
    # 登录失败 / 会话掉线 N 次, in the notice's register (LOGIN_TROUBLE: 2 and 3 in Q3).
    assert "login：登录失败2次，会话掉线3次" in text
    english = en.decode()
    assert "7 of 140 probes did not open within 15 s" in english
    assert "not assessable" in english


def test_csv_round_trips_with_chinese_text(world: World) -> None:
    """Every CSV starts with a BOM and reads back through the csv module with the Chinese intact."""
    files = render(world.q3, "csv", "zh")
    assert isinstance(files, dict)
    assert set(files) >= {"sites.csv", "incidents.csv", "verdicts.csv", "daily.csv", "latency.csv"}
    for name, data in files.items():
        assert data.startswith(b"\xef\xbb\xbf"), name
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
        assert rows and all(len(r) == len(rows[0]) for r in rows), name
    sites = list(csv.DictReader(io.StringIO(files["sites.csv"].decode("utf-8-sig"), newline="")))
    assert [r["网站/账号"] for r in sites] == [s.name for s in world.q3.sites]
    assert sites[3]["网站/账号"] == "石化离退休干部局网站"
    one = render(world.q3, "csv", "zh", table="incidents")
    assert isinstance(one, bytes) and one == files["incidents.csv"]
    incidents = list(csv.DictReader(io.StringIO(one.decode("utf-8-sig"), newline="")))
    assert len(incidents) == sum(len(s.incidents) for s in world.q3.sites)
    assert {"超时", "连接失败"} <= {r["原因"] for r in incidents}


def test_json_keys_are_all_documented(world: World) -> None:
    """Every key the JSON output uses is named in docs/report-schema.md (the stable schema)."""
    data = json.loads(render(world.q3, "json", "zh"))
    assert data["schema_version"] == 1
    doc = (ROOT / "docs" / "report-schema.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`([a-z_0-9]+)`", doc))
    keys: set[str] = set()

    def walk(node: object, in_evidence: bool = False) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                # Outcome names key the outcome counts; they are the closed set of ARCHITECTURE.md.
                if key not in {str(o) for o in Outcome}:
                    keys.add(key)
                walk(value, in_evidence or key == "evidence")
        elif isinstance(node, list):
            for value in node:
                walk(value, in_evidence)

    walk(data)
    assert keys - documented == set()
    assert data["period"]["start"] == "2026-07-01T00:00:00+08:00"
    alpha = data["sites"][0]
    assert alpha["verdicts"][0]["evidence"]["window_start"] == "2026-07-06"


def test_html_is_self_contained_and_renders_in_chromium(world: World, tmp_path: Path) -> None:
    """The html has no script or outside reference, and headless Chromium prints it to a PDF."""
    html = render(world.q3, "html", "zh")
    assert isinstance(html, bytes)
    text = html.decode()
    assert "<script" not in text.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert text.count("<svg") >= 8
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (CI installs Debian's chromium)")
    page = tmp_path / "report.html"
    page.write_bytes(html)
    pdf = tmp_path / "report.pdf"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--print-to-pdf={pdf}",
            "--no-pdf-header-footer",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 3


# -- the report tables (migration 0002) -----------------------------------------------------------


async def test_report_tables_are_filled_from_what_the_writer_inserts(
    pg_url: str,
) -> None:
    """Versions, content hours, broken links and login steps come from inserted results only,
    a step on a bucket bound counts below it, and a malformed `extra` never rejects a batch."""
    from monitor.results import StepResult
    from tests.pg import make_config

    store = await Store.open(make_config(pg_url), RecordingStoreMetrics(), SystemClock())
    t0 = datetime(2026, 7, 1, 1, tzinfo=UTC)
    try:
        for i, (step, outcome) in enumerate(
            ((0.5, Outcome.OK), (0.5001, Outcome.OK), (3.0, Outcome.LOGIN_FAILED))
        ):
            store.submit_result(
                ProbeResult(
                    site="portal",
                    check="login",
                    type="login",
                    outcome=outcome,
                    started_at=t0 + timedelta(minutes=i),
                    duration_seconds=step,
                    steps=(StepResult("submit", step, outcome),),
                )
            )
        for i, newest in enumerate((t0 - timedelta(days=3), t0 - timedelta(days=3), t0)):
            store.submit_result(
                ProbeResult(
                    site="portal",
                    check="news",
                    type="freshness",
                    outcome=Outcome.OK,
                    started_at=t0 + timedelta(minutes=10 * i),
                    duration_seconds=0.2,
                    newest_item_at=newest,
                    items=5,
                    # Figures out of every range: none reaches the report's tables.
                    measurement=InteractionMeasurement(
                        unanswered=-1,
                        open_questions=-1,
                        late_answers=3_000_000_000,
                        median_response_seconds=-5.0,
                    ),
                )
            )
        store.submit_result(
            ProbeResult(
                site="portal",
                check="links",
                type="links",
                outcome=Outcome.BROKEN_LINKS,
                started_at=t0,
                duration_seconds=0.2,
                broken_links=("https://x.test/a",),
                measurement=LinksMeasurement(
                    links_checked=1, links_cached=0, broken_link_reasons={"https://x.test/a": "404"}
                ),
            )
        )
        store.submit_result(
            ProbeResult(
                site="portal",
                check="news",
                type="freshness",
                outcome=Outcome.PROBE_ERROR,
                started_at=t0 + timedelta(minutes=40),
                duration_seconds=0.0,
                newest_item_at=t0 - timedelta(days=99),
                items=1,
            )
        )
        assert await store.flush(30)
        bounds = list(await store.latency_bounds())
        steps = await select(store, "SELECT * FROM login_steps_hourly")
        assert len(steps) == 1
        buckets = steps[0]["latency_buckets"]
        assert (steps[0]["attempts"], steps[0]["failures"], steps[0]["latency_count"]) == (3, 1, 2)
        # 0.5 is on a bound (the bucket below it), 0.5001 in the next one up.
        assert buckets[bounds.index(0.5)] == 1 and buckets[bounds.index(0.5) + 1] == 1
        versions = await select(
            store,
            "SELECT newest_item_at, first_seen_at, last_seen_at, observations FROM content_versions"
            " ORDER BY first_seen_at",
        )
        assert [tuple(v) for v in versions] == [
            (t0 - timedelta(days=3), t0, t0 + timedelta(minutes=10), 2),
            (t0, t0 + timedelta(minutes=20), t0 + timedelta(minutes=20), 1),
        ]
        hours = {r["check_id"]: r for r in await select(store, "SELECT * FROM content_hourly")}
        assert hours["news"]["observations"] == 3  # the probe_error is not an observation
        assert hours["news"]["unanswered_max"] is None
        assert hours["news"]["late_answers_max"] is None
        assert hours["news"]["median_response_count"] == 0
        assert hours["news"]["max_age_seconds"] == 3 * DAY + 600
        assert hours["links"]["broken_links_max"] == 1
        links = await select(store, "SELECT url, reason, observations FROM broken_links_seen")
        assert [tuple(r) for r in links] == [("https://x.test/a", "404", 1)]
        assert store.writer is not None and store.writer.dropped == 0
    finally:
        await store.close()


async def test_an_empty_database_makes_a_report_that_judges_nothing(pg_url: str) -> None:
    """Without any history every verdict is not assessable (never pass) and every format renders."""
    config = scenario(pg_url).config
    await migrate(config)  # read-only commands never migrate
    store = await Store.open(config, None, SystemClock(), read_only=True)
    try:
        period = parse_period(config.timezone, quarter_text="2026Q3")
        report = await build_report(config, store, period, now=NOW)
    finally:
        await store.close()
    assert {v.status for s in report.sites for v in s.verdicts} == {Status.NOT_ASSESSABLE}
    assert report.summary.not_assessable == 6 and report.summary.pass_rate is None
    for fmt in ("md", "html", "json", "csv"):
        for lang in ("zh", "en"):
            assert render(report, fmt, lang)  # type: ignore[arg-type]


def test_save_puts_csv_tables_in_a_directory_or_beside_a_file(world: World, tmp_path: Path) -> None:
    """`-o DIR/` gets `incidents.csv`...; `-o q3.csv` gets `q3-incidents.csv`...; stdout refuses."""
    from monitor.report import OutputError, save

    tables = render(world.q3, "csv", "zh")
    assert isinstance(tables, dict)
    written = save(tables, f"{tmp_path / 'out'}/", io.BytesIO())
    assert (tmp_path / "out" / "incidents.csv").read_bytes() == tables["incidents.csv"]
    assert len(written) == len(tables)
    save(tables, str(tmp_path / "q3.csv"), io.BytesIO())
    assert (tmp_path / "q3-sites.csv").read_bytes() == tables["sites.csv"]
    with pytest.raises(OutputError, match="one file per table"):
        save(tables, None, io.BytesIO())
    out = io.BytesIO()
    assert save(b"# report\n", None, out) == [] and out.getvalue() == b"# report\n"
