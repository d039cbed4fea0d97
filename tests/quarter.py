"""A second ground-truth quarter (2026Q2, Asia/Shanghai), at the official rules' boundaries.

Beside `tests/history.py` (a broad quarter), this one holds the cases where a reading of the
rule decides the verdict, each on its own site so every figure of its verdicts can be stated
by hand:

- `blanks`: five columns probed every 6 h, 6 h (offset 3 h), 8 h, 12 h and 24 h, blank
  together for two days without ever being probed in the same hour;
- `early-na`, `early-veto`, `early-pass`: homepages with a 10 s timeout (below the official
  15 s) whose timeouts would, would not, or could not change the verdict;
- `portal`: a homepage that answers every probe beside a login check whose session drops
  every day (3 times in 3 hours once) and whose login failed three times running once;
- `slowlogin`: a homepage whose latencies are exactly known, beside a login whose submit
  step takes 3.5 s, five times 12 s (slow logins) and twice times out;
- `bridged`: an account posting daily whose feed bridge fails for 20 days (status 432);
  `oneitem`: one posting weekly through a route that lists a single item;
- `board60`: a message board with a stricter 60-day limit and a question answered after 70
  days; `board90`: one with the default limit and a question never answered.

The expected figures are in the test (`tests/test_report_quarter.py`), derived by hand or by
a plain computation over `results`, never by the report's own code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from monitor.config import parse_config
from monitor.measurements import FeedMeasurement, InteractionMeasurement, LoginMeasurement
from monitor.results import Outcome, ProbeResult, StepResult
from tests.history import SHANGHAI, History

DAY = 86400.0
URL = "http://127.0.0.1:9"


def at(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A moment of 2026 in Asia/Shanghai."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


Q2_START = at(4, 1)
Q2_END = at(7, 1)
# The five columns' grids: (check id, interval in hours, first probe's hour on Apr 1).
BLANK_COLUMNS = (("c1", 6, 0), ("c2", 6, 3), ("c3", 8, 1), ("c4", 12, 5), ("c5", 24, 7))
BLANK_FROM, BLANK_UNTIL = at(5, 10), at(5, 12)  # probes in here find the column blank
# b60's question: asked Apr 1 09:00, answered 70 days later; b90's: asked Feb 20, never.
B60_ASKED, B60_ANSWERED = at(4, 1, 9), at(6, 10, 9)
B90_ASKED = at(2, 20, 12)
ANSWER_TIME = 2 * DAY  # every other question on both boards is answered in 2 days


def grid(minutes: float, first: datetime = Q2_START) -> list[datetime]:
    out, moment = [], first
    while moment < Q2_END:
        out.append(moment)
        moment += timedelta(minutes=minutes)
    return out


def config_data(database_url: str = "") -> dict[str, Any]:
    def home(timeout: str = "15s", interval: str = "72m") -> dict[str, Any]:
        return {
            "id": "home",
            "type": "http",
            "url": f"{URL}/",
            "interval": interval,
            "timeout": timeout,
        }

    def column(check_id: str, hours: int) -> dict[str, Any]:
        return {
            "id": check_id,
            "type": "freshness",
            "url": f"{URL}/{check_id}",
            "category": "news",
            "interval": f"{hours}h",
        }

    def board(check_id: str, **extra: Any) -> dict[str, Any]:
        return {
            "id": check_id,
            "type": "interaction",
            "url": f"{URL}/{check_id}",
            "interval": "6h",
            "rows": "tr",
            "question_date": {"selector": "td.q"},
            "answer_date": {"selector": "td.a"},
            **extra,
        }

    def feed(check_id: str) -> dict[str, Any]:
        return {"id": check_id, "type": "feed", "url": f"{URL}/{check_id}.xml", "interval": "1h"}

    def login(interval: str, **extra: Any) -> dict[str, Any]:
        return {
            "id": "login",
            "type": "login",
            "interval": interval,
            "steps": [
                {"name": "form", "url": f"{URL}/login"},
                {
                    "name": "submit",
                    "url": f"{URL}/login",
                    "expect": {"body_contains": ["退出登录"]},
                },
            ],
            **extra,
        }

    return {
        "storage": {"database_url": database_url},
        "timezone": "Asia/Shanghai",
        "sites": [
            {
                "id": "blanks",
                "name": "空白栏目网站",
                "checks": [column(c, hours) for c, hours, _ in BLANK_COLUMNS],
            },
            {"id": "early-na", "name": "超时过短甲", "checks": [home("10s")]},
            {"id": "early-veto", "name": "超时过短乙", "checks": [home("10s")]},
            {"id": "early-pass", "name": "超时过短丙", "checks": [home("10s")]},
            {
                "id": "portal",
                "name": "登录网站",
                "checks": [
                    home(interval="1h"),
                    login("30m", session={"url": f"{URL}/member", "marker": "退出登录"}),
                ],
            },
            {
                "id": "slowlogin",
                "name": "登录缓慢网站",
                "checks": [home(interval="1h"), login("1h")],
            },
            {"id": "bridged", "name": "桥接账号", "kind": "new_media", "checks": [feed("feed")]},
            {"id": "oneitem", "name": "单条账号", "kind": "new_media", "checks": [feed("feed")]},
            {"id": "board60", "name": "互动网站甲", "checks": [board("b60", max_unanswered="60d")]},
            {"id": "board90", "name": "互动网站乙", "checks": [board("b90")]},
        ],
    }


@dataclass
class Quarter:
    history: History
    # The login probes' outcomes that are not ok, by time.
    login_trouble: dict[datetime, Outcome] = field(default_factory=dict)


def _result(site: str, check: str, kind: str, moment: datetime, **fields: Any) -> ProbeResult:
    fields.setdefault("outcome", Outcome.OK)
    fields.setdefault("duration_seconds", 0.25)
    fields.setdefault("status_code", 200)
    return ProbeResult(site=site, check=check, type=kind, started_at=moment, **fields)


def _blanks(out: list[ProbeResult]) -> None:
    for check, hours, first in BLANK_COLUMNS:
        for moment in grid(hours * 60, Q2_START + timedelta(hours=first)):
            # A new item every morning at 06:00 (never stale), except on the blank days.
            day_start = moment.replace(hour=6, minute=0)
            newest = day_start if moment >= day_start else day_start - timedelta(days=1)
            seen: dict[str, Any] = {
                "items": 20,
                "newest_item_at": newest,
                "content_age_seconds": (moment - newest).total_seconds(),
            }
            if BLANK_FROM <= moment < BLANK_UNTIL:
                seen = {"outcome": Outcome.CONTENT_MISMATCH, "detail": "blank column", "items": 0}
            out.append(_result("blanks", check, "freshness", moment, **seen))


# Failures of the 10 s-timeout homepages, by site: (moment, outcome).
EARLY_FAILURES: dict[str, list[tuple[datetime, Outcome]]] = {
    # 8 timeouts in May 4-10: 5.7 % if they counted, 0 % if not: not assessable.
    "early-na": [(at(5, d, 12), Outcome.TIMEOUT) for d in range(4, 11)]
    + [(at(5, 7, 0), Outcome.TIMEOUT)],
    # 7 HTTP errors (exactly 5 %) and 2 timeouts in May 4-10: a veto either way.
    "early-veto": [(at(5, d, 12), Outcome.HTTP_ERROR) for d in range(4, 11)]
    + [(at(5, 6, 0), Outcome.TIMEOUT), (at(5, 8, 0), Outcome.TIMEOUT)],
    # One timeout: below 3 % either way, a pass.
    "early-pass": [(at(5, 20, 12), Outcome.TIMEOUT)],
}


def _early(out: list[ProbeResult]) -> None:
    for site, failures in EARLY_FAILURES.items():
        failed = dict(failures)
        for moment in grid(72):
            outcome = failed.get(moment, Outcome.OK)
            out.append(
                _result(
                    site,
                    "home",
                    "http",
                    moment,
                    outcome=outcome,
                    duration_seconds=10.0 if outcome is Outcome.TIMEOUT else 0.25,
                    status_code=500 if outcome is Outcome.HTTP_ERROR else 200,
                )
            )


# The portal's login: the session drops every day at 08:00 (found by the session probe);
# three logins in a row fail on May 15.
LOGIN_FAILED_AT = (at(5, 15, 10), at(5, 15, 10, 30), at(5, 15, 11))
# On Jun 1 sessions drop at 08:00, 09:00 and 10:00 with re-logins between: 3 within 6 h.
DROPOUT_BURST = (at(6, 1, 9), at(6, 1, 10))


def _portal(q: Quarter, out: list[ProbeResult]) -> None:
    for moment in grid(60):
        out.append(_result("portal", "home", "http", moment))
    for moment in grid(30):
        outcome = Outcome.OK
        if (moment.hour == 8 and moment.minute == 0) or moment in DROPOUT_BURST:
            outcome = Outcome.SESSION_DROPPED
        if moment in LOGIN_FAILED_AT:
            outcome = Outcome.LOGIN_FAILED
        if outcome is not Outcome.OK:
            q.login_trouble[moment] = outcome
        out.append(_result("portal", "login", "login", moment, outcome=outcome))


# slowlogin's homepage: the n-th probe of each day (0-based) took (n + 1) / 4 s, so every one
# of 0.25, 0.5, ..., 6 s occurs once a day.
def home_latency(moment: datetime) -> float:
    return (moment.hour + 1) * 0.25


# slowlogin's login: the form takes 0.2 s and the submit 3.5 s, except five submits of 12 s
# (slow logins: 12.2 s > 10 s) and two that time out after 15 s.
SLOW_SUBMITS = tuple(at(6, d, 9) for d in (1, 2, 3, 10, 20))
TIMED_OUT_SUBMITS = (at(4, 15, 14), at(5, 15, 14))
FORM_SECONDS, SUBMIT_SECONDS, SLOW_SUBMIT_SECONDS = 0.2, 3.5, 12.0


def _slowlogin(out: list[ProbeResult]) -> None:
    for moment in grid(60):
        out.append(
            _result("slowlogin", "home", "http", moment, duration_seconds=home_latency(moment))
        )
        form = StepResult("form", FORM_SECONDS, Outcome.OK)
        if moment in TIMED_OUT_SUBMITS:
            submit = StepResult("submit", 15.0, Outcome.TIMEOUT, "timeout after 15s")
            seen: dict[str, Any] = {"outcome": Outcome.TIMEOUT, "duration_seconds": 15.2}
        else:
            took = SLOW_SUBMIT_SECONDS if moment in SLOW_SUBMITS else SUBMIT_SECONDS
            submit = StepResult("submit", took, Outcome.OK)
            total = FORM_SECONDS + took
            seen = {
                "duration_seconds": total,
                "measurement": LoginMeasurement(
                    login_seconds=total,
                    slow_login=total > 10.0,
                    slow_login_threshold_seconds=10.0,
                ),
            }
        out.append(_result("slowlogin", "login", "login", moment, steps=(form, submit), **seen))


# bridged: a post every day at 09:00; its bridge is turned away (432) from May 1 to May 21.
BRIDGE_DOWN = (at(5, 1), at(5, 21))
# oneitem: its bridge route lists only the newest post; the account posts on Mondays 10:00.


def _accounts(out: list[ProbeResult]) -> None:
    for moment in grid(60):
        if BRIDGE_DOWN[0] <= moment < BRIDGE_DOWN[1]:
            out.append(
                _result(
                    "bridged",
                    "feed",
                    "feed",
                    moment,
                    outcome=Outcome.HTTP_ERROR,
                    status_code=432,
                    detail="bridge failure: the platform turned the bridge away (status 432)",
                    measurement=FeedMeasurement(bridge_failure="rate_limited"),
                )
            )
        else:
            daily = moment.replace(hour=9, minute=0)
            newest = daily if moment >= daily else daily - timedelta(days=1)
            out.append(_feed_result("bridged", moment, newest, 20))
        monday = (moment - timedelta(days=moment.weekday())).replace(hour=10, minute=0)
        newest = monday if moment >= monday else monday - timedelta(days=7)
        out.append(_feed_result("oneitem", moment, newest, 1))


def _feed_result(site: str, moment: datetime, newest: datetime, items: int) -> ProbeResult:
    return _result(
        site,
        "feed",
        "feed",
        moment,
        items=items,
        newest_item_at=newest,
        content_age_seconds=(moment - newest).total_seconds(),
        measurement=FeedMeasurement(feed_format="rss20"),
    )


def board_extra(
    moment: datetime, asked: datetime, answered: datetime | None, limit: float
) -> InteractionMeasurement:
    """What a probe of a board at `moment` reports: one question of interest among others."""
    is_open = moment >= asked and (answered is None or moment < answered)
    age = (moment - asked).total_seconds()
    took = None if answered is None or moment < answered else (answered - asked).total_seconds()
    return InteractionMeasurement(
        unanswered=1 if is_open and age > limit else 0,
        open_questions=1 if is_open else 0,
        late_answers=1 if took is not None and took > limit else 0,
        oldest_unanswered_seconds=age if is_open else None,
        median_response_seconds=ANSWER_TIME,
        slowest_answer_seconds=max(ANSWER_TIME, took or 0.0),
    )


def _boards(out: list[ProbeResult]) -> None:
    for site, check, asked, answered, limit in (
        ("board60", "b60", B60_ASKED, B60_ANSWERED, 60 * DAY),
        ("board90", "b90", B90_ASKED, None, 90 * DAY),
    ):
        for moment in grid(360):
            board = board_extra(moment, asked, answered, limit)
            out.append(
                _result(
                    site,
                    check,
                    "interaction",
                    moment,
                    outcome=Outcome.UNANSWERED if board.unanswered else Outcome.OK,
                    items=6,
                    measurement=board,
                )
            )


def scenario(database_url: str = "") -> Quarter:
    config = parse_config(config_data(database_url), "quarter-config")
    q = Quarter(History(config))
    out = q.history.results
    _blanks(out)
    _early(out)
    _portal(q, out)
    _slowlogin(out)
    _accounts(out)
    _boards(out)
    order = {
        (s.id, c.id): i for i, (s, c) in enumerate((s, c) for s in config.sites for c in s.checks)
    }
    out.sort(key=lambda r: (r.started_at, order[(r.site, r.check)]))
    return q
