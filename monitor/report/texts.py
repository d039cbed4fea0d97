"""Words of the report in Chinese (the notice's register) and English, and how values read.

`Texts(lang, zone)` formats durations, times and ratios and holds every label; the sentences
that state a verdict's evidence are built in `phrases.py` from these.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Literal

from monitor.report.details import detail_zh

__all__ = ["LANGS", "Lang", "Texts"]

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
