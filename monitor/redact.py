"""The one redactor: every secret of the config, hidden wherever text leaves the process.

A secret is a value substituted from `${VAR}` or `${file:...}`, or one held in a secret field
(header values, request bodies, login form and JSON values, the database URL). The config
loader registers each one (`register`) as it meets it; every exit scrubs (`scrub`): probe
results as they are made, the log renderer, the HTTP API, the rows the store writes, reports,
and error messages (`ConfigError`).

A secret is found in the forms text gives it on its way out: as written; percent-encoded
(`quote`, `quote_plus`, or any mix of encoded and plain characters, hex in either case, as a
server echoing a URL writes it); HTML-escaped; JSON-, CSV- or Markdown-escaped.
"""

from __future__ import annotations

import re
import threading
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["MASK", "MIN_LENGTH", "SECRETS", "Redactor", "register", "scrub", "scrub_value"]

MASK = "***"
# Shorter values are not worth hiding: masking every "on" or "1" would garble all text, and
# so short a secret is no secret.
MIN_LENGTH = 4
_HTML_FORMS = {
    "&": ("&amp;", "&#38;", "&#x26;"),
    "<": ("&lt;", "&#60;", "&#x3c;"),
    ">": ("&gt;", "&#62;", "&#x3e;"),
    '"': ("&quot;", "&#34;", "&#x22;", '""'),  # '""': CSV's doubled quote
    "'": ("&#x27;", "&#39;", "&apos;"),
}
# Characters no encoding here changes (RFC 3986's unreserved set): written as they are.
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]+")
# A run of unreserved characters this long is looked for first, as plain text (fast).
_FRAGMENT_MIN = 3


def _forms(char: str) -> str:
    """A regex for one character of a secret in every form it may be written in."""
    if _UNRESERVED.fullmatch(char):
        return re.escape(char)
    # As written, and %xx of each UTF-8 byte, hex in either case.
    forms = [re.escape(char), "".join(f"%(?i:{byte:02x})" for byte in char.encode("utf-8"))]
    if char == " ":
        forms.append(r"\+")
    if char.isascii() and char.isprintable():
        forms.append(re.escape("\\" + char))  # JSON's \" and \\, Markdown's \| and \*
    else:
        forms.append(re.escape(f"\\u{ord(char):04x}"))  # JSON with ensure_ascii
    forms.extend(re.escape(entity) for entity in _HTML_FORMS.get(char, ()))
    return "(?:" + "|".join(forms) + ")"


class _Secret:
    """One secret: the regex of its forms, and a plain-text piece each form contains."""

    __slots__ = ("fragment", "pattern")

    def __init__(self, secret: str) -> None:
        self.pattern = re.compile("".join(_forms(char) for char in secret))
        runs = _UNRESERVED.findall(secret)
        longest = max(runs, key=len, default="")
        # Without such a piece (a secret of punctuation or Chinese), the regex always runs.
        self.fragment = longest if len(longest) >= _FRAGMENT_MIN else ""


class Redactor:
    """A set of secrets, each found in any of its forms."""

    def __init__(self) -> None:
        # Longest first: a secret that holds another is masked whole.
        self._secrets: tuple[tuple[str, _Secret], ...] = ()
        self._lock = threading.Lock()

    def register(self, *values: str) -> None:
        """Know these values as secrets from now on (short ones are ignored). A URL's
        password is registered too, as written and decoded."""
        new: set[str] = set()
        for value in values:
            new.update(_with_parts(value))
        with self._lock:
            known = {secret for secret, _ in self._secrets}
            new = {v for v in new if len(v) >= MIN_LENGTH} - known
            if new:
                merged = [*self._secrets, *((v, _Secret(v)) for v in new)]
                self._secrets = tuple(sorted(merged, key=lambda item: -len(item[0])))

    def scrub(self, text: str) -> str:
        """`text` with every registered secret, in any of its forms, replaced by `***`."""
        for _, secret in self._secrets:
            # A substring test first: most texts hold no secret, and `in` is far faster.
            if secret.fragment in text:
                text = secret.pattern.sub(MASK, text)
        return text

    def scrub_value(self, value: Any) -> Any:
        """`value` with every string in it scrubbed (dicts, lists and tuples walked)."""
        if not self._secrets:
            return value
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {key: self.scrub_value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.scrub_value(item) for item in value)
        return value

    def __contains__(self, value: object) -> bool:
        return any(secret == value for secret, _ in self._secrets)

    def clear(self) -> None:
        """Forget every secret (for tests that need a process without any)."""
        with self._lock:
            self._secrets = ()


def _with_parts(value: str) -> set[str]:
    """The value, and the password of a URL with credentials (`scheme://user:pass@host`)."""
    found = {value}
    if "://" in value and "@" in value:
        try:
            password = urlsplit(value.strip()).password
        except ValueError:
            password = None
        if password:
            found.update({password, unquote(password)})
    return found


# The process's redactor: secrets are the process's, like its log configuration.
SECRETS = Redactor()
register = SECRETS.register
scrub = SECRETS.scrub
scrub_value = SECRETS.scrub_value
