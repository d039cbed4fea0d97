"""The lean exchange (monitor.probes.exchange) against aiohttp's session: the same request on
the wire, the same answer read, whatever framing and encoding the target chose."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest
import trustme
from aiohttp import DummyCookieJar, web

from monitor.configtypes import TLSSpec
from monitor.probes.httpclient import FetchError, HttpClient, Response
from monitor.results import Outcome, Phases, Transport
from tests.targets import ServeApp, head, raw_server, read_request

PAGE = "<html><body>石化离退休干部局 首页</body></html>" * 40


async def both_paths(client: HttpClient, url: str, **fetch: object) -> tuple[Response, Response]:
    """The same fetch by the lean exchange and by aiohttp's session (a cookieless one)."""
    lean = await client.fetch(url, timeout=5, **fetch)  # type: ignore[arg-type]
    session = client._new_session(DummyCookieJar())
    try:
        full = await client.fetch(url, timeout=5, session=session, **fetch)  # type: ignore[arg-type]
    finally:
        await session.close()
    return lean, full


def same_answer(lean: Response, full: Response) -> None:
    assert (lean.status, lean.url, lean.body, lean.redirects) == (
        full.status,
        full.url,
        full.body,
        full.redirects,
    )
    assert sorted(lean.headers.items()) == sorted(full.headers.items())
    # Everything of the Transport but its timings.
    assert _untimed(lean.transport) == _untimed(full.transport)


def _untimed(transport: Transport) -> Transport:
    return replace(transport, dns_lookup_seconds=0.0, phases=Phases(0, 0, 0, 0, 0))


def _encoded(encoding: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        raw = PAGE.encode()
        body = gzip.compress(raw) if encoding == "gzip" else zlib.compress(raw)
        return web.Response(
            body=body,
            headers={"Content-Encoding": encoding, "Content-Type": "text/html; charset=utf-8"},
        )

    return handler


async def _chunked(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    for part in range(0, len(PAGE), 97):
        await response.write(PAGE[part : part + 97].encode())
    await response.write_eof()
    return response


async def _headers(request: web.Request) -> web.Response:
    """The request's headers, one a line, as the site saw them."""
    seen = "\n".join(f"{name}: {value}" for name, value in request.headers.items())
    return web.Response(text=f"{request.method} {request.path_qs}\n{seen}\n{await request.text()}")


async def _hop(request: web.Request) -> web.Response:
    raise web.HTTPFound("/chunked")


def exchange_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/gzip", _encoded("gzip"))
    app.router.add_get("/deflate", _encoded("deflate"))
    app.router.add_get("/chunked", _chunked)
    app.router.add_route("*", "/headers", _headers)
    app.router.add_get("/hop", _hop)
    return app


@pytest.mark.parametrize("path", ["/gzip", "/deflate", "/chunked", "/hop"])
async def test_encoded_chunked_and_redirected_bodies_read_as_aiohttp_reads_them(
    serve: ServeApp, http_client: HttpClient, path: str
) -> None:
    """gzip, deflate, chunked and a redirect: the lean answer is aiohttp's, byte for byte."""
    base = await serve(exchange_app())
    lean, full = await both_paths(http_client, base + path)
    same_answer(lean, full)
    assert lean.text() == PAGE and lean.transport.body_length == len(PAGE.encode())


async def test_the_request_on_the_wire_is_the_one_aiohttp_sends(
    serve: ServeApp, http_client: HttpClient
) -> None:
    """Method, target, every header (Host, Accept, Accept-Encoding, User-Agent, Connection,
    the check's own, Content-Type and Content-Length of a body) and the body are the same."""
    base = await serve(exchange_app())
    fetch = {"method": "POST", "headers": {"X-Token": "t0k3n"}, "data": "a=1&b=二"}
    lean, full = await both_paths(http_client, base + "/headers?q=1", **fetch)
    assert lean.text() == full.text()
    assert "X-Token: t0k3n" in lean.text() and lean.text().endswith("a=1&b=二")
    assert "Connection: close" in lean.text()


async def test_tls_answer_and_certificate_as_aiohttp_reads_them(
    serve: ServeApp, http_client: HttpClient, tls_cert: trustme.LeafCert, ca_file: object
) -> None:
    """Over start_tls: the same answer, TLS version, chain expiry and certificate identity."""
    base = await serve(exchange_app(), cert=tls_cert)
    tls = TLSSpec(ca_file=ca_file)
    lean, full = await both_paths(http_client, base + "/gzip", tls=tls)
    same_answer(lean, full)
    assert lean.transport.ssl and lean.transport.certificate is not None
    assert lean.phases.tls > 0 and lean.cert_expiry_timestamp == full.cert_expiry_timestamp


async def test_interim_100_continue_is_skipped() -> None:
    """A 100 Continue before the answer is passed over, as aiohttp does; the 200 counts."""

    async def interim(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + head(content_length=2) + b"ok")
        await writer.drain()

    async with raw_server(interim) as port, HttpClient() as client:
        response = await client.fetch(f"http://127.0.0.1:{port}/", timeout=5)
    assert response.status == 200 and response.body == b"ok"


async def test_http10_answer_without_length_is_read_to_the_end() -> None:
    """An HTTP/1.0 answer with neither length nor chunks ends when the connection does."""

    async def old_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n" + PAGE.encode())
        await writer.drain()
        writer.close()

    async with raw_server(old_server) as port, HttpClient() as client:
        response = await client.fetch(f"http://127.0.0.1:{port}/", timeout=5)
    assert response.text() == PAGE
    assert response.transport.http_version == 1.0 and response.transport.content_length == -1


async def test_a_bad_gzip_body_is_http_error() -> None:
    """A body labelled gzip that is not: http_error naming the decoding, as aiohttp maps it."""

    async def liar(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(head(content_length=11, content_encoding="gzip") + b"not gzipped")
        await writer.drain()

    async with raw_server(liar) as port, HttpClient() as client:
        with pytest.raises(FetchError) as caught:
            await client.fetch(f"http://127.0.0.1:{port}/", timeout=5)
    assert caught.value.outcome is Outcome.HTTP_ERROR
    assert "decode" in caught.value.detail
