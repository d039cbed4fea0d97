"""Misbehaving targets on loopback, for probe tests: raw servers that break HTTP on purpose.

aiohttp's test server answers correctly by design; these raw asyncio servers do what real sites
sometimes do instead: stall, hang up mid-headers, reset mid-body, cut a chunked body short.
Also a resolver that answers test names with 127.0.0.1 and fails every other name, so tests
that exercise DNS stay on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from typing import Any

import trustme
from aiohttp.abc import AbstractResolver, ResolveResult

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
# The `serve` fixture: `await serve(app, cert=None)` -> base URL under TEST_HOST.
ServeApp = Callable[..., Awaitable[str]]

TEST_HOST = "gov.test"  # resolves to 127.0.0.1 through LoopbackResolver; certs are issued for it


class LoopbackResolver(AbstractResolver):
    """Resolve `*.test` and `localhost` to 127.0.0.1; every other name fails as NXDOMAIN would.

    A stand-in for the system resolver, because tests may not depend on real DNS.
    """

    def __init__(self, extra_names: Collection[str] = ()) -> None:
        self.extra_names = frozenset(extra_names)
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        name = host.rstrip(".").lower()
        if not (name.endswith(".test") or name == "localhost" or name in self.extra_names):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        return None


def server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    """A server-side SSLContext presenting `cert` (and its chain)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


def refused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.asynccontextmanager
async def raw_server(handler: Handler, *, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """Serve `handler` on a loopback port (yielded), over TLS with `tls`; on exit, cut every
    connection still open."""
    tasks: set[asyncio.Task[Any]] = set()

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, ssl.SSLError):
            pass  # the client gave up first: expected when it times out
        except asyncio.CancelledError:
            pass  # the server is shutting down; end quietly (asyncio.streams logs a cancel)
        finally:
            writer.transport.abort()
            tasks.discard(task)

    server = await asyncio.start_server(tracked, "127.0.0.1", 0, ssl=tls)
    port: int = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """Read one request's head (the body of a GET is empty)."""
    return await reader.readuntil(b"\r\n\r\n")


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a crashing server or a middlebox does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def head(status: str = "200 OK", **headers: str | int) -> bytes:
    """A response head; keyword names become header names (content_length -> Content-Length)."""
    lines = [f"HTTP/1.1 {status}"]
    lines += [f"{name.replace('_', '-').title()}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def answer_after(delay: float, response: bytes) -> Handler:
    """Wait `delay` seconds after the request, then answer: slow headers."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(delay)
        writer.write(response)
        await writer.drain()

    return handler


def stall_body(delay: float, sent: bytes = b"<html>", total: int = 1000) -> Handler:
    """Send the head and part of the body, then stall for `delay` seconds: slow body."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(head(content_length=total, content_type="text/html") + sent)
        await writer.drain()
        await asyncio.sleep(delay)

    return handler


def reset_mid_body(sent: bytes = b"<html><body>" + b"x" * 500, total: int = 10_000) -> Handler:
    """Send the head and part of the body, then reset the connection."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(head(content_length=total, content_type="text/html") + sent)
        await writer.drain()
        await asyncio.sleep(0.05)  # let the client read what was sent before the RST
        reset(writer)

    return handler


def close_mid_headers(sent: bytes = b"HTTP/1.1 200 OK\r\nContent-Type: text/ht") -> Handler:
    """Send part of the response head, then close the connection cleanly (FIN)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        if sent:
            writer.write(sent)
            await writer.drain()
        writer.close()

    return handler


def close_before_answer() -> Handler:
    """Read the request and close without a byte of answer."""
    return close_mid_headers(b"")


def truncated_chunked() -> Handler:
    """Send a chunked body whose final zero-size chunk never comes, then close."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(head(transfer_encoding="chunked", content_type="text/html"))
        writer.write(b"6\r\n<html>\r\n4\r\n<bod")
        await writer.drain()
        writer.close()

    return handler


def short_content_length(total: int = 1000, sent: bytes = b"<html>too short") -> Handler:
    """Promise `total` bytes in Content-Length, send fewer, close."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(head(content_length=total) + sent)
        await writer.drain()
        writer.close()

    return handler


def not_http() -> Handler:
    """Answer with something that is not HTTP at all."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\nnot http at all\r\n\r\n")
        await writer.drain()
        writer.close()

    return handler
