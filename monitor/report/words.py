"""Every word of the report, in Chinese (the notice's register) and English, in this one file.

`Texts(lang, zone)` holds the labels (`_LABELS`, one pair per key) and formats durations,
times and ratios; below it are the sentences (a verdict's evidence, a site's problems, the
overview, the incidents and login paragraphs, the notes, security findings and manual reviews)
and the Chinese telling of the probes' English details. The renderers (monitor/report/render/)
lay these out and write no prose of their own: a new language is a new entry in `LANGS`, a new
column in `_LABELS` and a new branch where a sentence is built; a new sentence is a function
here.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, tzinfo
from typing import Any, Literal

from monitor.report.histogram import relative_error_bound
from monitor.report.model import (
    IncidentRow,
    IncidentSummary,
    LoginHealth,
    Points,
    Report,
    SiteReport,
    Status,
    Verdict,
)
from monitor.report.security import SECURITY_INDICATOR

__all__ = [
    "LANGS",
    "Lang",
    "Texts",
    "confirmation",
    "detail_zh",
    "evidence",
    "failed_outcomes",
    "incidents_paragraph",
    "login_findings",
    "login_paragraph",
    "notes",
    "overview",
    "period_name",
    "points_paragraph",
    "review_text",
    "security_evidence",
    "site_heading",
    "site_name",
    "site_problems",
    "site_status",
]

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")

_LABELS: dict[str, tuple[str, str]] = {
    # statuses
    "pass": ("合格", "pass"),
    "warning": ("预警", "warning"),
    "veto": ("单项否决", "veto"),
    "not_assessable": ("无法判定", "not assessable"),
    # indicators
    "site_unreachable": ("站点无法访问", "Site unreachable"),
    "homepage_not_updated": ("首页不更新", "Homepage not updated"),
    "columns_not_updated": ("栏目不更新", "Columns not updated"),
    "blank_columns": ("空白栏目", "Blank columns"),
    "new_media_not_updated": ("政务新媒体内容不更新", "Account not updated"),
    "poor_interaction": ("互动回应差", "Poor interaction"),
    # not-assessable reasons
    "no_http_check": ("未配置首页可用性监测", "no http check is configured"),
    "too_few_probes": (
        "部分日期监测次数不足每天20次",
        "some days had fewer than the 20 probes a day the rule needs",
    ),
    "timeout_below_official": (
        "超时设置短于15秒，超时不能证明15秒内无法打开，且足以改变判定",
        "the timeout is below 15 s: its timeouts prove nothing about 15 s and could change the"
        " verdict",
    ),
    "period_too_short": ("统计期不足7天", "the period is shorter than 7 days"),
    "no_homepage_check": (
        "未配置首页更新监测",
        "no homepage freshness check (category: homepage) is configured",
    ),
    "no_column_check": ("未配置栏目更新监测", "no column freshness check is configured"),
    "no_feed_check": ("未配置账号内容更新监测", "no feed check is configured"),
    "no_interaction_check": ("未配置互动栏目监测", "no interaction check is configured"),
    "no_observations": ("统计期内缺少有效监测数据", "no usable observations in the period"),
    # notes on the period
    "note_under_an_hour": (
        "统计期不足1小时：监测数据按整点小时汇总，统计期内没有完整的小时，因此没有可统计的监测。",
        "The period is shorter than an hour: figures are kept per clock hour and no hour starts"
        " inside it, so it holds no probes.",
    ),
    "note_partial_hours": (
        "统计期的起止时间不在整点：监测数据按整点小时汇总，只计入在统计期内开始的小时。",
        "The period does not start and end on the hour: figures are kept per clock hour, and"
        " only the hours that start inside it are counted.",
    ),
    # check types
    "type_http": ("网页访问", "http"),
    "type_login": ("登录", "login"),
    "type_freshness": ("信息更新", "freshness"),
    "type_feed": ("账号订阅", "feed"),
    "type_links": ("链接可用性", "links"),
    "type_interaction": ("互动栏目", "interaction"),
    "type_security": ("安全检测", "security"),
    # kinds
    "website": ("网站", "website"),
    "new_media": ("政务新媒体", "new-media account"),
    # outcomes
    "ok": ("正常", "ok"),
    "dns_error": ("域名解析失败", "DNS error"),
    "connect_error": ("连接失败", "connection error"),
    "timeout": ("超时", "timeout"),
    "tls_error": ("证书或TLS错误", "TLS error"),
    "dropout": ("连接中断（掉线）", "dropout"),
    "http_error": ("HTTP错误", "HTTP error"),
    "content_mismatch": ("内容异常", "content mismatch"),
    "login_failed": ("登录失败", "login failed"),
    "session_dropped": ("会话掉线", "session dropped"),
    "stale": ("内容未更新", "stale"),
    "broken_links": ("链接不可用", "broken links"),
    "unanswered": ("留言未回应", "unanswered"),
    "security_incident": ("安全、泄密事故", "security incident"),
    "compromised": ("疑似安全事故（暗链、挂马、篡改、严重表述错误）", "suspected compromise"),
    "probe_error": ("监测程序错误", "probe error"),
    # categories
    "homepage": ("首页", "homepage"),
    "news": ("动态要闻类", "news"),
    "notice": ("通知公告、政策文件类", "notice/policy"),
    "custom": ("其他", "custom"),
    "feed": ("政务新媒体账号", "feed"),
    # headings
    "title": ("{period}网站和政务新媒体监测情况报告", "Monitoring report, {period}"),
    "period_line": (
        "统计期：{start}至{end}（{zone}）。生成时间：{generated}。",
        "Period: {start} to {end} ({zone}). Generated {generated}.",
    ),
    "sec_overview": ("一、总体情况", "1. Overview"),
    "sec_verdicts": ("二、单项否决指标判定", "2. Single-veto indicators"),
    "sec_sites": ("三、各网站和政务新媒体监测情况", "3. Sites and accounts"),
    "sec_notes": ("四、说明", "4. Notes"),
    "h_availability": ("站点访问", "Availability"),
    "h_incidents": ("故障情况", "Incidents"),
    "h_latency": ("响应时间", "Latency"),
    "h_login": ("登录步骤耗时", "Login steps"),
    "h_freshness": ("信息更新", "Freshness"),
    "h_links": ("链接可用性", "Broken links"),
    "h_interaction": ("互动回应", "Interaction"),
    "h_verdicts": ("指标判定", "Verdicts"),
    "h_daily": ("每日可用率", "Daily availability"),
    "h_monthly_latency": ("月度响应时间", "Monthly latency"),
    # probe points
    "h_points": ("监测点", "Probe points"),
    "h_blind": (
        "监测点盲区（监测程序自身故障，不计入）",
        "Blind spans (the monitor's trouble, not counted)",
    ),
    "h_locations": (
        "各监测点访问情况（供参考，不计入）",
        "By location (for reference, not counted)",
    ),
    "h_suspected": (
        "疑似不连通（未达确认数，不计入）",
        "Suspected failures (below the quorum, not counted)",
    ),
    "c_shard": ("分片", "shard"),
    "c_started": ("开始", "started"),
    "c_ended": ("结束", "ended"),
    "c_worst_window": ("最差7天无法访问比例", "worst 7-day unreachable"),
    "c_confirmation": ("确认情况", "confirmation"),
    "c_first_slot": ("首个时段", "first slot"),
    "c_last_slot": ("末个时段", "last slot"),
    "c_slots": ("时段数", "slots"),
    "c_failed_at": ("失败的监测点", "failed at"),
    "official_row": ("确认（计入）", "confirmed (counted)"),
    "blind_canaries": ("哨兵目标均无法访问", "its canaries failed"),
    "blind_checks": ("几乎所有监测对象同时失败", "nearly every check failed at once"),
    "still_blind": ("至今", "still"),
    "confirmed_by": ("已确认（{locations}）", "confirmed ({locations})"),
    "suspected_at": ("疑似不连通（{locations}），不计入", "suspected ({locations}), not counted"),
    # table headers
    "c_site": ("网站/账号", "site"),
    "c_site_id": ("标识", "id"),
    "c_kind": ("类型", "kind"),
    "c_owner": ("负责单位", "owner"),
    "c_status": ("结论", "status"),
    "c_availability": ("可用率", "availability"),
    "c_probes": ("监测次数", "probes"),
    "c_failures": ("失败次数", "failures"),
    "c_outcomes": ("失败原因", "failure outcomes"),
    "c_incidents": ("故障次数", "incidents"),
    "c_downtime": ("故障总时长", "downtime"),
    "c_mttr": ("平均恢复时间", "MTTR"),
    "c_longest": ("最长故障", "longest"),
    "c_p50": ("P50", "p50"),
    "c_p95": ("P95", "p95"),
    "c_p99": ("P99", "p99"),
    "c_mean": ("平均", "mean"),
    "c_count": ("成功次数", "ok probes"),
    "c_check": ("监测项", "check"),
    "c_type": ("监测类型", "type"),
    "c_month": ("月份", "month"),
    "c_day": ("日期", "day"),
    "c_problems": ("主要问题", "main problems"),
    "c_opened": ("开始时间", "opened"),
    "c_resolved": ("恢复时间", "resolved"),
    "c_duration": ("持续时长", "duration"),
    "c_reason": ("原因", "reason"),
    "c_first_error": ("首次错误", "first error"),
    "c_maintenance": ("维护期内", "in maintenance"),
    "c_location": ("监测点", "location"),
    "c_step": ("步骤", "step"),
    "c_attempts": ("执行次数", "attempts"),
    "c_category": ("栏目类别", "category"),
    "c_allowed": ("更新期限", "allowed age"),
    "c_newest": ("最新信息日期", "newest item"),
    "c_max_age": ("最长未更新", "longest without update"),
    "c_stale": ("超期未更新时长", "time stale"),
    "c_blank_hours": ("空白（小时）", "blank (hours)"),
    "c_undated_hours": ("无日期（小时）", "undated (hours)"),
    "c_posts": ("每月发布", "posts per month"),
    "c_url": ("链接", "link"),
    "c_first_seen": ("首次发现", "first seen"),
    "c_last_seen": ("最后发现", "last seen"),
    "c_observations": ("发现次数", "times seen"),
    "c_unanswered": ("超期未回应（最多）", "overdue (max)"),
    "c_open": ("待回应（最多）", "open (max)"),
    "c_late": ("超期答复（最多）", "answered late (max)"),
    "c_median_response": ("答复时长中位数", "median response"),
    "c_indicator": ("指标", "indicator"),
    "c_evidence": ("依据", "evidence"),
    "c_slow": ("超过15秒", "slower than 15 s"),
    "c_window": ("窗口", "window"),
    "c_ratio": ("比例", "ratio"),
    "whole_period": ("全期", "whole period"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "open": ("未恢复", "open"),
    "none": ("无", "none"),
    "dash": ("—", "—"),
    # charts and the page
    "chart_no_data": ("无数据", "no data"),
    "chart_seconds": ("秒", " s"),
    "html_lang": ("zh-CN", "en"),
}


class Texts:
    """Labels and value formats for one language, times shown in one zone."""

    def __init__(self, lang: Lang, zone: tzinfo) -> None:
        if lang not in LANGS:
            raise ValueError(f"unknown language {lang!r} (zh or en)")
        self.lang: Lang = lang
        self.zone = zone
        self._i = 0 if lang == "zh" else 1

    @property
    def zh(self) -> bool:
        return self.lang == "zh"

    def __call__(self, key: str, **values: object) -> str:
        """The label `key`, with `{name}` filled from `values`; unknown keys show as is."""
        pair = _LABELS.get(key)
        text = key if pair is None else pair[self._i]
        return text.format(**values) if values else text

    # -- values ----------------------------------------------------------------------------

    def duration(self, seconds: float | None) -> str:
        """`3天4小时` / `3 d 4 h`: two units at most, rounded down to the smaller one (from the
        nearest whole second)."""
        if seconds is None:
            return self("dash")
        # Rounded to the nearest second first, everywhere, so that a downtime of 29.6 s and
        # an incident of 30 s read the same; below 10 s one decimal.
        whole = round(seconds)
        if whole < 60:
            value = f"{seconds:.1f}".rstrip("0").rstrip(".") if seconds < 9.95 else str(whole)
            return f"{value}秒" if self.zh else f"{value} s"
        days, rest = divmod(whole, 86400)
        hours, rest = divmod(rest, 3600)
        minutes = rest // 60
        units = ("天", "小时", "分钟") if self.zh else (" d", " h", " min")
        parts = [(days, units[0]), (hours, units[1]), (minutes, units[2])]
        while parts and parts[0][0] == 0:
            parts.pop(0)
        shown = parts[:2]
        if len(shown) == 2 and shown[1][0] == 0:
            shown = shown[:1]
        return ("" if self.zh else " ").join(f"{n}{u}" for n, u in shown)

    def count(self, n: int, noun: str) -> str:
        """`1 incident`, `3 incidents` (English nouns with a regular plural)."""
        return f"{n} {noun}" if n == 1 else f"{n} {noun}s"

    def detail(self, text: str, outcome: str) -> str:
        """A probe's detail in the report's language (probes write English)."""
        return detail_zh(text, self(outcome)) if self.zh else text

    def seconds(self, value: float | None) -> str:
        """A latency: `0.42 s`, `1.5 s`, `12 s`."""
        if value is None:
            return self("dash")
        digits = 3 if value < 0.1 else 2 if value < 10 else 1
        return f"{value:.{digits}f}秒" if self.zh else f"{value:.{digits}f} s"

    def percent(self, ratio: float | None, digits: int = 2) -> str:
        if ratio is None:
            return self("dash")
        return f"{ratio * 100:.{digits}f}%"

    def when(self, moment: datetime | None) -> str:
        """A moment, local: `2026-07-12 08:00`."""
        if moment is None:
            return self("dash")
        return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")

    def day(self, value: date | datetime | None) -> str:
        """A day in prose: `2026年7月12日` / `2026-07-12`."""
        if value is None:
            return self("dash")
        if isinstance(value, datetime):
            value = value.astimezone(self.zone).date()
        if self.zh:
            return f"{value.year}年{value.month}月{value.day}日"
        return value.isoformat()

    def month(self, value: date) -> str:
        return f"{value.year}年{value.month}月" if self.zh else value.strftime("%Y-%m")

    def sep(self) -> str:
        """Between items of a list in prose."""
        return "、" if self.zh else ", "

    def join(self, parts: list[str]) -> str:
        """Clauses of one sentence."""
        return ("；" if self.zh else "; ").join(parts)

    def quote(self, text: str) -> str:
        return f"“{text}”" if self.zh else f"'{text}'"


# -- sentences ---------------------------------------------------------------------------


def period_name(t: Texts, report: Report) -> str:
    """`2026年第三季度` / `2026 Q3`, or the range's label."""
    q = report.period.quarter
    if q is not None:
        return f"{q[0]}年第{'一二三四'[q[1] - 1]}季度" if t.zh else f"{q[0]} Q{q[1]}"
    return report.period.label


def site_name(site: SiteReport) -> str:
    return site.name or site.id


def _ratio(t: Texts, e: dict[str, Any]) -> str:
    return t.percent(e.get("ratio"))


def _unreachable(t: Texts, v: Verdict) -> str:
    e = v.evidence
    parts: list[str] = []
    if "window_start" in e:
        window = (
            f"{t.day(e['window_start'])}至{t.day(e['window_end'])}"
            if t.zh
            else f"{t.day(e['window_start'])} to {t.day(e['window_end'])}"
        )
        if t.zh:
            slow = f"（含成功但超过15秒{e['slow']}次）" if e.get("slow") else ""
            head = "无法访问比例最高的连续7天" if v.status is Status.PASS else "连续7天"
            parts.append(
                f"{e['check']}：{head}（{window}）共监测{e['probes']}次，"
                f"{e['failures']}次超过15秒仍无法打开{slow}，占{_ratio(t, e)}"
            )
        else:
            slow = f" ({e['slow']} of them ok but slower than 15 s)" if e.get("slow") else ""
            head = "worst 7-day window" if v.status is Status.PASS else "7-day window"
            parts.append(
                f"{e['check']}: {head} {window}, {e['failures']} of {e['probes']} probes "
                f"did not open within 15 s{slow}: {_ratio(t, e)}"
            )
    if v.status is Status.VETO:
        parts.append("达到5%否决线" if t.zh else "at or above the 5% veto line")
    elif v.status is Status.WARNING:
        parts.append("达到3%预警线" if t.zh else "at or above the 3% warning line")
    elif v.status is Status.PASS:
        parts.append("低于3%预警线" if t.zh else "below the 3% warning line")
    if e.get("short_days"):
        first = e["short_days"][0]
        if t.zh:
            parts.append(
                f"有{e['short_days_count']}天监测次数不足20次"
                f"（如{first['check']} {t.day(first['day'])}仅{first['probes']}次）"
            )
        else:
            parts.append(
                f"{e['short_days_count']} days had fewer than 20 probes "
                f"(e.g. {first['check']} on {t.day(first['day'])}: {first['probes']})"
            )
    if "timeout_below_official" in e:
        timeout = t.duration(e["timeout_below_official"])
        left_out = e.get("timeouts_not_counted", 0)
        counted = t.percent(e.get("ratio_with_timeouts"))
        parts.append(
            f"超时设置{timeout}短于15秒，超时{left_out}次不能证明15秒内无法打开，未计入"
            f"（计入则为{counted}）"
            if t.zh
            else f"the timeout of {timeout} is below 15 s: its {left_out} timeouts prove "
            f"nothing about 15 s and are not counted (counted: {counted})"
        )
    return t.join(parts)


def _unobserved(t: Texts, checks: list[str]) -> str:
    """Checks that have no observations in the period."""
    names = t.sep().join(checks)
    return f"{names}无监测数据" if t.zh else f"no observations for {names}"


def _not_updated(t: Texts, v: Verdict, what_zh: str, what_en: str) -> str:
    e = v.evidence
    parts: list[str] = []
    if "max_age_seconds" in e:
        age = t.duration(e["max_age_seconds"])
        newest = e.get("newest_item_at")
        check = e["check"]
        if t.zh:
            since = f"最新信息日期为{t.when(newest)}，" if newest else "未发现带日期的信息，"
            until = (
                f"至{t.when(e['until'])}发现更新"
                if e.get("updated")
                else f"至{t.when(e['until'])}仍未更新"
            )
            parts.append(f"{check}：{what_zh}最长{age}未更新（{since}{until}）")
        else:
            since = f"newest item {t.when(newest)}" if newest else "no dated item"
            until = (
                f"updated {t.when(e['until'])}"
                if e.get("updated")
                else f"still not updated at {t.when(e['until'])}"
            )
            parts.append(f"{check}: {what_en} not updated for up to {age} ({since}, {until})")
        limits = "否决线2周，预警线10天" if t.zh else "veto at 2 weeks, warning at 10 days"
        parts.append(limits)
    if e.get("unobserved"):
        parts.append(_unobserved(t, e["unobserved"]))
    return t.join(parts)


def _columns(t: Texts, v: Verdict) -> str:
    parts: list[str] = []
    for rule in v.evidence.get("rules", []):
        columns = t.sep().join(rule["columns"]) or t("none")
        at = t.when(rule["at"])
        if t.zh:
            what = (
                "动态要闻类超过2周、通知公告政策文件类超过6个月未更新的栏目"
                if rule["rule"] == 1
                else "超过更新期限未更新的栏目"
            )
            line = f"（{rule['rule']}）同一时间最多{rule['max_count']}个{what}"
            if rule["max_count"]:
                line += f"（{at}：{columns}）"
            line += f"，否决线{rule['threshold']}个"
        else:
            what = (
                "news columns 2 weeks and notice/policy columns 6 months without update"
                if rule["rule"] == 1
                else "columns past their allowed age"
            )
            line = f"({rule['rule']}) at most {rule['max_count']} {what} at once"
            if rule["max_count"]:
                line += f" ({at}: {columns})"
            line += f", veto at {rule['threshold']}"
        parts.append(line)
        if rule.get("unobserved"):
            parts.append(_unobserved(t, rule["unobserved"]))
    return t.join(parts)


def _blank(t: Texts, v: Verdict) -> str:
    e = v.evidence
    if not e:
        return ""
    columns = t.sep().join(e["columns"]) or t("none")
    if t.zh:
        text = f"同一时间最多{e['max_count']}个空白栏目"
        if e["max_count"]:
            text += f"（{t.when(e['at'])}：{columns}）"
        return text + "，5个（含）以上否决，超过2个预警（各栏目状态保持至其下次监测）"
    text = f"at most {e['max_count']} blank columns at once"
    if e["max_count"]:
        text += f" ({t.when(e['at'])}: {columns})"
    return text + "; veto at 5, warning above 2 (a column's state holds until its next probe)"


def _interaction(t: Texts, v: Verdict) -> str:
    e = v.evidence
    if "check" not in e:
        return _unobserved(t, e["checks"]) if e.get("checks") else ""
    limit = t.duration(e["max_unanswered_seconds"])
    oldest = e.get("oldest_unanswered_seconds")
    parts: list[str] = []
    if v.status is Status.VETO and e.get("first_seen") is not None:
        parts.append(
            f"{e['check']}：{t.when(e['first_seen'])}至{t.when(e['last_seen'])}期间发现"
            "超过3个月未回应的留言"
            if t.zh
            else f"{e['check']}: questions unanswered for more than 3 months seen from "
            f"{t.when(e['first_seen'])} to {t.when(e['last_seen'])}"
        )
    elif v.status is not Status.VETO:
        parts.append(
            f"{e['check']}：未发现超过3个月未回应的留言"
            if t.zh
            else f"{e['check']}: no question unanswered for more than 3 months"
        )
    if oldest is not None:
        parts.append(
            f"最久未回应的留言已等待{t.duration(oldest)}"
            if t.zh
            else f"the oldest unanswered question waited {t.duration(oldest)}"
        )
    slowest = e.get("slowest_answer_seconds")
    if slowest is not None and slowest > e["official_seconds"]:
        parts.append(
            f"有留言{t.duration(slowest)}后才答复（超过3个月，预警）"
            if t.zh
            else f"a question was answered only after {t.duration(slowest)} "
            "(over 3 months: a warning)"
        )
    if e.get("check_limit_reached"):
        parts.append(
            f"有留言超过本检查设定的{limit}提前预警期限（最多{e['unanswered_max']}条未回应、"
            f"{e['late_answers_max']}条迟复），按官方3个月标准仅为预警"
            if t.zh
            else f"questions passed the check's own early-warning limit of {limit} "
            f"(up to {e['unanswered_max']} unanswered, {e['late_answers_max']} answered late): "
            "a warning, the official limit is 3 months"
        )
    if e.get("limit_above_official"):
        parts.append(
            "监测期限长于3个月，可能漏判" if t.zh else "the check's limit exceeds 3 months"
        )
    return t.join(parts)


def evidence(t: Texts, v: Verdict) -> str:
    """The verdict's evidence as one sentence (with the reason when not assessable)."""
    if v.indicator == "site_unreachable":
        text = _unreachable(t, v)
    elif v.indicator == "homepage_not_updated":
        text = _not_updated(t, v, "首页", "homepage")
    elif v.indicator == "new_media_not_updated":
        text = _not_updated(t, v, "账号", "account")
    elif v.indicator == "columns_not_updated":
        text = _columns(t, v)
    elif v.indicator == "blank_columns":
        text = _blank(t, v)
    elif v.indicator == SECURITY_INDICATOR:
        text = security_evidence(t, v)
    else:
        text = _interaction(t, v)
    if v.evidence.get("reviews"):
        text = t.join([text, review_text(t, v.evidence["reviews"])])
    if v.reason is not None:
        reason = t(v.reason)
        text = t.join([reason, text]) if text else reason
    return text


def _short(t: Texts, v: Verdict) -> str:
    """A verdict in a few words, for the overview."""
    e = v.evidence
    name = t(v.indicator)
    if v.status is Status.NOT_ASSESSABLE:
        return (
            f"{name}{t('not_assessable')}（{t(v.reason or '')}）"
            if t.zh
            else (f"{name}: not assessable ({t(v.reason or '')})")
        )
    level = t(str(v.status))
    if v.indicator == "site_unreachable" and "ratio" in e:
        window = f"{t.day(e['window_start'])}至{t.day(e['window_end'])}"
        if t.zh:
            return f"{window}无法访问比例达{t.percent(e['ratio'])}（{level}）"
        return (
            f"unreachable {t.percent(e['ratio'])} of probes "
            f"{e['window_start']} to {e['window_end']} ({level})"
        )
    if v.indicator in ("homepage_not_updated", "new_media_not_updated") and "max_age_seconds" in e:
        age = t.duration(e["max_age_seconds"])
        what = "首页" if v.indicator == "homepage_not_updated" else "内容"
        if t.zh:
            return f"{what}最长{age}未更新（{level}）"
        return f"{name.lower()} for up to {age} ({level})"
    if v.indicator == "columns_not_updated":
        worst = max(e.get("rules", []), key=lambda r: r["max_count"], default=None)
        if worst is not None:
            columns = t.sep().join(worst["columns"])
            if t.zh:
                return f"{worst['max_count']}个栏目同时超期未更新（{columns}，{level}）"
            return f"{worst['max_count']} columns stale at once ({columns}; {level})"
    if v.indicator == "blank_columns":
        if t.zh:
            return f"{e.get('max_count', 0)}个空白栏目（{level}）"
        return f"{e.get('max_count', 0)} blank columns ({level})"
    if v.indicator == "poor_interaction":
        if v.status is Status.VETO:
            if t.zh:
                return f"存在超过3个月未回应的留言（{level}）"
            return f"questions unanswered for more than 3 months ({level})"
        if e.get("check_limit_reached"):
            if t.zh:
                return f"有留言超过检查设定的提前预警期限（{level}）"
            return f"questions past the check's early-warning limit ({level})"
        if t.zh:
            return f"有留言超过3个月后才答复（{level}）"
        return f"answers after more than 3 months ({level})"
    return f"{name}（{level}）" if t.zh else f"{name} ({level})"


def login_findings(t: Texts, h: LoginHealth) -> str:
    """登录不畅 N 次, 超过 X 秒; 会话掉线 N 次 (what was found, nothing when all was well)."""
    parts = []
    if h.slow_logins:
        limit = t.duration(h.slow_threshold_seconds)
        parts.append(
            f"登录不畅{h.slow_logins}次，超过{limit}"
            if t.zh
            else f"{t.count(h.slow_logins, 'sluggish login')} over {limit}"
        )
    if h.failed_logins:
        parts.append(
            f"登录失败{h.failed_logins}次" if t.zh else t.count(h.failed_logins, "failed login")
        )
    if h.sessions_dropped:
        parts.append(
            f"会话掉线{h.sessions_dropped}次"
            if t.zh
            else t.count(h.sessions_dropped, "dropped session")
        )
    if not parts:
        return ""
    return f"{h.check}：" + "，".join(parts) if t.zh else f"{h.check}: " + ", ".join(parts)


def failed_outcomes(all_counts: Iterable[dict[str, int]]) -> list[tuple[str, int]]:
    """The outcomes other than `ok`, summed over `all_counts`, the most frequent first."""
    total: dict[str, int] = {}
    for counts in all_counts:
        for outcome, n in counts.items():
            if outcome != "ok":
                total[outcome] = total.get(outcome, 0) + n
    return sorted(total.items(), key=lambda x: -x[1])


def site_problems(t: Texts, site: SiteReport) -> str:
    """The site's main problems in one sentence; empty when nothing was found."""
    found = [v for v in site.verdicts if v.status in (Status.VETO, Status.WARNING)]
    found.sort(key=lambda v: -v.status.rank)
    parts = [_short(t, v) for v in found]
    if site.incident_summary.count:
        s = site.incident_summary
        parts.append(
            f"发生故障{s.count}次，累计{t.duration(s.downtime_seconds)}"
            if t.zh
            else f"{t.count(s.count, 'outage')}, {t.duration(s.downtime_seconds)} down"
        )
    parts.extend(login_findings(t, h) for h in site.login if login_findings(t, h))
    unassessable = [v for v in site.verdicts if v.status is Status.NOT_ASSESSABLE]
    if unassessable:
        names = t.sep().join(t(v.indicator) for v in unassessable)
        parts.append(f"{names}无法判定" if t.zh else f"not assessable: {names}")
    return t.join(parts)


def overview(t: Texts, report: Report) -> str:
    """The first paragraph, in the manner of the notice's first section."""
    s = report.summary
    rate = t.percent(s.pass_rate, 1)
    if t.zh:
        scope = []
        if s.websites:
            scope.append(f"{s.websites}个网站")
        if s.accounts:
            scope.append(f"{s.accounts}个政务新媒体账号")
        text = (
            f"对照政府网站和政务新媒体检查指标，对{'和'.join(scope) or '0个网站'}"
            f"{period_name(t, report)}的站点访问、信息更新、互动回应等情况进行了全天自动化监测。"
            f"其中合格{s.passed}个（含预警{s.warned}个），不合格（单项否决）{s.failed}个，"
            f"因监测项或监测数据不足无法判定{s.not_assessable}个；合格率{rate}"
            f"（合格数占可判定的{s.decided}个的比例，无法判定的不计入）。"
        )
    else:
        scope = []
        if s.websites:
            scope.append(t.count(s.websites, "website"))
        if s.accounts:
            scope.append(t.count(s.accounts, "new-media account"))
        text = (
            f"Monitored round the clock over {period_name(t, report)} against the State "
            "Council's inspection indicators (site access, updates, interaction): "
            f"{' and '.join(scope) or 'no sites'}. {s.passed} passed ({s.warned} with warnings), "
            f"{s.failed} failed on a single-veto item, {s.not_assessable} could not be "
            f"assessed for lack of checks or data; pass rate {rate} ({s.passed} passed of the "
            f"{s.decided} that could be assessed; those not assessable are left out)."
        )
    for note in report.notes:
        text += ("" if t.zh else " ") + t(note)
    problems = [
        f"{t.quote(site_name(site))}{problem}" if t.zh else f"{site_name(site)}: {problem}"
        for site in report.sites
        if (problem := site_problems(t, site))
    ]
    if problems:
        lead = "发现的主要问题是：" if t.zh else " Main problems: "
        end = "。" if t.zh else "."
        text += lead + ("；" if t.zh else "; ").join(problems) + end
    return text


def site_heading(t: Texts, site: SiteReport, number: int) -> str:
    """`1. 某某市人民政府（city）` / `1. City (city)`."""
    if t.zh:
        return f"{number}. {site_name(site)}（{site.id}）"
    return f"{number}. {site_name(site)} ({site.id})"


def site_status(t: Texts, site: SiteReport) -> str:
    """The line under a site's heading: its status and its main problems."""
    problems = site_problems(t, site)
    status = t(str(site.status))
    if t.zh:
        return f"结论：{status}。" + (f"主要问题：{problems}。" if problems else "未发现问题。")
    return f"Status: {status}. " + (
        f"Main problems: {problems}." if problems else "No problems found."
    )


def incidents_paragraph(t: Texts, s: IncidentSummary) -> str:
    """The incidents' count, downtime, MTTR and longest, then what is listed but not downtime."""
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
    return text


def points_paragraph(t: Texts, points: Points) -> str:
    """Which locations took part, the quorum used, and that blind spans are not counted."""
    took = t.sep().join(points.locations) or t("none")
    expected = t.sep().join(points.expected) or t("none")
    n = len(points.expected)
    if t.zh:
        text = ""
        if points.several:
            text = (
                f"参与监测的监测点：{took}（应有{n}个：{expected}）。"
                f"同一时段至少{points.quorum}个监测点同时失败才确认为故障；"
                "少于此数为疑似不连通，单独列出，不计入可用率、故障和站点无法访问；"
                "有监测点缺席时，确认数按实际报告的监测点数折算。"
                "各监测点自身的访问情况列于各站点之下，供参考。"
            )
        if points.blind_spans:
            text += (
                f"监测点盲区{len(points.blind_spans)}段（监测点自身无法正常访问网络），"
                "其间该监测点的失败属于监测程序，不计入任何统计。"
            )
        return text
    parts = []
    if points.several:
        parts.append(
            f"Probed from {took} ({n} expected: {expected}). A failure counts once at least "
            f"{points.quorum} locations fail the same slot; fewer is a suspected failure, "
            "listed apart and not counted in availability, incidents or site unreachable; "
            "with a location missing, the quorum is scaled to the locations that reported. "
            "Each location's own figures are listed under each site for reference."
        )
    if points.blind_spans:
        parts.append(
            f"{t.count(len(points.blind_spans), 'blind span')}: a location could not see "
            "(its own network failed); its failures there were the monitor's and are in no "
            "figure."
        )
    return " ".join(parts)


def confirmation(t: Texts, row: IncidentRow) -> str:
    """With probe points: `已确认（ct、cu）` or `疑似不连通（ct），不计入`; empty for neither."""
    if row.suspected:
        return t("suspected_at", locations=row.location)
    if row.confirmed_by:
        return t("confirmed_by", locations=t.sep().join(row.confirmed_by))
    return ""


def login_paragraph(t: Texts, h: LoginHealth) -> str:
    """One login check's health over the period, and that it is no part of availability."""
    slowest = t.duration(h.slowest_login_seconds)
    limit = t.duration(h.slow_threshold_seconds)
    if t.zh:
        return (
            f"{h.check}：统计期内成功登录{h.logins}次，其中登录不畅（超过{limit}）"
            f"{h.slow_logins}次，最慢{slowest}；登录失败{h.failed_logins}次；"
            f"会话掉线{h.sessions_dropped}次；登录页面无法打开{h.other_failures}次。"
            "登录情况不计入站点可用率和站点无法访问。"
        )
    return (
        f"{h.check}: {t.count(h.logins, 'successful login')}, "
        f"{h.slow_logins} of them sluggish (over {limit}), slowest {slowest}; "
        f"{t.count(h.failed_logins, 'failed login')}; "
        f"{t.count(h.sessions_dropped, 'dropped session')}; "
        f"the login pages did not open {t.count(h.other_failures, 'time')}. Login health "
        "is not "
        "part of the site's availability or of site unreachable."
    )


def notes(t: Texts, report: Report) -> tuple[str, ...]:
    """The last section's items: how each figure was reached."""
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


# -- security findings and manual reviews ------------------------------------------------

_DECISION_ZH = {"exempt": "豁免", "confirm": "确认", "reject": "驳回"}
# Verdict statuses, and the statuses of a security finding (monitor.report.security).
_STATUS_ZH = {
    **{"pass": "通过", "warning": "预警", "not_assessable": "无法判定", "veto": "否决"},
    **{"suspected": "疑似", "confirmed": "已确认", "exempted": "已豁免", "rejected": "已驳回"},
}


def review_text(t: Texts, review_notes: Sequence[dict[str, Any]]) -> str:
    """`人工核查：…` for each review note: decision, who, when, why, and what it changed."""
    parts = []
    for note in review_notes:
        effect = note["effect"]
        if t.zh:
            decision = _DECISION_ZH.get(note["decision"], note["decision"])
            changed = ""
            if "->" in effect:
                before, after = effect.split("->")
                changed = f"，{_STATUS_ZH.get(before, before)}改为{_STATUS_ZH.get(after, after)}"
            parts.append(
                f"人工核查：{decision}{changed}（第{note['id']}号，{note['reviewer']}，"
                f"{t.when(note['created_at'])}；理由：{note['reason']}）"
            )
        else:
            changed = f", {effect.replace('->', ' to ')}" if "->" in effect else ""
            parts.append(
                f"manual review: {note['decision']}{changed} (#{note['id']} by "
                f"{note['reviewer']}, {t.when(note['created_at'])}; reason: {note['reason']})"
            )
    return t.join(parts)


def security_evidence(t: Texts, v: Verdict) -> str:
    """The security verdict's evidence in prose: counts, then each finding with its review."""
    e = v.evidence
    findings: list[dict[str, Any]] = e.get("findings", [])
    checks = t.sep().join(e.get("security_checks", [])) or t("dash")
    if not findings:
        if t.zh:
            return f"未发现暗链、挂马、篡改或严重表述错误（安全检查：{checks}）"
        return f"no injected link or script, defacement or wording error (checks: {checks})"
    if t.zh:
        head = (
            f"安全检查 {checks} 发现 {len(findings)} 项：疑似 {e['suspected']} 项、"
            f"确认 {e['confirmed']} 项、豁免 {e['exempted']} 项、驳回 {e['rejected']} 项"
        )
    else:
        head = (
            f"{len(findings)} findings of checks {checks}: {e['suspected']} suspected, "
            f"{e['confirmed']} confirmed, {e['exempted']} exempted, {e['rejected']} rejected"
        )
    parts = [head]
    for f in findings:
        span = f"{t.when(f['opened_at'])}–{t.when(f['resolved_at'])}"
        if t.zh:
            line = f"{_STATUS_ZH[f['status']]}：{f['check']} {span}，{f['detail']}"
        else:
            line = f"{f['status']}: {f['check']} {span}, {f['detail']}"
        if f["review"] is not None:
            note = review_text(t, [f["review"]])
            line += f"（{note}）" if t.zh else f" ({note})"
        parts.append(line)
    return t.join(parts)


# -- probe details in Chinese (probes write English) ---------------------------------------
#
# A probe's detail is English, as logs and the API keep it; the report in Chinese must be
# Chinese throughout. The details follow a small set of patterns (monitor/probes/*): each is
# matched and said again in Chinese, ids, URLs, host names and quoted page text kept as they
# are. A detail no pattern knows is replaced by its outcome's Chinese name rather than shown in
# English.

_DOING = {
    "while resolving the name (resolve)": "解析域名时",
    "while connecting (connect)": "建立连接时",
    "during the TLS handshake (tls)": "TLS握手时",
    "while waiting for response headers (processing)": "等待响应头时",
    "while reading the body (transfer)": "读取正文时",
    "after the body was read": "读取正文后",
}
_WHERE = {"before the response headers were complete": "响应头传输完成前", "mid-body": "传输正文时"}
_BRIDGE = {
    "refused": "订阅桥接服务被拒绝访问，其登录凭据或密钥已失效",
    "rate_limited": "平台拒绝了订阅桥接服务的请求（限流，或需要新的登录凭据、验证码）",
    "captcha": "订阅桥接服务返回验证码或“环境异常”页面，而非订阅内容",
    "login_expired": "订阅桥接服务的登录已过期",
}


# Text a probe quoted: 'single' (login steps) or "double" (http checks' expectations).
_QUOTED = r"""(?:'.*'|".*")"""
_QUOTED_LAZY = r"""(?:'.*?'|".*?")"""


def _seconds(text: str) -> str:
    return f"{float(text):g}秒"


def _age(text: str) -> str:
    """`45 d`, `5.5 h`, `20 min`, `15 s` (monitor.probes.freshness.show_age) in Chinese."""
    number, _, unit = text.partition(" ")
    return number + {"d": "天", "h": "小时", "min": "分钟", "s": "秒"}.get(unit, unit)


def _bridge(what: str) -> str:
    """monitor.probes.feed's bridge failures, told by their words."""
    text = what.lower()
    if "captcha" in text or "环境异常" in text:
        kind = "captcha"
    elif "expired" in text or "log in" in text:
        kind = "login_expired"
    elif "refused" in text:
        kind = "refused"
    else:
        kind = "rate_limited"
    return f"订阅桥接服务故障：{_BRIDGE[kind]}"


def _status(match: re.Match[str]) -> str:
    return f"返回状态码{match['status']}（{match['url']}），期望{match['expected']}"


# (pattern, how to say it) in the order they are tried; `rest` parts are translated again.
_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (
        re.compile(r"^step (?P<step>[\w-]+): (?P<rest>.*)$", re.S),
        lambda m: f"步骤{m['step']}：{_sub(m['rest'])}",
    ),
    (re.compile(r"^session check: (?P<rest>.*)$", re.S), lambda m: f"会话检查：{_sub(m['rest'])}"),
    (
        re.compile(
            r"^session reached max_age after (?P<age>[\d.]+ \w+); logged in afresh: (?P<rest>.*)$",
            re.S,
        ),
        lambda m: f"会话已满{_age(m['age'])}的最长保持时间，重新登录：{_sub(m['rest'])}",
    ),
    (re.compile(r"^bridge failure: (?P<what>.*)$", re.S), lambda m: _bridge(m["what"])),
    (
        re.compile(r"^timeout after (?P<s>[\d.]+)s (?P<doing>.+)$"),
        lambda m: f"{_DOING.get(m['doing'], '')}超时（{_seconds(m['s'])}）",
    ),
    (
        re.compile(r"^status (?P<status>\d+) from (?P<url>\S+), expected (?P<expected>\S+)$"),
        _status,
    ),
    (
        re.compile(r"^status (?P<status>\d+), expected (?P<expected>.+)$"),
        lambda m: f"返回状态码{m['status']}，期望{m['expected']}",
    ),
    (re.compile(r"^status (?P<status>\d+)(?P<more>.*)$"), lambda m: f"返回状态码{m['status']}"),
    (
        re.compile(rf"^body does not contain (?P<q>{_QUOTED})$", re.S),
        lambda m: f"正文中没有{_quoted(m['q'])}",
    ),
    (re.compile(r"^body does not match (?P<p>/.*/)$", re.S), lambda m: f"正文不符合规则{m['p']}"),
    (re.compile(rf"^page title (?P<q>{_QUOTED})$", re.S), lambda m: f"页面标题为{_quoted(m['q'])}"),
    (
        re.compile(rf"^page begins (?P<q>{_QUOTED})$", re.S),
        lambda m: f"页面开头为{_quoted(m['q'])}",
    ),
    (
        re.compile(
            rf"^body contains forbidden (?P<q>{_QUOTED_LAZY}): (?P<around>{_QUOTED})$", re.S
        ),
        lambda m: f"正文出现禁用内容{_quoted(m['q'])}：{_quoted(m['around'])}",
    ),
    (re.compile(r"^cannot resolve (?P<host>\S+?):.*$"), lambda m: f"无法解析域名{m['host']}"),
    (re.compile(r"^cannot resolve the name.*$"), lambda m: "无法解析域名"),
    (
        re.compile(r"^cannot connect to (?P<host>\S+?):(?P<port>\d+): (?P<why>.*)$"),
        lambda m: (
            f"无法连接{m['host']}:{m['port']}"
            + ("（连接被拒绝）" if "refused" in m["why"].lower() else "")
        ),
    ),
    (re.compile(r"^cannot connect.*$"), lambda m: "无法建立连接"),
    (
        re.compile(r"^server closed the connection (?P<where>.+)$"),
        lambda m: f"服务器在{_WHERE.get(m['where'], '交换数据时')}关闭了连接",
    ),
    (
        re.compile(
            r"^connection lost (?P<where>before the response headers were complete|mid-body).*$"
        ),
        lambda m: f"连接在{_WHERE[m['where']]}中断",
    ),
    (re.compile(r"^certificate has expired.*$"), lambda m: "证书已过期"),
    (re.compile(r"^certificate is not yet valid.*$"), lambda m: "证书尚未生效"),
    (re.compile(r"^certificate has been revoked.*$"), lambda m: "证书已被吊销"),
    (re.compile(r"^certificate is for another .*$"), lambda m: "证书与域名不符"),
    (re.compile(r"^certificate not trusted.*$"), lambda m: "证书不受信任"),
    (
        re.compile(r"^(certificate rejected|TLS handshake failed).*$"),
        lambda m: "TLS握手或证书校验失败",
    ),
    (
        re.compile(r"^session logged out after (?P<age>[\d.]+ \w+): (?P<why>.*)$", re.S),
        lambda m: f"会话在登录{_age(m['age'])}后掉线（{_sub(m['why'])}）",
    ),
    (
        re.compile(r"^redirected to the login page (?P<url>\S+)$"),
        lambda m: f"被重定向到登录页{m['url']}",
    ),
    (
        re.compile(rf"^(?P<q>{_QUOTED}) gone from the page$", re.S),
        lambda m: f"页面上的{_quoted(m['q'])}不见了",
    ),
    (
        re.compile(rf"^the site says (?P<q>{_QUOTED})$", re.S),
        lambda m: f"网站提示{_quoted(m['q'])}",
    ),
    (
        re.compile(r"^credentials refused \(status (?P<status>\d+)\)$"),
        lambda m: f"账号或密码被拒绝（状态码{m['status']}）",
    ),
    (
        re.compile(rf"^the page shows (?P<q>{_QUOTED})$", re.S),
        lambda m: f"页面出现{_quoted(m['q'])}",
    ),
    (
        re.compile(rf"^(?P<q>{_QUOTED}) not on the page$", re.S),
        lambda m: f"页面上没有{_quoted(m['q'])}",
    ),
    (re.compile(r"^nothing on the page matches .*$", re.S), lambda m: "页面内容不符合预期规则"),
    (
        re.compile(rf"^ended at (?P<url>\S+), not at (?P<q>{_QUOTED})$", re.S),
        lambda m: f"登录后停在{m['url']}，而非{_quoted(m['q'])}",
    ),
    (
        re.compile(rf"^ended at (?P<url>\S+) \(still (?P<q>{_QUOTED})\)$", re.S),
        lambda m: f"登录后仍停在{m['url']}（{_quoted(m['q'])}）",
    ),
    (
        re.compile(
            r"^newest (?:item|post) (?P<date>[\d-]+(?: [\d:]+)?) is (?P<age>[\d.]+ \w+) old.*$",
            re.S,
        ),
        lambda m: f"最新信息日期为{m['date']}，已{_age(m['age'])}未更新",
    ),
)


def _quoted(text: str) -> str:
    """`'退出登录'` or `"退出登录"` as `“退出登录”`."""
    quoted = len(text) >= 2 and text[0] == text[-1] and text[0] in "'\""
    return f"“{text[1:-1]}”" if quoted else text


def _sub(text: str) -> str:
    """A detail's inner part in Chinese, or nothing when no pattern knows it."""
    return _say(text) or ""


def _say(text: str) -> str | None:
    # Several findings joined by "; " (an http check's expectations): each on its own.
    parts = text.split("; ")
    if len(parts) > 1:
        said = [_say(part) for part in parts]
        if all(said):
            return "；".join(p for p in said if p)
    for pattern, say in _PATTERNS:
        match = pattern.match(text.strip())
        if match is not None:
            return say(match)
    return None


def detail_zh(text: str, outcome_label: str) -> str:
    """`text` in Chinese; `outcome_label` (the outcome's Chinese name) where no pattern fits."""
    said = _say(text)
    return outcome_label if said is None else said
