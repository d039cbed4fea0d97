"""A location that cannot see: blind when every canary fails in a row, or nearly every check
at once; its span is dated from the first evidence; it sees again when a canary answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.config import Canary, Points
from monitor.points.blind import BlindWatch
from monitor.results import Outcome, ProbeResult

T0 = datetime(2026, 7, 1, 3, 0, tzinfo=UTC)


class Recorder:
    def __init__(self) -> None:
        self.blind: list[tuple[bool, str]] = []
        self.canaries: dict[str, bool] = {}

    def location_blind(self, blind: bool, reason: str = "") -> None:
        self.blind.append((blind, reason))

    def canary_success(self, canary: str, success: bool) -> None:
        self.canaries[canary] = success


def result(key: str, at: datetime, outcome: Outcome = Outcome.OK) -> ProbeResult:
    site, check = key.split("/")
    return ProbeResult(
        site=site, check=check, type="http", outcome=outcome, started_at=at,
        duration_seconds=0.1, detail="no route to host" if outcome is not Outcome.OK else "",
    )  # fmt: skip


def watch(**points: object) -> tuple[BlindWatch, Recorder, list[bool]]:
    canaries = (Canary(id="a", url="http://a.test/"), Canary(id="b", url="http://b.test/"))
    settings = Points.model_validate({"canaries": canaries, **points})
    recorder = Recorder()
    changes: list[bool] = []
    return BlindWatch("cm", "0/1", settings, recorder, changes.append), recorder, changes


def test_every_canary_failing_twice_makes_the_location_blind_from_the_last_streak_start() -> None:
    """One canary failing is that canary's problem; when both have failed twice the location
    is blind, dated from when the second one began to fail; one answer ends it."""
    blind, recorder, changes = watch()
    blind.canary_result("a", result("c/a", T0, Outcome.TIMEOUT))
    blind.canary_result("a", result("c/a", T0 + timedelta(seconds=30), Outcome.TIMEOUT))
    assert not blind.blind
    blind.canary_result("b", result("c/b", T0 + timedelta(seconds=10), Outcome.CONNECT_ERROR))
    assert not blind.blind
    blind.canary_result("b", result("c/b", T0 + timedelta(seconds=40), Outcome.CONNECT_ERROR))
    assert blind.blind and blind.since == T0 + timedelta(seconds=10)
    assert changes == [True] and recorder.blind == [(True, "canaries")]
    [span] = blind.unstored()
    assert span.reason == "canaries" and span.ended_at is None
    assert set(span.detail["canaries"]) == {"a", "b"}
    assert "no route to host" in span.detail["canaries"]["a"]
    blind.stored([span])
    assert blind.unstored() == []
    blind.canary_result("a", result("c/a", T0 + timedelta(seconds=60)))
    assert not blind.blind and changes == [True, False]
    [ended] = blind.unstored()
    assert ended.id == span.id and ended.ended_at == T0 + timedelta(seconds=60)
    assert recorder.canaries == {"a": True, "b": False}


def test_nearly_every_server_unanswering_at_once_is_blindness_a_few_are_not() -> None:
    """Ten servers: 8 without answer is a bad morning for eight sites; the 9th makes it 90 %,
    blind, dated from the earliest of the failing ones' latest failures; recoveries end it."""
    blind, recorder, _ = watch(canaries=[], blind_min_servers=10)
    keys = [f"s/c{i}" for i in range(10)]
    for i, key in enumerate(keys):
        blind.check_result(result(key, T0 + timedelta(seconds=i)))
    for i, key in enumerate(keys[:8]):
        blind.check_result(result(key, T0 + timedelta(seconds=60 + i), Outcome.TIMEOUT))
    assert not blind.blind
    blind.check_result(result(keys[8], T0 + timedelta(seconds=68), Outcome.DNS_ERROR))
    assert blind.blind and blind.since == T0 + timedelta(seconds=60)
    [span] = blind.unstored()
    assert span.reason == "checks" and span.detail == {"servers_without_answer": 9, "servers": 10}
    blind.check_result(result(keys[0], T0 + timedelta(seconds=120)))
    assert not blind.blind and recorder.blind == [(True, "checks"), (False, "")]


def test_with_fewer_servers_than_blind_min_servers_only_canaries_tell() -> None:
    """Three servers without answer may be three sites down, and a hundred sub-sites of one
    CMS timing out are one server down: neither is blindness."""
    blind, _, _ = watch(canaries=[])
    for i in range(3):
        blind.check_result(result(f"s/c{i}", T0, Outcome.TIMEOUT))
    for i in range(100):
        blind.check_result(result(f"cms/sub{i}", T0, Outcome.TIMEOUT), "cms.example.gov.cn")
    assert not blind.blind


def test_servers_that_answer_are_seen_even_when_their_checks_fail() -> None:
    """Error pages and missing markers are answers: a location that got them can see."""
    blind, _, _ = watch(canaries=[], blind_min_servers=3)
    for i in range(10):
        blind.check_result(result(f"s/c{i}", T0, Outcome.CONTENT_MISMATCH))
        blind.check_result(result(f"t/c{i}", T0, Outcome.HTTP_ERROR))
    assert not blind.blind


def test_probe_errors_are_no_evidence_and_forgotten_checks_stop_counting() -> None:
    """The monitor's own probe_error says nothing about the network; a check removed by a
    reload no longer counts toward the share."""
    blind, _, _ = watch(canaries=[], blind_min_servers=2, blind_ratio=1.0)
    blind.check_result(result("s/a", T0, Outcome.PROBE_ERROR))
    blind.check_result(result("s/b", T0, Outcome.PROBE_ERROR))
    assert not blind.blind
    blind.check_result(result("s/a", T0, Outcome.TIMEOUT))
    blind.check_result(result("s/b", T0))
    assert not blind.blind
    blind.reconfigure(blind.settings, ["s/a", "s/c"])
    blind.check_result(result("s/c", T0, Outcome.TIMEOUT))
    assert blind.blind
