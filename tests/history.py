"""A synthetic quarter of monitoring history with known answers, written through the store.

`scenario()` lays out 2026Q3 (Asia/Shanghai) for six sites and accounts, with the outages,
slow probes, stale pages, blank columns, unanswered questions, broken links and login trouble
the report must find, plus a few days either side of the quarter. `History.results` is every
probe result (the ground truth); `write()` feeds them in time order through the project's own
incident engine and store writer into PostgreSQL, as `monitor run` would.

Every number the report shows can be recomputed from `History` alone: tests do exactly that.
Times are chosen on the probe grids (multiples of each check's interval from local midnight)
so there is no rounding to argue about.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from monitor.config import Config, parse_config
from monitor.incidents import IncidentEngine
from monitor.maintenance import MaintenanceSchedule
from monitor.measurements import InteractionMeasurement, LinksMeasurement
from monitor.results import Outcome, ProbeResult, StepResult
from monitor.store import Store
from tests.pg import NoGauges

SHANGHAI = ZoneInfo("Asia/Shanghai")
HISTORY_START_DAY = (6, 20)
HISTORY_END_DAY = (10, 5)  # exclusive
MINUTE = timedelta(minutes=1)


def local(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> datetime:
    """A moment in Asia/Shanghai."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


HISTORY_START = local(*HISTORY_START_DAY)
HISTORY_END = local(*HISTORY_END_DAY)
Q3_START = local(7, 1)
Q3_END = local(10, 1)


def grid(
    interval_minutes: int, start: datetime = HISTORY_START, end: datetime = HISTORY_END
) -> list[datetime]:
    """Probe times every `interval_minutes` from `start` (local midnight) until `end`."""
    step = timedelta(minutes=interval_minutes)
    out = []
    moment = start
    while moment < end:
        out.append(moment)
        moment += step
    return out


@dataclass(frozen=True)
class Outage:
    """Consecutive failed probes of one check: the incident the engine must record."""

    site: str
    check: str
    first_failure: datetime
    first_success: datetime  # the probe after the last failure
    outcome: Outcome
    maintenance: bool = False


@dataclass
class History:
    config: Config
    results: list[ProbeResult] = field(default_factory=list)
    outages: list[Outage] = field(default_factory=list)
    # Publication times of each content check's items (what a probe sees as newest).
    publications: dict[tuple[str, str], list[datetime]] = field(default_factory=dict)

    def of(self, site: str, check: str) -> list[ProbeResult]:
        return [r for r in self.results if r.site == site and r.check == check]


def config_data(database_url: str = "") -> dict[str, Any]:
    """The scenario's config: six sites and accounts in the notice's manner."""
    url = "http://127.0.0.1:9"

    def fresh(check_id: str, category: str, interval: str = "6h") -> dict[str, Any]:
        return {
            "id": check_id,
            "type": "freshness",
            "url": f"{url}/{check_id}",
            "category": category,
            "interval": interval,
            "items": "ul.list > li",
        }

    return {
        "storage": {"database_url": database_url},
        "timezone": "Asia/Shanghai",
        "defaults": {"interval": "1h", "timeout": "15s"},
        "maintenance": [
            {
                "sites": ["petro"],
                "start": "2026-08-03T01:00:00+08:00",
                "end": "2026-08-03T06:00:00+08:00",
                "reason": "服务器维护",
            }
        ],
        "sites": [
            {
                "id": "alpha",
                "name": "甲网站",
                "owner": "alpha-it",
                "checks": [
                    {"id": "home", "type": "http", "url": f"{url}/", "interval": "72m"},
                    fresh("homepage", "homepage", "1h"),
                ],
            },
            {
                "id": "beta",
                "name": "乙网站",
                "owner": "beta-it",
                "checks": [
                    {"id": "home", "type": "http", "url": f"{url}/"},
                    fresh("homepage", "homepage", "1h"),
                    fresh("news", "news"),
                ],
            },
            {
                "id": "gamma",
                "name": "丙网站",
                "owner": "gamma-it",
                "checks": [
                    {"id": "home", "type": "http", "url": f"{url}/", "interval": "2h"},
                    *(fresh(f"news{k}", "news") for k in range(1, 5)),
                    fresh("notice1", "notice"),
                    *(fresh(f"blank{k}", "news") for k in range(1, 4)),
                    {
                        "id": "board",
                        "type": "interaction",
                        "url": f"{url}/board",
                        "interval": "6h",
                        "rows": "table.board tr",
                        "question_date": {"selector": "td.asked"},
                        "answer_date": {"selector": "td.answered"},
                    },
                    {"id": "links", "type": "links", "url": f"{url}/", "interval": "6h"},
                ],
            },
            {
                "id": "petro",
                "name": "石化离退休干部局网站",
                "owner": "petro-it",
                "checks": [
                    {"id": "home", "type": "http", "url": f"{url}/", "timeout": "30s"},
                    {
                        "id": "login",
                        "type": "login",
                        "steps": [
                            {"name": "form", "url": f"{url}/login"},
                            {
                                "name": "submit",
                                "url": f"{url}/login",
                                "form": {"user": "monitor"},
                                "expect": {"body_contains": ["退出登录"]},
                            },
                        ],
                    },
                ],
            },
            {
                "id": "xiaoxin",
                "name": "国资小新",
                "kind": "new_media",
                "owner": "news-office",
                "checks": [{"id": "feed", "type": "feed", "url": f"{url}/xiaoxin.xml"}],
            },
            {
                "id": "efting",
                "name": "国资e厅",
                "kind": "new_media",
                "owner": "general-office",
                "checks": [{"id": "feed", "type": "feed", "url": f"{url}/efting.xml"}],
            },
        ],
    }


def _latency(rng: random.Random, median: float = 0.3) -> float:
    """A plausible latency: log-normal around `median`, kept below 10 s."""
    return min(9.5, rng.lognormvariate(math.log(median), 0.7))


def _http(
    history: History,
    site: str,
    check: str,
    interval: int,
    failures: dict[datetime, Outcome],
    *,
    slow: Iterable[datetime] = (),
    seed: int,
) -> None:
    rng = random.Random(seed)
    slow_set = set(slow)
    for at in grid(interval):
        outcome = failures.get(at, Outcome.OK)
        if at in slow_set:
            duration = 20.0
        elif outcome is Outcome.TIMEOUT:
            duration = 15.0
        else:
            duration = _latency(rng)
        history.results.append(
            ProbeResult(
                site=site,
                check=check,
                type="http",
                outcome=outcome,
                started_at=at,
                duration_seconds=duration,
                detail="status 200" if outcome is Outcome.OK else f"synthetic {outcome}",
                status_code=200 if outcome is Outcome.OK else None,
            )
        )


def _outage(
    history: History,
    failures: dict[datetime, Outcome],
    site: str,
    check: str,
    start: datetime,
    count: int,
    interval: int,
    outcome: Outcome,
    maintenance: bool = False,
) -> None:
    step = timedelta(minutes=interval)
    for i in range(count):
        failures[start + i * step] = outcome
    history.outages.append(Outage(site, check, start, start + count * step, outcome, maintenance))


def newest(publications: Sequence[datetime], at: datetime) -> datetime | None:
    """The newest item a probe at `at` sees."""
    seen = [p for p in publications if p <= at]
    return max(seen) if seen else None


def _content(
    history: History,
    site: str,
    check: str,
    kind: str,
    interval: int,
    publications: list[datetime],
    *,
    blank: Callable[[datetime], bool] = lambda at: False,
    undated: Callable[[datetime], bool] = lambda at: False,
    allowed: float = 14 * 86400,
) -> None:
    history.publications[(site, check)] = publications
    rng = random.Random(hash((site, check)) & 0xFFFF)
    for at in grid(interval):
        item = newest(publications, at)
        if blank(at):
            outcome, item, items, detail = Outcome.CONTENT_MISMATCH, None, 0, "blank column"
        elif undated(at):
            outcome, item, items, detail = Outcome.STALE, None, 12, "12 items, none dated"
        elif item is None:
            outcome, items, detail = Outcome.STALE, 12, "no dated item"
        else:
            age = (at - item).total_seconds()
            outcome = Outcome.STALE if age > allowed else Outcome.OK
            items, detail = 20, f"newest item {item:%Y-%m-%d}"
        history.results.append(
            ProbeResult(
                site=site,
                check=check,
                type=kind,
                outcome=outcome,
                started_at=at,
                duration_seconds=_latency(rng, 0.5),
                detail=detail,
                status_code=200,
                newest_item_at=item,
                content_age_seconds=None if item is None else max(0.0, (at - item).total_seconds()),
                items=items,
            )
        )


def _every(start: datetime, days: float, until: datetime = HISTORY_END) -> list[datetime]:
    out = []
    moment = start
    while moment < until:
        out.append(moment)
        moment += timedelta(days=days)
    return out


def _alpha(h: History) -> None:
    failures: dict[datetime, Outcome] = {}
    # Jul 6-12: one outage of 4 probes plus 3 single failures = 7 of 140 probes, exactly 5 %.
    _outage(h, failures, "alpha", "home", local(7, 8, 0, 0), 4, 72, Outcome.TIMEOUT)
    failures[local(7, 6, 12, 0)] = Outcome.HTTP_ERROR
    failures[local(7, 10, 12, 0)] = Outcome.DROPOUT
    failures[local(7, 12, 12, 0)] = Outcome.CONNECT_ERROR
    # Either side of the quarter: in Q2 and Q4, never in Q3's figures.
    failures[local(6, 30, 22, 48)] = Outcome.TIMEOUT
    failures[local(10, 1, 0, 0)] = Outcome.TIMEOUT
    _http(h, "alpha", "home", 72, failures, seed=1)
    # The homepage: a new item every 2 days, but none between Jul 20 and Aug 4 (15 days).
    pubs = _every(local(6, 1, 9, 30), 2, local(7, 21))
    pubs += _every(local(8, 4, 10, 30), 2)
    _content(h, "alpha", "homepage", "freshness", 60, pubs)


def _beta(h: History) -> None:
    failures: dict[datetime, Outcome] = {}
    # Jul 20-26: 8 single failures of 168 probes, 4.76 %: just below the 5 % veto.
    for day in range(20, 27):
        failures[local(7, day, 12, 0)] = Outcome.TIMEOUT
    failures[local(7, 23, 18, 0)] = Outcome.TLS_ERROR
    # 02:00 local on Jul 6 is Jul 5 in UTC: it must land on Jul 6's row.
    failures[local(7, 6, 2, 0)] = Outcome.DNS_ERROR
    _http(h, "beta", "home", 60, failures, seed=2)
    # The homepage: daily items, but an 11-day gap (Aug 10 to Aug 21): a warning.
    pubs = [p for p in _every(local(6, 1, 10, 0), 1) if not local(8, 10, 11) <= p < local(8, 21)]
    _content(h, "beta", "homepage", "freshness", 60, pubs)
    # beta/news is configured but never reported anything: not assessable.


def _gamma(h: History) -> None:
    # 12 probes a day: too few for the unreachable rule, whatever they show.
    _http(h, "gamma", "home", 120, {}, seed=3)
    # news1..4 stop after Jul 26..29 and resume Aug 20; notice1's last item is from Feb 1
    # until Sep 10: from Aug 12 09:00 all five are stale at once (rule 1: veto).
    for k in range(1, 5):
        last = local(7, 25 + k, 9, 0)
        pubs = [p for p in _every(local(6, 2, 9, 0), 3) if p < last]
        pubs += [last, *_every(local(8, 20, 9, 0), 3)]
        _content(h, "gamma", f"news{k}", "freshness", 360, pubs)
    notice = [local(2, 1, 9, 0), *_every(local(9, 10, 9, 0), 10)]
    _content(h, "gamma", "notice1", "freshness", 360, notice, allowed=180 * 86400)
    # blank1..3: fresh, but blank together Sep 1-5 (3 blank columns: a warning); blank1 also
    # shows undated items on Sep 10.
    for k in range(1, 4):
        pubs = _every(local(6, 1, 8, 0), 2)
        _content(
            h,
            "gamma",
            f"blank{k}",
            "freshness",
            360,
            pubs,
            blank=lambda at: local(9, 1) <= at < local(9, 5),
            undated=(lambda at: local(9, 10) <= at < local(9, 11))
            if k == 1
            else (lambda at: False),
        )
    _board(h)
    _links(h)


def _board(h: History) -> None:
    rng = random.Random(7)
    for at in grid(360):
        overdue = 2 if local(8, 1) <= at < local(8, 10) else 0
        late = 1 if at >= local(9, 1) else 0
        h.results.append(
            ProbeResult(
                site="gamma",
                check="board",
                type="interaction",
                outcome=Outcome.UNANSWERED if overdue else Outcome.OK,
                started_at=at,
                duration_seconds=_latency(rng),
                detail="synthetic board",
                status_code=200,
                items=30,
                measurement=InteractionMeasurement(
                    unanswered=overdue,
                    open_questions=overdue + 1,
                    late_answers=late,
                    median_response_seconds=3 * 86400.0,
                ),
            )
        )


BROKEN = {
    "https://gamma.example.gov.cn/a.pdf": ("404", local(7, 15), local(7, 20)),
    "https://gamma.example.gov.cn/b.html": ("timeout", local(9, 1), local(9, 3)),
    # Only before the quarter: not in Q3's list.
    "https://gamma.example.gov.cn/old.html": ("500", local(6, 20), local(6, 25)),
}


def _links(h: History) -> None:
    rng = random.Random(8)
    for at in grid(360):
        broken = {u: why for u, (why, a, b) in BROKEN.items() if a <= at < b}
        h.results.append(
            ProbeResult(
                site="gamma",
                check="links",
                type="links",
                outcome=Outcome.BROKEN_LINKS if broken else Outcome.OK,
                started_at=at,
                duration_seconds=_latency(rng),
                detail=f"{len(broken)} of 40 links broken (max 0)",
                status_code=200,
                broken_links=tuple(broken),
                measurement=LinksMeasurement(
                    links_checked=40, links_cached=0, broken_link_reasons=broken
                ),
            )
        )


# petro's login: probes whose outcome is not ok, by time.
LOGIN_TROUBLE = {
    local(7, 14, 9, 0): Outcome.SESSION_DROPPED,
    local(7, 28, 9, 0): Outcome.SESSION_DROPPED,
    local(8, 11, 15, 0): Outcome.LOGIN_FAILED,
    local(8, 25, 10, 0): Outcome.DROPOUT,
    local(9, 8, 16, 0): Outcome.LOGIN_FAILED,
    local(9, 22, 11, 0): Outcome.SESSION_DROPPED,
}


def _petro(h: History) -> None:
    failures: dict[datetime, Outcome] = {}
    # In the maintenance window: recorded, shown apart.
    _outage(h, failures, "petro", "home", local(8, 3, 2), 3, 60, Outcome.CONNECT_ERROR, True)
    _outage(h, failures, "petro", "home", local(8, 17, 20), 6, 60, Outcome.TIMEOUT)
    # Across the quarter's end: 2 of its 4 hours are in Q3; resolved after it.
    _outage(h, failures, "petro", "home", local(9, 30, 22), 4, 60, Outcome.TIMEOUT)
    # Aug 25: twelve probes answered, but after 20 s: officially not opened within 15 s.
    slow = [local(8, 25, hour) for hour in range(12)]
    _http(h, "petro", "home", 60, failures, slow=slow, seed=4)
    rng = random.Random(5)
    for at in grid(60):
        outcome = LOGIN_TROUBLE.get(at, Outcome.OK)
        form = _latency(rng, 0.2)
        submit = _latency(rng, 1.2)
        steps = (
            StepResult("form", form, Outcome.OK),
            StepResult(
                "submit",
                submit,
                Outcome.LOGIN_FAILED if outcome is Outcome.LOGIN_FAILED else Outcome.OK,
            ),
        )
        h.results.append(
            ProbeResult(
                site="petro",
                check="login",
                type="login",
                outcome=outcome,
                started_at=at,
                duration_seconds=form + submit,
                detail="logged in" if outcome is Outcome.OK else f"synthetic {outcome}",
                status_code=200,
                steps=steps if outcome in (Outcome.OK, Outcome.LOGIN_FAILED) else (),
            )
        )


def _accounts(h: History) -> None:
    # 国资小新: a post every morning, but none from Sep 2 to Sep 18 (16 days): a veto.
    pubs = [p for p in _every(local(6, 1, 8, 0), 1) if not local(9, 2, 9) <= p < local(9, 18)]
    _content(h, "xiaoxin", "feed", "feed", 60, pubs)
    # 国资e厅: a post every third afternoon.
    _content(h, "efting", "feed", "feed", 60, _every(local(6, 2, 15, 0), 3))


def scenario(database_url: str = "") -> History:
    """The whole synthetic history, results sorted by time."""
    config = parse_config(config_data(database_url), "history-config")
    h = History(config)
    _alpha(h)
    _beta(h)
    _gamma(h)
    _petro(h)
    _accounts(h)
    order = {
        (s.id, c.id): i for i, (s, c) in enumerate((s, c) for s in config.sites for c in s.checks)
    }
    h.results.sort(key=lambda r: (r.started_at, order[(r.site, r.check)]))
    return h


class ReplayClock:
    """A clock that reads the time of the result being replayed (for incident event times)."""

    def __init__(self, start: datetime) -> None:
        self.at = start

    def monotonic(self) -> float:
        return self.at.timestamp()

    def now(self) -> datetime:
        return self.at

    async def sleep(self, seconds: float) -> None:
        raise AssertionError("the replay never sleeps")


async def write(history: History, store: Store) -> None:
    """Feed every result through the incident engine and the store, then wait until written."""
    clock = ReplayClock(HISTORY_START)
    engine = IncidentEngine(
        history.config.checks(),
        store,
        NoGauges(),
        clock,
        MaintenanceSchedule(history.config.maintenance, history.config.timezone),
    )
    for result in history.results:
        clock.at = result.started_at
        engine.observe(result)
        store.submit_result(result)
    assert await store.flush(300), "the store did not write the history in time"
