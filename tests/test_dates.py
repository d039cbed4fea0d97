"""Date extraction from Chinese pages: every supported form reads back exactly; no page crashes it."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from monitor.dates import find_dates, normalize, parse_date, parse_exact, site_zone
from monitor.probes.extract import MAX_NESTING, DateRule, bound_nesting, parse_html
from monitor.probes.feed import read_feed
from monitor.probes.freshness import read_column
from monitor.probes.interaction import InteractionCheck, read_board
from monitor.probes.links import collect_links

# No `.hypothesis/` in the tree: with the project's `norecursedirs` (which replaces pytest's
# default ignores) its presence makes hypothesis warn at collection, an error under
# filterwarnings=error. Examples are not kept; hypothesis's caches go to the temp directory.
NO_DB = settings(database=None)
set_hypothesis_home_dir(str(Path(tempfile.gettempdir()) / "monitor-hypothesis"))
ZONE = site_zone("Asia/Shanghai")
NOW = datetime(2026, 7, 1, 12, 0, tzinfo=ZONE)
FULL_WIDTH = str.maketrans(
    {str(i): chr(0xFF10 + i) for i in range(10)} | {"-": "－", "/": "／", ".": "．", ":": "："}
)

# Text around a date that cannot join it: no digits (any script) and none of the date marks.
_MARKS = "-/.:：[]()【】（）［］年月日号T,，－／．"
surrounding = st.text(
    alphabet=st.characters(exclude_categories=("Nd", "Cs"), exclude_characters=_MARKS),
    max_size=12,
)
full_dates = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2099, 12, 31))


def _pad(value: int, padded: bool) -> str:
    return f"{value:02d}" if padded else str(value)


@st.composite
def written_dates(draw: st.DrawFn) -> tuple[str, datetime]:
    """A date with a year, written in one of the supported forms, and what it means."""
    when = draw(full_dates).replace(microsecond=0)
    padded = draw(st.booleans())
    form = draw(st.sampled_from(["-", "/", ".", "年"]))
    m, d = _pad(when.month, padded), _pad(when.day, padded)
    if form == "年":
        text = f"{when.year}年{m}月{d}" + draw(st.sampled_from(["日", "号", ""]))
    else:
        text = f"{when.year}{form}{m}{form}{d}"
    clock = draw(st.sampled_from(["none", "hm", "hms"]))
    if clock == "none":
        when = datetime.combine(when.date(), time(0, 0))
    else:
        if clock == "hm":
            when = when.replace(second=0)
        sep = draw(st.sampled_from([" ", "T", "  "])) if form != "年" else " "
        text += f"{sep}{when:%H:%M}" + (f":{when:%S}" if clock == "hms" else "")
    if draw(st.booleans()):
        text = text.translate(FULL_WIDTH)
    return text, when.replace(tzinfo=ZONE)


@st.composite
def yearless_dates(draw: st.DrawFn) -> tuple[str, datetime, datetime]:
    """A date within the last year written without its year, the `now` it is read at, and
    the date it means."""
    now = draw(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)))
    now = now.replace(tzinfo=ZONE)
    back = draw(st.integers(min_value=0, max_value=360))
    day = now.date() - timedelta(days=back)
    form = draw(
        st.sampled_from(
            [
                "[{m:02d}-{d:02d}]",
                "({m}-{d})",
                "【{m:02d}-{d:02d}】",
                "{m:02d}-{d:02d}",
                "{m}月{d}日",
            ]
        )
    )
    text = form.format(m=day.month, d=day.day)
    if draw(st.booleans()):
        text = text.translate(FULL_WIDTH)
    return text, now, datetime.combine(day, time(0, 0), tzinfo=ZONE)


@given(written_dates(), surrounding, surrounding)
@NO_DB
def test_any_written_date_reads_back_exactly(
    written: tuple[str, datetime], before: str, after: str
) -> None:
    """A date with a year in any supported form, amid any text, is found once and exactly."""
    text, expected = written
    assert find_dates(f"{before} {text} {after}", now=NOW, zone=ZONE) == [expected]
    assert parse_exact(text, now=NOW, zone=ZONE) == expected


@given(yearless_dates(), surrounding, surrounding)
@NO_DB
def test_a_yearless_date_gets_the_latest_year_not_in_the_future(
    written: tuple[str, datetime, datetime], before: str, after: str
) -> None:
    """`[09-30]` and its kin read as the most recent such day on or before today."""
    text, now, expected = written
    assert find_dates(f"{before} {text} {after}", now=now, zone=ZONE) == [expected]


@given(st.text(max_size=3000))
@settings(suppress_health_check=[HealthCheck.too_slow], database=None)
def test_random_text_never_raises(text: str) -> None:
    """Any text at all goes through the scanner, the column reader and the feed reader."""
    for found in find_dates(text, now=NOW, zone=ZONE):
        assert found.tzinfo is ZONE
    read_column(text, now=NOW, zone=ZONE)
    read_column(text, now=NOW, zone=ZONE, items="li", date=DateRule(selector="span"))
    read_feed(text.encode("utf-8", "surrogatepass"), None, now=NOW, zone=ZONE)


BOARD = InteractionCheck.model_validate(
    {
        "id": "b",
        "url": "https://a.gov.cn/",
        "rows": "tr, li",
        "question_date": {"selector": "td, span"},
        "answer_date": {"selector": "em", "regex": r"(\d.*)"},
        "answered": {"selector": "a", "text": "已回复"},
    }
)
_TAGS = ["li", "ul", "div", "span", "a", "tr", "td", "table", "meta", "p", "em", "script", "!--"]
html_fragments = st.lists(
    st.one_of(
        st.sampled_from(_TAGS).map(lambda t: f"<{t}>"),
        st.sampled_from(_TAGS).map(lambda t: f"</{t}>"),
        st.sampled_from(
            [
                *('<a href="', '<img src="', '<base href="', '<meta name="PubDate" content="'),
                *('">', "<", ">", '"', "http://", "//", "[", "#", "javascript:", "已回复"),
            ]
        ),
        st.text(max_size=20),
        written_dates().map(lambda w: w[0]),
    ),
    max_size=80,
).map("".join)


@given(html_fragments)
@settings(suppress_health_check=[HealthCheck.too_slow], database=None)
def test_random_html_never_raises(html: str) -> None:
    """Malformed HTML of tags, dates and junk is read without an exception."""
    reading = read_column(html, now=NOW, zone=ZONE)
    assert reading.items >= 0
    rule = DateRule(selector="span, a", attribute="href", regex=r"(\d+)", format="%Y")
    read_column(html, now=NOW, zone=ZONE, items="li, tr", date=rule)
    read_feed(html.encode(), "application/rss+xml", now=NOW, zone=ZONE)
    collect_links(html, "https://a.gov.cn/dir/page.html")
    read_board(html, BOARD, now=NOW, zone=ZONE)


@given(st.binary(max_size=2000))
@NO_DB
def test_random_bytes_are_no_feed_and_no_crash(body: bytes) -> None:
    """Arbitrary bytes either read as a feed or as none; the reader never raises."""
    read_feed(body, None, now=NOW, zone=ZONE)
    read_feed(body, "application/json", now=NOW, zone=ZONE)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-09-30", datetime(2021, 9, 30)),
        ("2021/9/30", datetime(2021, 9, 30)),
        ("2021.09.30", datetime(2021, 9, 30)),
        ("2021年9月30日", datetime(2021, 9, 30)),
        ("发布时间：2021年09月30日 08:05", datetime(2021, 9, 30, 8, 5)),
        ("2021-09-30 14:05:33", datetime(2021, 9, 30, 14, 5, 33)),
        ("２０２１－０９－３０", datetime(2021, 9, 30)),
        ("［09-30］", datetime(2025, 9, 30)),
        ("[06-30]", datetime(2026, 6, 30)),
        ("[02-29]", datetime(2024, 2, 29)),
    ],
)
def test_the_notice_forms(text: str, expected: datetime) -> None:
    """Each form the issue lists reads as the date a person would read."""
    assert find_dates(text, now=NOW, zone=ZONE) == [expected.replace(tzinfo=ZONE)]


@pytest.mark.parametrize(
    "text",
    [
        "电话：010-6519-3322",  # a phone number
        "2021-13-01",  # no 13th month
        "2021-02-30",  # no 30 February
        "版本 1.2.3",
        "2021-09/30",  # mixed separators are not a date
        "共12-345条",
        "25:61",
    ],
)
def test_things_that_are_not_dates(text: str) -> None:
    """Digits in a date-like shape that are not a date are not read as one."""
    assert find_dates(text, now=NOW, zone=ZONE) == []


def test_dates_are_in_the_sites_zone() -> None:
    """A date without a zone is local time where the site is: midnight in Shanghai is 16:00 UTC."""
    (found,) = find_dates("2021-09-30", now=NOW, zone=ZONE)
    assert found.astimezone(UTC) == datetime(2021, 9, 29, 16, 0, tzinfo=UTC)
    (elsewhere,) = find_dates("2021-09-30", now=NOW, zone=site_zone("Asia/Urumqi"))
    assert elsewhere.astimezone(UTC) == datetime(2021, 9, 29, 18, 0, tzinfo=UTC)


def test_a_configured_format_reads_what_the_scan_cannot() -> None:
    """A strptime format reads a day-first date; a year-less format gets its year inferred."""
    assert parse_date("30/09/2021", now=NOW, zone=ZONE, fmt="%d/%m/%Y") == datetime(
        2021, 9, 30, tzinfo=ZONE
    )
    assert parse_date("09月30", now=NOW, zone=ZONE, fmt="%m月%d") == datetime(
        2025, 9, 30, tzinfo=ZONE
    )


def test_normalize_keeps_positions() -> None:
    """Full-width forms map one character to one, so match positions stay valid."""
    text = "２０２１年０９月３０日　１４：０５"
    assert normalize(text) == "2021年09月30日 14:05"
    assert len(normalize(text)) == len(text)


def test_deeply_nested_page_is_cut_not_parsed_for_minutes() -> None:
    """A column followed by 100 000 unclosed <div>s (minutes of parsing uncut) is cut at
    MAX_NESTING: the column before the cut is read whole."""
    column = (
        '<ul class="list">'
        + "".join(f"<li><a href=/{i}>标题</a> 2026-06-{28 - i}</li>" for i in range(3))
        + "</ul>"
    )
    page = column + "<div>" * 100_000
    assert len(bound_nesting(page)) == len(column) + len("<div>") * MAX_NESTING
    reading = read_column(page, now=NOW, zone=ZONE)
    assert (reading.items, reading.newest) == (3, datetime(2026, 6, 28, tzinfo=ZONE))
    nested_lists = parse_html("<ul><li><a href=x>标题</a> " * 100_000)
    assert len(nested_lists.css("ul")) == MAX_NESTING


def test_future_dates_are_not_fresh() -> None:
    """A date more than a day ahead (a mistyped year) does not count as the newest item."""
    page = "<ul><li><a>a</a>2062-06-30</li><li><a>b</a>2026-05-01</li></ul>"
    reading = read_column(page, now=NOW, zone=ZONE)
    assert reading.newest == datetime(2026, 5, 1, tzinfo=ZONE)
    assert reading.future == 1


def test_date_of_today_is_not_in_the_future() -> None:
    """Today's date (midnight, earlier than now) is fresh, and year inference keeps this year."""
    today = NOW.date()
    assert find_dates(f"[{today:%m-%d}]", now=NOW, zone=ZONE) == [
        datetime.combine(today, time(0, 0), tzinfo=ZONE)
    ]
    assert date(2026, 7, 1) == today


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0001-01-01", None),  # ASP.NET's unset DateTime
        ("9999-12-31", None),  # "never"
        ("1899-12-31", None),
        ("2200-01-01", None),
        ("1900-01-01", datetime(1900, 1, 1, tzinfo=ZONE)),
        ("2199-12-31", datetime(2199, 12, 31, tzinfo=ZONE)),
    ],
)
def test_a_configured_format_reads_no_date_outside_the_sane_years(
    text: str, expected: datetime | None
) -> None:
    """Through a strptime format, a year outside 1900-2199 is no date; the edges are dates."""
    assert parse_date(text, now=NOW, zone=ZONE, fmt="%Y-%m-%d") == expected


def test_a_column_dated_0001_01_01_is_undated_not_an_error() -> None:
    """A column whose only date is the placeholder 0001-01-01 reads as undated, and its
    reading converts to UTC without overflowing (it has no date at all)."""
    page = "<ul>" + "<li><a>a</a><span>0001-01-01</span></li>" * 2 + "</ul>"
    rule = DateRule.model_validate({"selector": "span", "format": "%Y-%m-%d"})
    reading = read_column(page, now=NOW, zone=ZONE, items="li", date=rule)
    assert (reading.items, reading.dated, reading.newest) == (2, 0, None)


@pytest.mark.parametrize(
    "published", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "0001-01-01"]
)
def test_a_json_feed_dated_at_the_edge_of_time_is_undated(published: str) -> None:
    """JSON Feed dates at datetime's limits, with the offsets that overflow them in UTC, are
    entries without a date (a content finding), beside a good one that still counts."""
    body = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "items": [
                {"id": "1", "date_published": published},
                {"id": "2", "date_published": "2026-06-30T10:00:00+08:00"},
            ],
        }
    ).encode()
    reading = read_feed(body, "application/feed+json", now=NOW, zone=ZONE)
    assert reading is not None
    assert (reading.entries, reading.dates) == (2, (datetime(2026, 6, 30, 10, tzinfo=ZONE),))


def test_an_rss_entry_dated_9999_is_undated() -> None:
    """An RSS pubDate in year 9999 (read by feedparser as UTC) is no date, not an overflow
    when shown in the site's zone."""
    body = (
        b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>"
        b"<item><title>a</title><pubDate>Fri, 31 Dec 9999 23:59:59 GMT</pubDate></item>"
        b"</channel></rss>"
    )
    reading = read_feed(body, "application/rss+xml", now=NOW, zone=ZONE)
    assert reading is not None
    assert (reading.entries, reading.dates) == (1, ())
