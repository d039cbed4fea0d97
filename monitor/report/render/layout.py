"""The report laid out once as blocks (headings, paragraphs, tables, charts) for md and html.

One function per section: `layout` runs the report's sections (`_SECTIONS`) and, for each
site, the site's sections (`SITE_SECTIONS`) in order; each returns its blocks, empty when it
has nothing to show. Words come from `monitor.report.words`; nothing here is prose.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta

from monitor.report.histogram import Quantile
from monitor.report.indicators import INDICATORS
from monitor.report.model import Availability, Latency, Report, SiteReport
from monitor.report.render.blocks import (
    Block,
    DailyChart,
    Heading,
    LatencyChart,
    Paragraph,
    Table,
)
from monitor.report.words import (
    Texts,
    confirmation,
    evidence,
    failed_outcomes,
    incidents_paragraph,
    login_paragraph,
    notes,
    overview,
    period_name,
    points_paragraph,
    site_heading,
    site_name,
    site_status,
)

__all__ = ["SITE_SECTIONS", "layout", "quantile_text"]

_MICRO = timedelta(microseconds=1)

Section = Callable[[Texts, Report], list[Block]]
SiteSection = Callable[[Texts, SiteReport], list[Block]]


def layout(report: Report, t: Texts) -> list[Block]:
    """Every block of the report, in order."""
    return [block for section in _SECTIONS for block in section(t, report)]


# -- helpers ---------------------------------------------------------------------------------


def quantile_text(t: Texts, q: Quantile | None) -> str:
    if q is None:
        return t("dash")
    if q.above_range:
        return f"> {t.seconds(q.low)}"
    return t.seconds(q.value)


def _headers(t: Texts, *keys: str) -> tuple[str, ...]:
    """A table's header row: the labels of `keys`."""
    return tuple(t(k) for k in keys)


def _outcomes(t: Texts, a: Availability) -> str:
    failed = failed_outcomes([a.outcomes])
    if not failed:
        return t("none")
    return t.sep().join(f"{t(n)} {c}" for n, c in failed)


def _latency_cells(t: Texts, latency: Latency) -> tuple[str, ...]:
    return (
        str(latency.count),
        t.seconds(latency.mean),
        quantile_text(t, latency.p50),
        quantile_text(t, latency.p95),
        quantile_text(t, latency.p99),
    )


def _value(q: Quantile | None) -> float | None:
    return None if q is None else q.value


def _midnight(t: Texts, moment: datetime) -> bool:
    return moment.astimezone(t.zone).time() == time(0)


# -- the report's sections -------------------------------------------------------------------


def _title(t: Texts, report: Report) -> list[Block]:
    period = report.period
    end_day = period.end - _MICRO
    line = t(
        "period_line",
        start=t.day(period.start) if _midnight(t, period.start) else t.when(period.start),
        end=t.day(end_day) if _midnight(t, period.end) else t.when(period.end),
        zone=period.timezone,
        generated=t.when(report.generated_at),
    )
    return [Heading(1, t("title", period=period_name(t, report))), Paragraph(line)]


def _overview(t: Texts, report: Report) -> list[Block]:
    rows = []
    for site in report.sites:
        s = site.incident_summary
        rows.append(
            (
                site_name(site),
                t(site.kind),
                t(str(site.status)),
                t.percent(site.availability.ratio),
                str(s.count),
                t.duration(s.downtime_seconds),
                t.duration(s.mttr_seconds),
                quantile_text(t, site.latency.p95),
            )
        )
    headers = _headers(
        t,
        "c_site",
        "c_kind",
        "c_status",
        "c_availability",
        "c_incidents",
        "c_downtime",
        "c_mttr",
        "c_p95",
    )
    return [
        Heading(2, t("sec_overview")),
        Paragraph(overview(t, report)),
        Table(headers, tuple(rows), status_columns=(2,)),
    ]


def _verdict_matrix(t: Texts, report: Report) -> list[Block]:
    rows = []
    for site in report.sites:
        by_name = {v.indicator: v for v in site.verdicts}
        cells = [t(str(by_name[i].status)) if i in by_name else t("dash") for i in INDICATORS]
        rows.append((site_name(site), *cells))
    table = Table(
        (t("c_site"), *(t(i) for i in INDICATORS)),
        tuple(rows),
        status_columns=tuple(range(1, len(INDICATORS) + 1)),
    )
    return [Heading(2, t("sec_verdicts")), table]


def _sites(t: Texts, report: Report) -> list[Block]:
    blocks: list[Block] = [Heading(2, t("sec_sites"))]
    for number, site in enumerate(report.sites, start=1):
        blocks.append(Heading(3, site_heading(t, site, number)))
        blocks.append(Paragraph(site_status(t, site)))
        for section in SITE_SECTIONS:
            blocks.extend(section(t, site))
    return blocks


def _notes(t: Texts, report: Report) -> list[Block]:
    return [Heading(2, t("sec_notes")), Paragraph("", notes(t, report))]


def _points(t: Texts, report: Report) -> list[Block]:
    """The probe points: who took part, the quorum, the blind spans (none with one location
    that always saw: the report then reads as before probe points)."""
    points = report.points
    if points is None:
        return []
    blocks: list[Block] = [Heading(3, t("h_points")), Paragraph(points_paragraph(t, points))]
    if points.blind_spans:
        rows = tuple(
            (
                b.location,
                b.shard,
                t.when(b.started_at),
                t.when(b.ended_at) if b.ended_at else t("still_blind"),
                t(f"blind_{b.reason}"),
            )
            for b in points.blind_spans
        )
        blocks.append(Heading(4, t("h_blind")))
        blocks.append(
            Table(_headers(t, "c_location", "c_shard", "c_started", "c_ended", "c_reason"), rows)
        )
    return blocks


_SECTIONS: tuple[Section, ...] = (
    _title,
    _overview,
    _points,
    _verdict_matrix,
    _sites,
    _notes,
)


# -- a site's sections -----------------------------------------------------------------------


def _verdicts(t: Texts, site: SiteReport) -> list[Block]:
    table = Table(
        _headers(t, "c_indicator", "c_status", "c_evidence"),
        tuple((t(v.indicator), t(str(v.status)), evidence(t, v)) for v in site.verdicts),
        status_columns=(1,),
    )
    return [Heading(4, t("h_verdicts")), table]


def _availability(t: Texts, site: SiteReport) -> list[Block]:
    table = Table(
        _headers(t, "c_check", "c_type", "c_probes", "c_failures", "c_availability", "c_outcomes"),
        tuple(
            (
                c.id,
                t(f"type_{c.type}"),
                str(c.availability.probes),
                str(c.availability.failures),
                t.percent(c.availability.ratio),
                _outcomes(t, c.availability),
            )
            for c in site.checks
        ),
    )
    blocks: list[Block] = [Heading(4, t("h_availability")), table]
    blocks.extend(_by_location(t, site))
    for check in site.checks:
        if check.type == "http" and any(d.probes for d in check.days):
            blocks.append(
                DailyChart(
                    f"{t('h_daily')} · {check.id}",
                    tuple((d.day, d.ratio, d.probes) for d in check.days),
                )
            )
    return blocks


def _by_location(t: Texts, site: SiteReport) -> list[Block]:
    """Each location's own figures beside the confirmed ones (several locations only)."""
    rows: list[tuple[str, ...]] = []
    for c in site.checks:
        if not c.locations:
            continue
        rows.append(
            (
                c.id,
                t("official_row"),
                str(c.availability.probes),
                str(c.availability.failures),
                t.percent(c.availability.ratio),
                t("dash"),
            )
        )
        rows.extend(
            (
                c.id,
                loc.location,
                str(loc.probes),
                str(loc.failures),
                t.percent(loc.ratio),
                t.percent(loc.unreachable_ratio) if c.type == "http" else t("dash"),
            )
            for loc in c.locations
        )
    if not rows:
        return []
    headers = _headers(
        t, "c_check", "c_location", "c_probes", "c_failures", "c_availability", "c_worst_window"
    )
    return [Heading(4, t("h_locations")), Table(headers, tuple(rows))]


def _incidents(t: Texts, site: SiteReport) -> list[Block]:
    blocks: list[Block] = [
        Heading(4, t("h_incidents")),
        Paragraph(incidents_paragraph(t, site.incident_summary)),
    ]
    header = _headers(
        t,
        "c_check",
        "c_opened",
        "c_resolved",
        "c_duration",
        "c_reason",
        "c_first_error",
        "c_maintenance",
    )
    # With probe points, whether each was confirmed (and by whom) or only suspected.
    points = any(i.confirmed_by or i.suspected for i in site.incidents)
    if points:
        header = (*header, t("c_confirmation"))
    ordered = sorted(site.incidents, key=lambda i: (i.suspected, i.during_maintenance, i.opened_at))
    rows = tuple(
        (
            i.check,
            t.when(i.opened_at),
            t.when(i.resolved_at) if i.resolved_at else t("open"),
            t.duration(i.duration_seconds),
            t(i.reason),
            t.detail(i.first_error, i.reason),
            t("yes") if i.during_maintenance else t("no"),
            *((confirmation(t, i) or t("dash"),) if points else ()),
        )
        for i in ordered
    )
    if rows:
        blocks.append(Table(header, rows))
    return blocks


def _suspected(t: Texts, site: SiteReport) -> list[Block]:
    """疑似不连通: slots fewer locations than the quorum failed, listed and not counted."""
    if not site.suspected:
        return []
    headers = _headers(
        t, "c_check", "c_first_slot", "c_last_slot", "c_slots", "c_failed_at", "c_reason"
    )
    rows = tuple(
        (
            s.check,
            t.when(s.first_slot),
            t.when(s.last_slot),
            str(s.slots),
            t.sep().join(s.locations),
            t(s.reason),
        )
        for s in site.suspected
    )
    return [Heading(4, t("h_suspected")), Table(headers, rows)]


def _latency(t: Texts, site: SiteReport) -> list[Block]:
    header = _headers(t, "c_check", "c_month", "c_count", "c_mean", "c_p50", "c_p95", "c_p99")
    rows: list[tuple[str, ...]] = []
    timed = [c for c in site.checks if c.type in ("http", "login")] or list(site.checks)
    for check in timed:
        rows.append((check.id, t("whole_period"), *_latency_cells(t, check.latency)))
        rows.extend(
            (check.id, t.month(m.month), *_latency_cells(t, m.latency)) for m in check.months
        )
    blocks: list[Block] = [Heading(4, t("h_latency")), Table(header, tuple(rows))]
    for check in timed:
        if check.latency.count:
            blocks.append(
                LatencyChart(
                    f"{t('h_monthly_latency')} · {check.id}",
                    tuple(
                        (
                            t.month(m.month),
                            _value(m.latency.p50),
                            _value(m.latency.p95),
                            _value(m.latency.p99),
                        )
                        for m in check.months
                    ),
                )
            )
    return blocks


def _login(t: Texts, site: SiteReport) -> list[Block]:
    if not (site.login_steps or site.login):
        return []
    blocks: list[Block] = [Heading(4, t("h_login"))]
    blocks.extend(Paragraph(login_paragraph(t, h)) for h in site.login)
    if site.login_steps:
        headers = _headers(
            t,
            "c_check",
            "c_step",
            "c_attempts",
            "c_failures",
            "c_count",
            "c_mean",
            "c_p50",
            "c_p95",
            "c_p99",
        )
        rows = tuple(
            (s.check, s.step, str(s.attempts), str(s.failures), *_latency_cells(t, s.latency))
            for s in site.login_steps
        )
        blocks.append(Table(headers, rows))
    return blocks


def _freshness(t: Texts, site: SiteReport) -> list[Block]:
    if not site.freshness:
        return []
    posts = any(c.posts_per_month for c in site.freshness)
    keys = [
        "c_check",
        "c_category",
        "c_allowed",
        "c_observations",
        "c_newest",
        "c_max_age",
        "c_stale",
        "c_blank_hours",
        "c_undated_hours",
    ]
    if posts:
        keys.append("c_posts")
    rows = []
    for c in site.freshness:
        row = [
            c.check,
            t(c.category),
            t.duration(c.allowed_age),
            str(c.observations),
            t.when(c.newest_item_at),
            t.duration(c.max_age),
            t.duration(c.stale_seconds),
            str(c.blank_hours),
            str(c.undated_hours),
        ]
        if posts:
            row.append(t.sep().join(f"{t.month(m)} {n}" for m, n in c.posts_per_month) or t("dash"))
        rows.append(tuple(row))
    return [Heading(4, t("h_freshness")), Table(_headers(t, *keys), tuple(rows))]


def _broken_links(t: Texts, site: SiteReport) -> list[Block]:
    if not site.broken_links:
        return []
    headers = _headers(
        t, "c_check", "c_url", "c_reason", "c_first_seen", "c_last_seen", "c_observations"
    )
    rows = tuple(
        (
            b.check,
            b.url,
            b.reason,
            t.when(b.first_seen_at),
            t.when(b.last_seen_at),
            str(b.observations),
        )
        for b in site.broken_links
    )
    return [Heading(4, t("h_links")), Table(headers, rows)]


def _interaction(t: Texts, site: SiteReport) -> list[Block]:
    if not site.interaction:
        return []
    headers = _headers(
        t, "c_check", "c_observations", "c_unanswered", "c_open", "c_late", "c_median_response"
    )
    rows = tuple(
        (
            b.check,
            str(b.observations),
            str(b.unanswered_max),
            str(b.open_questions_max),
            str(b.late_answers_max),
            t.duration(b.median_response_seconds),
        )
        for b in site.interaction
    )
    return [Heading(4, t("h_interaction")), Table(headers, rows)]


# A site's sections, in the order they appear under its heading: a new section is one
# function above and one entry here (its labels in monitor/report/words.py).
SITE_SECTIONS: tuple[SiteSection, ...] = (
    _verdicts,
    _availability,
    _incidents,
    _suspected,
    _latency,
    _login,
    _freshness,
    _broken_links,
    _interaction,
)
