"""One HTTP/1.1 exchange on the event loop's own transports: the lean path of a plain fetch.

aiohttp's session builds a ClientRequest, a ClientResponse, a connector key and a pool entry,
fires trace signals and consults a cookie jar on every request; a probe that opens one fresh
connection for one request needs none of that, and on loopback it was most of a probe's CPU
(issue 13). Here each step of an exchange is one awaited call, so the caller times each step
as it ends, with nothing in between:

    addresses = await resolve(...)        the resolver the HttpClient was given
    protocol = await connect(...)         TCP: loop.create_connection, or happy eyeballs
    protocol = await secure(...)          TLS: loop.start_tls over that connection
    message, payload = await send(...)    the request written, the response head parsed

The response is read by aiohttp's own protocol (ResponseHandler over its C HTTP parser), so a
chunked or compressed body, the header limits and every way a response can break raise exactly
the errors aiohttp's session raises, and connection failures are wrapped as its connector wraps
them: one function (httpclient.classify) maps both paths to outcomes.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Mapping

import aiohappyeyeballs
from aiohttp import (
    BasicAuth,
    ClientConnectionResetError,
    ClientConnectorCertificateError,
    ClientConnectorDNSError,
    ClientConnectorError,
    ClientConnectorSSLError,
    ClientResponseError,
)
from aiohttp.abc import AbstractResolver
from aiohttp.client_proto import ResponseHandler
from aiohttp.client_reqrep import ClientRequest, ConnectionKey, RequestInfo
from aiohttp.http import RawResponseMessage
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.streams import StreamReader
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

__all__ = ["connect", "connection_key", "request_head", "resolve", "secure", "send"]

AddrInfo = tuple[int, int, int, str, tuple[str, int] | tuple[str, int, int, int]]

# As aiohttp's connector: several addresses race, the next started 250 ms after the last.
_HAPPY_EYEBALLS_DELAY = 0.25
# aiohttp's request defaults, so a site sees the same request whichever path sent it.
_DEFAULT_HEADERS = tuple(ClientRequest.DEFAULT_HEADERS.items())
_BODYLESS_METHODS = frozenset(("GET", "HEAD", "OPTIONS", "TRACE"))


class _PlainHandler(ResponseHandler):
    """aiohttp's protocol, without TCP_NODELAY on a plain connection: its one request is one
    write, which Nagle's algorithm never holds back (nothing is unacknowledged before it), so
    the setsockopt is a syscall per probe for nothing. Over TLS the request follows the
    handshake's last flight unacknowledged, so the TLS protocol keeps aiohttp's NODELAY."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]


def connection_key(url: URL, sslcontext: ssl.SSLContext | None) -> ConnectionKey:
    """The key aiohttp's connection errors carry (and name the host and port from)."""
    return ConnectionKey(
        url.raw_host or "", url.port, sslcontext is not None, sslcontext or True, None, None, None
    )


async def resolve(resolver: AbstractResolver, url: URL, key: ConnectionKey) -> list[AddrInfo]:
    """The addresses of the URL's host name; a failed lookup as aiohttp's connector raises it."""
    host = url.raw_host or ""
    if host.endswith(".."):  # as aiohttp: several trailing dots are one (a fully-qualified name)
        host = host.rstrip(".") + "."
    port = url.port or 0
    try:
        hosts = await resolver.resolve(host, port, family=socket.AF_UNSPEC)
        if not hosts:
            raise OSError(f"no address for {host}")
    except OSError as exc:
        if exc.errno is None and isinstance(exc, TimeoutError):
            raise
        raise ClientConnectorDNSError(key, exc) from exc
    return [address_info(str(found["host"]), int(found["port"])) for found in hosts]


def address_info(host: str, port: int) -> AddrInfo:
    """One address as socket.getaddrinfo() gives it (aiohttp's own conversion)."""
    if ":" in host:
        return socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (host, port, 0, 0)
    return socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (host, port)


async def connect(
    loop: asyncio.AbstractEventLoop, addresses: list[AddrInfo], key: ConnectionKey
) -> ResponseHandler:
    """A TCP connection to one of `addresses`, with aiohttp's protocol on it.

    One plain address is connected to by the loop in one call; several (IPv6 and IPv4) race by
    happy eyeballs, as aiohttp's connector does.
    """
    family, _, proto, _, address = addresses[0]
    try:
        if len(addresses) == 1 and "%" not in address[0]:
            _, protocol = await loop.create_connection(
                lambda: _PlainHandler(loop),
                host=address[0],
                port=address[1],
                family=family,
                proto=proto,
            )
        else:
            sock = await aiohappyeyeballs.start_connection(
                addresses, happy_eyeballs_delay=_HAPPY_EYEBALLS_DELAY, loop=loop
            )
            _, protocol = await loop.create_connection(lambda: _PlainHandler(loop), sock=sock)
    except OSError as exc:
        if exc.errno is None and isinstance(exc, TimeoutError):
            raise
        raise ClientConnectorError(key, exc) from exc
    return protocol


async def secure(
    loop: asyncio.AbstractEventLoop,
    plain: ResponseHandler,
    sslcontext: ssl.SSLContext,
    server_hostname: str,
    key: ConnectionKey,
) -> ResponseHandler:
    """TLS over the connection `plain` holds: the handshake, verified as `sslcontext` says."""
    raw = plain.transport
    if raw is None:  # the peer hung up between connecting and here
        raise ClientConnectorError(key, ConnectionResetError("connection closed before TLS"))
    protocol = ResponseHandler(loop)
    try:
        try:
            transport = await loop.start_tls(
                raw, protocol, sslcontext, server_hostname=server_hostname
            )
        except BaseException:
            raw.abort()  # start_tls leaves the connection open when it fails
            raise
    except ssl.CertificateError as exc:  # aiohttp's cert_errors, then its ssl_errors
        raise ClientConnectorCertificateError(key, exc) from exc
    except ssl.SSLError as exc:
        raise ClientConnectorSSLError(key, exc) from exc
    except OSError as exc:
        if exc.errno is None and isinstance(exc, TimeoutError):
            raise
        raise ClientConnectorError(key, exc) from exc
    if transport is None:
        raise ClientConnectorError(key, OSError("failed to start TLS (the connection closed)"))
    protocol.connection_made(transport)  # start_tls does not: it hands over a running protocol
    return protocol


def request_head(
    method: str,
    url: URL,
    headers: Mapping[str, str] | None,
    *,
    user_agent: str,
    cookie: str,
    body: bytes | None,
) -> tuple[bytes, CIMultiDict[str]]:
    """The request line and headers as aiohttp would send them on a fresh connection."""
    sent: CIMultiDict[str] = CIMultiDict()
    sent["Host"] = url.host_port_subcomponent or ""
    sent["User-Agent"] = user_agent  # the session's header: the check's own may replace it
    for name, value in (headers or {}).items():
        sent[name] = value
    for name, value in _DEFAULT_HEADERS:
        sent.setdefault(name, value)
    if url.raw_user:
        sent.setdefault("Authorization", BasicAuth(url.user or "", url.password or "").encode())
    if cookie:
        own = sent.popall("Cookie", ())
        sent["Cookie"] = "; ".join((*own, cookie))
    if body is not None:
        sent.setdefault("Content-Length", str(len(body)))
        sent.setdefault("Content-Type", "text/plain; charset=utf-8")
    elif method not in _BODYLESS_METHODS:
        sent.setdefault("Content-Length", "0")
    if method in ("POST", "PUT", "PATCH"):
        sent.setdefault("Content-Type", "application/octet-stream")
    sent.setdefault("Connection", "close")
    lines = [f"{method} {url.raw_path_qs} HTTP/1.1"]
    for name, value in sent.items():
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
            # aiohttp's own refusal: a header must not smuggle a second one in.
            raise ValueError("Newline or carriage return character detected in HTTP header")
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode(), sent


async def send(
    protocol: ResponseHandler,
    head: bytes,
    body: bytes | None,
    *,
    method: str,
    url: URL,
    sent: CIMultiDict[str],
    max_line: int,
) -> tuple[RawResponseMessage, StreamReader]:
    """Write the request; the response's head (1xx interim answers skipped) and its body stream."""
    protocol.set_response_params(
        skip_payload=method == "HEAD",
        read_until_eof=True,
        max_line_size=max_line,
        max_field_size=max_line,
    )
    transport = protocol.transport
    if transport is not None:  # else the peer is gone already, and read() raises that
        if transport.is_closing():
            raise ClientConnectionResetError("Cannot write to closing transport")
        transport.write(head + body if body else head)
    while True:
        try:
            message, payload = await protocol.read()
        except HttpProcessingError as exc:  # as aiohttp's ClientResponse.start wraps it
            info = RequestInfo(url, method, CIMultiDictProxy(sent), url)
            raise ClientResponseError(
                info, (), status=exc.code, message=exc.message, headers=exc.headers
            ) from exc
        if not 100 <= message.code <= 199 or message.code == 101:
            return message, payload
