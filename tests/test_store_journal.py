"""The incident journal: events the database has not taken yet survive SIGKILL in a local file
and are stored at the next start, before incidents are read back (real PostgreSQL, real
`monitor run`, an outage made by cutting a TCP proxy)."""

from __future__ import annotations

import re
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from aiohttp.test_utils import TestServer

from monitor.clock import SystemClock
from monitor.incidents import IncidentEvent
from monitor.store import Store
from monitor.store.journal import Journal
from monitor.store.rows import MEASUREMENT_COLUMNS, RESULT_COLUMNS
from monitor.store.rows import from_journal_row as _from_journal_row
from monitor.store.rows import journal_row as _journal_row
from monitor.store.writer import Writer, WriterSettings
from tests.pg import RecordingStoreMetrics, TcpProxy, make_config, select, via
from tests.poll import wait_until
from tests.samples import T0, incident, result
from tests.service import Service, wait_incidents, write_incident_config
from tests.stack import free_port

UNREACHABLE = "postgresql://postgres@127.0.0.1:9/test"


def test_journal_reads_back_what_it_was_given_and_skips_a_torn_line(tmp_path: Path) -> None:
    """Events read back equal to those appended, in order; a line cut short by a crash is
    skipped; clear() empties the file."""
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    opened = IncidentEvent("opened", T0, incident())
    resolved = IncidentEvent(
        "resolved",
        T0 + timedelta(minutes=5),
        incident(id=opened.incident.id, resolved_at=T0 + timedelta(minutes=5), revision=2),
    )
    journal.append_event(opened)
    journal.append_event(resolved)
    with path.open("ab") as f:
        f.write(b'{"id": "torn", "kind": "upd')  # SIGKILL in the middle of a write
    assert Journal(path).read() == ([opened, resolved], [])
    journal.clear()
    assert path.read_bytes() == b"" and Journal(path).read() == ([], [])
    journal.close()


async def test_events_kept_while_unreachable_are_stored_by_the_next_store(
    tmp_path: Path,
    pg_url: str,
) -> None:
    """A writer that never reached the database and is dropped (a crash) leaves its events in
    the journal; the next Store.open stores them before it returns, and empties the journal."""
    path = tmp_path / "journal.jsonl"

    async def unreachable() -> asyncpg.Connection:
        return await asyncpg.connect(UNREACHABLE, timeout=2)

    lost = Writer(
        unreachable, WriterSettings(), RecordingStoreMetrics(), SystemClock(), journal=Journal(path)
    )
    opened = IncidentEvent("opened", T0, incident())
    lost.submit_event(opened)
    lost.submit_event(
        IncidentEvent(
            "updated",
            T0 + timedelta(minutes=1),
            incident(id=opened.incident.id, failures=4, revision=2),
        )
    )
    # Never started, never closed: the process died with both events in memory.
    store = await Store.open(make_config(pg_url), None, SystemClock(), journal=path)
    try:
        (stored,) = await store.list_incidents()
        assert (stored.id, stored.failures, stored.revision) == (opened.incident.id, 4, 2)
        assert path.read_bytes() == b""
    finally:
        await store.close()


async def test_results_waiting_when_the_database_went_away_are_stored_once(
    tmp_path: Path,
    pg_url: str,
) -> None:
    """Results waiting when the writer first fails, and those that come after, are journaled;
    the next store writes each of them once (one of them already stored before the crash) and
    empties the journal when it has written everything."""
    path = tmp_path / "journal.jsonl"
    metrics = RecordingStoreMetrics()
    # Within the retention, or the store's pruning would delete them meanwhile.
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)

    async def unreachable() -> asyncpg.Connection:
        return await asyncpg.connect(UNREACHABLE, timeout=2)

    lost = Writer(
        unreachable,
        WriterSettings(retry_initial=0.01),
        metrics,
        SystemClock(),
        journal=Journal(path),
    )
    lost.start()
    for i in range(5):
        lost.submit_result(result(hour + timedelta(seconds=i)))
    await wait_until("a failed write", lambda: metrics.write_errors, timeout=20, interval=0.01)
    for i in range(5, 8):
        lost.submit_result(result(hour + timedelta(seconds=i)))
    assert lost._task is not None
    lost._task.cancel()  # the process dies: nothing is closed, nothing flushed
    _, rows = Journal(path).read()
    assert len(rows) == 8
    store = await Store.open(make_config(pg_url), None, SystemClock())
    try:
        # One of them made it to the database before the crash (its answer was lost).
        writer = store.writer
        assert writer is not None
        await writer._write(await writer._connection(), [_row(rows[3])], [])
    finally:
        await store.close()
    store = await Store.open(make_config(pg_url), None, SystemClock(), journal=path)
    try:
        assert await store.flush(20)
        stored = await select(store, "SELECT started_at FROM probe_results ORDER BY started_at")
        assert [r[0] for r in stored] == [hour + timedelta(seconds=i) for i in range(8)]
        [roll] = await store.rollups(hour, hour + timedelta(hours=1))
        assert roll.probes == 8
        assert path.read_bytes() == b""
    finally:
        await store.close()


async def test_a_journal_the_database_cannot_take_yet_stays(
    tmp_path: Path,
    pg_url: str,
) -> None:
    """If the database goes away while the journal is replayed, Store.open says unreachable
    and the journal keeps every event for the next try."""
    path = tmp_path / "journal.jsonl"
    event = IncidentEvent("opened", T0, incident())
    Journal(path).append_event(event)
    proxy = TcpProxy.to(pg_url)
    await proxy.start()
    url = via(pg_url, "127.0.0.1", proxy.port)
    try:
        # The schema first, through the proxy, then the cut before the replay can connect.
        first = await Store.open(make_config(url), None, SystemClock())
        await first.close()
        await proxy.cut()
        try:
            await Store.open(make_config(url), None, SystemClock(), journal=path)
        except Exception as exc:
            assert "cannot" in str(exc)
        assert Journal(path).read() == ([event], [])
    finally:
        await proxy.close()


def _config(path: Path, port: int, database_url: str, site: TestServer, data: Path) -> None:
    """The service tests' one-check incident config, with its data directory under `data`."""
    write_incident_config(path, port, database_url, site)
    text = path.read_text().replace(
        "flush_interval: 100ms", f'flush_interval: 100ms, data_dir: "{data}"'
    )
    path.write_text(text)


def _incidents_opened(metrics: str) -> float:
    found = re.search(
        r'^monitor_incidents_total\{[^}]*reason="http_error"[^}]*\} (\S+)$', metrics, re.MULTILINE
    )
    return float(found.group(1)) if found else 0.0


async def test_sigkill_during_an_outage_loses_no_incident(
    target: TestServer,
    tmp_path: Path,
    pg_url: str,
) -> None:
    """`monitor run` whose database is cut (a TCP proxy) sees an incident open and resolve and a
    second open, and is killed with SIGKILL before the database is back: the next `monitor
    run` stores both from the journal (no duplicate), and the failing results of the outage,
    continues the open incident and resolves it."""
    proxy = TcpProxy.to(pg_url)
    await proxy.start()
    port = free_port()
    config = tmp_path / "monitor.yaml"
    data = tmp_path / "data"
    _config(config, port, via(pg_url, "127.0.0.1", proxy.port), target, data)
    state = target.state  # type: ignore[attr-defined]
    first = Service(config, port)
    await first.start()
    try:
        await _ready(first)
        await proxy.cut()  # the outage
        state["up"] = False  # down: the first incident opens
        await _wait(first, lambda m: _incidents_opened(m) == 1.0)
        state["up"] = True  # up: it resolves
        await _wait(first, lambda m: "monitor_incident_open{" not in m)
        state["up"] = False  # down again: the second opens
        await _wait(first, lambda m: _incidents_opened(m) == 2.0 and "monitor_incident_open{" in m)
    finally:
        first.proc.send_signal(signal.SIGKILL)
        await first.stop()
    journal = list(data.glob("incident-journal-*.jsonl"))
    assert len(journal) == 1 and journal[0].stat().st_size > 0

    await proxy.restore()
    state["up"] = True
    second = Service(config, port)
    await second.start()
    try:
        found = await wait_incidents(
            second, "", lambda found: len(found) == 2 and all(i["resolved_at"] for i in found)
        )
    finally:
        code, _ = await second.stop()
        await proxy.close()
    assert code == 0
    conn = await asyncpg.connect(pg_url)
    try:
        failures = await conn.fetchval("SELECT count(*) FROM probe_results WHERE outcome <> 'ok'")
    finally:
        await conn.close()
    # Every failure was probed while the database was cut: only the journal can have kept them.
    assert failures >= 6
    first_incident, second_incident = sorted(found, key=lambda i: str(i["opened_at"]))
    assert str(first_incident["resolved_at"]) < str(second_incident["opened_at"])
    assert second_incident["failures"] >= 3
    assert journal[0].read_bytes() == b""


async def _wait(service: Service, predicate: Callable[[str], bool]) -> None:
    """Poll /metrics until `predicate` holds of it."""
    await wait_until(
        "/metrics to match", service.metrics, until=predicate, timeout=20, watch=service
    )


async def _ready(service: Service) -> None:
    """Wait until /readyz says the store is open and writing."""

    async def ready() -> bool:
        async with service.session.get(f"{service.base}/readyz") as resp:
            return resp.status == 200

    await wait_until("/readyz answering 200", ready, timeout=20, watch=service)


def _row(values: list[object]) -> tuple[object, ...]:
    row = _from_journal_row(values)
    assert row is not None
    return row


def test_a_result_journaled_before_the_measurement_columns_is_taken_up() -> None:
    """A row a monitor from before migration 0007 journaled (without the typed measurement
    columns) is read back whole, those columns empty; its figures stay in `data`."""
    writer = Writer(_no_database, WriterSettings(), RecordingStoreMetrics(), SystemClock())
    row = list(writer._record(result(T0, items=3)))
    # Nor had it the slot column (migration 0008), which comes last.
    old = _journal_row(tuple(row[: len(RESULT_COLUMNS) - len(MEASUREMENT_COLUMNS) - 1]))
    back = _from_journal_row(old)
    assert back is not None and len(back) == len(RESULT_COLUMNS)
    assert back[: len(old)] == tuple(row[: len(old)])
    assert back[len(old) :] == (None,) * (len(MEASUREMENT_COLUMNS) + 1)


def test_a_result_journaled_before_the_slot_column_is_taken_up() -> None:
    """A row journaled by a monitor from before migration 0008 (no slot) is read back whole,
    without a slot (it never votes)."""
    writer = Writer(_no_database, WriterSettings(), RecordingStoreMetrics(), SystemClock())
    writer.intervals = {"portal/home": 60.0}
    row = writer._record(result(T0, items=3))
    assert row[RESULT_COLUMNS.index("slot")] is not None
    back = _from_journal_row(_journal_row(row[:-1]))
    assert back is not None and back[:-1] == row[:-1] and back[-1] is None


async def _no_database() -> asyncpg.Connection:
    raise OSError("not used")
