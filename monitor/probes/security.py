"""`security`: a page that answers but is compromised (安全、泄密事故).

The usual attack on a government site is not a dead server but a page that still answers 200
and now carries hidden gambling or pornography links (暗链), a script that sends visitors
elsewhere (挂马), a replaced homepage (defacement), or a serious wording error (严重表述错误).
Every finding is *suspected* until a person confirms it (`monitor review`).

What a probe looks for:

- **Injected links:** links the visitor cannot see (inline style, a `hidden` attribute or a
  class of the page's own `<style>`: `display:none`, `visibility:hidden`, `opacity:0`,
  off-screen positioning, zero size, `font-size:0`, the same colour as the background, a
  zero-height `<marquee>`; links written by `document.write`) pointing outside the allowed
  domains or carrying vocabulary; and visible links outside the allowed domains whose text, title
  or URL carries at least `min_score` words of the vocabulary. Text is folded (NFKC: full-width
  to half-width, case, spaces and separators dropped) and URLs are percent-decoded as UTF-8 and
  as GBK before matching.
- **Injected scripts and redirects:** `<script src>`, `<iframe>`/`<frame>`, `<meta http-equiv=
  refresh>` and JavaScript location changes (`location = '…'`, `location.replace(…)`,
  `window.open(…)`) pointing outside the allowed domains; external script domains that were not
  in the baseline.
- **Defacement:** the baseline of the page's stable parts (title, the structure fingerprint: the
  set of element paths with ids and classes, digits folded; the text of stable regions such as
  header, navigation and footer) is taken at the first probe, or read from `defacement.
  baseline_file` (written there at the first probe when missing). A changed title, a keyword of
  `defacement.keywords` missing, or a structure or stable-text similarity below
  `defacement.threshold` is a suspected defacement. News lists change their items, not their
  structure, so daily updates do not trigger it.
- **Wording errors:** `wording: [{wrong, right}]`, matched in the page's text.

The page is hostile: it is parsed with bounds (the fetch's `max_body_size`, the parser's nesting
bound, `max_links`, bounded script, style and text scans), never executed, and everything of it
that reaches a detail is cut short and has control, format and markup characters escaped.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote_to_bytes

from pydantic import Field
from selectolax.lexbor import LexborHTMLParser, LexborNode
from yarl import URL

from monitor.configtypes import Model
from monitor.measurements import SecurityMeasurement
from monitor.probes.base import ProbeContext, ProbeRun, first_few
from monitor.probes.extract import Css, parse_html
from monitor.probes.httpclient import FetchError
from monitor.probes.page import (
    PageCheck,
    body_text,
    fetch_page,
    read_fetched,
)
from monitor.results import Outcome, ProbeResult

__all__ = [
    "DEFAULT_VOCABULARY",
    "Baseline",
    "Finding",
    "PageReading",
    "SecurityCheck",
    "compare_baseline",
    "fold",
    "probe",
    "read_page",
    "safe_text",
]

# Words of gambling, pornography and fraud sites as injected links carry them, simplified and
# traditional. Words that honest government news uses too (赌博 in "打击网络赌博", 彩票 of the
# welfare lottery) are left out: only links outside the allowed domains or hidden ones are
# scored, but a hidden menu of the site's own news must not look like an injection.
DEFAULT_VOCABULARY: tuple[str, ...] = (
    # gambling
    *("博彩", "赌场", "賭場", "娱乐城", "娛樂城", "百家乐", "百家樂", "六合彩", "时时彩"),
    *("時時彩", "老虎机", "老虎機", "真人荷官", "赌球", "賭球", "网上赌", "網上賭", "棋牌游戏"),
    *("澳门赌", "澳門賭", "威尼斯人", "葡京", "太阳城", "太陽城", "足球投注", "体育投注"),
    *("彩金", "首存", "注册送", "下注", "bet365", "casino", "baccarat", "sportsbet"),
    # pornography
    *("色情", "成人视频", "成人影片", "成人電影", "黄色网站", "黃色網站", "av女优", "無碼"),
    *("无码", "一夜情", "约炮", "約炮", "裸聊", "伦理片", "倫理片", "porn", "hentai"),
    # fraud and illegal trade
    *("代开发票", "代開發票", "办证", "辦證", "刷单", "刷單", "信用卡套现", "网赚", "代孕"),
    *("私服", "迷药", "迷藥", "枪支", "槍支", "裸贷", "高利贷", "洗钱"),
)

# Bounds on what one page may make the parser do (besides max_body_size and nesting).
_MAX_STYLE_TEXT = 256 * 1024  # of all <style> blocks together
_MAX_SCRIPT_TEXT = 1024 * 1024  # of all inline scripts together
_MAX_WRITES = 200  # document.write calls read
_MAX_WRITE_ARGS = 16 * 1024  # characters of one document.write call
_MAX_WRITTEN = 1024 * 1024  # characters of all document.write calls of a page together
_MAX_SCRIPTS = 1000  # <script src>, <iframe> and <meta refresh> elements read
_MAX_HREF = 2048
_LINK_TEXT = 512  # of one link's text
_SKELETON_DEPTH = 10  # element paths below this depth are content, not layout
_MAX_SKELETON = 4000  # paths kept in a fingerprint
_STABLE_TEXT = 16 * 1024  # characters of the stable regions kept
_DETAIL_LIST = 5  # findings shown in the detail
# Findings kept in the result (and so in the database) per probe; `security_findings` counts
# them all. A hostile page of thousands of hidden links must not store megabytes a probe.
_KEPT_FINDINGS = 100
_SHOWN = 120  # characters of one page text shown

_DEFAULT_REGIONS = (
    "header",
    "nav",
    "footer",
    "[role=banner]",
    "[role=navigation]",
    "[role=contentinfo]",
    "#header",
    "#nav",
    "#footer",
    ".header",
    ".nav",
    ".footer",
)
# Elements that carry content rather than layout: left out of the structure fingerprint, so a
# news list with other items (or more of them) has the same fingerprint.
_CONTENT_TAGS = frozenset(
    (
        *("a", "b", "i", "u", "s", "em", "strong", "span", "font", "br", "img", "small", "sup"),
        *("sub", "li", "dt", "dd", "p", "td", "th", "tr", "tbody", "label", "option", "input"),
        *("button", "code", "script", "noscript", "style", "link", "meta"),
    )
)
_SKIPPED_SCHEMES = ("javascript:", "mailto:", "tel:", "data:", "about:", "#", "sms:")


class WordingRule(Model):
    """A serious wording error: a wrong form and the right one."""

    wrong: str = Field(min_length=1, max_length=200)
    right: str = Field(default="", max_length=200)


class DefacementSpec(Model):
    """How a page is compared with its baseline."""

    # Where the baseline is kept: read at start, written at the first probe when missing.
    baseline_file: Path | None = None
    # Lowest similarity (0..1) of structure and of stable-region text still taken as the page.
    threshold: float = Field(default=0.6, gt=0, le=1)
    regions: tuple[Css, ...] = _DEFAULT_REGIONS
    # Words the page must carry (the site's name): one missing is a suspected defacement.
    keywords: tuple[str, ...] = ()
    # A title other than the baseline's is a suspected defacement.
    title: bool = True


class SecurityCheck(PageCheck):
    type: str = "security"
    # One probe that finds an injection is evidence enough: it does not flap like a network.
    failure_threshold: int | None = Field(default=1, ge=1)
    # Domains besides the page's own (and its subdomains) that links, scripts, frames and
    # redirects may point to; a name covers its subdomains. gov.cn names are the government's.
    allowed_domains: tuple[str, ...] = ("gov.cn",)
    vocabulary: tuple[str, ...] = DEFAULT_VOCABULARY
    extra_vocabulary: tuple[str, ...] = ()
    # Vocabulary words a visible link outside the allowed domains needs to be suspicious.
    min_score: int = Field(default=1, ge=1)
    max_links: int = Field(default=5000, ge=1, le=100_000)
    defacement: DefacementSpec | None = DefacementSpec()
    wording: tuple[WordingRule, ...] = ()

    def words(self) -> tuple[str, ...]:
        """The vocabulary, folded, without duplicates or empty words."""
        folded = (fold(word) for word in (*self.vocabulary, *self.extra_vocabulary))
        return tuple(dict.fromkeys(word for word in folded if word))


FindingKind = Literal[
    "hidden_link",
    "external_link",
    "script",
    "iframe",
    "meta_refresh",
    "js_redirect",
    "defacement",
    "wording",
]


@dataclass(frozen=True, slots=True)
class Finding:
    """One suspected compromise: what (`target`), why (`reason`), where it sits (`where`).

    Every text is already safe (`safe_text`). `rule` is what a review names (`kind`).
    """

    kind: FindingKind
    target: str
    reason: str
    where: str

    def describe(self) -> str:
        return f"{self.kind.replace('_', ' ')} {self.target} ({self.reason}) at {self.where}"

    def to_json(self) -> dict[str, str]:
        return {**asdict(self), "status": "suspected"}


@dataclass(frozen=True, slots=True)
class Baseline:
    """The stable parts of a page, to tell a defacement from a day's news."""

    title: str
    skeleton: frozenset[str]
    stable_text: str
    script_hosts: frozenset[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "title": self.title,
            "skeleton": sorted(self.skeleton),
            "stable_text": self.stable_text,
            "script_hosts": sorted(self.script_hosts),
        }

    @classmethod
    def from_json(cls, data: Any) -> Baseline:
        if not isinstance(data, dict) or data.get("version") != 1:
            raise ValueError("not a version 1 security baseline")
        return cls(
            title=str(data["title"]),
            skeleton=frozenset(map(str, data["skeleton"])),
            stable_text=str(data["stable_text"]),
            script_hosts=frozenset(map(str, data["script_hosts"])),
        )


@dataclass(slots=True)
class PageReading:
    """What the parser found on one page (picklable: it comes back from the parser process)."""

    findings: list[Finding]
    baseline: Baseline
    # External script hosts with where each first sits, for the baseline comparison.
    scripts: dict[str, str] = field(default_factory=dict)
    text: str = ""
    links_examined: int = 0
    links_total: int = 0


# --- safe text and folding -----------------------------------------------------------------

# Characters of page text that would be markup, table syntax or quoting somewhere downstream.
# Not the backslash: escaping is then idempotent (a finding's text is made safe once more as
# it is stored) and `\x3c` stays readable.
_ESCAPED = {ord(c): f"\\x{ord(c):02x}" for c in "<>&\"'`|"}


def safe_text(text: str, limit: int = _SHOWN) -> str:
    """Page text fit for a detail, a log, a web page or a report: control and format characters
    (terminal escapes, bidi overrides, zero-width) and markup characters escaped, cut short."""
    cut = text[:limit]
    if cut.isprintable():  # no control, format or separator character: the common case
        shown = " ".join(cut.translate(_ESCAPED).split())
    else:
        out = []
        for char in cut:
            if char in "\t\n\r":
                out.append(" ")
            elif unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"):
                out.append(f"\\u{ord(char):04x}")
            else:
                out.append(char.translate(_ESCAPED))
        shown = " ".join("".join(out).split())
    return shown + ("…" if len(text) > limit else "")


# Dropped before matching: whitespace, zero-width characters and the separators injected text
# puts between characters to dodge filters (澳.门.赌.场, 博-彩).
_SEPARATORS = re.compile(r"[\s\u200b-\u200f\u2060\ufeff._\-·•*|~/\\,'\"+]+")


def fold(text: str) -> str:
    """Text as the vocabulary is matched: NFKC (full-width to half-width), lower case,
    separators dropped."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text).lower())


def _decoded_url(url: str) -> str:
    """A URL with its percent-escapes decoded as UTF-8 and as GBK (both forms, joined)."""
    raw = unquote_to_bytes(url[:_MAX_HREF])
    forms = {raw.decode("utf-8", errors="ignore"), raw.decode("gb18030", errors="ignore")}
    return " ".join(sorted(forms))


def _hits(words: tuple[str, ...], *texts: str) -> list[str]:
    folded = fold(" ".join(texts))
    return [word for word in words if word in folded]


# --- hosts ---------------------------------------------------------------------------------


def _bare(host: str | None) -> str:
    return (host or "").lower().rstrip(".").removeprefix("www.")


class _Domains:
    """Which hosts are the site's own and which are allowed."""

    def __init__(self, page_url: str, allowed: Iterable[str]) -> None:
        self.own = _bare(URL(page_url).host)
        self.allowed = tuple(_bare(name) for name in allowed if _bare(name))

    @staticmethod
    def _under(host: str, name: str) -> bool:
        return host == name or host.endswith("." + name)

    def is_own(self, host: str | None) -> bool:
        return bool(self.own) and self._under(_bare(host), self.own)

    def is_allowed(self, host: str | None) -> bool:
        bare = _bare(host)
        return self.is_own(bare) or any(self._under(bare, name) for name in self.allowed)


_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:")


def _relative(raw: str) -> bool:
    """Whether `raw` is a path on the page's own host (no scheme, not `//host`): most links
    are, and they need no URL parsing to know their host."""
    raw = raw.strip()
    return bool(raw) and not raw.startswith(("//", "\\\\", "#")) and _SCHEME.match(raw) is None


def _absolute(base: URL, raw: str) -> URL | None:
    """`raw` resolved against `base`, if it is an http(s) URL with a host."""
    raw = raw.strip()
    if not raw or len(raw) > _MAX_HREF or raw.lower().startswith(_SKIPPED_SCHEMES):
        return None
    try:
        url = base.join(URL(raw)).with_fragment(None)
    except (ValueError, TypeError):
        return None
    return url if url.scheme in ("http", "https") and url.host else None


# --- styles --------------------------------------------------------------------------------

_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
# `.name`, `div#name`, and `.name a` / `#name > a` (the links inside it: only links are judged,
# so the rule is taken as the element's own).
_SIMPLE_SELECTOR = re.compile(
    r"^[a-z0-9]*([.#][\w-]+)(?:\s*>?\s*a(?::link|:visited)?)?$", re.IGNORECASE
)
_LENGTH = re.compile(r"^(-?\d*\.?\d+)\s*(px|em|rem|pt|%|vw|vh)?$")
_OFF_SCREEN = ("left", "top", "right", "margin-left", "margin-top", "text-indent")
_NAMED_COLOURS = {
    "white": "#ffffff",
    "black": "#000000",
    "red": "#ff0000",
    "blue": "#0000ff",
    "green": "#008000",
    "yellow": "#ffff00",
    "gray": "#808080",
    "grey": "#808080",
    "silver": "#c0c0c0",
}
_RGB = re.compile(r"^rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*(?:,\s*[\d.]+\s*)?\)$")


def _declarations(style: str) -> dict[str, str]:
    """An inline style or rule body as {property: value}, lower case, `!important` dropped."""
    out: dict[str, str] = {}
    for part in style[:4000].split(";"):
        name, sep, value = part.partition(":")
        if sep:
            out[name.strip().lower()] = value.lower().replace("!important", "").strip()
    return out


def _pixels(value: str) -> float | None:
    match = _LENGTH.match(value.strip())
    if match is None:
        return None
    number = float(match.group(1))
    unit = match.group(2) or "px"
    scale = {"px": 1.0, "em": 16.0, "rem": 16.0, "pt": 4 / 3, "%": 10.0, "vw": 10.0, "vh": 10.0}
    return number * scale[unit]


def _colour(value: str | None) -> str | None:
    """A CSS colour in one form (`#rrggbb`), or None if it is not a plain colour."""
    if not value:
        return None
    value = value.strip().lower().split()[0] if value.strip() else ""
    if value in _NAMED_COLOURS:
        return _NAMED_COLOURS[value]
    if re.fullmatch(r"#[0-9a-f]{3}", value):
        return "#" + "".join(c * 2 for c in value[1:])
    if re.fullmatch(r"#[0-9a-f]{6}", value):
        return value
    if match := _RGB.match(value):
        return "#" + "".join(f"{min(int(n), 255):02x}" for n in match.groups())
    return None


def _hiding(decls: dict[str, str]) -> str | None:
    """Why these declarations make an element invisible, or None."""
    if not decls:
        return None
    if decls.get("display") == "none":
        return "display:none"
    if decls.get("visibility") in ("hidden", "collapse"):
        return f"visibility:{decls['visibility']}"
    if decls.get("opacity", "").strip() in ("0", "0.0", ".0"):
        return "opacity:0"
    font = _pixels(decls.get("font-size", ""))
    if font is not None and font <= 0.5:
        return "font-size:0"
    for name in _OFF_SCREEN:
        offset = _pixels(decls.get(name, ""))
        if offset is not None and offset <= -500:
            return f"off-screen ({name}:{decls[name]})"
    height = _pixels(decls.get("height", ""))
    width = _pixels(decls.get("width", ""))
    tiny_h = height is not None and height <= 1
    tiny_w = width is not None and width <= 1
    if (tiny_h and tiny_w) or ((tiny_h or tiny_w) and decls.get("overflow") == "hidden"):
        return "zero size"
    return None


@dataclass(frozen=True, slots=True)
class _Look:
    """How an element shows: why it is hidden (and on which element), its colours.

    Also what one class rule of the page's `<style>` says (the hiding without an element)."""

    hidden: str | None
    colour: str | None
    background: str | None


def _class_rules(doc: LexborHTMLParser) -> dict[str, _Look]:
    """The page's own `.class` and `#id` rules that hide or colour, by `.name` / `#name`."""
    text = "".join(node.text() or "" for node in doc.css("style"))[:_MAX_STYLE_TEXT]
    rules: dict[str, _Look] = {}
    # Split, not a regex over the text: linear whatever braces a hostile page holds.
    for block in _CSS_COMMENT.sub("", text).split("}"):
        selectors, brace, body = block.rpartition("{")
        if not brace:
            continue
        decls = _declarations(body)
        rule = _Look(
            _hiding(decls),
            _colour(decls.get("color")),
            _colour(decls.get("background-color") or decls.get("background")),
        )
        if rule == _Look(None, None, None):
            continue
        for selector in selectors.split(","):
            if match := _SIMPLE_SELECTOR.match(selector.strip()[-200:]):
                rules[match.group(1).lower()] = rule
    return rules


# The attributes that can hide or colour an element (besides a <marquee>'s size).
_LOOK_ATTRIBUTES = frozenset(("style", "class", "id", "hidden", "color", "bgcolor"))


class _Styles:
    """Inherited visibility and colours of elements, each computed once (memoised by node)."""

    def __init__(self, doc: LexborHTMLParser) -> None:
        self.rules = _class_rules(doc)
        self.memo: dict[int, _Look] = {}
        body = doc.body
        page_bg = _colour(body.attributes.get("bgcolor")) if body is not None else None
        self.root = _Look(None, None, page_bg or "#ffffff")

    def _own(self, node: LexborNode, inherited: _Look) -> _Look:
        attrs = node.attributes
        if node.tag != "marquee" and _LOOK_ATTRIBUTES.isdisjoint(attrs):
            return inherited  # nothing that changes how it shows: most elements
        decls = _declarations(attrs.get("style") or "")
        hidden = _hiding(decls)
        colour = _colour(decls.get("color")) or _colour(
            attrs.get("color") if node.tag == "font" else None
        )
        background = _colour(decls.get("background-color") or decls.get("background"))
        background = background or _colour(attrs.get("bgcolor"))
        if hidden is None and "hidden" in attrs:
            hidden = "hidden attribute"
        if hidden is None and node.tag == "marquee":
            sizes = [
                _pixels(v)
                for v in (attrs.get("height"), attrs.get("width"), decls.get("height"))
                if v
            ]
            if any(size is not None and size <= 1 for size in sizes):
                hidden = "inside a zero-height <marquee>"
        names = [f".{c.lower()}" for c in (attrs.get("class") or "").split()[:20]]
        if attrs.get("id"):
            names.append(f"#{(attrs.get('id') or '').lower()}")
        for name in names:
            rule = self.rules.get(name)
            if rule is not None:
                if hidden is None and rule.hidden is not None:
                    hidden = f"class {name} hides it ({rule.hidden})"
                colour = colour or rule.colour
                background = background or rule.background
        if hidden is not None:
            hidden = f"{hidden} on {_node_name(node)}"
        return _Look(
            inherited.hidden or hidden,
            colour or inherited.colour,
            background or inherited.background,
        )

    def look(self, node: LexborNode) -> _Look:
        chain: list[LexborNode] = []
        current: LexborNode | None = node
        inherited = self.root
        while current is not None and current.tag and not current.tag.startswith("-"):
            known = self.memo.get(current.mem_id)
            if known is not None:
                inherited = known
                break
            chain.append(current)
            current = current.parent
        for element in reversed(chain):
            inherited = self.memo[element.mem_id] = self._own(element, inherited)
        return inherited


def _node_name(node: LexborNode) -> str:
    attrs = node.attributes
    name = node.tag or "?"
    if attrs.get("id"):
        name += f"#{attrs.get('id')}"
    classes = (attrs.get("class") or "").split()[:2]
    name += "".join(f".{c}" for c in classes)
    return safe_text(name, 60)


def _where(node: LexborNode, origin: str = "") -> str:
    """Where an element sits: its last few ancestors, innermost last."""
    names: list[str] = []
    current: LexborNode | None = node
    while (
        current is not None and current.tag and not current.tag.startswith("-") and len(names) < 5
    ):
        names.append(_node_name(current))
        current = current.parent
    path = " > ".join(reversed(names))
    return f"{path} ({origin})" if origin else path


# --- scripts: document.write and location changes ------------------------------------------

_WRITE = re.compile(r"document\s*\.\s*write(?:ln)?\s*\(")
_JS_STRING = re.compile(
    r"""'((?:[^'\\\n]|\\.){0,8192})'|"((?:[^"\\\n]|\\.){0,8192})"|`([^`]{0,8192})`"""
)
_JS_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|.)", re.DOTALL)
_LOCATION = re.compile(
    r"""(?:location(?:\s*\.\s*href)?\s*=(?!=)|location\s*\.\s*(?:replace|assign)\s*\(|"""
    r"""window\s*\.\s*open\s*\()\s*(['"])([^'"\n]{1,2048})\1"""
)
_REFRESH_URL = re.compile(r"url\s*=\s*['\"]?([^'\";]+)", re.IGNORECASE)


def _js_unescape(literal: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] in "xu" and len(code) > 1:
            return chr(int(code[1:], 16))
        return {"n": "\n", "t": "\t", "r": "\r"}.get(code, code)

    return _JS_ESCAPE.sub(one, literal)


def _written_html(script: str, budget: list[int]) -> Iterator[str]:
    """The HTML each `document.write(...)` of a script writes: its string literals joined,
    escapes decoded, `unescape(...)` percent-decoded. Read, never run. `budget[0]` is the
    number of characters of calls still to be read on this page."""
    for count, match in enumerate(_WRITE.finditer(script)):
        if count >= _MAX_WRITES or budget[0] <= 0:
            return
        args = script[match.end() : match.end() + min(_MAX_WRITE_ARGS, budget[0])]
        args = args[: _call_end(args)]
        budget[0] -= len(args) + 1
        parts = [
            _js_unescape(next(g for g in m.groups() if g is not None))
            for m in _JS_STRING.finditer(args)
        ]
        text = "".join(parts)
        if "unescape(" in args or "decodeURIComponent(" in args:
            text = unquote_to_bytes(text).decode("utf-8", errors="replace")
        if text:
            yield text


_CALL_TOKEN = re.compile(r"[()'\"`;]")


def _call_end(args: str) -> int:
    """Where the call whose arguments `args` starts closes (outside string literals)."""
    depth = 0
    index = 0
    while (token := _CALL_TOKEN.search(args, index)) is not None:
        index = token.start()
        char = args[index]
        if char in "'\"`":
            match = _JS_STRING.match(args, index)
            index = match.end() if match else index + 1
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                return index
            depth -= 1
        elif depth == 0:  # ";"
            return index
        index += 1
    return len(args)


# --- reading a page ------------------------------------------------------------------------


class _Reader:
    """One pass over a page (and the HTML its scripts write) collecting findings."""

    def __init__(self, check: SecurityCheck, page_url: str) -> None:
        self.check = check
        self.base = URL(page_url)
        self.domains = _Domains(page_url, check.allowed_domains)
        self.words = check.words()
        self.findings: list[Finding] = []
        self.scripts: dict[str, str] = {}
        self.links_total = 0
        self.links_examined = 0
        self.script_budget = _MAX_SCRIPT_TEXT
        self.write_budget = [_MAX_WRITTEN]

    def add(self, kind: FindingKind, target: str, reason: str, where: str) -> None:
        self.findings.append(Finding(kind, safe_text(target, 200), reason, where))

    def read(self, doc: LexborHTMLParser, origin: str = "") -> None:
        base = self.base
        base_tag = doc.css_first("base[href]")
        if base_tag is not None:
            joined = _absolute(self.base, base_tag.attributes.get("href") or "")
            base = joined or base
        self._links(doc, base, origin)
        self._embeds(doc, base, origin)
        if not origin:  # what a script writes is read once, not again for what it writes
            self._scripts(doc, base)

    def _links(self, doc: LexborHTMLParser, base: URL, origin: str) -> None:
        styles = _Styles(doc)
        # Relative links are the base's: the site's own unless a <base> points elsewhere.
        base_allowed = self.domains.is_allowed(base.host)
        for node in doc.css("a[href], area[href]"):
            self.links_total += 1
            if self.links_examined >= self.check.max_links:
                continue
            self.links_examined += 1
            href = node.attributes.get("href") or ""
            relative = base_allowed and _relative(href)
            url = None if relative else _absolute(base, href)
            if url is None and not relative:
                continue  # not a web link (javascript:, mailto:, junk)
            look = styles.look(node)
            hidden = look.hidden
            if hidden is None and look.colour is not None and look.colour == look.background:
                hidden = f"same colour as its background ({look.colour})"
            if hidden is None and origin:
                hidden = "written by document.write"
            elif origin:
                hidden = f"{hidden}, written by document.write"
            external = url is not None and not self.domains.is_allowed(url.host)
            if hidden is None and not external:
                continue  # a visible link of the site or an allowed domain: the common case
            url = url or _absolute(base, href)
            if url is None:
                continue
            text = (node.text(separator=" ") or "")[:_LINK_TEXT]
            words = _hits(
                self.words, text, node.attributes.get("title") or "", _decoded_url(str(url))
            )
            scored = f"vocabulary: {', '.join(words[:5])}" if words else ""
            if hidden is not None and (external or words):
                reasons = [hidden, "outside the allowed domains" if external else "", scored]
                kind: FindingKind = "hidden_link"
            elif external and len(words) >= self.check.min_score:
                reasons = ["outside the allowed domains", scored]
                kind = "external_link"
            else:
                continue
            target = f"{url} {safe_text(text, 40)!s}".strip() if text.strip() else str(url)
            reason = safe_text("; ".join(r for r in reasons if r), 300)
            self.add(kind, target, reason, _where(node, origin))

    def _embeds(self, doc: LexborHTMLParser, base: URL, origin: str) -> None:
        nodes = doc.css("script[src], iframe[src], frame[src], meta[http-equiv]")
        for node in nodes[:_MAX_SCRIPTS]:
            attrs = node.attributes
            if node.tag == "meta":
                if (attrs.get("http-equiv") or "").strip().lower() != "refresh":
                    continue
                found = _REFRESH_URL.search((attrs.get("content") or "")[:_MAX_HREF])
                url = _absolute(base, found.group(1)) if found else None
                kind: FindingKind = "meta_refresh"
            else:
                url = _absolute(base, attrs.get("src") or "")
                kind = "script" if node.tag == "script" else "iframe"
            if url is None:
                continue
            where = _where(node, origin)
            if kind == "script" and not self.domains.is_own(url.host):
                self.scripts.setdefault(_bare(url.host), where)
            if not self.domains.is_allowed(url.host):
                self.add(kind, str(url), "outside the allowed domains", where)

    def _scripts(self, doc: LexborHTMLParser, base: URL) -> None:
        handlers = [
            (node, value)
            for node in doc.css("[onload], [onclick], [onmouseover], [onerror]")[:_MAX_SCRIPTS]
            for name in ("onload", "onclick", "onmouseover", "onerror")
            if (value := node.attributes.get(name))
        ]
        inline = [(node, node.text() or "") for node in doc.css("script:not([src])")]
        for node, code in [*inline, *handlers]:
            code = code[: self.script_budget]
            self.script_budget -= len(code)
            if not code:
                continue
            where = _where(node)
            for match in _LOCATION.finditer(code):
                url = _absolute(base, _js_unescape(match.group(2)))
                if url is not None and not self.domains.is_allowed(url.host):
                    self.add(
                        "js_redirect",
                        str(url),
                        "JavaScript sends the visitor outside the allowed domains",
                        where,
                    )
            for written in _written_html(code, self.write_budget):
                self.read(parse_html(written), f"written by document.write in {where}")


def _skeleton(doc: LexborHTMLParser) -> frozenset[str]:
    """The page's layout: paths of its layout elements (tag, id, classes; digits folded)."""
    paths: set[str] = set()
    root = doc.root
    if root is None:
        return frozenset()
    stack: list[tuple[LexborNode, str, int]] = [(root, "html", 0)]
    while stack and len(paths) < _MAX_SKELETON:
        node, path, depth = stack.pop()
        if depth >= _SKELETON_DEPTH:
            continue
        child = node.child
        while child is not None:
            tag = child.tag or ""
            if not tag.startswith("-") and tag not in _CONTENT_TAGS:
                attrs = child.attributes
                name = tag
                if attrs.get("id"):
                    name += "#" + (attrs.get("id") or "")
                name += "".join(f".{c}" for c in sorted((attrs.get("class") or "").split()[:4]))
                name = re.sub(r"\d+", "0", name)[:80]
                child_path = f"{path}>{name}"
                paths.add(child_path)
                stack.append((child, child_path, depth + 1))
            child = child.next
    return frozenset(paths)


def _stable_text(doc: LexborHTMLParser, regions: tuple[str, ...]) -> str:
    seen: set[int] = set()
    parts = []
    for selector in regions:
        for node in doc.css(selector):
            if node.mem_id not in seen:
                seen.add(node.mem_id)
                parts.append(node.text(separator=" ") or "")
    return " ".join(" ".join(parts).split())[:_STABLE_TEXT]


def _title(doc: LexborHTMLParser) -> str:
    node = doc.css_first("title")
    return " ".join((node.text() if node is not None else "").split())[:500]


def _wording(check: SecurityCheck, doc: LexborHTMLParser, text: str) -> list[Finding]:
    findings = []
    folded = unicodedata.normalize("NFKC", text)
    for rule in check.wording:
        wrong = unicodedata.normalize("NFKC", rule.wrong)
        right = unicodedata.normalize("NFKC", rule.right)
        count = folded.count(wrong)
        if right and wrong in right:
            count -= folded.count(right) * right.count(wrong)  # the right form holds the wrong one
        if count <= 0:
            continue
        where = "page text"
        body = doc.body
        if body is not None:
            for node in body.traverse(include_text=True):
                if node.tag == "-text" and wrong in unicodedata.normalize(
                    "NFKC", node.text_content or ""
                ):
                    parent = node.parent
                    where = _where(parent) if parent is not None else where
                    break
        should = f"should be {safe_text(right)!s}" if right else "a serious wording error"
        findings.append(
            Finding("wording", safe_text(rule.wrong), f"{should}; {count} times", where)
        )
    return findings


def read_page(
    check: SecurityCheck, body: bytes, content_type: str | None, page_url: str
) -> PageReading:
    """Everything the probe judges on one page, baseline aside; never raises for any page."""
    doc = parse_html(body_text(check.encoding, body, content_type))
    reader = _Reader(check, page_url)
    reader.read(doc)
    regions = check.defacement.regions if check.defacement is not None else _DEFAULT_REGIONS
    title = _title(doc)
    skeleton = _skeleton(doc)
    stable = _stable_text(doc, regions)
    keywords = check.defacement is not None and bool(check.defacement.keywords)
    text = ""
    if check.wording or keywords:  # the page's text is read only when a rule looks at it
        doc.strip_tags(["script", "style", "noscript", "template"])
        text = doc.body.text(separator=" ") if doc.body is not None else ""
    findings = [*reader.findings, *_wording(check, doc, text)] if check.wording else reader.findings
    baseline = Baseline(title, skeleton, stable, frozenset(reader.scripts))
    return PageReading(
        findings,
        baseline,
        reader.scripts,
        text if keywords else "",
        reader.links_examined,
        reader.links_total,
    )


# --- the baseline --------------------------------------------------------------------------


def _jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    first, second = set(a), set(b)
    if not first and not second:
        return 1.0
    return len(first & second) / len(first | second)


def _bigrams(text: str) -> set[str]:
    folded = fold(text)
    return {folded[i : i + 2] for i in range(len(folded) - 1)}


def compare_baseline(
    check: SecurityCheck, reading: PageReading, baseline: Baseline
) -> list[Finding]:
    """Suspected defacement and new external script domains, against the page's baseline."""
    findings = []
    for host, where in reading.scripts.items():
        if host not in baseline.script_hosts:
            findings.append(
                Finding(
                    "script",
                    safe_text(host),
                    "a new external script domain, not in the baseline",
                    where,
                )
            )
    spec = check.defacement
    if spec is None:
        return findings
    now = reading.baseline
    why = []
    if spec.title and now.title != baseline.title:
        why.append(f"title {safe_text(now.title, 60)} was {safe_text(baseline.title, 60)}")
    missing = [word for word in spec.keywords if word not in reading.text]
    if missing:
        why.append(f"keywords missing: {safe_text(', '.join(missing), 80)}")
    structure = _jaccard(now.skeleton, baseline.skeleton)
    if structure < spec.threshold:
        why.append(f"structure {structure:.0%} like the baseline (threshold {spec.threshold:.0%})")
    if baseline.stable_text or now.stable_text:
        stable = _jaccard(_bigrams(now.stable_text), _bigrams(baseline.stable_text))
        if stable < spec.threshold:
            why.append(
                f"stable regions {stable:.0%} like the baseline (threshold {spec.threshold:.0%})"
            )
    if why:
        findings.append(Finding("defacement", "page", "; ".join(why), "whole page"))
    return findings


_STATE_KEY = "security_baseline"


class BaselineError(Exception):
    """The baseline file cannot be read or written (the monitor's problem, not the site's)."""


def _load_baseline(path: Path) -> Baseline | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BaselineError(f"baseline file {path}: {exc.strerror or exc}") from exc
    try:
        return Baseline.from_json(json.loads(text))
    except (ValueError, KeyError, TypeError) as exc:
        raise BaselineError(f"baseline file {path}: {exc}") from exc


def _save_baseline(path: Path, baseline: Baseline) -> None:
    temporary = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(baseline.to_json(), ensure_ascii=False), encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        raise BaselineError(f"baseline file {path}: {exc.strerror or exc}") from exc


def _baseline(
    check: SecurityCheck, ctx: ProbeContext, reading: PageReading
) -> tuple[Baseline | None, str]:
    """The baseline to compare with (None at the first probe, which takes it) and its source."""
    state = ctx.state(check)
    kept = state.get(_STATE_KEY)
    if isinstance(kept, Baseline):
        return kept, "kept"
    path = check.defacement.baseline_file if check.defacement is not None else None
    if path is not None:
        loaded = _load_baseline(path)
        if loaded is not None:
            state[_STATE_KEY] = loaded
            return loaded, "file"
        _save_baseline(path, reading.baseline)
    state[_STATE_KEY] = reading.baseline
    return None, "taken"


async def probe(check: SecurityCheck, ctx: ProbeContext) -> ProbeResult:
    """Fetch the page, read it for injections, compare it with its baseline."""
    run = ProbeRun(check, ctx)
    try:
        response = await fetch_page(ctx, check)
    except FetchError as error:
        return run.failed(error)
    reading = await read_fetched(ctx, check, response, read_page, page_url=response.url)
    try:
        baseline, source = _baseline(check, ctx, reading)
    except BaselineError as exc:
        return run.result(Outcome.PROBE_ERROR, str(exc), transport=response.transport)
    findings = list(reading.findings)
    if baseline is not None:
        findings += compare_baseline(check, reading, baseline)
    shown = first_few(findings, _DETAIL_LIST, Finding.describe)
    scope = f"{reading.links_examined} of {reading.links_total} links read, baseline {source}"
    if findings:
        detail = f"suspected compromise, {len(findings)} findings ({scope}): {'; '.join(shown)}"
    else:
        detail = f"no injection found ({scope})"
    return run.result(
        Outcome.COMPROMISED if findings else Outcome.OK,
        detail,
        measurement=SecurityMeasurement(
            security_findings=len(findings),
            findings=tuple(finding.to_json() for finding in findings[:_KEPT_FINDINGS]),
            baseline=source,
            links_examined=reading.links_examined,
        ),
        transport=response.transport,
    )
