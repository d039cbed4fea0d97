"""Sentences: a verdict's evidence, a site's main problems, the overview paragraph."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from monitor.report.model import LoginHealth, Report, SiteReport, Status, Verdict
from monitor.report.reviews import review_text
from monitor.report.security import SECURITY_INDICATOR, security_evidence
from monitor.report.texts import Texts

__all__ = [
    "evidence",
    "failed_outcomes",
    "login_findings",
    "overview",
    "period_name",
    "site_name",
    "site_problems",
]


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
