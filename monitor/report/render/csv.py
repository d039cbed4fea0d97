"""The report as flat tables, one per subject: what the CSV export writes.

Headers are in the report's language (people open these in Excel); numbers stay numbers
(seconds, fractions) beside a readable column where a duration is shown.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from monitor.report.histogram import Quantile
from monitor.report.model import Latency, Report
from monitor.report.words import Lang, Texts, confirmation, evidence, site_name, site_problems

__all__ = ["TABLES", "csv_bytes", "csv_files", "tables"]

Rows = list[list[object]]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _q(q: Quantile | None) -> object:
    return "" if q is None else round(q.value, 6)


def _lat(latency: Latency) -> list[object]:
    return [latency.count, _number(latency.mean), _q(latency.p50), _q(latency.p95), _q(latency.p99)]


def _number(value: float | None, digits: int = 6) -> object:
    """A figure rounded for the sheet; an empty cell without one."""
    return "" if value is None else round(value, digits)


def _sites(report: Report, t: Texts) -> tuple[list[str], Rows]:
    header = [t("c_site_id"), t("c_site"), t("c_kind"), t("c_owner"), t("c_status")]
    header += [t("c_probes"), t("c_failures"), t("c_availability"), t("c_incidents")]
    header += [t("c_downtime") + " (s)", t("c_downtime"), t("c_mttr") + " (s)", t("c_mttr")]
    header += [t("c_p95") + " (s)", t("c_problems")]
    rows: Rows = []
    for s in report.sites:
        i = s.incident_summary
        rows.append(
            [
                s.id,
                site_name(s),
                t(s.kind),
                s.owner,
                t(str(s.status)),
                s.availability.probes,
                s.availability.failures,
                _number(s.availability.ratio),
                i.count,
                round(i.downtime_seconds, 3),
                t.duration(i.downtime_seconds),
                _number(i.mttr_seconds, 3),
                t.duration(i.mttr_seconds),
                _q(s.latency.p95),
                site_problems(t, s),
            ]
        )
    return header, rows


def _verdicts(report: Report, t: Texts) -> tuple[list[str], Rows]:
    header = [t("c_site_id"), t("c_site"), t("c_indicator"), t("c_status"), t("c_evidence")]
    rows: Rows = [
        [s.id, site_name(s), t(v.indicator), t(str(v.status)), evidence(t, v)]
        for s in report.sites
        for v in s.verdicts
    ]
    return header, rows


def _availability(report: Report, t: Texts) -> tuple[list[str], Rows]:
    outcomes = sorted({o for s in report.sites for c in s.checks for o in c.availability.outcomes})
    header = [t("c_site_id"), t("c_check"), t("c_type"), t("c_probes"), t("c_failures")]
    header += [t("c_availability"), *(t(o) for o in outcomes), t("probe_error")]
    rows: Rows = [
        [
            s.id,
            c.id,
            c.type,
            c.availability.probes,
            c.availability.failures,
            _number(c.availability.ratio),
            *(c.availability.outcomes.get(o, 0) for o in outcomes),
            c.availability.probe_errors,
        ]
        for s in report.sites
        for c in s.checks
    ]
    return header, rows


def _daily(report: Report, t: Texts) -> tuple[list[str], Rows]:
    header = [t("c_site_id"), t("c_check"), t("c_day"), t("c_probes"), t("c_failures")]
    header += [t("c_slow"), t("c_availability")]
    rows: Rows = [
        [
            s.id,
            c.id,
            d.day.isoformat(),
            d.probes,
            d.failures,
            d.slow,
            _number(d.ratio),
        ]
        for s in report.sites
        for c in s.checks
        for d in c.days
    ]
    return header, rows


def _incidents(report: Report, t: Texts) -> tuple[list[str], Rows]:
    header = [t("c_site_id"), t("c_site"), t("c_check"), t("c_location"), t("c_opened")]
    header += [t("c_resolved"), t("c_duration") + " (s)", t("c_duration"), t("c_reason")]
    header += [t("c_failures"), t("c_first_error"), t("c_maintenance"), "id"]
    rows: Rows = [
        [
            s.id,
            site_name(s),
            i.check,
            i.location,
            t.when(i.opened_at),
            t.when(i.resolved_at) if i.resolved_at else t("open"),
            round(i.duration_seconds, 3),
            t.duration(i.duration_seconds),
            t(i.reason),
            i.failures,
            t.detail(i.first_error, i.reason),
            t("yes") if i.during_maintenance else t("no"),
            i.id,
        ]
        for s in report.sites
        for i in s.incidents
    ]
    if report.points is not None and report.points.several:
        # With several probe points: confirmed (by whom) or suspected, never counted.
        header.append(t("c_confirmation"))
        incidents = [i for s in report.sites for i in s.incidents]
        for row, incident in zip(rows, incidents, strict=True):
            row.append(confirmation(t, incident))
    return header, rows


def _latency(report: Report, t: Texts) -> tuple[list[str], Rows]:
    header = [t("c_site_id"), t("c_check"), t("c_month"), t("c_count"), t("c_mean") + " (s)"]
    header += [t("c_p50") + " (s)", t("c_p95") + " (s)", t("c_p99") + " (s)"]
    rows: Rows = []
    for s in report.sites:
        for c in s.checks:
            rows.append([s.id, c.id, t("whole_period"), *_lat(c.latency)])
            rows.extend([s.id, c.id, m.month.strftime("%Y-%m"), *_lat(m.latency)] for m in c.months)
    return header, rows


def _login_steps(report: Report, t: Texts) -> tuple[list[str], Rows]:
    header = [t("c_site_id"), t("c_check"), t("c_step"), t("c_attempts"), t("c_failures")]
    header += [t("c_count"), t("c_mean") + " (s)"]
    header += [t("c_p50") + " (s)", t("c_p95") + " (s)", t("c_p99") + " (s)"]
    rows: Rows = [
        [s.id, st.check, st.step, st.attempts, st.failures, *_lat(st.latency)]
        for s in report.sites
        for st in s.login_steps
    ]
    return header, rows


def _freshness(report: Report, t: Texts) -> tuple[list[str], Rows]:
    header = [t("c_site_id"), t("c_check"), t("c_category"), t("c_allowed") + " (s)"]
    header += [t("c_observations"), t("c_newest"), t("c_max_age") + " (s)", t("c_max_age")]
    header += [t("c_stale") + " (s)", t("c_blank_hours"), t("c_undated_hours"), t("c_posts")]
    rows: Rows = [
        [
            s.id,
            c.check,
            t(c.category),
            c.allowed_age,
            c.observations,
            t.when(c.newest_item_at),
            _number(c.max_age, 3),
            t.duration(c.max_age),
            round(c.stale_seconds, 3),
            c.blank_hours,
            c.undated_hours,
            " ".join(f"{m.strftime('%Y-%m')}:{n}" for m, n in c.posts_per_month),
        ]
        for s in report.sites
        for c in s.freshness
    ]
    return header, rows


def _broken_links(report: Report, t: Texts) -> tuple[list[str], Rows]:
    header = [t("c_site_id"), t("c_check"), t("c_url"), t("c_reason"), t("c_first_seen")]
    header += [t("c_last_seen"), t("c_observations")]
    rows: Rows = [
        [
            s.id,
            b.check,
            b.url,
            b.reason,
            t.when(b.first_seen_at),
            t.when(b.last_seen_at),
            b.observations,
        ]
        for s in report.sites
        for b in s.broken_links
    ]
    return header, rows


def _interaction(report: Report, t: Texts) -> tuple[list[str], Rows]:
    header = [t("c_site_id"), t("c_check"), t("c_observations"), t("c_unanswered")]
    header += [t("c_open"), t("c_late"), t("c_median_response") + " (s)"]
    rows: Rows = [
        [
            s.id,
            b.check,
            b.observations,
            b.unanswered_max,
            b.open_questions_max,
            b.late_answers_max,
            _number(b.median_response_seconds, 3),
        ]
        for s in report.sites
        for b in s.interaction
    ]
    return header, rows


TABLES: dict[str, Callable[[Report, Texts], tuple[list[str], Rows]]] = {
    "sites": _sites,
    "verdicts": _verdicts,
    "availability": _availability,
    "daily": _daily,
    "incidents": _incidents,
    "latency": _latency,
    "login_steps": _login_steps,
    "freshness": _freshness,
    "broken_links": _broken_links,
    "interaction": _interaction,
}


def tables(report: Report, lang: Lang = "zh") -> dict[str, tuple[list[str], Rows]]:
    t = Texts(lang, report.period.zone)
    return {name: make(report, t) for name, make in TABLES.items()}


def _safe(cell: object) -> object:
    # Text from a site (an error, a link) that Excel would run as a formula is quoted.
    if isinstance(cell, str) and cell[:1] in _FORMULA_START:
        return "'" + cell
    return cell


def csv_bytes(header: list[str], rows: Rows) -> bytes:
    """One CSV file: UTF-8 with a BOM (Excel reads Chinese right only then), CRLF lines."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_safe(c) for c in row] for row in rows)
    return buffer.getvalue().encode("utf-8-sig")


def csv_files(report: Report, lang: Lang = "zh", table: str | None = None) -> dict[str, bytes]:
    """`{name}.csv` -> bytes for every table, or only `table`."""
    if table is not None and table not in TABLES:
        raise ValueError(f"unknown table {table!r} (one of: {', '.join(TABLES)})")
    t = Texts(lang, report.period.zone)
    chosen = [table] if table is not None else list(TABLES)
    return {f"{name}.csv": csv_bytes(*TABLES[name](report, t)) for name in chosen}
