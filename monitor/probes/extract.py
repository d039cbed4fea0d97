"""Reading values out of untrusted HTML: CSS selectors, attributes, regexes, dates.

The config side (`Css`, `TextRule`, `DateRule`, with regexes as `configtypes.Pattern`) is
validated when the config loads, so a bad selector or regex is a config error naming its path,
never a probe failure. The page side never raises for anything a page contains: malformed HTML
parses (lexbor repairs it the way a browser does), and every text a rule looks at is bounded.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import datetime, tzinfo
from typing import Annotated

from pydantic import AfterValidator
from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from monitor.configtypes import Model, Pattern
from monitor.dates import DateFormatError, parse_date

__all__ = [
    "Css",
    "DateRule",
    "TextRule",
    "bound_nesting",
    "innermost",
    "node_text",
    "parse_html",
]

# The most text one rule reads from one element: dates and tokens are short, and a bound keeps
# a configured regex from meeting megabytes of hostile text.
MAX_RULE_TEXT = 64 * 1024


def _valid_selector(value: str) -> str:
    try:
        LexborHTMLParser("<p></p>").css_first(value)
    except SelectolaxError as exc:
        raise ValueError(f"invalid CSS selector {value!r}") from exc
    return value


Css = Annotated[str, AfterValidator(_valid_selector)]


# The HTML tree builder checks "is there a <p> in scope" by walking the stack of open elements,
# so a page of 100 000 unclosed <div>s costs minutes to parse (quadratic in depth). Browsers cap
# the depth; so do we: a page is cut before the tag that nests deeper than MAX_NESTING.
MAX_NESTING = 2000
# A page with fewer `<` than this cannot nest that deep, whatever it holds: no walk needed.
# (Counting end tags too would be fooled: end tags inside a comment, or of elements never
# opened, close nothing.)
_FEW_TAGS = MAX_NESTING
# What the walk skips (the tags inside open nothing): comments, and elements whose content is
# text up to their own end tag. It reads the page as lower-case UTF-8: bytes scan fast.
_SKIPPED = re.compile(rb"<!--|<(script|style|textarea|title|xmp|iframe|noembed|plaintext)\b")
_TAG = re.compile(rb"<(/?)([a-z][a-z0-9]*)")
# Elements that never stay open: void elements, and those the next sibling closes.
_NOT_NESTING = frozenset(
    name.encode()
    for name in (
        *("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"),
        *("param", "source", "track", "wbr", "keygen"),
        *("li", "p", "dd", "dt", "option", "optgroup", "tr", "td", "th", "thead", "tbody"),
        *("tfoot", "colgroup", "caption", "rb", "rt", "rp"),
    )
)


def _markup_spans(page: bytes) -> Iterator[tuple[int, int]]:
    """The stretches of the page that hold markup: all but comments and raw text."""
    pos = 0
    while (skipped := _SKIPPED.search(page, pos)) is not None:
        yield pos, skipped.start()
        name = skipped.group(1)
        if name == b"plaintext":
            return  # the rest of the page is text
        close = page.find(b"</" + name if name else b"-->", skipped.end())
        if close < 0:
            return
        pos = close if name else close + 3  # a raw text element's end tag is markup
    yield pos, len(page)


def _nesting_cut(page: bytes) -> int | None:
    """The offset of the first tag nesting deeper than MAX_NESTING, or None.

    The walk follows the tree builder closely enough to be an upper bound in practice: an end
    tag closes only an element that is open (with those opened inside it), comments and raw
    text hold no tags. What it misses is bounded by the parser's deadline (monitor.probes.parser).
    """
    stack: list[bytes] = []
    open_count: dict[bytes, int] = {}
    for start, end in _markup_spans(page):
        for index, (slash, name) in enumerate(_TAG.findall(page, start, end)):
            if slash:
                if open_count.get(name):
                    while (top := stack.pop()) != name:
                        open_count[top] -= 1
                    open_count[name] -= 1
            elif name not in _NOT_NESTING:
                stack.append(name)
                open_count[name] = open_count.get(name, 0) + 1
                if len(stack) > MAX_NESTING:
                    # Found: now (once) where that tag is.
                    tags = _TAG.finditer(page, start, end)
                    return next(itertools.islice(tags, index, None)).start()
    return None


def bound_nesting(text: str) -> str:
    """The page, cut before the first tag that would nest deeper than MAX_NESTING."""
    if text.count("<") <= _FEW_TAGS:
        return text
    page = text.encode("utf-8", "surrogatepass")
    cut = _nesting_cut(page.lower())
    # The cut is at a `<`, so the bytes before it decode whole.
    return text if cut is None else page[:cut].decode("utf-8", "surrogatepass")


def parse_html(text: str) -> LexborHTMLParser:
    """Parse any text as HTML the way a browser would, nesting bounded; never raises."""
    text = bound_nesting(text)
    try:
        return LexborHTMLParser(text)
    except UnicodeEncodeError:
        # Lone surrogates cannot be handed to the parser as UTF-8: replace them.
        return LexborHTMLParser(text.encode("utf-8", "replace").decode("utf-8"))


def innermost(nodes: list[LexborNode]) -> list[LexborNode]:
    """The nodes that contain none of the others (list rows, not the lists around them).

    Linear: each node's ancestors are walked only up to one already seen.
    """
    ancestors: set[int] = set()
    for node in nodes:
        parent = node.parent
        while parent is not None and parent.mem_id not in ancestors:
            ancestors.add(parent.mem_id)
            parent = parent.parent
    return [node for node in nodes if node.mem_id not in ancestors]


def node_text(node: LexborNode, limit: int = MAX_RULE_TEXT) -> str:
    """The element's text with a space between child elements (so `标题</a><span>2021` does
    not glue a title's last digit onto a year), at most `limit` characters."""
    return (node.text(separator=" ") or "")[:limit]


class TextRule(Model):
    """Where a value is on a page: an element (`selector`), its text or one `attribute`, and
    optionally a `regex` whose first group (or whole match) is the value.

    With a regex and no selector the regex reads the whole body.
    """

    selector: Css | None = None
    attribute: str | None = None
    regex: Pattern | None = None

    def _compiled(self) -> re.Pattern[str] | None:
        return re.compile(self.regex) if self.regex is not None else None

    def describe(self) -> str:
        parts = []
        if self.selector is not None:
            parts.append(f"selector {self.selector!r}")
        if self.attribute is not None:
            parts.append(f"attribute {self.attribute!r}")
        if self.regex is not None:
            parts.append(f"regex {self.regex!r}")
        return ", ".join(parts)

    def _apply_regex(self, text: str, limit: int = MAX_RULE_TEXT) -> str | None:
        pattern = self._compiled()
        if pattern is None:
            return text
        # Bounded: a configured regex never meets more than MAX_RULE_TEXT of hostile text.
        match = pattern.search(text[:limit])
        if match is None:
            return None
        return match.group(1) if pattern.groups else match.group(0)

    def _raw(self, node: LexborNode) -> str | None:
        if self.attribute is not None:
            return node.attributes.get(self.attribute)
        return node_text(node)

    def read_all(self, scope: LexborHTMLParser | LexborNode) -> list[str]:
        """Every value the rule finds in `scope`; without a selector, in the scope's own text."""
        if self.selector is None:
            node = scope.body if isinstance(scope, LexborHTMLParser) else scope
            if node is None:
                return []
            value = self._apply_regex(node_text(node))
            return [] if value is None else [value]
        values = []
        for node in scope.css(self.selector):
            raw = self._raw(node)
            if raw is not None and (value := self._apply_regex(raw)) is not None:
                values.append(value)
        return values

    def read(self, scope: LexborHTMLParser | LexborNode) -> str | None:
        """The first value the rule finds in `scope`."""
        values = self.read_all(scope)
        return values[0] if values else None

    def read_raw(self, body: str) -> str | None:
        """The rule's regex applied to the raw page (markup included), as for a hidden
        `__VIEWSTATE` value."""
        # The body is already bounded by the fetch's max_body.
        return self._apply_regex(body, len(body)) if self.regex is not None else None


class DateRule(TextRule):
    """Where a date is, and optionally its strptime `format` (`%Y年%m月%d日`); without a format
    every form of `monitor.dates` is recognised."""

    format: str | None = None

    def to_date(self, text: str, *, now: datetime, zone: tzinfo) -> datetime | None:
        """The date in a value this rule read, or None if it holds none."""
        try:
            return parse_date(text, now=now, zone=zone, fmt=self.format)
        except DateFormatError:
            return None

    def read_date(
        self, scope: LexborHTMLParser | LexborNode, *, now: datetime, zone: tzinfo
    ) -> datetime | None:
        """The first date the rule finds in `scope`."""
        for value in self.read_all(scope):
            if (found := self.to_date(value, now=now, zone=zone)) is not None:
                return found
        return None
