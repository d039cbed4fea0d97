"""Manual reviews (人工核查): recorded in the real PostgreSQL with who and when, never changed or
deleted, withdrawn by a new record; through the store, the `monitor review` command and the API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from monitor import server
from monitor.clock import SystemClock
from monitor.reviews import Decision, NewReview, ReviewError, ReviewNotFoundError, parse_span
from monitor.store import Store, migrate
from tests.pg import make_config
from tests.samples import new_review
from tests.service import run_in_process

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def store(pg_url: str) -> AsyncIterator[Store]:
    await migrate(make_config(pg_url))  # read-only commands never migrate
    opened = await Store.open(make_config(pg_url), None, SystemClock(), read_only=True)
    try:
        yield opened
    finally:
        await opened.close()


def test_span_and_fields() -> None:
    """A bare end date includes its whole day (in the zone); bad spans, decisions, empty
    reasons and a review naming both a check and a rule are refused with the field named."""
    start, end = parse_span("2026-07-01", "2026-07-01", SHANGHAI)
    assert (start, end) == (
        datetime(2026, 7, 1, tzinfo=SHANGHAI),
        datetime(2026, 7, 2, tzinfo=SHANGHAI),
    )
    assert parse_span("2026-07-01T08:00", "2026-07-01T09:30+00:00", SHANGHAI)[1] == datetime(
        2026, 7, 1, 17, 30, tzinfo=SHANGHAI
    )
    with pytest.raises(ReviewError, match="ends before it starts"):
        parse_span("2026-07-02", "2026-07-01T12:00", SHANGHAI)
    with pytest.raises(ReviewError, match="invalid start"):
        parse_span("yesterday", "2026-07-01", SHANGHAI)
    with pytest.raises(ReviewError, match="reason is required"):
        new_review(reason="  ")
    with pytest.raises(ReviewError, match="either check or rule"):
        new_review(rule="security")
    with pytest.raises(ReviewError, match="invalid decision 'approve'"):
        NewReview.from_json(
            {
                "site": "s", "check": "c", "start": "2026-07-01", "end": "2026-07-02",
                "decision": "approve", "reason": "r", "reviewer": "p",
            },
            SHANGHAI,
        )  # fmt: skip


async def test_store_keeps_who_when_and_withdrawals(store: Store, pg_url: str) -> None:
    """A review is stored with who and when; withdrawing adds a record, after which the review
    is no longer in force but still listed with --all; rows cannot be changed or deleted."""
    before = datetime.now(SHANGHAI)
    review = await store.add_review(new_review())
    assert review.reviewer == "张三" and review.in_force
    assert before - timedelta(seconds=5) <= review.created_at <= datetime.now(SHANGHAI)
    other = await store.add_review(
        new_review(check=None, rule="security", decision=Decision.CONFIRM)
    )
    assert [r.id for r in await store.list_reviews(site="portal")] == [review.id, other.id]

    withdrawn = await store.withdraw_review(review.id, "误判，撤回豁免", "李四")
    assert not withdrawn.in_force
    assert withdrawn.withdrawn is not None and withdrawn.withdrawn.reviewer == "李四"
    assert [r.id for r in await store.list_reviews()] == [other.id]
    every = await store.list_reviews(in_force_only=False)
    assert [(r.id, r.in_force) for r in every] == [(review.id, False), (other.id, True)]
    with pytest.raises(ReviewNotFoundError, match="already withdrawn"):
        await store.withdraw_review(review.id, "again", "李四")
    with pytest.raises(ReviewNotFoundError, match="no such review"):
        await store.withdraw_review(999, "x", "李四")

    conn = await asyncpg.connect(pg_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM reviews") == 3
        for sql in ("DELETE FROM reviews", "UPDATE reviews SET reason = 'changed'"):
            with pytest.raises(asyncpg.RaiseError, match="never changed or deleted"):
                await conn.execute(sql)
    finally:
        await conn.close()


async def test_review_command(pg_url: str, tmp_path: Path) -> None:
    """`monitor review add`, `list` and `withdraw` record, show and withdraw a review; a bad
    span is exit 2 with one line naming it."""
    config = tmp_path / "monitor.yaml"
    data = {
        "storage": {"database_url": pg_url},
        "sites": [
            {
                "id": "portal",
                "name": "门户网站",
                "checks": [{"id": "home-security", "type": "security", "url": "http://gov.test/"}],
            }
        ],
    }
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    base = ("review", "add", "-c", str(config), "--site", "portal", "--check", "home-security")
    code, out, err = await run_in_process(
        *base, "--from", "2026-07-01", "--to", "2026-07-31", "--decision", "exempt",
        "--reason", "链接为本单位新域名", "--by", "张三", "--json",
    )  # fmt: skip
    assert code == 0, err
    (added,) = json.loads(out)
    assert added["decision"] == "exempt" and added["reviewer"] == "张三"
    assert added["start"] == "2026-07-01T00:00:00+08:00"
    assert added["end"] == "2026-08-01T00:00:00+08:00"

    code, out, _ = await run_in_process("review", "list", "-c", str(config))
    header, row = out.strip().splitlines()
    assert header.split()[:3] == ["ID", "SITE", "SUBJECT"]
    assert row.split()[:4] == [str(added["id"]), "portal", "check", "home-security"]
    assert row.endswith("链接为本单位新域名")

    code, out, err = await run_in_process(
        "review", "withdraw", "-c", str(config), str(added["id"]), "--reason", "复核后撤回",
        "--by", "李四", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)[0]["withdrawn"]["reviewer"] == "李四"
    code, out, _ = await run_in_process("review", "list", "-c", str(config), "--json")
    assert json.loads(out) == []
    code, out, _ = await run_in_process("review", "list", "-c", str(config), "--json", "--all")
    assert [r["in_force"] for r in json.loads(out)] == [False]

    code, _, err = await run_in_process(
        *base, "--start", "2026-07-31", "--end", "2026-07-01", "--decision", "exempt",
        "--reason", "x",
    )  # fmt: skip
    assert code == 2
    assert err.strip() == "error: review: the span ends before it starts"


Client = TestClient[web.Request, web.Application]


async def serve_reviews(store: Store, aiohttp_client: Any, **server_settings: Any) -> Client:
    """The API's review routes over `store`, with the config's `server` settings."""
    config = make_config("", server=server_settings) if server_settings else make_config("")
    app = server.make_app(
        registry=CollectorRegistry(),
        status=lambda: [],
        ready=lambda: (True, "ok"),
        reload=_reload,
        routes=server.review_routes(lambda: store, lambda: config),
    )
    client: Client = await aiohttp_client(app)
    return client


@pytest.fixture
async def api(store: Store, aiohttp_client: Any) -> Client:
    return await serve_reviews(store, aiohttp_client)


async def _reload() -> tuple[bool, str]:
    return True, "ok"


async def test_review_api(api: TestClient[web.Request, web.Application]) -> None:
    """POST /api/v1/reviews records a review (201), GET lists it, POST …/withdraw withdraws it;
    bad input is 400 with the field named, an unknown id 404."""
    body = {
        "site": "portal",
        "rule": "security",
        "start": "2026-07-01",
        "end": "2026-07-15",
        "decision": "confirm",
        "reason": "经核实页面确被植入暗链",
        "reviewer": "王五",
    }
    resp = await api.post("/api/v1/reviews", json=body)
    assert resp.status == 201
    added = await resp.json()
    assert (added["rule"], added["check"], added["decision"]) == ("security", None, "confirm")
    resp = await api.get("/api/v1/reviews?site=portal")
    assert [r["id"] for r in await resp.json()] == [added["id"]]
    resp = await api.get("/api/v1/reviews?site=other")
    assert await resp.json() == []

    resp = await api.post("/api/v1/reviews", json=body | {"decision": "maybe"})
    assert resp.status == 400
    assert "invalid decision" in (await resp.json())["error"]
    resp = await api.post("/api/v1/reviews", json=body | {"colour": "x"})
    assert resp.status == 400 and (await resp.json())["error"] == "review: unknown field 'colour'"
    resp = await api.post("/api/v1/reviews", data=b"{not json")
    assert resp.status == 400

    withdraw = {"reason": "撤回", "reviewer": "王五"}
    resp = await api.post(f"/api/v1/reviews/{added['id']}/withdraw", json=withdraw)
    assert resp.status == 201
    assert (await resp.json())["in_force"] is False
    resp = await api.get("/api/v1/reviews")
    assert await resp.json() == []
    resp = await api.get("/api/v1/reviews?all=1")
    assert [r["withdrawn"]["reason"] for r in await resp.json()] == ["撤回"]
    resp = await api.post(f"/api/v1/reviews/{added['id']}/withdraw", json=withdraw)
    assert resp.status == 404
    resp = await api.post("/api/v1/reviews/12345/withdraw", json=withdraw)
    assert resp.status == 404


async def test_review_api_aliases(api: Client) -> None:
    """The API also takes `from`/`to`/`by` and a `span` ("START/END" or {start, end})."""
    body = {"site": "portal", "check": "home", "decision": "exempt", "reason": "监测网络故障"}
    resp = await api.post(
        "/api/v1/reviews", json=body | {"from": "2026-07-01", "to": "2026-07-02", "by": "甲"}
    )
    assert resp.status == 201 and (await resp.json())["reviewer"] == "甲"
    resp = await api.post(
        "/api/v1/reviews", json=body | {"span": "2026-07-01/2026-07-02", "reviewer": "乙"}
    )
    added = await resp.json()
    assert (added["start"], added["end"]) == (
        "2026-07-01T00:00:00+08:00",
        "2026-07-03T00:00:00+08:00",
    )
    resp = await api.post(
        "/api/v1/reviews",
        json=body | {"span": {"start": "2026-07-01"}, "reviewer": "乙"},
    )
    assert resp.status == 400


async def test_review_api_follows_server_access(store: Store, aiohttp_client: Any) -> None:
    """Off loopback without server.access nothing is served (403, `public` opens reading
    only); with a token a review is written only with it (401 without)."""
    body = {
        "site": "portal", "rule": "security_incident", "start": "2026-07-01",
        "end": "2026-07-02", "decision": "confirm", "reason": "核实", "reviewer": "丙",
    }  # fmt: skip
    open_port = await serve_reviews(store, aiohttp_client, listen="0.0.0.0:9108")
    assert (await open_port.get("/api/v1/reviews")).status == 403
    assert (await open_port.post("/api/v1/reviews", json=body)).status == 403
    public = await serve_reviews(
        store, aiohttp_client, listen="0.0.0.0:9108", access={"public": True}
    )
    assert (await public.get("/api/v1/reviews")).status == 200
    refused = await public.post("/api/v1/reviews", json=body)
    assert refused.status == 403
    assert "loopback or with server.access credentials" in (await refused.json())["error"]
    token = await serve_reviews(
        store, aiohttp_client, listen="0.0.0.0:9108", access={"token": "s3cret-token"}
    )
    assert (await token.post("/api/v1/reviews", json=body)).status == 401
    headers = {"Authorization": "Bearer s3cret-token"}
    assert (await token.post("/api/v1/reviews", json=body, headers=headers)).status == 201
    assert await store.list_reviews() != []
