"""`interaction`: a public message board (政务咨询 / 留言), unanswered questions, reply times.

The official rule (互动回应差): a valid question in a consultation column left unanswered for
more than three months fails the site. The notice also asks for faster answers; the median
response time shows whether they come.

Keys (besides `url`, `headers`, `tls`, `max_body_size`, `encoding`, `timezone`):

- `rows`: CSS selector of one question's row (`table.board tr.row`).
- `question_date`: `{selector, attribute, regex, format}` of the date asked, inside a row.
- `answer_date`: the same for the date answered; a row with one is answered.
- `answered`: `{selector, text}`: a row is answered when the element is there (and, with
  `text`, contains it: 已回复). Give `answer_date`, `answered`, or both (then the marker decides
  whether a row is answered, and the date gives the response time).
- `max_unanswered`: an open question older than this is overdue (default 90 d) → `unanswered`.

Reported: `items` (rows), `extra.unanswered` (overdue questions), `extra.open_questions`,
`extra.oldest_unanswered_seconds` (the age of the oldest open question, whatever the limit),
`extra.median_response_seconds` and `extra.slowest_answer_seconds` (over rows with both
dates), `extra.late_answers` (answered, but after more than `max_unanswered`: reported, not
failed), and the newest answer's date and
age as `newest_item_at` / `content_age_seconds` (留言答复 not updated in two months is a
deduction in the inspection). A board with no rows is `content_mismatch`: the channel is
missing or the selector no longer fits the page.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from pydantic import model_validator
from selectolax.lexbor import LexborNode

from monitor.configtypes import Duration, Model
from monitor.measurements import InteractionMeasurement
from monitor.probes.ages import DAY, content_age, show_age, show_date
from monitor.probes.base import ProbeContext, ProbeRun
from monitor.probes.extract import Css, DateRule, innermost, node_text, parse_html
from monitor.probes.httpclient import FetchError
from monitor.probes.page import (
    PageCheck,
    body_text,
    fetch_page,
    read_dated,
)
from monitor.results import Outcome, ProbeResult

__all__ = ["AnsweredMarker", "BoardReading", "InteractionCheck", "probe", "read_board"]


class AnsweredMarker(Model):
    """An element that marks a row answered, optionally only when it contains `text`."""

    selector: Css
    text: str | None = None


class InteractionCheck(PageCheck):
    type: str = "interaction"
    rows: Css
    question_date: DateRule
    answer_date: DateRule | None = None
    answered: AnsweredMarker | None = None
    max_unanswered: Duration = 90 * DAY

    @model_validator(mode="after")
    def _knows_answered(self) -> InteractionCheck:
        if self.answer_date is None and self.answered is None:
            raise ValueError("give answer_date or answered, to tell answered questions apart")
        return self


@dataclass(slots=True)
class BoardReading:
    """What a message board page shows."""

    rows: int = 0
    undated: int = 0  # rows whose question date could not be read
    open_asked: list[datetime] = field(default_factory=list)  # dates of unanswered questions
    response_seconds: list[float] = field(default_factory=list)
    newest_answer: datetime | None = None


def _is_answered(check: InteractionCheck, row: LexborNode, answer: datetime | None) -> bool:
    if check.answered is None:
        return answer is not None
    for marker in row.css(check.answered.selector):
        if check.answered.text is None or check.answered.text in node_text(marker, 1000):
            return True
    return False


def read_board(html: str, check: InteractionCheck, *, now: datetime, zone: tzinfo) -> BoardReading:
    """Read every question row; never raises for any page."""
    reading = BoardReading()
    for row in innermost(parse_html(html).css(check.rows)):
        reading.rows += 1
        asked = check.question_date.read_date(row, now=now, zone=zone)
        answer = (
            check.answer_date.read_date(row, now=now, zone=zone)
            if check.answer_date is not None
            else None
        )
        if asked is None:
            reading.undated += 1
        if not _is_answered(check, row, answer):
            if asked is not None:
                reading.open_asked.append(asked)
            continue
        if answer is not None:
            if reading.newest_answer is None or answer > reading.newest_answer:
                reading.newest_answer = answer
            if asked is not None:
                reading.response_seconds.append(max(0.0, (answer - asked).total_seconds()))
    return reading


def _questions(count: int) -> str:
    return f"{count} question" if count == 1 else f"{count} questions"


def judge(
    check: InteractionCheck, reading: BoardReading, now: datetime
) -> tuple[Outcome, str, InteractionMeasurement]:
    """Outcome, detail and the board's figures."""
    overdue = sorted(
        a for a in reading.open_asked if (now - a).total_seconds() > check.max_unanswered
    )
    late = sum(1 for s in reading.response_seconds if s > check.max_unanswered)
    answered = reading.response_seconds
    median = statistics.median(answered) if answered else None
    figures = InteractionMeasurement(
        unanswered=len(overdue),
        open_questions=len(reading.open_asked),
        late_answers=late,
        # The evidence of 互动回应差 whatever the check's own limit: the report judges this
        # age against the official 3 months.
        oldest_unanswered_seconds=(
            max(0.0, (now - min(reading.open_asked)).total_seconds())
            if reading.open_asked
            else None
        ),
        median_response_seconds=median,
        slowest_answer_seconds=max(answered) if answered else None,
    )
    if reading.rows == 0:
        return Outcome.CONTENT_MISMATCH, "no questions on the board (rows matched nothing)", figures
    notes = [f"{_questions(reading.rows)}, {len(reading.open_asked)} open"]
    if median is not None:
        notes.append(f"median response {show_age(median)}")
    if late:
        notes.append(f"{late} answered after more than {show_age(check.max_unanswered)}")
    if reading.undated:
        notes.append(f"{reading.undated} without a date")
    if overdue:
        oldest = overdue[0]
        head = (
            f"{_questions(len(overdue))} unanswered for more than "
            f"{show_age(check.max_unanswered)}, "
            f"oldest asked {show_date(oldest)} ({show_age((now - oldest).total_seconds())} ago)"
        )
        return Outcome.UNANSWERED, "; ".join([head, *notes]), figures
    return Outcome.OK, ", ".join(notes), figures


def _read_page(
    check: InteractionCheck, body: bytes, content_type: str | None, *, now: datetime, zone: tzinfo
) -> BoardReading:
    return read_board(body_text(check.encoding, body, content_type), check, now=now, zone=zone)


async def probe(check: InteractionCheck, ctx: ProbeContext) -> ProbeResult:
    """Fetch the board, find overdue questions and the median response time."""
    run = ProbeRun(check, ctx)
    try:
        response = await fetch_page(ctx, check)
    except FetchError as error:
        return run.failed(error)
    now, reading = await read_dated(ctx, check, response, _read_page)
    outcome, detail, figures = judge(check, reading, now)
    newest = reading.newest_answer
    return run.result(
        outcome,
        detail,
        items=reading.rows,
        newest_item_at=newest,
        content_age_seconds=content_age(newest, now),
        measurement=figures,
        transport=response.transport,
    )
