"""The `interaction` probe against the fake message board: answered, overdue, empty, failing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config import ConfigError, load_config, parse_config
from monitor.probes.base import ProbeContext
from monitor.probes.interaction import InteractionCheck, probe
from monitor.results import Outcome, ProbeResult
from tests.fakesite import NOW

DAY = 86400
BY_DATE = {
    "rows": "table.board tr.row",
    "question_date": {"selector": "td.asked"},
    "answer_date": {"selector": "td.answered"},
}
BY_MARKER = {
    "rows": "table.board tr.row",
    "question_date": {"selector": "td.asked"},
    "answered": {"selector": "td.state", "text": "已回复"},
}


async def run(url: str, ctx: ProbeContext, keys: dict[str, Any], **settings: Any) -> ProbeResult:
    raw = {"id": "zwzx", "site": "sasac", "url": url, "interval": 3600, "timeout": 2}
    return await probe(InteractionCheck.model_validate(raw | keys | settings), ctx)


async def test_answered_board_is_ok_with_median_response(site: str, ctx: ProbeContext) -> None:
    """Answers after 5, 8 and 1 days and one 5-day-old open question: `ok`, median 5 d."""
    result = await run(f"{site}/board/ok", ctx, BY_DATE)
    assert result.outcome is Outcome.OK, result.detail
    assert result.measurement.median_response_seconds == 5 * DAY
    assert result.measurement.unanswered == 0
    assert result.measurement.open_questions == 1
    assert result.items == 4
    assert result.detail == "4 questions, 1 open, median response 5 d"
    assert result.newest_item_at is not None
    assert result.newest_item_at.date() == (NOW - timedelta(days=9)).date()
    assert result.to_json()["median_response_seconds"] == 5 * DAY


@pytest.mark.parametrize("keys", [BY_DATE, BY_MARKER], ids=["answer-date", "marker"])
async def test_old_unanswered_question(site: str, ctx: ProbeContext, keys: dict[str, Any]) -> None:
    """A question asked 120 days ago and never answered is `unanswered` (rule: 90 days)."""
    result = await run(f"{site}/board/old", ctx, keys)
    assert result.outcome is Outcome.UNANSWERED
    assert result.measurement.unanswered == 1
    asked = (NOW - timedelta(days=120)).date()
    assert result.detail.startswith(
        f"1 question unanswered for more than 90 d, oldest asked {asked:%Y-%m-%d} (120 d ago); "
    )


async def test_marker_only_board_has_no_median(site: str, ctx: ProbeContext) -> None:
    """With only an answered marker there are no answer dates, so no median is claimed."""
    result = await run(f"{site}/board/ok", ctx, BY_MARKER)
    assert result.outcome is Outcome.OK
    assert result.measurement.median_response_seconds is None


async def test_max_unanswered_is_configurable(site: str, ctx: ProbeContext) -> None:
    """`max_unanswered: 3d` makes the 5-day-old open question overdue."""
    result = await run(f"{site}/board/ok", ctx, BY_DATE, max_unanswered="3d")
    assert result.outcome is Outcome.UNANSWERED
    assert result.measurement.late_answers == 2  # answered after 5 and 8 days


async def test_a_board_without_rows(site: str, ctx: ProbeContext) -> None:
    """No question rows at all is `content_mismatch`: the channel or the selector is gone."""
    result = await run(f"{site}/board/empty", ctx, BY_DATE)
    assert result.outcome is Outcome.CONTENT_MISMATCH
    assert result.items == 0


async def test_page_failure(site: str, ctx: ProbeContext) -> None:
    """A board answering 404 is `http_error`."""
    result = await run(f"{site}/status/404", ctx, BY_DATE)
    assert result.outcome is Outcome.HTTP_ERROR


def test_answered_needs_a_definition() -> None:
    """Without answer_date or answered, a board cannot be judged: config error."""
    check = {
        "id": "z",
        "type": "interaction",
        "url": "https://a.gov.cn/",
        "rows": "tr",
        "question_date": {"selector": "td"},
    }
    with pytest.raises(ConfigError, match="give answer_date or answered"):
        parse_config({"sites": [{"id": "s", "checks": [check]}]})


def test_example_config_is_valid() -> None:
    """examples/checks-interaction.yaml loads: every key it documents is a real key."""
    config = load_config(Path(__file__).parent.parent / "examples" / "checks-interaction.yaml")
    assert {check.type for check in config.checks()} == {"interaction"}


async def test_oldest_unanswered_age_is_recorded_whatever_the_limit(
    site: str, ctx: ProbeContext
) -> None:
    """The oldest open question's age and the slowest answer are in `extra` under any limit."""
    old = await run(f"{site}/board/old", ctx, BY_DATE, max_unanswered="200d")
    assert old.outcome is Outcome.OK
    # Dates without a time are local midnight: the age is the days plus the time since.
    assert 120 * DAY < old.measurement.oldest_unanswered_seconds < 121 * DAY
    ok = await run(f"{site}/board/ok", ctx, BY_DATE, max_unanswered="3d")
    assert old.measurement.oldest_unanswered_seconds - ok.measurement.oldest_unanswered_seconds == (
        115 * DAY
    )
    assert ok.measurement.slowest_answer_seconds == 8 * DAY
