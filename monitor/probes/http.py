"""`http`: fetch a URL over a fresh connection and check status, body and certificate."""

from __future__ import annotations

import re
from dataclasses import replace

from pydantic import Field, field_validator

from monitor.checkspec import CheckSpec
from monitor.configtypes import Model, SecretStr, Size, TLSSpec, WebURL, valid_regex
from monitor.probes.base import ProbeContext, ProbeRun
from monitor.probes.httpclient import DEFAULT_MAX_BODY, FetchError, Response
from monitor.results import Outcome, ProbeResult

_STATUS_CLASS = re.compile(r"[1-5]xx")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_SPACES = re.compile(r"\s+")


class Expect(Model):
    """What a good answer looks like. Status entries are codes (200) or classes ("2xx")."""

    status: tuple[int | str, ...] = ("2xx",)
    body_contains: tuple[str, ...] = ()
    body_not_contains: tuple[str, ...] = ()
    body_regex: tuple[str, ...] = ()

    @field_validator("status", "body_contains", "body_not_contains", "body_regex", mode="before")
    @classmethod
    def _one_is_a_list(cls, value: object) -> object:
        """`status: 200` or `body_contains: 国资委` alone is a list of one."""
        return (value,) if isinstance(value, int | str) and not isinstance(value, bool) else value

    @field_validator("status")
    @classmethod
    def _statuses(cls, value: tuple[int | str, ...]) -> tuple[int | str, ...]:
        for entry in value:
            if isinstance(entry, int) and not 100 <= entry <= 599:
                raise ValueError(f"status {entry} is not an HTTP status code")
            if isinstance(entry, str) and not _STATUS_CLASS.fullmatch(entry):
                raise ValueError(f"status {entry!r} must be a code like 200 or a class like '2xx'")
        return value

    @field_validator("body_regex")
    @classmethod
    def _compiles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # Validated as a whole, so an error names `body_regex` (a lone pattern may be given).
        return tuple(valid_regex(pattern) for pattern in value)

    def status_ok(self, code: int) -> bool:
        return any(
            code == entry if isinstance(entry, int) else code // 100 == int(entry[0])
            for entry in self.status
        )


class HttpCheck(CheckSpec):
    type: str = "http"
    url: WebURL
    method: str = Field(default="GET", pattern=r"^(GET|HEAD|POST|PUT|OPTIONS)$")
    # Header values may carry tokens: held as secrets.
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    body: SecretStr | None = None
    follow_redirects: bool = True
    max_redirects: int = Field(default=10, ge=0, le=50)
    max_body_size: Size = DEFAULT_MAX_BODY
    tls: TLSSpec = TLSSpec()
    expect: Expect = Expect()


async def probe(check: HttpCheck, ctx: ProbeContext) -> ProbeResult:
    """Fetch `check.url` once and judge the answer against `check.expect`."""
    run = ProbeRun(check, ctx)
    try:
        response = await ctx.http.fetch(
            check.url,
            timeout=check.timeout_s,
            method=check.method,
            headers={name: value.get_secret_value() for name, value in check.headers.items()},
            data=check.body.get_secret_value() if check.body is not None else None,
            tls=check.tls,
            max_body=check.max_body_size,
            follow_redirects=check.follow_redirects,
            max_redirects=check.max_redirects,
        )
    except FetchError as failure:
        return run.failed(failure)
    outcome, detail = judge(check.expect, response)
    # judge() gives content_mismatch only for the body's markers: blackbox's regex failure.
    failed_markers = outcome is Outcome.CONTENT_MISMATCH
    return run.result(
        outcome,
        detail,
        transport=replace(response.transport, failed_due_to_regex=failed_markers),
    )


def judge(expect: Expect, response: Response) -> tuple[Outcome, str]:
    """Hold a complete answer against the expectations; say what was expected and what was seen."""
    if not expect.status_ok(response.status):
        wanted = ", ".join(str(entry) for entry in expect.status)
        return Outcome.HTTP_ERROR, f"status {response.status}, expected {wanted}"
    if not (expect.body_contains or expect.body_not_contains or expect.body_regex):
        return Outcome.OK, f"status {response.status}"
    text = response.text()  # decoded only when some expectation reads the body
    missing = [f"body does not contain {_quote(m)}" for m in expect.body_contains if m not in text]
    missing += [
        f"body does not match /{pattern}/"
        for pattern in expect.body_regex
        if re.search(pattern, text) is None
    ]
    if missing:
        missing.append(_glimpse(text))  # what was there instead: a WAF page, a login wall, a 404
    forbidden = [
        f"body contains forbidden {_quote(m)}: {_quote(_around(text, m))}"
        for m in expect.body_not_contains
        if m in text
    ]
    if missing or forbidden:
        return Outcome.CONTENT_MISMATCH, "; ".join(missing + forbidden)
    return Outcome.OK, f"status {response.status}"


def _quote(text: str) -> str:
    return '"' + text.replace('"', '\\"') + '"'


def _around(text: str, marker: str, context: int = 30) -> str:
    """The marker with a little of what surrounds it, on one line."""
    at = text.find(marker)
    snippet = text[max(0, at - context) : at + len(marker) + context]
    return _SPACES.sub(" ", snippet).strip()


def _glimpse(text: str, limit: int = 80) -> str:
    """What the page was, by its title or else its first words."""
    if match := _TITLE.search(text, 0, 65536):
        label, seen = "page title", match.group(1)
    else:
        label, seen = "page begins", re.sub(r"<[^>]*>", " ", text[:4096])
    seen = _SPACES.sub(" ", seen).strip()
    return f"{label} {_quote(seen if len(seen) <= limit else seen[: limit - 1] + '…')}"
