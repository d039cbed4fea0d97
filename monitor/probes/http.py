"""`http`: fetch a URL over a fresh connection and check status, body and certificate."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from monitor.checkspec import CheckSpec, Model, SecretStr, Size, TLSSpec, WebURL
from monitor.probes.base import ProbeContext
from monitor.results import ProbeResult

DEFAULT_MAX_BODY = 10 * 1024 * 1024
_STATUS_CLASS = re.compile(r"[1-5]xx")


class Expect(Model):
    """What a good answer looks like. Status entries are codes (200) or classes ("2xx")."""

    status: tuple[int | str, ...] = ("2xx",)
    body_contains: tuple[str, ...] = ()
    body_not_contains: tuple[str, ...] = ()
    body_regex: tuple[str, ...] = ()

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
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regex {pattern!r}: {exc}") from exc
        return value

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
    headers: dict[str, SecretStr] = {}
    body: SecretStr | None = None
    follow_redirects: bool = True
    max_redirects: int = Field(default=10, ge=0, le=50)
    max_body_size: Size = DEFAULT_MAX_BODY
    tls: TLSSpec = TLSSpec()
    expect: Expect = Expect()


async def probe(check: HttpCheck, ctx: ProbeContext) -> ProbeResult:
    """Fetch `check.url` once and judge the answer against `check.expect`."""
    raise NotImplementedError  # written in the HTTP client work
