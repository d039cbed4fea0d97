"""Fetching the one page a content check reads (freshness, feed, links, interaction).

Shared keys live in `PageCheck`; `fetch_page` turns a non-2xx answer into a FetchError like
any transport failure, so a probe has one `except` and one way to report it.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from pydantic import Field, field_validator

from monitor.checkspec import CheckSpec
from monitor.configtypes import SecretStr, Size, TimeZoneName, TLSSpec, WebURL
from monitor.dates import DEFAULT_TIMEZONE, site_zone
from monitor.probes.base import ProbeContext
from monitor.probes.httpclient import DEFAULT_MAX_BODY, FetchError, Response, decode_body
from monitor.results import Outcome

__all__ = [
    "PageCheck",
    "fetch_page",
    "off_loop",
    "read_dated",
    "read_fetched",
]

T = TypeVar("T")


class PageCheck(CheckSpec):
    """Keys every single-page content check shares."""

    url: WebURL
    # Header values may carry tokens: held as secrets.
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    tls: TLSSpec = TLSSpec()
    max_body_size: Size = DEFAULT_MAX_BODY
    # Override the page's declared charset, for servers that say utf-8 and send GBK.
    encoding: str | None = None
    # The zone the site writes its dates in.
    timezone: TimeZoneName = DEFAULT_TIMEZONE

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError as exc:
                raise ValueError(f"unknown encoding {value!r}") from exc
        return value

    def header_values(self) -> dict[str, str]:
        return {name: value.get_secret_value() for name, value in self.headers.items()}

    def page_text(self, response: Response) -> str:
        """The body as text: the configured encoding if any, else the page's own charset."""
        return body_text(self.encoding, response.body, response.headers.get("Content-Type"))


def body_text(encoding: str | None, body: bytes, content_type: str | None) -> str:
    """A page's body as text: `encoding` if configured, else the page's own charset."""
    if encoding is not None:
        return body.decode(encoding, errors="replace")
    return decode_body(body, content_type)


async def fetch_page(ctx: ProbeContext, check: PageCheck, url: str | None = None) -> Response:
    """Fetch the check's page (or `url`); raises FetchError, a non-2xx status included."""
    response = await ctx.http.fetch(
        url or check.url,
        timeout=check.timeout_s,
        headers=check.header_values() or None,
        tls=check.tls,
        max_body=check.max_body_size,
    )
    if not 200 <= response.status < 300:
        raise FetchError(
            Outcome.HTTP_ERROR,
            f"status {response.status} from {response.url}, expected 2xx",
            transport=response.transport,
        )
    return response


async def read_fetched(
    ctx: ProbeContext, check: PageCheck, response: Response, read: Callable[..., T], **kwargs: Any
) -> T:
    """What `read(check, body, content_type, **kwargs)` finds in a fetched page, read off the
    loop (`off_loop`); the body is decoded there too, as `body_text` does."""
    content_type = response.headers.get("Content-Type")
    return await off_loop(ctx, read, check, response.body, content_type, **kwargs)


async def read_dated(
    ctx: ProbeContext, check: PageCheck, response: Response, read: Callable[..., T]
) -> tuple[datetime, T]:
    """Read a fetched page with `read(check, body, content_type, now=, zone=)`, off the loop;
    returns the moment it was read at (ages are judged against it) and
    what `read` found."""
    now = ctx.now()
    zone = site_zone(check.timezone)
    return now, await read_fetched(ctx, check, response, read, now=now, zone=zone)


async def off_loop(ctx: ProbeContext, parse: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`parse(*args, **kwargs)` in the context's parser workers, never on the event loop: a
    page of any size can be hostile (`parse` is module-level and its arguments picklable).
    The probe's deadline cancels it and the worker is replaced."""
    return await ctx.parser.run(parse, *args, **kwargs)
