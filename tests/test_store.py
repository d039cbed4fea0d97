"""The store against the real PostgreSQL: migrations, writes, rollups, incidents, pruning."""

from __future__ import annotations

import bisect
import json
import uuid
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest
import structlog

from monitor.clock import SystemClock
from monitor.incidents import IncidentEvent
from monitor.measurements import InteractionMeasurement, LinksMeasurement, LoginMeasurement
from monitor.results import Outcome, Phases, StepResult
from monitor.store import SchemaTooNewError, Store, StoreError, WriterSettings
from monitor.store.migrations import available, current_version, migrate
from monitor.store.rows import MEASUREMENT_COLUMNS
from monitor.store.writer import Writer
from tests.fakeclock import FakeClock
from tests.pg import RecordingStoreMetrics, make_config, select
from tests.samples import T0, incident, result

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def store(pg_url: str) -> Store:
    store = await Store.open(make_config(pg_url), RecordingStoreMetrics(), SystemClock())
    yield store  # type: ignore[misc]
    await store.close(timeout=10)


# -- migrations -----------------------------------------------------------------------------


async def test_migrations_apply_from_empty_and_are_idempotent(
    pg_conn: asyncpg.Connection,
) -> None:
    """An empty schema is migrated to the newest version; a second run applies nothing."""
    assert await current_version(pg_conn) == 0
    applied = await migrate(pg_conn)
    assert [m.version for m in applied] == [m.version for m in available()]
    assert await current_version(pg_conn) == available()[-1].version
    tables = {
        r["table_name"]
        for r in await pg_conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    }
    assert {
        "sites",
        "checks",
        "probe_results",
        "rollups_hourly",
        "incidents",
        "incident_events",
        "freshness_observations",
        "schema_migrations",
    } <= tables
    assert await migrate(pg_conn) == []
    assert await pg_conn.fetchval("SELECT count(*) FROM schema_migrations") == len(available())


async def test_report_tables_add_typed_columns_to_rows_stored_before_them(
    pg_conn: asyncpg.Connection,
    pg_url: str,
) -> None:
    """A board result stored before migration 0007 (its figures only in `data.extra`) and one
    stored after (typed columns) add up in the same report rows, and the old row's JSON keys
    are still the measurement's field names."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)  # kept, not pruned
    await migrate(pg_conn, available()[:6])
    old = {
        "unanswered": 2,
        "open_questions": 3,
        "late_answers": 1,
        "oldest_unanswered_seconds": 50.0,
        "median_response_seconds": 10.0,
    }
    await pg_conn.execute(
        "INSERT INTO probe_results (id, site, check_id, location, type, started_at,"
        " duration_seconds, outcome, items, data)"
        " VALUES ($1, 'gov', 'board', 'default', 'interaction', $2, 0.1, 'unanswered', 4, $3)",
        uuid.uuid4(),
        hour,
        json.dumps({"extra": old}),
    )
    await migrate(pg_conn)
    store = await Store.open(make_config(pg_url), RecordingStoreMetrics(), SystemClock())
    board = InteractionMeasurement(
        unanswered=5,
        open_questions=6,
        late_answers=0,
        oldest_unanswered_seconds=90.0,
        median_response_seconds=30.0,
    )
    store.submit_result(
        result(hour + timedelta(minutes=5), site="gov", check="board", items=4, measurement=board)
    )
    assert await store.flush(10)
    await store.close()
    content = await pg_conn.fetchrow("SELECT * FROM content_hourly WHERE check_id = 'board'")
    assert content["observations"] == 2
    assert (content["unanswered_max"], content["open_questions_max"]) == (5, 6)
    assert (content["median_response_sum"], content["median_response_count"]) == (40.0, 2)
    evidence = await pg_conn.fetchrow("SELECT * FROM interaction_hourly")
    assert (evidence["observations"], evidence["oldest_unanswered_max"]) == (2, 90.0)
    stored = [
        json.loads(r["data"])["extra"]
        for r in await pg_conn.fetch("SELECT data FROM probe_results ORDER BY started_at")
    ]
    assert stored[0].keys() <= {f.name for f in fields(InteractionMeasurement)}
    assert stored[1] == board.to_json()


def test_each_typed_column_is_named_as_the_measurement_field_it_holds() -> None:
    """The writer's measurement columns carry the names of measurement fields (one name each)."""
    names = {
        f.name
        for kind in (InteractionMeasurement, LoginMeasurement, LinksMeasurement)
        for f in fields(kind)
    }
    assert set(MEASUREMENT_COLUMNS) <= names


async def test_a_read_only_role_can_read_an_up_to_date_database(
    pg_url: str,
) -> None:
    """With the schema current, opening the store writes nothing: a role that may only read
    (the office running reports) can list incidents."""
    writer = await Store.open(make_config(pg_url), RecordingStoreMetrics(), SystemClock())
    writer.submit_incident_event(IncidentEvent("opened", T0, incident()))
    assert await writer.flush(10)
    await writer.close()
    role = f"reader_{uuid.uuid4().hex[:12]}"
    schema = pg_url.rsplit("search_path=", 1)[1]
    admin = await asyncpg.connect(pg_url)
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN')
        await admin.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
        await admin.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
        reader_url = pg_url.replace("postgres@", f"{role}@", 1)
        reader = await Store.open(make_config(reader_url), None, SystemClock(), read_only=True)
        try:
            assert [i.site for i in await reader.list_incidents()] == ["portal"]
        finally:
            await reader.close()
    finally:
        await admin.execute(f'DROP OWNED BY "{role}"')
        await admin.execute(f'DROP ROLE "{role}"')
        await admin.close()


async def test_rollup_outcomes_cover_every_outcome(
    pg_conn: asyncpg.Connection,
) -> None:
    """Every Outcome has a slot in the rollup counts (a new one needs a migration)."""
    await migrate(pg_conn)
    names = await pg_conn.fetchval("SELECT names FROM rollup_outcomes")
    assert set(names) == {str(o) for o in Outcome}
    assert len(names) == len(set(names))


async def test_newer_schema_is_refused_with_a_clear_error(
    pg_conn: asyncpg.Connection,
    pg_url: str,
) -> None:
    """A database migrated by a newer monitor is refused, naming both versions."""
    await migrate(pg_conn)
    await pg_conn.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'future')")
    with pytest.raises(SchemaTooNewError, match="version 999, newer than this monitor"):
        await migrate(pg_conn)
    with pytest.raises(StoreError, match="schema is version 999") as caught:
        await Store.open(make_config(pg_url), None, SystemClock())
    assert "upgrade the monitor" in str(caught.value)


async def test_unreachable_database_is_a_clear_error_without_the_password() -> None:
    """A database that cannot be reached fails open() with one line that hides the password."""
    config = make_config("postgresql://monitor:s3cr3t-pw@127.0.0.1:9/monitor")
    with pytest.raises(StoreError) as caught:
        await Store.open(config, None, SystemClock())
    message = str(caught.value)
    assert "cannot connect to postgresql://127.0.0.1:9/monitor" in message
    assert "s3cr3t-pw" not in message


# -- results and rollups --------------------------------------------------------------------


async def test_results_are_stored_with_every_field(store: Store) -> None:
    """A result's phases, status, certificate, freshness and extra data reach probe_results."""
    expiry = datetime(2027, 1, 1, tzinfo=UTC)
    newest = T0 - timedelta(days=2)
    store.submit_result(
        result(
            T0,
            status_code=200,
            phases=Phases(0.01, 0.02, 0.03, 0.04, 0.05),
            cert_expiry_timestamp=expiry.timestamp(),
            tls_verified=True,
            content_age_seconds=172800.0,
            newest_item_at=newest,
            items=12,
            broken_links=("http://a/x",),
            steps=(StepResult("login", 0.3, Outcome.OK),),
            detail="status 200 \x00 nul",
        )
    )
    assert await store.flush(10)
    [row] = await select(store, "SELECT * FROM probe_results")
    assert row["outcome"] == "ok" and row["status_code"] == 200
    assert row["phases"] == [0.01, 0.02, 0.03, 0.04, 0.05]
    assert row["cert_expiry_at"] == expiry
    assert row["tls_verified"] is True
    assert row["newest_item_at"] == newest and row["items"] == 12
    assert row["detail"] == "status 200 \ufffd nul"
    data = json.loads(row["data"])
    assert data["broken_links"] == ["http://a/x"]
    assert data["steps"][0]["name"] == "login"
    [fresh] = await select(store, "SELECT * FROM freshness_observations")
    assert fresh["result_id"] == row["id"] and fresh["items"] == 12


async def test_non_finite_numbers_in_extra_are_stored_as_null(store: Store) -> None:
    """A NaN or infinity a probe reports (JSON has neither) becomes null; the result is kept."""
    board = InteractionMeasurement(
        unanswered=0,
        open_questions=0,
        late_answers=0,
        median_response_seconds=float("nan"),
        slowest_answer_seconds=float("inf"),
    )
    store.submit_result(result(T0, measurement=board))
    assert await store.flush(10)
    [row] = await select(
        store, "SELECT data, median_response_seconds, slowest_answer_seconds FROM probe_results"
    )
    data = json.loads(row["data"])
    assert data["extra"] == {
        "unanswered": 0,
        "open_questions": 0,
        "late_answers": 0,
        "median_response_seconds": None,
        "slowest_answer_seconds": None,
    }
    assert row["median_response_seconds"] is None and row["slowest_answer_seconds"] is None


async def test_rollups_count_outcomes_and_latency_per_hour(store: Store) -> None:
    """Hourly rollups: probes without probe_error, failures, every outcome, ok latencies."""
    at = T0 + timedelta(minutes=5)
    for duration in (0.04, 0.25, 0.25, 45.0, 100.0):
        store.submit_result(result(at, duration=duration))
    store.submit_result(result(at, Outcome.TIMEOUT, duration=15.0))
    store.submit_result(result(at, Outcome.PROBE_ERROR, duration=0.0))
    store.submit_result(result(at, check="news"))
    assert await store.flush(10)
    bounds = await store.latency_bounds()
    [home, news] = await store.rollups(T0, T0 + timedelta(hours=1))
    assert (home.check, home.hour, home.probes, home.failures) == ("home", T0, 6, 1)
    assert home.outcomes == {"ok": 5, "timeout": 1, "probe_error": 1}
    assert home.latency_count == 5
    assert home.latency_sum == pytest.approx(145.54)
    assert len(home.latency_buckets) == len(bounds) + 1
    expected = [0] * (len(bounds) + 1)
    # Each in the bucket of the first bound at or above it.
    expected[bisect.bisect_left(bounds, 0.04)] = 1
    expected[bisect.bisect_left(bounds, 0.25)] = 2
    expected[bisect.bisect_left(bounds, 45.0)] = 1
    expected[bisect.bisect_left(bounds, 100.0)] = 1  # (past the last bound would be +Inf)
    assert list(home.latency_buckets) == expected
    assert (news.probes, news.failures) == (1, 0)
    # A second batch adds to the same hour.
    store.submit_result(result(at, Outcome.HTTP_ERROR))
    assert await store.flush(10)
    [home, _] = await store.rollups(T0, T0 + timedelta(hours=1))
    assert (home.probes, home.failures) == (7, 2)
    assert home.outcomes == {"ok": 5, "timeout": 1, "probe_error": 1, "http_error": 1}


async def test_rollup_hours_split_exactly_and_local_midnight_is_an_hour_edge(store: Store) -> None:
    """The last microsecond of an hour and its next hour land in different rollups; a quarter
    that starts at Asia/Shanghai midnight selects whole UTC hours from 16:00."""
    quarter_start = datetime(2026, 7, 1, tzinfo=SHANGHAI)  # 2026-06-30T16:00Z
    edge = quarter_start.astimezone(UTC)
    store.submit_result(result(edge - timedelta(microseconds=1)))
    store.submit_result(result(edge))
    store.submit_result(result(edge + timedelta(minutes=59, seconds=59)))
    store.submit_result(result(edge + timedelta(hours=1)))
    assert await store.flush(10)
    rows = await store.rollups(edge - timedelta(hours=1), edge + timedelta(hours=2))
    assert [(r.hour, r.probes) for r in rows] == [
        (edge - timedelta(hours=1), 1),
        (edge, 2),
        (edge + timedelta(hours=1), 1),
    ]
    quarter = await store.rollups(quarter_start, datetime(2026, 10, 1, tzinfo=SHANGHAI))
    assert sum(r.probes for r in quarter) == 3


async def test_berlin_local_hours_map_to_utc_rollup_hours_across_dst(store: Store) -> None:
    """Europe/Berlin local midnight is 23:00 UTC in winter and 22:00 UTC in summer; rollups
    selected by local day boundaries get exactly that day's hours on both sides of the change."""
    berlin = ZoneInfo("Europe/Berlin")
    # Spring-forward day 2026-03-29 has 23 local hours.
    day_start = datetime(2026, 3, 29, tzinfo=berlin)
    day_end = datetime(2026, 3, 30, tzinfo=berlin)
    hour = day_start.astimezone(UTC)
    while hour < day_end:
        store.submit_result(result(hour + timedelta(minutes=30)))
        hour += timedelta(hours=1)
    store.submit_result(result(day_start - timedelta(minutes=30)))  # the day before
    store.submit_result(result(day_end.astimezone(UTC) + timedelta(minutes=30)))  # the day after
    assert await store.flush(10)
    rows = await store.rollups(day_start, day_end)
    assert len(rows) == 23
    assert rows[0].hour == datetime(2026, 3, 28, 23, tzinfo=UTC)
    assert rows[-1].hour == datetime(2026, 3, 29, 21, tzinfo=UTC)


async def test_a_batch_written_twice_is_stored_once(pg_url: str) -> None:
    """Retrying a batch that had committed (acknowledgement lost) adds no rows and no counts."""
    metrics = RecordingStoreMetrics()
    config = make_config(pg_url)
    store = await Store.open(config, metrics, SystemClock())
    try:
        writer = store.writer
        assert writer is not None
        records = [
            writer._record(result(T0 + timedelta(seconds=i), newest_item_at=T0, items=1))
            for i in range(10)
        ]
        event = IncidentEvent("opened", T0, incident())
        conn = await asyncpg.connect(pg_url)
        try:
            await writer.prepare(conn)
            await writer._write(conn, records, [event])
            await writer._write(conn, records, [event])
        finally:
            await conn.close()
        assert (await select(store, "SELECT count(*) FROM probe_results"))[0][0] == 10
        assert (await select(store, "SELECT count(*) FROM freshness_observations"))[0][0] == 10
        [roll] = await store.rollups(T0, T0 + timedelta(hours=1))
        assert roll.probes == 10
        assert (await select(store, "SELECT count(*) FROM incident_events"))[0][0] == 1
        assert len(await store.list_incidents()) == 1
    finally:
        await store.close()


# -- incidents ------------------------------------------------------------------------------


async def test_incident_events_build_the_incident_row(store: Store) -> None:
    """opened, updated and resolved events leave one incident row with the latest snapshot."""
    opened = incident()
    updated = incident(
        id=opened.id, failures=4, outcome_counts={"timeout": 4}, last_error="l4", revision=2
    )
    resolved = incident(
        id=opened.id,
        failures=4,
        outcome_counts={"timeout": 4},
        last_error="l4",
        revision=3,
        resolved_at=T0 + timedelta(minutes=10),
        resolution="recovered",
    )
    for kind, snapshot in (("opened", opened), ("updated", updated), ("resolved", resolved)):
        store.submit_incident_event(IncidentEvent(kind, T0, snapshot))  # type: ignore[arg-type]
    assert await store.flush(10)
    [row] = await store.list_incidents()
    assert row == resolved
    events = await select(store, "SELECT kind, revision FROM incident_events ORDER BY revision")
    assert [(e["kind"], e["revision"]) for e in events] == [
        ("opened", 1),
        ("updated", 2),
        ("resolved", 3),
    ]
    # An old snapshot arriving late never overwrites a newer one.
    store.submit_incident_event(IncidentEvent("updated", T0, updated))
    assert await store.flush(10)
    assert (await store.list_incidents())[0] == resolved


async def test_never_two_open_incidents_for_one_check(store: Store) -> None:
    """A second open incident for a check and location that has one is not stored."""
    first, second = incident(), incident(opened_at=T0 + timedelta(hours=1))
    store.submit_incident_event(IncidentEvent("opened", T0, first))
    store.submit_incident_event(IncidentEvent("opened", T0, second))
    store.submit_incident_event(IncidentEvent("opened", T0, incident(location="beijing")))
    assert await store.flush(10)
    open_ = await store.load_open_incidents("default")
    assert [i.id for i in open_] == [first.id]
    assert len(await store.load_open_incidents("beijing")) == 1


async def test_list_incidents_filters(store: Store) -> None:
    """--open, --since and --site select the incidents a person asked for."""
    old = incident(
        opened_at=T0 - timedelta(days=10),
        resolved_at=T0 - timedelta(days=9),
        resolution="recovered",
    )
    recent = incident(
        check="news", opened_at=T0 - timedelta(hours=2), resolved_at=T0, resolution="recovered"
    )
    current = incident(opened_at=T0)
    other = incident(site="wechat", check="feed", opened_at=T0 - timedelta(hours=1))
    for snapshot in (old, recent, current, other):
        store.submit_incident_event(IncidentEvent("opened", T0, snapshot))
    assert await store.flush(10)
    everything = await store.list_incidents()
    assert [i.id for i in everything] == [current.id, other.id, recent.id, old.id]
    assert {i.id for i in await store.list_incidents(open_only=True)} == {current.id, other.id}
    since = await store.list_incidents(since=T0 - timedelta(days=1))
    assert {i.id for i in since} == {current.id, other.id, recent.id}
    assert [i.id for i in await store.list_incidents(site="wechat")] == [other.id]
    shown = current.to_json(SHANGHAI)
    assert shown["opened_at"] == "2026-07-01T11:00:00+08:00"
    assert shown["open"] is True and shown["reason"] == "timeout"


# -- buffer, readiness, housekeeping --------------------------------------------------------


async def test_full_buffer_drops_oldest_results_but_never_events() -> None:
    """With the database unreachable, results past the bound are dropped oldest first and
    counted; incident events all stay; readiness says unreachable."""
    metrics = RecordingStoreMetrics()
    clock = FakeClock(start=T0)

    async def unreachable() -> asyncpg.Connection:
        return await asyncpg.connect("postgresql://postgres@127.0.0.1:9/test", timeout=2)

    writer = Writer(unreachable, WriterSettings(batch_size=5, buffer_size=10), metrics, clock)
    writer.start()
    try:
        for i in range(25):
            writer.submit_result(result(T0 + timedelta(seconds=i)))
        for _ in range(3):
            writer.submit_event(IncidentEvent("opened", T0, incident()))
        await clock.advance(1)
        for _ in range(200):
            if metrics.write_errors:
                break
            await clock.advance(0.5)
        assert metrics.write_errors >= 1
        assert metrics.dropped == 15 and writer.dropped == 15
        assert writer.pending == 13  # 10 results and 3 events
        assert metrics.depth == 13
        ready, why = writer.status()
        assert not ready and why.startswith("store unreachable")
        # The 10 newest results are the ones kept (in flight first, then the buffer).
        kept = [record[5] for record in writer._results]
        inflight = [rec[5] for rec in writer._inflight.records] if writer._inflight else []
        assert sorted(inflight + kept) == [T0 + timedelta(seconds=i) for i in range(15, 25)]
    finally:
        await writer.close(0.1)


async def test_a_value_postgres_refuses_costs_only_its_own_result(
    pg_url: str,
) -> None:
    """A result that cannot be stored (a lone surrogate in its detail) is dropped and counted
    at once; the rest of its batch and the incident event with it are written."""
    metrics = RecordingStoreMetrics()
    settings = WriterSettings(retry_initial=0.01, retry_max=0.02)
    store = await Store.open(make_config(pg_url), metrics, SystemClock(), settings=settings)
    try:
        store.submit_result(result(T0))
        store.submit_result(result(T0 + timedelta(seconds=1), detail="bad \ud800 text"))
        store.submit_result(result(T0 + timedelta(seconds=2)))
        store.submit_incident_event(IncidentEvent("opened", T0, incident()))
        assert await store.flush(30)
        rows = await select(store, "SELECT started_at FROM probe_results ORDER BY started_at")
        assert [r[0] for r in rows] == [T0, T0 + timedelta(seconds=2)]
        assert len(await store.list_incidents()) == 1
        assert metrics.dropped == 1
        assert metrics.write_errors == 1  # the refused batch, then halves: no retry loop
        [roll] = await store.rollups(T0, T0 + timedelta(hours=1))
        assert roll.probes == 2
    finally:
        await store.close()


async def test_poisoned_rows_in_a_batch_cost_only_themselves(pg_url: str) -> None:
    """One batch holding a date that overflows in UTC, a lone surrogate and a status past
    int32 among 97 good results and an incident event: those 3 are dropped, counted and logged
    once per check; the 97 and the event are written in order, and so is the next batch."""
    metrics = RecordingStoreMetrics()
    settings = WriterSettings(batch_size=200, retry_initial=0.01, retry_max=0.02)
    store = await Store.open(make_config(pg_url), metrics, SystemClock(), settings=settings)
    poison = {
        10: {"newest_item_at": datetime(1, 1, 1, tzinfo=SHANGHAI), "check": "news"},
        40: {"detail": "bad \ud800 text"},
        41: {"status_code": 2**40},
    }
    try:
        with structlog.testing.capture_logs() as logs:
            for i in range(100):
                store.submit_result(result(T0 + timedelta(seconds=i), **poison.get(i, {})))
            store.submit_incident_event(IncidentEvent("opened", T0, incident()))
            assert await store.flush(20)
            # The same poison again: counted again, not logged again.
            store.submit_result(result(T0 + timedelta(seconds=100), **poison[10]))
            store.submit_result(result(T0 + timedelta(seconds=101), **poison[40]))
            store.submit_result(result(T0 + timedelta(seconds=102)))
            assert await store.flush(20)
        rows = await select(store, "SELECT started_at FROM probe_results ORDER BY started_at")
        good = [i for i in range(103) if i not in (*poison, 100, 101)]
        assert [r[0] for r in rows] == [T0 + timedelta(seconds=i) for i in good]
        assert metrics.dropped == 5 and store.writer is not None and store.writer.dropped == 5
        assert len(await store.list_incidents()) == 1
        [roll] = await store.rollups(T0, T0 + timedelta(hours=1))
        assert roll.probes == 98
        refusals = sorted(
            (e["event"], e["check"])
            for e in logs
            if e["event"] in ("store_result_unencodable", "store_result_rejected")
        )
        # The surrogate and the int32 overflow are two kinds of error on one check.
        assert refusals == [
            ("store_result_rejected", "home"),
            ("store_result_rejected", "home"),
            ("store_result_unencodable", "news"),
        ]
    finally:
        await store.close()


async def test_readiness_says_behind_when_results_wait_too_long(pg_url: str) -> None:
    """The store is not ready when the oldest waiting result is older than behind_after."""
    clock = FakeClock(start=T0)
    settings = WriterSettings(flush_interval=3600, behind_after=120)
    store = await Store.open(make_config(pg_url), None, clock, settings=settings)
    try:
        assert store.ready() == (True, "ok")
        store.submit_result(result(clock.now()))
        await clock.advance(60)
        assert store.ready() == (True, "ok")
        await clock.advance(120)
        ready, why = store.ready()
        assert not ready and why.startswith("store behind: 1 waiting")
        assert await store.flush(10)
        assert store.ready() == (True, "ok")
    finally:
        await store.close()


async def test_prune_deletes_raw_results_past_retention_and_keeps_rollups(store: Store) -> None:
    """Pruning removes raw results and freshness rows older than the retention, not rollups."""
    now = T0 + timedelta(days=40)
    store.submit_result(result(T0, items=3))  # 40 days old: past the default 35
    store.submit_result(result(now - timedelta(days=1), items=3))
    assert await store.flush(10)
    assert await store.prune(now) == 1
    rows = await select(store, "SELECT started_at FROM probe_results")
    assert [r["started_at"] for r in rows] == [now - timedelta(days=1)]
    assert (await select(store, "SELECT count(*) FROM freshness_observations"))[0][0] == 1
    assert len(await store.rollups(T0, now)) == 2


async def test_sites_and_checks_follow_the_config(pg_url: str) -> None:
    """Sites and checks are synced from config; ones removed later stay, marked inactive."""
    store = await Store.open(make_config(pg_url), None, SystemClock())
    try:
        checks = await select(store, "SELECT site, check_id, active FROM checks ORDER BY check_id")
        assert [(c["site"], c["check_id"], c["active"]) for c in checks] == [
            ("portal", "home", True),
            ("portal", "news", True),
        ]
        [site] = await select(store, "SELECT * FROM sites")
        assert (site["name"], site["owner"]) == ("门户网站", "portal-team")
        smaller = make_config(
            pg_url,
            sites=[
                {
                    "id": "portal",
                    "checks": [{"id": "home", "type": "http", "url": "http://127.0.0.1:9/"}],
                }
            ],
        )
        await store.reconfigure(smaller)
        checks = await select(store, "SELECT check_id, active FROM checks ORDER BY check_id")
        assert [(c["check_id"], c["active"]) for c in checks] == [("home", True), ("news", False)]
    finally:
        await store.close()
