"""The report's pure parts: periods, percentiles, durations, content timelines, thresholds."""

from __future__ import annotations

import csv
import io
import math
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.report.content import longest_gap, max_age, posts_per_month, stale_spans, timeline
from monitor.report.gather import CheckDays, ContentHour, Version
from monitor.report.histogram import quantile, relative_error_bound
from monitor.report.indicators import AccessCheck, site_unreachable
from monitor.report.model import Status
from monitor.report.period import (
    Period,
    PeriodError,
    month_starts,
    parse_period,
    quarter,
    quarter_of,
)
from monitor.report.render.csv import csv_bytes
from monitor.report.words import Texts

SHANGHAI = ZoneInfo("Asia/Shanghai")
BOUNDS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 60)
MIGRATIONS = Path(__file__).resolve().parent.parent / "monitor" / "store" / "migrations"


def shipped_bounds() -> list[float]:
    """The latency bucket bounds migration 0006 sets, read from its SQL."""
    sql = (MIGRATIONS / "0006_latency_buckets.sql").read_text(encoding="utf-8")
    literal = sql.split("UPDATE latency_buckets SET bounds =")[1].split("::double precision[]")[0]
    return [float(v) for v in re.findall(r"[0-9.]+", literal)]


def at(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=SHANGHAI)


# -- periods ------------------------------------------------------------------------------------


def test_quarter_runs_between_local_midnights() -> None:
    """2026Q3 in Shanghai is Jun 30 16:00 UTC to Sep 30 16:00 UTC; Q4 ends at the new year."""
    q3 = parse_period("Asia/Shanghai", quarter_text="2026Q3")
    assert (q3.start, q3.end) == (
        datetime(2026, 6, 30, 16, tzinfo=UTC),
        datetime(2026, 9, 30, 16, tzinfo=UTC),
    )
    assert q3.label == "2026Q3" and q3.quarter == (2026, 3)
    assert len(q3.days()) == 92
    q4 = parse_period("Asia/Shanghai", quarter_text="2026q4")
    assert q4.end == datetime(2027, 1, 1, tzinfo=SHANGHAI)
    assert [m.astimezone(SHANGHAI).month for m in month_starts(q3)] == [7, 8, 9]


def test_a_day_is_in_the_quarter_its_month_is() -> None:
    """Quarters turn on Apr 1, Jul 1, Oct 1 and Jan 1: the last and first day of each."""
    edges = {(3, 31): 1, (4, 1): 2, (6, 30): 2, (7, 1): 3, (9, 30): 3, (10, 1): 4, (12, 31): 4}
    for (month, day), number in edges.items():
        assert quarter_of(date(2026, month, day)) == (2026, number)
    assert quarter_of(date(2027, 1, 1)) == (2027, 1)


def test_to_date_is_inclusive_and_times_are_exact() -> None:
    """`--to 2026-07-31` includes Jul 31; a time is taken as given, in the zone when naive."""
    july = parse_period("Asia/Shanghai", from_text="2026-07-01", to_text="2026-07-31")
    assert (july.start, july.end) == (at(7, 1), at(8, 1))
    assert july.label == "2026-07-01 – 2026-07-31"
    span = parse_period(
        "Asia/Shanghai", from_text="2026-07-01T08:00", to_text="2026-07-02T00:00:00+00:00"
    )
    assert span.start == at(7, 1, 8)
    assert span.end == datetime(2026, 7, 2, tzinfo=UTC)
    open_ended = parse_period("UTC", from_text="2026-07-01", now=datetime(2026, 7, 3, tzinfo=UTC))
    assert open_ended.end == datetime(2026, 7, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"quarter_text": "2026Q5"}, "invalid --quarter '2026Q5' (use e.g. 2026Q3)"),
        ({"quarter_text": "2026Q3", "from_text": "2026-07-01"}, "not both"),
        ({}, "give --quarter"),
        ({"from_text": "July"}, "invalid --from 'July'"),
        ({"from_text": "2026-08-01", "to_text": "2026-07-01"}, "is not after --from"),
    ],
)
def test_bad_periods_are_one_line_errors(kwargs: dict[str, str], message: str) -> None:
    """Every unreadable period names the option at fault."""
    with pytest.raises(PeriodError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_period("Asia/Shanghai", **kwargs)


# -- percentiles ---------------------------------------------------------------------------------


def test_quantile_is_the_relative_midpoint_of_its_bucket() -> None:
    """50 observations in (0.2, 0.3] and 50 in (0.3, 0.5]: p50 is 0.24, p95 is 0.375."""
    counts = [0] * (len(BOUNDS) + 1)
    counts[3], counts[4] = 50, 50
    p50 = quantile(0.5, BOUNDS, counts)
    p95 = quantile(0.95, BOUNDS, counts)
    assert p50 is not None and p95 is not None
    # 2lu/(l+u): as far (relatively) from either end of the bucket.
    assert (p50.value, p50.low, p50.high) == (pytest.approx(0.24), 0.2, 0.3)
    assert (p95.value, p95.low, p95.high) == (pytest.approx(0.375), 0.3, 0.5)
    assert p95.error == pytest.approx(0.125)
    assert p95.relative_error == pytest.approx(0.25)
    assert (0.375 - 0.3) / 0.3 == pytest.approx(0.25) == (0.5 - 0.375) / 0.5
    assert quantile(0.5, BOUNDS, [0] * 18) is None


def test_every_value_of_a_bucket_is_within_its_relative_bound() -> None:
    """For each bucket of the shipped layout, both ends are within 4.31 % of the estimate."""
    bounds = shipped_bounds()
    assert relative_error_bound(bounds) == pytest.approx(0.0431, abs=5e-5)
    for i in range(1, len(bounds)):
        counts = [0] * (len(bounds) + 1)
        counts[i] = 1
        p = quantile(0.5, bounds, counts)
        assert p is not None
        for truth in (bounds[i - 1] * (1 + 1e-12), bounds[i]):
            assert abs(p.value - truth) <= 0.0431 * truth


def test_quantile_above_the_last_bound_is_only_a_lower_bound() -> None:
    """When the rank falls in the +Inf bucket the estimate is the last bound, the top unknown."""
    counts = [0] * (len(BOUNDS) + 1)
    counts[0], counts[-1] = 90, 10
    p99 = quantile(0.99, BOUNDS, counts)
    assert p99 is not None
    assert (p99.value, p99.low, p99.above_range) == (60, 60, True)
    assert math.isinf(p99.high)


# -- words ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "zh", "en"),
    [
        (0, "0秒", "0 s"),
        (4.25, "4.2秒", "4.2 s"),
        (59, "59秒", "59 s"),
        (90, "1分钟", "1 min"),
        (3661, "1小时1分钟", "1 h 1 min"),
        (7200, "2小时", "2 h"),
        (14 * 86400, "14天", "14 d"),
        (16 * 86400 + 5400, "16天1小时", "16 d 1 h"),
        (86400 + 59, "1天", "1 d"),
        # Seconds round to the nearest: a downtime of 29.6 s reads as an incident of 30 s.
        (29.6, "30秒", "30 s"),
        (30, "30秒", "30 s"),
        (29.4, "29秒", "29 s"),
        (59.6, "1分钟", "1 min"),
    ],
)
def test_durations_read_naturally(seconds: float, zh: str, en: str) -> None:
    """Durations show two units at most, rounded down, in Chinese and English."""
    assert Texts("zh", SHANGHAI).duration(seconds) == zh
    assert Texts("en", SHANGHAI).duration(seconds) == en


def test_times_are_shown_in_the_zone() -> None:
    """A UTC moment is shown at Shanghai's wall time."""
    t = Texts("zh", SHANGHAI)
    moment = datetime(2026, 6, 30, 16, 30, tzinfo=UTC)
    assert t.when(moment) == "2026-07-01 00:30"
    assert t.day(moment) == "2026年7月1日"


# -- content timelines --------------------------------------------------------------------------


def version(newest: datetime, first: datetime, last: datetime) -> Version:
    return Version(newest, first, last, 1)


def test_timeline_carries_the_item_current_at_the_start() -> None:
    """An item seen before the period stays current into it; its age counts from its date."""
    period = quarter(2026, 3, "Asia/Shanghai")
    versions = [
        version(at(6, 10), at(6, 10, 1), at(7, 5)),
        version(at(7, 5, 9), at(7, 5, 10), at(7, 20)),
    ]
    segments = timeline(versions, [], period)
    assert len(segments) == 2
    found = max_age(segments, period)
    assert found is not None
    # The first item, Jun 10, was current until the next was seen on Jul 5 10:00.
    assert found[0] == (at(7, 5, 10) - at(6, 10)).total_seconds()
    spans = stale_spans(segments, period, 14 * 86400)
    # It was already past 14 days when the period began: stale from the period's start.
    assert spans[0] == (period.start, at(7, 5, 10))
    gap = longest_gap(segments, period)
    assert gap is not None and gap.updated and gap.newest_item_at == at(6, 10)


def test_undated_observations_are_no_update() -> None:
    """Observations without dates after the last dated item extend its age to them."""
    period = quarter(2026, 3, "Asia/Shanghai")
    versions = [version(at(7, 1), at(7, 1, 1), at(7, 2))]
    hours = [
        ContentHour(at(7, 20), 1, 1, 0, None, None, None, None, 0.0, 0, None),
    ]
    found = max_age(timeline(versions, hours, period), period)
    assert found is not None and found[0] == (at(7, 20) - at(7, 1)).total_seconds()


def test_posts_per_month_counts_distinct_dates_by_local_month() -> None:
    """Items are counted in the local month of their date; items before the period are not."""
    period = quarter(2026, 3, "Asia/Shanghai")
    versions = [
        version(at(6, 30, 23), at(6, 30, 23), at(7, 1)),
        version(at(7, 1, 0), at(7, 1, 1), at(7, 2)),
        version(datetime(2026, 7, 31, 16, 30, tzinfo=UTC), at(8, 1, 1), at(8, 2)),
    ]
    assert posts_per_month(versions, period) == [
        (date(2026, 7, 1), 1),
        (date(2026, 8, 1), 1),
        (date(2026, 9, 1), 0),
    ]


# -- thresholds ----------------------------------------------------------------------------------


def days(per_day: int, failures: dict[date, int], first: date, count: int) -> CheckDays:
    d = CheckDays()
    for i in range(count):
        day = first + timedelta(days=i)
        d.probes[day] = per_day
        d.failures[day] = failures.get(day, 0)
    return d


@pytest.mark.parametrize(
    ("failed", "status"),
    [(35, Status.VETO), (34, Status.WARNING), (21, Status.WARNING), (20, Status.PASS)],
)
def test_unreachable_thresholds_are_inclusive(failed: int, status: Status) -> None:
    """With 100 probes a day, 35/700 is exactly 5 % (veto), 21/700 exactly 3 % (warning)."""
    period = parse_period("Asia/Shanghai", from_text="2026-07-01", to_text="2026-07-07")
    check = AccessCheck("home", 15.0, days(100, {date(2026, 7, 3): failed}, date(2026, 7, 1), 7))
    v = site_unreachable([check], period)
    assert v.status is status
    assert v.evidence["failures"] == failed


def test_one_short_day_makes_a_clean_quarter_not_assessable() -> None:
    """A day with 19 probes leaves windows unjudged: no pass, the day named."""
    period = parse_period("Asia/Shanghai", from_text="2026-07-01", to_text="2026-07-10")
    d = days(20, {}, date(2026, 7, 1), 10)
    d.probes[date(2026, 7, 4)] = 19
    v = site_unreachable([AccessCheck("home", 15.0, d)], period)
    assert v.status is Status.NOT_ASSESSABLE
    assert v.evidence["short_days"] == [{"check": "home", "day": date(2026, 7, 4), "probes": 19}]


def test_a_period_shorter_than_a_week_is_not_assessable() -> None:
    """Six days hold no 7-day window."""
    period = parse_period("Asia/Shanghai", from_text="2026-07-01", to_text="2026-07-06")
    v = site_unreachable([AccessCheck("home", 15.0, days(100, {}, date(2026, 7, 1), 6))], period)
    assert (v.status, v.reason) == (Status.NOT_ASSESSABLE, "period_too_short")


def test_csv_quotes_text_excel_would_run_as_a_formula() -> None:
    """A first error like `=cmd|...` is written with a leading quote, Chinese kept as is."""
    data = csv_bytes(["原因", "n"], [['=HYPERLINK("x")', 1], ["超时", -2]])
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows == [["原因", "n"], ['\'=HYPERLINK("x")', "1"], ["超时", "-2"]]


@pytest.mark.parametrize(
    ("detail", "chinese"),
    [
        (
            "step submit: timeout after 3s while waiting for response headers (processing)",
            "步骤submit：等待响应头时超时（3秒）",
        ),
        ("session logged out after 15 s: status 401", "会话在登录15秒后掉线（返回状态码401）"),
        (
            "session check: status 503 from https://a.gov.cn/m, expected 2xx",
            "会话检查：返回状态码503（https://a.gov.cn/m），期望2xx",
        ),
        ("step submit: the site says '密码错误'", "步骤submit：网站提示“密码错误”"),
        (
            "cannot connect to a.gov.cn:443: Connection refused",
            "无法连接a.gov.cn:443（连接被拒绝）",
        ),
        ("newest post 2026-07-01 is 20 d old (max 14 d)", "最新信息日期为2026-07-01，已20天未更新"),
        (
            'body does not contain "国资委"; page title "404 Not Found"',
            "正文中没有“国资委”；页面标题为“404 Not Found”",
        ),
        ("something no pattern knows", "超时"),
    ],
)
def test_probe_details_are_told_in_chinese(detail: str, chinese: str) -> None:
    """A zh report says a probe's English detail in Chinese, or names the outcome instead."""
    assert Texts("zh", SHANGHAI).detail(detail, "timeout") == chinese
    assert Texts("en", SHANGHAI).detail(detail, "timeout") == detail


def test_short_durations_are_seconds() -> None:
    """A session that lived 15 s is '15 s' in a probe's detail and 15秒 in a zh report."""
    from monitor.probes.ages import show_age

    assert (show_age(15), show_age(59.4), show_age(60)) == ("15 s", "59 s", "1 min")
    assert Texts("zh", SHANGHAI).duration(15) == "15秒"


def test_a_short_periods_chart_keeps_its_title_and_labels_each_bar() -> None:
    """One day of bars: the SVG is as wide as its title and the day's label sits on its bar."""
    from monitor.report.render.blocks import DailyChart
    from monitor.report.render.svg import daily_bars, title_width

    title = "每日可用率 · home · Daily availability"
    svg = daily_bars(DailyChart(title, ((date(2026, 7, 1), 1.0, 24),)), "无数据")
    width = float(re.search(r'<svg[^>]* width="([\d.]+)"', svg)[1])  # type: ignore[index]
    assert width >= title_width(title) > 34 + 8
    bar = re.search(r'<rect x="([\d.]+)"[^>]* width="(\d+)"', svg)
    label = re.search(r'<text x="([\d.]+)"[^>]*>07-01</text>', svg)
    assert bar is not None and label is not None
    assert float(label[1]) == float(bar[1]) + int(bar[2]) / 2


def test_pass_rate_says_what_it_is_taken_over() -> None:
    """1 pass and 2 not assessable: 100 % of the 1 that could be assessed, said in words."""
    from monitor.report.model import Summary

    summary = Summary(3, 3, 0, passed=1, warned=0, failed=0, not_assessable=2)
    assert (summary.decided, summary.pass_rate) == (1, 1.0)


def test_a_window_under_an_hour_says_it_holds_no_probes() -> None:
    """--from 10:15 --to 10:45 holds no whole hour: the report notes it; 10:00-12:30 is partial."""
    from monitor.report.build import _period_notes

    def period(a: str, b: str) -> Period:
        return parse_period("Asia/Shanghai", from_text=a, to_text=b)

    assert _period_notes(period("2026-07-01T10:15", "2026-07-01T10:45")) == ("note_under_an_hour",)
    assert _period_notes(period("2026-07-01T10:00", "2026-07-01T12:30")) == ("note_partial_hours",)
    assert _period_notes(period("2026-07-01", "2026-07-02")) == ()


def test_report_words_live_in_words_py_only() -> None:
    """No Chinese in any string of the report's code but words.py (comments and docstrings aside)."""
    import ast

    import monitor.report

    han = re.compile(r"[\u4e00-\u9fff]")
    root = Path(monitor.report.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "words.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        found.extend(
            f"{path.relative_to(root)}:{node.lineno}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and han.search(node.value)
        )
    assert found == []
