"""A probe's detail (English, as logs and the API keep it) told in Chinese for a zh report.

Probes write their details in English; the report in Chinese must be Chinese throughout. The
details follow a small set of patterns (monitor/probes/*): each is matched and said again in
Chinese, ids, URLs, host names and quoted page text kept as they are. A detail no pattern
knows is replaced by its outcome's Chinese name rather than shown in English.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["detail_zh"]

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
