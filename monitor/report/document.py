"""The report laid out once as blocks (headings, paragraphs, tables, charts) for md and html."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from monitor.report.histogram import Quantile, relative_error_bound
from monitor.report.indicators import INDICATORS
from monitor.report.model import Availability, Latency, Report, SiteReport
from monitor.report.phrases import (
    evidence,
    failed_outcomes,
    overview,
    period_name,
    site_name,
    site_problems,
)
from monitor.report.texts import Texts

_MICRO = timedelta(microseconds=1)

__all__ = [
    "Block",
    "DailyChart",
    "Heading",
    "LatencyChart",
    "Paragraph",
    "Table",
    "layout",
    "quantile_text",
]


@dataclass(frozen=True, slots=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True, slots=True)
class Paragraph:
    text: str
    items: tuple[str, ...] = ()  # a bulleted list after the text


@dataclass(frozen=True, slots=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    # Column indexes holding statuses: html colours them.
    status_columns: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class DailyChart:
    """Availability per day of one check (None: no probes that day)."""

    title: str
    days: tuple[tuple[date, float | None, int], ...]


@dataclass(frozen=True, slots=True)
class LatencyChart:
    """p50/p95/p99 per month of one check (seconds; None: no data)."""

    title: str
    months: tuple[tuple[str, float | None, float | None, float | None], ...]


Block = Heading | Paragraph | Table | DailyChart | LatencyChart


@dataclass(slots=True)
class _Doc:
    blocks: list[Block] = field(default_factory=list)

    def add(self, block: Block) -> None:
        self.blocks.append(block)


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


def layout(report: Report, t: Texts) -> list[Block]:
    """Every block of the report, in order."""
    doc = _Doc()
    period = report.period
    doc.add(Heading(1, t("title", period=period_name(t, report))))
    end_day = period.end - _MICRO
    doc.add(
        Paragraph(
            t(
                "period_line",
                start=t.day(period.start) if _midnight(t, period.start) else t.when(period.start),
                end=t.day(end_day) if _midnight(t, period.end) else t.when(period.end),
                zone=period.timezone,
                generated=t.when(report.generated_at),
            )
        )
    )
    doc.add(Heading(2, t("sec_overview")))
    doc.add(Paragraph(overview(t, report)))
    doc.add(_summary_table(t, report))
    doc.add(Heading(2, t("sec_verdicts")))
    doc.add(_verdict_matrix(t, report))
    doc.add(Heading(2, t("sec_sites")))
    for number, site in enumerate(report.sites, start=1):
        _site(doc, t, site, number)
    doc.add(Heading(2, t("sec_notes")))
    doc.add(Paragraph("", _notes(t, report)))
    return doc.blocks


def _midnight(t: Texts, moment: datetime) -> bool:
    return moment.astimezone(t.zone).time() == time(0)


def _summary_table(t: Texts, report: Report) -> Table:
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
    return Table(
        _headers(
            t,
            "c_site",
            "c_kind",
            "c_status",
            "c_availability",
            "c_incidents",
            "c_downtime",
            "c_mttr",
            "c_p95",
        ),
        tuple(rows),
        status_columns=(2,),
    )


def _verdict_matrix(t: Texts, report: Report) -> Table:
    rows = []
    for site in report.sites:
        by_name = {v.indicator: v for v in site.verdicts}
        cells = [t(str(by_name[i].status)) if i in by_name else t("dash") for i in INDICATORS]
        rows.append((site_name(site), *cells))
    return Table(
        (t("c_site"), *(t(i) for i in INDICATORS)),
        tuple(rows),
        status_columns=tuple(range(1, len(INDICATORS) + 1)),
    )


def _site(doc: _Doc, t: Texts, site: SiteReport, number: int) -> None:
    doc.add(
        Heading(
            3,
            f"{number}. {site_name(site)}（{site.id}）"
            if t.zh
            else f"{number}. {site_name(site)} ({site.id})",
        )
    )
    problems = site_problems(t, site)
    status = t(str(site.status))
    if t.zh:
        line = f"结论：{status}。" + (f"主要问题：{problems}。" if problems else "未发现问题。")
    else:
        line = f"Status: {status}. " + (
            f"Main problems: {problems}." if problems else "No problems found."
        )
    doc.add(Paragraph(line))

    doc.add(Heading(4, t("h_verdicts")))
    doc.add(
        Table(
            _headers(t, "c_indicator", "c_status", "c_evidence"),
            tuple((t(v.indicator), t(str(v.status)), evidence(t, v)) for v in site.verdicts),
            status_columns=(1,),
        )
    )

    doc.add(Heading(4, t("h_availability")))
    doc.add(
        Table(
            _headers(
                t, "c_check", "c_type", "c_probes", "c_failures", "c_availability", "c_outcomes"
            ),
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
    )
    for check in site.checks:
        if check.type == "http" and any(d.probes for d in check.days):
            doc.add(
                DailyChart(
                    f"{t('h_daily')} · {check.id}",
                    tuple((d.day, d.ratio, d.probes) for d in check.days),
                )
            )

    _incidents(doc, t, site)

    doc.add(Heading(4, t("h_latency")))
    header = _headers(t, "c_check", "c_month", "c_count", "c_mean", "c_p50", "c_p95", "c_p99")
    rows: list[tuple[str, ...]] = []
    timed = [c for c in site.checks if c.type in ("http", "login")] or list(site.checks)
    for check in timed:
        rows.append((check.id, t("whole_period"), *_latency_cells(t, check.latency)))
        rows.extend(
            (check.id, t.month(m.month), *_latency_cells(t, m.latency)) for m in check.months
        )
    doc.add(Table(header, tuple(rows)))
    for check in timed:
        if check.latency.count:
            doc.add(
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

    if site.login_steps or site.login:
        doc.add(Heading(4, t("h_login")))
    for h in site.login:
        slowest = t.duration(h.slowest_login_seconds)
        limit = t.duration(h.slow_threshold_seconds)
        doc.add(
            Paragraph(
                f"{h.check}：统计期内成功登录{h.logins}次，其中登录不畅（超过{limit}）"
                f"{h.slow_logins}次，最慢{slowest}；登录失败{h.failed_logins}次；"
                f"会话掉线{h.sessions_dropped}次；登录页面无法打开{h.other_failures}次。"
                "登录情况不计入站点可用率和站点无法访问。"
                if t.zh
                else f"{h.check}: {t.count(h.logins, 'successful login')}, "
                f"{h.slow_logins} of them sluggish (over {limit}), slowest {slowest}; "
                f"{t.count(h.failed_logins, 'failed login')}; "
                f"{t.count(h.sessions_dropped, 'dropped session')}; "
                f"the login pages did not open {t.count(h.other_failures, 'time')}. Login health "
                "is not "
                "part of the site's availability or of site unreachable."
            )
        )
    if site.login_steps:
        doc.add(
            Table(
                _headers(
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
                ),
                tuple(
                    (
                        s.check,
                        s.step,
                        str(s.attempts),
                        str(s.failures),
                        *_latency_cells(t, s.latency),
                    )
                    for s in site.login_steps
                ),
            )
        )

    if site.freshness:
        doc.add(Heading(4, t("h_freshness")))
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
                row.append(
                    t.sep().join(f"{t.month(m)} {n}" for m, n in c.posts_per_month) or t("dash")
                )
            rows.append(tuple(row))
        doc.add(Table(_headers(t, *keys), tuple(rows)))

    if site.broken_links:
        doc.add(Heading(4, t("h_links")))
        doc.add(
            Table(
                _headers(
                    t,
                    "c_check",
                    "c_url",
                    "c_reason",
                    "c_first_seen",
                    "c_last_seen",
                    "c_observations",
                ),
                tuple(
                    (
                        b.check,
                        b.url,
                        b.reason,
                        t.when(b.first_seen_at),
                        t.when(b.last_seen_at),
                        str(b.observations),
                    )
                    for b in site.broken_links
                ),
            )
        )

    if site.interaction:
        doc.add(Heading(4, t("h_interaction")))
        doc.add(
            Table(
                _headers(
                    t,
                    "c_check",
                    "c_observations",
                    "c_unanswered",
                    "c_open",
                    "c_late",
                    "c_median_response",
                ),
                tuple(
                    (
                        b.check,
                        str(b.observations),
                        str(b.unanswered_max),
                        str(b.open_questions_max),
                        str(b.late_answers_max),
                        t.duration(b.median_response_seconds),
                    )
                    for b in site.interaction
                ),
            )
        )


def _value(q: Quantile | None) -> float | None:
    return None if q is None else q.value


def _incidents(doc: _Doc, t: Texts, site: SiteReport) -> None:
    doc.add(Heading(4, t("h_incidents")))
    s = site.incident_summary
    longest = s.longest
    if t.zh:
        text = (
            f"统计期内发生故障{s.count}次，累计{t.duration(s.downtime_seconds)}，"
            f"平均恢复时间{t.duration(s.mttr_seconds)}"
        )
        if longest is not None:
            text += (
                f"，最长一次{t.duration(longest.duration_seconds)}"
                f"（{longest.check}，{t.when(longest.opened_at)}起）"
            )
        text += "。"
        if s.content_count:
            text += (
                f"另有内容类告警{s.content_count}次"
                "（栏目未更新、空白栏目、链接不可用、留言未回应等），不计入故障时长。"
            )
        if s.login_count:
            text += f"另有登录类事件{s.login_count}次（登录失败、会话掉线），不计入故障时长。"
        if s.bridge_count:
            text += f"另有订阅桥接服务故障{s.bridge_count}次，不是账号本身的故障，不计入故障时长。"
        if s.maintenance_count:
            text += (
                f"另有维护期内故障{s.maintenance_count}次"
                f"（{t.duration(s.maintenance_seconds)}），不计入上述统计。"
            )
    else:
        text = (
            f"{t.count(s.count, 'incident')}, {t.duration(s.downtime_seconds)} in total, "
            f"MTTR {t.duration(s.mttr_seconds)}"
        )
        if longest is not None:
            text += (
                f", longest {t.duration(longest.duration_seconds)} "
                f"({longest.check}, from {t.when(longest.opened_at)})"
            )
        text += "."
        if s.content_count:
            text += (
                " Listed too, but no downtime: "
                f"{t.count(s.content_count, 'content alert')} (stale or blank columns, broken "
                "links, unanswered questions)."
            )
        if s.login_count:
            text += (
                " Listed too, but no downtime: "
                f"{t.count(s.login_count, 'login incident')} (failed logins, dropped sessions)."
            )
        if s.bridge_count:
            text += (
                " Listed too, but not the account's downtime: "
                f"{t.count(s.bridge_count, 'feed bridge failure')}."
            )
        if s.maintenance_count:
            text += (
                f" {s.maintenance_count} more during maintenance "
                f"({t.duration(s.maintenance_seconds)}), not counted above."
            )
    doc.add(Paragraph(text))
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
    rows = tuple(
        (
            i.check,
            t.when(i.opened_at),
            t.when(i.resolved_at) if i.resolved_at else t("open"),
            t.duration(i.duration_seconds),
            t(i.reason),
            t.detail(i.first_error, i.reason),
            t("yes") if i.during_maintenance else t("no"),
        )
        for i in sorted(site.incidents, key=lambda i: (i.during_maintenance, i.opened_at))
    )
    if rows:
        doc.add(Table(header, rows))


def _notes(t: Texts, report: Report) -> tuple[str, ...]:
    bounds = report.latency_bounds
    alpha = t.percent(relative_error_bound(bounds))
    ratio = f"{max(b / a for a, b in itertools.pairwise(bounds)):.2f}" if bounds else "-"
    low, high = (t.seconds(bounds[0]), t.seconds(bounds[-1])) if bounds else ("-", "-")
    if t.zh:
        return (
            f"时间均为{report.period.timezone}时间；时长按天、小时、分钟取整显示。",
            "可用率为成功次数占监测次数（不含监测程序自身错误）的比例；各失败原因分别计数。",
            "站点无法访问：按自然日划分连续7天窗口，仅在7天每天监测不少于20次时判定；"
            "失败包括超时、连接失败、掉线、HTTP错误等，以及虽成功但耗时超过15秒的访问。",
            "故障：连续失败达到阈值时开始，连续成功达到阈值时恢复；总时长为统计期内故障时段的并集，"
            "平均恢复时间为统计期内已恢复故障的平均持续时长；维护期内的故障单独列出；"
            "栏目未更新、空白栏目、链接不可用、留言未回应等内容类告警列入故障表，但不计入故障时长。",
            f"响应时间百分位数由小时汇总的对数分桶直方图估算（相邻桶界之比不超过{ratio}），"
            f"在{low}至{high}之间误差不超过真实值的{alpha}；超出最后一个桶时显示为“> 上界”。",
            "信息更新：以监测到的最新信息日期计算未更新时长，直至监测到更新的信息为止；"
            "无日期的信息视为未更新；每月发布数为监测到的不同最新信息日期数，间隔内多次发布只计一次。",
        )
    return (
        f"Times are in {report.period.timezone}; "
        "durations are rounded down to days, hours, minutes.",
        "Availability is the share of probes that succeeded (the monitor's own errors left out); "
        "failure outcomes are counted apart.",
        "Site unreachable: 7-day windows of local days, judged only where every day had at least "
        "20 probes; failures are timeouts, connection errors, dropouts, HTTP errors and the like, "
        "plus probes that succeeded but took longer than 15 s.",
        "Incidents open after consecutive failures and resolve after consecutive successes; "
        "downtime is the union of incident time within the period, MTTR the mean duration of "
        "incidents resolved by its end; incidents during maintenance are listed apart; content "
        "alerts (stale or blank columns, broken links, unanswered questions) are listed but are "
        "no downtime.",
        "Latency percentiles are estimated from hourly histograms with log-spaced buckets "
        f"(adjacent bounds at most a factor {ratio} apart): from {low} to {high} they are "
        f"within {alpha} of the true value; beyond the last bound they show as '> bound'.",
        "Freshness: the time without updates runs from the newest item's date until a newer item "
        "is seen; undated items count as not updated; posts per month count distinct newest-item "
        "dates seen, so several posts between two probes count once.",
    )
