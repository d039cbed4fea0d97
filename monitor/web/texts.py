"""The page's words in Chinese (first) and English, and how times and ages are written."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Literal

from monitor.probes.ages import age_units

Lang = Literal["zh", "en"]

# The units of monitor.probes.ages.age_units, as the Chinese pages say them.
_ZH_AGE_UNITS = {"d": "天", "h": "小时", "min": "分钟", "s": "秒"}

_WORDS: dict[str, tuple[str, str]] = {
    # zh, en
    "title": ("网站与新媒体监测", "Website and new-media monitor"),
    "overview": ("总览", "Overview"),
    "reports": ("报告", "Reports"),
    "generated": ("更新于", "As of"),
    "refresh_note": ("本页每 {seconds} 秒自动刷新", "This page refreshes every {seconds} s"),
    "risk": ("本季度否决风险", "Veto risk this quarter"),
    "risk_none": ("目前没有站点面临否决或警告。", "No site risks a veto or a warning so far."),
    "quarter_so_far": ("{quarter} 截至目前", "{quarter} so far"),
    "sites": ("网站与账号", "Sites and accounts"),
    "site": ("站点", "Site"),
    "kind": ("类型", "Kind"),
    "website": ("网站", "website"),
    "new_media": ("新媒体", "account"),
    "state": ("状态", "State"),
    "checks": ("检查项", "Checks"),
    "check": ("检查项", "Check"),
    "type": ("类型", "Type"),
    "outcome": ("结果", "Outcome"),
    "detail": ("详情", "Detail"),
    "last_probe": ("最近探测", "Last probe"),
    "duration": ("耗时", "Duration"),
    "age": ("内容时效", "Content age"),
    "age_value": ("{age} 未更新", "{age} since the newest item"),
    "week": ("近 7 天指标", "Indicators, last 7 days"),
    "unreachable": ("无法访问比例", "Unreachable"),
    "unreachable_limits": ("警告 3%，否决 5%", "warning 3 %, veto 5 %"),
    "homepage_age": ("首页更新", "Homepage updated"),
    "column_ages": ("栏目更新", "Columns updated"),
    "last_post": ("最近发文", "Last post"),
    "unanswered": ("超期未答复留言", "Questions unanswered"),
    "ago": ("{age}前", "{age} ago"),
    "limit": ("限 {age}", "limit {age}"),
    "verdict": ("季度结论", "Quarter verdict"),
    "open_incidents": ("未恢复的故障", "Open incidents"),
    "no_open_incidents": ("没有未恢复的故障。", "No open incident."),
    "incidents": ("故障记录", "Incidents"),
    "no_incidents": ("没有故障记录。", "No incident recorded."),
    "opened": ("开始", "Opened"),
    "resolved": ("恢复", "Resolved"),
    "still_open": ("未恢复", "open"),
    "reason": ("原因", "Reason"),
    "failures": ("失败次数", "Failures"),
    "first_error": ("首次错误", "First error"),
    "last_error": ("最近错误", "Last error"),
    "maintenance": ("维护期内", "during maintenance"),
    "login_steps": ("登录步骤耗时", "Login step latency"),
    "step": ("步骤", "Step"),
    "no_store": (
        "数据库暂不可用：故障与历史数据稍后显示，当前状态照常更新。",
        "The database is not available: incidents and history will follow; the current state "
        "is live.",
    ),
    "no_history": ("暂无历史数据。", "No history yet."),
    "availability_90": ("近 90 天可用性", "Availability, last 90 days"),
    "freshness": ("栏目时效", "Column freshness"),
    "column": ("栏目", "Column"),
    "newest_item": ("最新内容", "Newest item"),
    "allowed": ("时限", "Allowed"),
    "max_age": ("期间最长未更新", "Longest without update"),
    "broken_links": ("失效链接", "Broken links"),
    "no_broken_links": ("没有发现失效链接。", "No broken link found."),
    "link": ("链接", "Link"),
    "seen": ("发现时间", "Seen"),
    "interaction": ("互动回应", "Public questions"),
    "open_questions": ("待答复", "Open"),
    "median_response": ("答复用时中位数", "Median response"),
    "back": ("返回总览", "Back to the overview"),
    "unknown_site": ("没有这个站点：{site}", "No such site: {site}"),
    "report_pick": ("选择季度或日期范围", "Pick a quarter or a range"),
    "quarter": ("季度", "Quarter"),
    "from": ("起", "From"),
    "to": ("止", "To"),
    "language": ("语言", "Language"),
    "show": ("生成", "Show"),
    "download": ("下载", "Download"),
    "csv_all": ("CSV（全部表格，zip）", "CSV (every table, zip)"),
    "report_of": ("报告：{label}", "Report: {label}"),
    "denied": ("需要登录", "Sign-in needed"),
    "denied_token": (
        "请使用管理员提供的访问令牌（网址后加 ?token=…）。",
        "Use the access token you were given (add ?token=… to the address).",
    ),
    "denied_public": (
        "本监测服务监听在非本机地址上，但没有配置访问控制，因此不提供网页。请在配置中设置 "
        "server.access（token 或 username/password），或用 server.access.public: true 明确公开。",
        "This monitor listens on an address other than loopback and has no access control, so "
        "it serves no pages. Set server.access (a token, or username and password) in the "
        "config, or server.access.public: true to publish them on purpose.",
    ),
    # probe points
    "points": ("监测点", "Probe points"),
    "location": ("监测点", "Location"),
    "point_state": ("状态", "State"),
    "point_up": ("正常", "up"),
    "point_blind": ("盲区（监测点自身无法访问网络）", "blind (the location cannot see)"),
    "point_missing": ("缺席（未报告）", "missing (not reporting)"),
    "last_seen": ("最近报告", "Last seen"),
    "blind_since": ("盲区开始", "Blind since"),
    "points_note": (
        "共 {n} 个监测点，同一时段至少 {quorum} 个失败才确认为故障并告警；少于此数为疑似不连通，"
        "只显示、不告警；缺席的监测点不计入。",
        "{n} locations: a failure is confirmed, and pages, when at least {quorum} of them fail "
        "at once; fewer is suspected, shown and never paged; a missing location does not count.",
    ),
    "blind_here": (
        "本监测点（{location}）处于盲区：它的哨兵目标也无法访问，这里看到的失败属于监测程序自身，"
        "不是网站故障，已通知监测运维。",
        "This location ({location}) is blind: its canaries fail too, so the failures it sees are "
        "the monitor's trouble, not the sites'; the monitor's owner is paged.",
    ),
    "blind_check": ("本监测点盲区，结果不计", "this location is blind: not counted"),
    "confirmed_incidents": ("已确认的故障", "Confirmed incidents"),
    "agreed": ("确认的监测点", "Locations that agreed"),
    "confirmed_by": ("已确认（{locations}）", "confirmed ({locations})"),
    "suspected_at": ("疑似不连通（{locations}）", "suspected ({locations})"),
    "confirmation": ("确认情况", "Confirmation"),
    "mark_confirmed": ("已确认", "confirmed"),
    "mark_suspected": ("疑似不连通，未告警", "suspected, not paged"),
    # states
    "state_up": ("正常", "up"),
    "state_down": ("故障", "down"),
    "state_pending": ("等待探测", "pending"),
    "state_stale": ("未及时更新", "stale"),
    "state_suspected": ("疑似不连通", "suspected"),
    "state_finding": ("需处理", "attention"),
    # outcomes (the closed set of monitor.results.Outcome)
    "outcome_ok": ("正常", "ok"),
    "outcome_dns_error": ("域名解析失败", "DNS error"),
    "outcome_connect_error": ("连接失败", "connection failed"),
    "outcome_timeout": ("超时", "timeout"),
    "outcome_tls_error": ("证书或加密错误", "TLS error"),
    "outcome_dropout": ("连接中断", "dropped connection"),
    "outcome_http_error": ("HTTP 错误", "HTTP error"),
    "outcome_content_mismatch": ("内容异常", "content mismatch"),
    "outcome_login_failed": ("登录失败", "login failed"),
    "outcome_session_dropped": ("会话掉线", "session dropped"),
    "outcome_stale": ("未及时更新", "stale"),
    "outcome_broken_links": ("链接失效", "broken links"),
    "outcome_unanswered": ("留言超期未答复", "unanswered questions"),
    "outcome_compromised": ("疑似暗链、挂马或篡改（待人工核查）", "suspected compromise"),
    "outcome_probe_error": ("监测程序错误", "monitor error"),
    # verdicts
    "status_pass": ("合格", "pass"),
    "status_warning": ("警告", "warning"),
    "status_veto": ("否决", "veto"),
    "status_not_assessable": ("无法判定", "not assessable"),
}


class Texts:
    """Words and formats of one language, in one time zone."""

    def __init__(self, lang: Lang, zone: tzinfo) -> None:
        self.lang: Lang = lang
        self.zone = zone

    def __call__(self, key: str, **values: object) -> str:
        zh, en = _WORDS[key]
        text = zh if self.lang == "zh" else en
        return text.format(**values) if values else text

    def outcome(self, name: str | None) -> str:
        """An outcome's name for people; an unknown one as it is."""
        if name is None:
            return "—"
        return self(f"outcome_{name}") if f"outcome_{name}" in _WORDS else name

    def when(self, moment: datetime | str | None) -> str:
        """A moment in the configured zone, to the minute."""
        if moment is None:
            return "—"
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")

    def age(self, seconds: float | None) -> str:
        """A span as people say it: 20 天 / 20 d, 5.5 小时 / 5.5 h, 12 分钟 / 12 min, 8 秒 / 8 s
        (rounded as the probes' details say ages: monitor.probes.ages.age_units)."""
        if seconds is None:
            return "—"
        value, unit = age_units(seconds)
        return f"{value} {_ZH_AGE_UNITS[unit] if self.lang == 'zh' else unit}"

    def seconds(self, value: float | None) -> str:
        """A latency: 0.234 s, 12.3 s."""
        if value is None:
            return "—"
        return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"

    def percent(self, ratio: float | None) -> str:
        return "—" if ratio is None else f"{ratio * 100:.2f} %"
