"""The HTTP plumbing every HTTP-based check uses: one fetch, timed by phase, failures as outcomes.

Every fetch pays for a name lookup, a TCP connect and a TLS handshake, as a first-time visitor
does: no connection is reused, no DNS answer cached. A plain fetch (no cookie session, no form
or JSON body) goes by the lean exchange (monitor.probes.exchange): each step one call on the
loop's own transports, timed as it ends. A fetch in a cookie session (a login flow) goes through
aiohttp's session, over a connector that never reuses a connection (`force_close`). Both share
the redirect loop, the body limit, the Transport facts and `classify`, which maps every failure
of either to one outcome. Phases are timed by one recorder per fetch, held in a ContextVar: on
aiohttp's path the connector and resolver mark DNS and connection events; on both, an
`ssl.SSLContext` subclass marks the start of the TLS handshake (its `wrap_bio` is called once
TCP is connected, on asyncio and on uvloop alike) and keeps the TLS object to read the peer's
certificate, even from a handshake that failed.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import ipaddress
import os
import re
import socket
import ssl
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from types import TracebackType
from typing import Any, Protocol

import aiohttp
from aiohttp._cookie_helpers import parse_set_cookie_headers
from aiohttp.abc import AbstractCookieJar, AbstractResolver, ResolveResult
from aiohttp.client_reqrep import ClientRequest
from aiohttp.connector import Connection
from aiohttp.http import HttpVersion, RawResponseMessage
from aiohttp.http_exceptions import ContentEncodingError, ContentLengthError, TransferEncodingError
from aiohttp.streams import StreamReader
from multidict import CIMultiDictProxy
from yarl import URL

from monitor import __version__
from monitor.configtypes import TLSSpec
from monitor.probes import exchange
from monitor.results import Certificate, Outcome, Phases, Transport

__all__ = ["DEFAULT_MAX_BODY", "FetchError", "HttpClient", "Response", "classify", "decode_body"]

# A body read past this is content_mismatch ("too large"), unless a check sets its own
# max_body_size: pages are a few hundred KiB; 10 MiB stops a runaway one without cutting a real one.
DEFAULT_MAX_BODY = 10 * 1024 * 1024

# Phase indices into _PhaseRecorder.spent, in PHASE_NAMES order.
_RESOLVE, _CONNECT, _TLS, _PROCESSING, _TRANSFER = range(5)
_DONE = -1
_PHASE_DOING = (
    "while resolving the name (resolve)",
    "while connecting (connect)",
    "during the TLS handshake (tls)",
    "while waiting for response headers (processing)",
    "while reading the body (transfer)",
)
_REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))
# Headers that carry credentials: not forwarded when a redirect leaves the origin.
_CREDENTIAL_HEADERS = frozenset(("authorization", "cookie", "proxy-authorization"))
# Government sites send long cookies and CSP headers; aiohttp's 8 KiB default is too tight.
_MAX_HEADER_LINE = 32 * 1024

# OpenSSL verify codes (X509_V_ERR_*) people recognise, in their words.
_CERT_PROBLEMS = {
    9: "certificate is not yet valid",
    10: "certificate has expired",
    23: "certificate has been revoked",
    62: "certificate is for another host",
    64: "certificate is for another IP address",
}
_UNTRUSTED_CODES = frozenset((2, 18, 19, 20, 21, 27))
_VERIFY_TLS = TLSSpec()  # frozen: verify against the system trust store


class FetchError(Exception):
    """A transport/protocol failure already mapped to one outcome of the closed set.

    `transport` holds what was measured before the failure (HttpClient sets it; None only for
    a failure before any fetch began, such as an unreadable CA file).
    """

    def __init__(self, outcome: Outcome, detail: str, *, transport: Transport | None = None):
        super().__init__(f"{outcome}: {detail}")
        self.outcome = outcome
        self.detail = detail
        self.transport = transport

    @property
    def phases(self) -> Phases | None:
        return None if self.transport is None else self.transport.phases

    @property
    def status_code(self) -> int | None:
        return None if self.transport is None else self.transport.status_code


@dataclass(frozen=True, slots=True)
class Response:
    """A complete answer: final URL, headers, the whole (bounded) body and what the fetch
    measured (`transport`: status, phases, certificate, TLS)."""

    url: str
    headers: CIMultiDictProxy[str]
    body: bytes
    redirects: tuple[str, ...]
    transport: Transport

    @property
    def status(self) -> int:
        status = self.transport.status_code
        assert status is not None  # a Response is an answer: it has a status
        return status

    @property
    def phases(self) -> Phases:
        return self.transport.phases

    @property
    def cert_expiry_timestamp(self) -> float | None:
        return self.transport.cert_expiry_timestamp

    @property
    def tls_verified(self) -> bool | None:
        return self.transport.tls_verified

    def text(self) -> str:
        """The body as text: charset from Content-Type, then <meta>, then UTF-8, then GB18030."""
        return decode_body(self.body, self.headers.get("Content-Type"))


class _Answer(Protocol):
    """What the redirect loop reads of a hop's answer: aiohttp's ClientResponse or _LeanAnswer."""

    @property
    def url(self) -> URL: ...
    @property
    def status(self) -> int: ...
    @property
    def version(self) -> HttpVersion | None: ...
    @property
    def headers(self) -> CIMultiDictProxy[str]: ...
    @property
    def content_length(self) -> int | None: ...
    @property
    def content(self) -> StreamReader: ...
    @property
    def cookies(self) -> SimpleCookie: ...

    def release(self) -> Any: ...


class _LeanAnswer:
    """One hop's answer read by the lean exchange: the head, the body stream, the connection."""

    __slots__ = ("_protocol", "content", "headers", "status", "url", "version")

    def __init__(
        self, url: URL, message: RawResponseMessage, payload: StreamReader, protocol: Any
    ) -> None:
        self.url = url.with_fragment(None) if url.raw_fragment else url  # as aiohttp's
        self.status = message.code
        self.version: HttpVersion | None = message.version
        self.headers = message.headers
        self.content = payload
        self._protocol = protocol

    @property
    def content_length(self) -> int | None:
        length = self.headers.get("Content-Length")
        return None if length is None else int(length)

    @property
    def cookies(self) -> SimpleCookie:
        cookies = SimpleCookie()
        cookies.update(parse_set_cookie_headers(self.headers.getall("Set-Cookie", ())))
        return cookies

    def release(self) -> None:
        """Close the connection: one request per connection, as a first-time visitor's."""
        self._protocol.close()


_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([\w.:-]+)", re.IGNORECASE)
_META_CHARSET = re.compile(rb"<meta[^>]*?charset\s*=\s*[\"']?\s*([\w.:-]+)", re.IGNORECASE)
# Pages labelled GB2312 or GBK routinely contain characters only GBK/GB18030 have; GB18030 is
# a superset of both, so decoding with it never loses what the label promised.
_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "csgb2312": "gb18030",
    "gb_2312-80": "gb18030",
}


def decode_body(body: bytes, content_type: str | None) -> str:
    """Decode an HTML/text body the way a browser would; never raises."""
    if body.startswith(b"\xef\xbb\xbf"):
        return body[3:].decode("utf-8", errors="replace")
    declared = []
    if content_type and (match := _HEADER_CHARSET.search(content_type)):
        declared.append(match.group(1))
    if match_meta := _META_CHARSET.search(body, 0, 4096):
        declared.append(match_meta.group(1).decode("ascii", errors="replace"))
    for name in declared:
        charset = name.strip().lower()
        try:
            return body.decode(_CHARSET_ALIASES.get(charset, charset), errors="replace")
        except LookupError:
            continue  # an unknown charset name: try the next source
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("gb18030", errors="replace")


class _PhaseRecorder:
    """Timeline of one fetch: each moment belongs to exactly one phase, so phases sum to total."""

    __slots__ = (
        "answer",
        "first_lookup",
        "hop_tls",
        "literal_host",
        "mark",
        "peer",
        "phase",
        "redirects",
        "spent",
        "status",
        "tls_object",
        "tls_verified",
    )

    def __init__(self) -> None:
        self.phase = _RESOLVE
        self.mark = time.perf_counter()
        self.spent = [0.0, 0.0, 0.0, 0.0, 0.0]
        self.literal_host = False
        self.tls_object: ssl.SSLObject | None = None
        self.tls_verified: bool | None = None
        self.status: int | None = None
        # For Transport: the first name lookup, the address and TLS object of the latest hop
        # (tls_object is the latest TLS hop's, for the certificate expiry), the latest
        # answer, the redirects followed.
        self.first_lookup: float | None = None
        self.peer: str | None = None
        self.hop_tls: ssl.SSLObject | None = None
        self.answer: _Answer | None = None
        self.redirects = 0

    def enter(self, phase: int) -> None:
        now = time.perf_counter()
        if self.phase != _DONE:
            self.spent[self.phase] += now - self.mark
            if self.phase == _RESOLVE and phase != _RESOLVE and self.first_lookup is None:
                self.first_lookup = self.spent[_RESOLVE]
        self.phase = phase
        self.mark = now

    def start_hop(self, url: URL) -> None:
        self.literal_host = _is_ip_literal(url.host)
        if not self.literal_host:
            self.enter(_RESOLVE)
        elif self.phase == _RESOLVE:
            # An address in the URL needs no lookup: the fetch so far was setting up its
            # connection, and its resolve time is none at all.
            self.phase = _CONNECT
        else:
            self.enter(_CONNECT)
        # The address to connect to: the literal, or what _RecordingResolver finds.
        self.peer = url.host if self.literal_host else None
        self.hop_tls = None
        self.answer = None

    def answered(self, response: _Answer, transport: asyncio.BaseTransport | None) -> None:
        """Note the hop's answer and the connection it came over (its address, its TLS)."""
        self.enter(_TRANSFER)
        self.status = response.status
        self.answer = response
        # aiohttp may have read a small body and released the connection already; while it
        # is held, its peer is the address (else the one the name resolved to stays).
        peer = transport.get_extra_info("peername") if transport is not None else None
        if peer:
            self.peer = str(peer[0])

    def transport(self, body: bytes | None = None) -> Transport:
        """What the fetch got to, timed up to now; the fetch's timeline ends here."""
        phases = self.phases()
        self.enter(_DONE)
        answer = self.answer
        ip_protocol, ip_hash = _address_facts(self.peer)
        lookup = self.first_lookup
        if lookup is None:  # still resolving (a timeout), or never left the first lookup
            lookup = self.spent[_RESOLVE] + (
                time.perf_counter() - self.mark if self.phase == _RESOLVE else 0.0
            )
        tls_object = self.hop_tls if answer is not None else None
        version = tls_object.version() if tls_object is not None else None
        http = answer.version if answer is not None else None
        return Transport(
            status_code=self.status,
            phases=phases,
            cert_expiry_timestamp=self.cert_expiry(),
            tls_verified=self.tls_verified,
            http_version=float(f"{http.major}.{http.minor}") if http is not None else 0.0,
            content_length=_content_length(answer),
            body_length=len(body) if body is not None else 0,
            redirects=self.redirects,
            ssl=tls_object is not None,
            ip_protocol=ip_protocol,
            ip_addr_hash=ip_hash,
            dns_lookup_seconds=lookup,
            tls_version=_TLS_VERSIONS.get(version or "", "unknown") if version else None,
            last_chain_expiry=_verified_chain_expiry(tls_object) if tls_object else None,
            certificate=_leaf_certificate(tls_object) if tls_object else None,
        )

    def phases(self) -> Phases:
        if self.phase != _DONE:
            self.enter(self.phase)  # account the phase running now, up to now
        return Phases(*self.spent)

    def cert_expiry(self) -> float | None:
        return None if self.tls_object is None else earliest_cert_expiry(self.tls_object)


# ssl.SSLObject.version() -> blackbox_exporter's probe_tls_version_info{version}.
_TLS_VERSIONS = {
    "TLSv1": "TLS 1.0",
    "TLSv1.1": "TLS 1.1",
    "TLSv1.2": "TLS 1.2",
    "TLSv1.3": "TLS 1.3",
}
# Short names of RDN attributes, as Go's pkix.Name.String() writes them.
_RDN_NAMES = {
    "commonName": "CN",
    "countryName": "C",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "streetAddress": "STREET",
    "postalCode": "POSTALCODE",
    "serialNumber": "SERIALNUMBER",
}


def _content_length(answer: _Answer | None) -> int:
    """The answer's Content-Length, -1 without one (Go's resp.ContentLength), 0 without answer."""
    if answer is None:
        return 0
    return answer.content_length if answer.content_length is not None else -1


@functools.lru_cache(maxsize=4096)  # per probe, and checks reach few distinct addresses
def _address_facts(peer: str | None) -> tuple[int, float]:
    """(4 or 6, FNV-1a 32-bit hash of the address' bytes) of the peer; (0, 0) if none."""
    if peer is None:
        return 0, 0.0
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])  # drop an IPv6 zone
    except ValueError:
        return 0, 0.0
    digest = 0x811C9DC5
    for byte in address.packed:
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    return address.version, float(digest)


def _rfc4514(name: Any) -> str:
    """A getpeercert() subject/issuer as RFC 4514 text, most specific first (as Go prints it)."""
    parts = []
    for rdn in reversed(name or ()):
        values = []
        for key, value in rdn:
            text = re.sub(r'([,+"\\<>;])', r"\\\1", str(value))
            if text.startswith(("#", " ")):
                text = "\\" + text
            if text.endswith(" "):
                text = text[:-1] + "\\ "
            values.append(f"{_RDN_NAMES.get(key, key)}={text}")
        parts.append("+".join(values))
    return ",".join(parts)


def _leaf_certificate(tls_object: ssl.SSLObject) -> Certificate | None:
    """The verified leaf certificate's identity; None when it was not verified."""
    try:
        info = tls_object.getpeercert()
        der = tls_object.getpeercert(binary_form=True)
    except (ValueError, ssl.SSLError):
        return None
    if not info or not der:  # getpeercert() is empty for a certificate that was not verified
        return None
    alternatives: Any = info.get("subjectAltName", ())
    names = [value for kind, value in alternatives if kind == "DNS"]
    serial = str(info.get("serialNumber", "0"))
    return Certificate(
        fingerprint_sha256=hashlib.sha256(der).hexdigest(),
        subject=_rfc4514(info.get("subject")),
        issuer=_rfc4514(info.get("issuer")),
        subjectalternative=",".join(str(n) for n in names),
        serialnumber=format(int(serial, 16), "x"),
    )


def _verified_chain_expiry(tls_object: ssl.SSLObject) -> float | None:
    """Earliest notAfter of the verified chain (leaf to trust anchor); None if not verified."""
    if not tls_object.getpeercert():  # empty unless the certificate was verified
        return None
    return _chain_expiry(tls_object, "get_verified_chain")


_RECORDER: contextvars.ContextVar[_PhaseRecorder | None] = contextvars.ContextVar(
    "monitor_http_phase_recorder", default=None
)


class _RecordingResolver(AbstractResolver):
    """A resolver that tells the current fetch when its lookup ended and which address its name
    resolved to first.

    So probe_ip_protocol and probe_ip_addr_hash are known even when the connection then fails,
    as blackbox_exporter knows them from its own lookup; the connection's peer replaces it.
    """

    def __init__(self, inner: AbstractResolver) -> None:
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        hosts = await self._inner.resolve(host, port, family)
        recorder = _RECORDER.get()
        if recorder is not None:
            recorder.enter(_CONNECT)  # the name is resolved: connecting starts
            if hosts and recorder.peer is None:
                recorder.peer = str(hosts[0]["host"])
        return hosts

    async def close(self) -> None:
        await self._inner.close()


class _DirectConnector(aiohttp.TCPConnector):
    """aiohttp's connector, but a lone address is connected to by the event loop itself.

    For every connection aiohttp runs happy eyeballs: it makes a socket, connects it with
    `loop.sock_connect`, then hands it to `loop.create_connection(sock=...)`. With one address
    to try there is nothing to race, and letting the loop create and connect the socket in one
    call costs about a quarter of the CPU on uvloop (measured on loopback: 49 µs against 208 µs
    a connection), on every probe. Several addresses (IPv6 and IPv4), an IPv6 zone or a local
    address keep aiohttp's way; errors are wrapped exactly as aiohttp wraps them.
    """

    async def connect(
        self,
        req: ClientRequest,
        traces: list[Any],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's signature
    ) -> Connection:
        """A new connection, its start and end marked on the current fetch's timeline.

        In place of aiohttp's trace hooks, which cost a dozen awaited signals a request.
        """
        recorder = _RECORDER.get()
        if recorder is not None:
            # An IP address in the URL skips DNS (and the resolver): connecting starts now.
            recorder.enter(_CONNECT if recorder.literal_host else _RESOLVE)
        connection = await super().connect(req, traces, timeout)
        if recorder is not None:
            recorder.enter(_PROCESSING)
        return connection

    async def _wrap_create_connection(
        self,
        *args: Any,
        addr_infos: list[Any],
        req: ClientRequest,
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's signature
        client_error: type[Exception] = aiohttp.ClientConnectorError,
        **kwargs: Any,
    ) -> tuple[asyncio.Transport, Any]:
        direct = len(addr_infos) == 1 and not getattr(self, "_local_addr_infos", None)
        if direct:
            family, _, proto, _, address = addr_infos[0]
            direct = family == socket.AF_INET or (family == socket.AF_INET6 and not address[3])
        if not direct:
            return await super()._wrap_create_connection(
                *args,
                addr_infos=addr_infos,
                req=req,
                timeout=timeout,
                client_error=client_error,
                **kwargs,
            )
        # No connect timeout of its own here: fetch() bounds the whole exchange (and names the
        # phase it ran out in); our sessions set none.
        loop: Any = self._loop
        shutdown_timeout = getattr(self, "_ssl_shutdown_timeout", None)
        if kwargs.get("ssl") and shutdown_timeout and sys.version_info >= (3, 11):
            kwargs["ssl_shutdown_timeout"] = shutdown_timeout
        try:
            connected: tuple[asyncio.Transport, Any] = await loop.create_connection(
                *args, host=address[0], port=address[1], family=family, proto=proto, **kwargs
            )
            return connected
        except ssl.CertificateError as exc:  # aiohttp's cert_errors
            raise aiohttp.ClientConnectorCertificateError(req.connection_key, exc) from exc
        except ssl.SSLError as exc:  # aiohttp's ssl_errors
            raise aiohttp.ClientConnectorSSLError(req.connection_key, exc) from exc
        except OSError as exc:
            if exc.errno is None and isinstance(exc, asyncio.TimeoutError):
                raise
            raise client_error(req.connection_key, exc) from exc


class _TimedSSLContext(ssl.SSLContext):
    """An SSLContext that tells the current fetch when its TLS handshake starts."""

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        tls_object = super().wrap_bio(incoming, outgoing, server_side, server_hostname, session)
        recorder = _RECORDER.get()
        if recorder is not None:
            recorder.enter(_TLS)
            recorder.tls_object = recorder.hop_tls = tls_object
            recorder.tls_verified = self.verify_mode != ssl.CERT_NONE
        return tls_object


def earliest_cert_expiry(tls_object: ssl.SSLObject) -> float | None:
    """Earliest notAfter (unix seconds) of the chain the peer sent, verified or not."""
    # The chain is what blackbox_exporter's probe_ssl_earliest_cert_expiry looks at.
    return _chain_expiry(tls_object, "get_unverified_chain")


def _chain_expiry(tls_object: ssl.SSLObject, chain: str) -> float | None:
    """Earliest notAfter of one chain of the connection (get_unverified_chain, get_verified_chain).

    Without a chain to read, fall back to the leaf from getpeercert(), which is only filled in
    when the certificate was verified.
    """
    try:
        expiries = _chain_not_afters(tls_object, chain)
        if not expiries:
            leaf = tls_object.getpeercert()
            if leaf and isinstance(not_after := leaf.get("notAfter"), str):
                expiries.append(ssl.cert_time_to_seconds(not_after))
    except (ValueError, ssl.SSLError):
        return None
    return min(expiries, default=None)


def public_chain_not_afters(tls_object: ssl.SSLObject, chain: str) -> list[float]:
    """The chain's notAfter dates, through the public API (Python 3.13+: the chain as DER)."""
    ders: list[bytes] = getattr(tls_object, chain)() or []
    return [t for der in ders if (t := der_not_after(der)) is not None]


def private_chain_not_afters(tls_object: ssl.SSLObject, chain: str) -> list[float]:
    """The chain's notAfter dates; before 3.13 only the private _sslobj has both chains
    (as _ssl.Certificate objects, readable without verification: CPython 3.10+)."""
    chain_of = getattr(getattr(tls_object, "_sslobj", None), chain, None)
    expiries: list[float] = []
    for cert in (chain_of() if chain_of is not None else None) or ():
        not_after = cert.get_info().get("notAfter")
        if not_after:
            expiries.append(ssl.cert_time_to_seconds(not_after))
    return expiries


# Python 3.13 made both chains public; before it, only the private object has them.
_chain_not_afters = (
    public_chain_not_afters if sys.version_info >= (3, 13) else private_chain_not_afters
)


def der_not_after(der: bytes) -> float | None:
    """A DER certificate's notAfter (unix seconds); None if the bytes are not one.

    Certificate = SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
    signature, issuer, validity SEQUENCE { notBefore, notAfter }, ... }, ... } (RFC 5280).
    """
    try:
        _, tbs, _ = _der_item(der, 0)  # the certificate's content
        tag, start, end = _der_item(der, tbs)  # tbsCertificate
        at = start
        if der[at] == 0xA0:  # explicit version
            at = _der_item(der, at)[2]
        for _ in range(3):  # serialNumber, signature, issuer
            at = _der_item(der, at)[2]
        _, validity, _ = _der_item(der, at)
        not_before_end = _der_item(der, validity)[2]
        tag, start, end = _der_item(der, not_before_end)
        text = der[start:end].decode("ascii")
    except (IndexError, UnicodeDecodeError):
        return None
    if tag == 0x17 and len(text) == 13:  # UTCTime YYMMDDHHMMSSZ: 50-99 is 19xx (RFC 5280)
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != 0x18 or len(text) != 15:  # GeneralizedTime YYYYMMDDHHMMSSZ
        return None
    try:
        moment = datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return moment.timestamp()


def _der_item(der: bytes, at: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER item at `at`."""
    tag, length, at = der[at], der[at + 1], at + 2
    if length & 0x80:  # long form: the next (length & 0x7F) bytes are the length
        size = length & 0x7F
        length, at = int.from_bytes(der[at : at + size], "big"), at + size
    if at + length > len(der):
        raise IndexError("DER item runs past the end")
    return tag, at, at + length


@functools.lru_cache(maxsize=65536)  # per fetch, over the checks' URLs (a URL is immutable)
def _parsed(url: str) -> URL:
    return URL(url)


@functools.lru_cache(maxsize=4096)  # per hop, over the few hosts the checks name
def _is_ip_literal(host: str | None) -> bool:
    if not host or not (host[0].isdigit() or ":" in host):
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _human_size(size: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            amount = size / factor
            return f"{amount:g} {unit}" if amount == int(amount) else f"{amount:.1f} {unit}"
    return f"{size} bytes"


def _reason(error: BaseException) -> str:
    """An OS/SSL error in plain words, without errno noise."""
    if isinstance(error, ssl.SSLError) and error.reason:
        return str(error.reason).replace("_", " ").lower()
    text = ""
    if isinstance(error, socket.gaierror):
        text = error.strerror or ""
    elif isinstance(error, OSError) and error.errno and error.errno > 0:
        text = os.strerror(error.errno)  # asyncio's own wording ("Connect call failed") hides it
        text = text[0].lower() + text[1:]
    return text or str(error) or type(error).__name__


def _cert_problem(error: ssl.SSLCertVerificationError, cert_expiry: float | None) -> str:
    message = error.verify_message or _reason(error)
    code = error.verify_code
    if code == 10 and cert_expiry is not None:
        lapsed = datetime.fromtimestamp(cert_expiry, UTC).strftime("%Y-%m-%d %H:%M UTC")
        return f"certificate has expired (on {lapsed})"
    if code in _CERT_PROBLEMS:
        problem = _CERT_PROBLEMS[code]
        return problem if message.lower() == problem else f"{problem} ({message})"
    if code in _UNTRUSTED_CODES:
        return f"certificate not trusted ({message})"
    return f"certificate rejected ({message})"


def classify(
    error: BaseException, phase: int, timeout: float, cert_expiry: float | None = None
) -> tuple[Outcome, str]:
    """Map any failure of a fetch to exactly one outcome and a detail a person understands.

    `phase` is where the fetch was when it failed; it decides between connect-time and
    mid-exchange failures for errors that look alike (a reset, an SSL alert). `cert_expiry`
    dates an expired certificate.
    """
    mid_exchange = phase in (_PROCESSING, _TRANSFER, _DONE)
    where = "before the response headers were complete" if phase == _PROCESSING else "mid-body"
    if isinstance(error, TimeoutError) and not isinstance(error, aiohttp.ClientError):
        doing = _PHASE_DOING[phase] if phase != _DONE else "after the body was read"
        return Outcome.TIMEOUT, f"timeout after {timeout:g}s {doing}"
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return Outcome.DNS_ERROR, f"cannot resolve {error.host}: {_reason(error.os_error)}"
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        cert_error = error.certificate_error
        if isinstance(cert_error, ssl.SSLCertVerificationError):
            return Outcome.TLS_ERROR, _cert_problem(cert_error, cert_expiry)
        return Outcome.TLS_ERROR, f"certificate rejected ({_reason(cert_error)})"
    if isinstance(error, aiohttp.ClientConnectorSSLError):
        return Outcome.TLS_ERROR, f"TLS handshake failed: {_reason(error.os_error)}"
    if isinstance(error, aiohttp.ClientConnectorError):
        if phase == _TLS:  # the peer hung up on our ClientHello: still the handshake failing
            return Outcome.TLS_ERROR, f"TLS handshake failed: {_reason(error.os_error)}"
        return (
            Outcome.CONNECT_ERROR,
            f"cannot connect to {error.host}:{error.port}: {_reason(error.os_error)}",
        )
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return Outcome.DROPOUT, f"server closed the connection {where}"
    if isinstance(error, aiohttp.ClientPayloadError):
        return _payload_failure(error)
    if isinstance(error, aiohttp.ClientResponseError):
        return Outcome.HTTP_ERROR, f"invalid HTTP response: {_one_line(error.message)}"
    if isinstance(error, (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)):
        return Outcome.HTTP_ERROR, f"invalid URL: {error}"
    if isinstance(error, ssl.SSLCertVerificationError):
        return Outcome.TLS_ERROR, _cert_problem(error, cert_expiry)
    if isinstance(error, ssl.SSLError) and not mid_exchange:
        return Outcome.TLS_ERROR, f"TLS handshake failed: {_reason(error)}"
    if isinstance(error, (aiohttp.ClientConnectionError, OSError)):
        if mid_exchange:
            return Outcome.DROPOUT, f"connection lost {where}: {_reason(error)}"
        if phase == _TLS:
            return Outcome.TLS_ERROR, f"TLS handshake failed: {_reason(error)}"
        if phase == _RESOLVE:
            return Outcome.DNS_ERROR, f"cannot resolve the name: {_reason(error)}"
        return Outcome.CONNECT_ERROR, f"cannot connect: {_reason(error)}"
    if isinstance(error, aiohttp.ClientError):
        return Outcome.HTTP_ERROR, f"HTTP client error: {_one_line(str(error))}"
    if isinstance(error, UnicodeError):  # a host name that is not valid IDNA, e.g. from Location
        return Outcome.HTTP_ERROR, f"invalid host name in URL: {_one_line(str(error))}"
    return Outcome.PROBE_ERROR, f"internal error: {type(error).__name__}: {error}"


_RECEIVED = re.compile(r"received (\d+) of (\d+) bytes")


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _payload_failure(error: aiohttp.ClientPayloadError) -> tuple[Outcome, str]:
    """A body that could not be read to its end: cut short (dropout) or undecodable."""
    cause = error.__cause__ or error.__context__
    message = getattr(cause, "message", None) or str(cause or error)
    if isinstance(cause, ContentLengthError) and (got := _RECEIVED.search(message)):
        return (
            Outcome.DROPOUT,
            f"connection ended mid-body after {got[1]} of {got[2]} bytes (Content-Length)",
        )
    if isinstance(cause, TransferEncodingError) and "not enough data" in message.lower():
        return Outcome.DROPOUT, "connection ended mid-body before the last chunk (chunked body)"
    if isinstance(cause, ContentEncodingError) or "decode" in message.lower():
        return Outcome.HTTP_ERROR, f"body cannot be decoded: {_one_line(message)}"
    if isinstance(cause, TransferEncodingError):
        return Outcome.HTTP_ERROR, f"invalid chunked body: {_one_line(message)}"
    return Outcome.DROPOUT, f"connection ended mid-body: {_one_line(message)}"


# What classify() maps (TimeoutError is an OSError); anything else is a bug in the monitor and
# propagates with its traceback. ValueError is here because yarl and aiohttp raise it for URLs a
# target sends in Location.
_MAPPED_ERRORS = (aiohttp.ClientError, OSError, ssl.SSLError, ValueError)


class HttpClient:
    """Fetch URLs over fresh connections with phase timings; one per process, shared by probes."""

    def __init__(
        self,
        *,
        resolver: AbstractResolver | None = None,
        user_agent: str = f"monitor/{__version__}",
    ) -> None:
        self._resolver = resolver
        self._user_agent = user_agent
        self._connector: aiohttp.TCPConnector | None = None
        self._recording: _RecordingResolver | None = None
        self._session: aiohttp.ClientSession | None = None
        # Building an SSLContext (loading a trust store) costs milliseconds: build each once.
        self._ssl_contexts: dict[tuple[str | None, int, bool], ssl.SSLContext] = {}

    async def start(self) -> None:
        """Create the shared connector and session (needs a running loop)."""
        if self._session is not None:
            return
        # Ours, so closed here: the connector closes only resolvers it made itself.
        self._recording = _RecordingResolver(self._resolver or aiohttp.DefaultResolver())
        self._connector = _DirectConnector(
            force_close=True, limit=0, use_dns_cache=False, resolver=self._recording
        )
        # No cookies kept between fetches: every probe is a first-time visitor.
        self._session = self._new_session(aiohttp.DummyCookieJar(), owns_connector=True)
        self.ssl_context(_VERIFY_TLS)  # the system trust store, loaded before the first probe

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._recording is not None:
            await self._recording.close()
        self._session = None
        self._connector = None
        self._recording = None

    async def __aenter__(self) -> HttpClient:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _new_session(
        self, cookie_jar: AbstractCookieJar, *, owns_connector: bool = False
    ) -> aiohttp.ClientSession:
        if self._connector is None:
            raise RuntimeError("HttpClient.start() was not awaited")
        return aiohttp.ClientSession(
            connector=self._connector,
            connector_owner=owns_connector,
            cookie_jar=cookie_jar,
            # fetch() enforces one total timeout itself, naming the phase it expired in.
            timeout=aiohttp.ClientTimeout(total=None),
            headers={"User-Agent": self._user_agent},
            max_line_size=_MAX_HEADER_LINE,
            max_field_size=_MAX_HEADER_LINE,
        )

    def cookie_session(self) -> aiohttp.ClientSession:
        """A session with its own cookie jar over the shared connector, for multi-step flows.

        Pass it to `fetch(..., session=...)` so each step is timed and mapped like any fetch.
        The caller closes it; closing it leaves the shared connector open.
        """
        return self._new_session(aiohttp.CookieJar(unsafe=True))

    def ssl_context(self, tls: TLSSpec) -> ssl.SSLContext:
        """The (cached) context for a check's TLS settings; raises FetchError if the CA is bad."""
        ca_file = str(tls.ca_file) if tls.ca_file is not None else None
        try:
            # The file's mtime is in the key so an updated CA bundle is picked up.
            mtime = os.stat(ca_file).st_mtime_ns if ca_file else 0
            key = (ca_file, mtime, tls.verify)
            context = self._ssl_contexts.get(key)
            if context is None:
                context = self._ssl_contexts[key] = self._build_ssl_context(ca_file, tls.verify)
        except (OSError, ssl.SSLError) as exc:
            # The monitor's own setup, not the site: probe_error opens no incident.
            raise FetchError(
                Outcome.PROBE_ERROR, f"cannot load CA file {ca_file}: {_reason(exc)}"
            ) from exc
        return context

    @staticmethod
    def _build_ssl_context(ca_file: str | None, verify: bool) -> ssl.SSLContext:
        # As ssl.create_default_context() does, so SSL_CERT_FILE/SSL_CERT_DIR are honoured.
        context = _TimedSSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif ca_file is not None:
            context.load_verify_locations(cafile=ca_file)
        else:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        return context

    async def fetch(
        self,
        url: str,
        *,
        timeout: float,  # noqa: ASYNC109 - one total deadline, enforced (and named) inside
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        json: Any = None,
        tls: TLSSpec = _VERIFY_TLS,
        max_body: int = DEFAULT_MAX_BODY,
        follow_redirects: bool = True,
        max_redirects: int = 10,
        session: aiohttp.ClientSession | None = None,
    ) -> Response:
        """Fetch `url` on a fresh connection within `timeout` s, redirects and body included.

        Raises FetchError for anything the target (or the network) does; nothing else.
        """
        if session is None:
            if self._session is None:
                raise RuntimeError("HttpClient.start() was not awaited")
            session = self._session
        if url[:6].lower() == "https:":
            # Built (once) before the clock starts: loading a trust store is not the site's time.
            self.ssl_context(tls)
        recorder = _PhaseRecorder()
        token = _RECORDER.set(recorder)
        try:
            async with asyncio.timeout(timeout):
                return await self._exchange(
                    session,
                    recorder,
                    _parsed(url),
                    method=method.upper(),
                    headers=headers,
                    data=data,
                    json=json,
                    tls=tls,
                    max_body=max_body,
                    follow_redirects=follow_redirects,
                    max_redirects=max_redirects,
                )
        except FetchError as failure:
            raise self._measured(failure, recorder) from failure.__cause__
        except _MAPPED_ERRORS as exc:  # the deadline's TimeoutError included
            outcome, detail = classify(exc, recorder.phase, timeout, recorder.cert_expiry())
            raise self._measured(FetchError(outcome, detail), recorder) from exc
        finally:
            _RECORDER.reset(token)

    @staticmethod
    def _measured(failure: FetchError, recorder: _PhaseRecorder) -> FetchError:
        failure.transport = recorder.transport()
        return failure

    async def _exchange(
        self,
        session: aiohttp.ClientSession,
        recorder: _PhaseRecorder,
        url: URL,
        *,
        method: str,
        headers: Mapping[str, str] | None,
        data: Any,
        json: Any,
        tls: TLSSpec,
        max_body: int,
        follow_redirects: bool,
        max_redirects: int,
    ) -> Response:
        # A plain fetch (the shared cookieless session, no form or JSON to encode) takes the
        # lean exchange; cookie sessions and encoded bodies keep aiohttp's whole machinery.
        lean = session is self._session and json is None and isinstance(data, str | bytes | None)
        lean_body = data.encode() if isinstance(data, str) else data
        redirects: list[str] = []
        hop_cookies: SimpleCookie | None = None  # cookies set along the way, for this fetch only
        # A URL seen again with the same cookies is a loop; with new cookies it is the common
        # "set a cookie and redirect to yourself" gate, which a browser passes.
        seen = {(method, url, _cookie_state(session, hop_cookies, url))}
        while True:
            if url.scheme not in ("http", "https") or not url.host:
                raise FetchError(Outcome.HTTP_ERROR, f"not an http(s) URL: {url}")
            recorder.start_hop(url)
            response: _Answer
            if lean:
                response = await self._lean_hop(
                    recorder,
                    url,
                    method=method,
                    headers=headers,
                    body=lean_body,
                    tls=tls,
                    cookies=hop_cookies,
                )
            else:
                response = await session.request(
                    method,
                    url,
                    headers=headers,
                    data=data,
                    json=json,
                    allow_redirects=False,
                    ssl=self.ssl_context(tls) if url.scheme == "https" else True,
                    cookies=hop_cookies,
                )
                connection = response.connection
                recorder.answered(response, connection.transport if connection else None)
            try:
                location = response.headers.get("Location")
                if not (follow_redirects and response.status in _REDIRECT_STATUSES and location):
                    body = await _read_body(response, max_body)
                    return Response(
                        url=str(response.url),
                        headers=response.headers,
                        body=body,
                        redirects=tuple(redirects),
                        transport=recorder.transport(body),
                    )
                if "Set-Cookie" in response.headers and not _has_own_jar(session):
                    hop_cookies = hop_cookies or SimpleCookie()
                    hop_cookies.update(response.cookies)
            finally:
                response.release()

            try:
                target = url.join(URL(location))
            except ValueError as exc:
                raise FetchError(
                    Outcome.HTTP_ERROR, f"redirect to an invalid URL {location!r}"
                ) from exc
            redirects.append(str(url))
            recorder.redirects = len(redirects)
            if len(redirects) > max_redirects:
                raise FetchError(
                    Outcome.HTTP_ERROR,
                    f"too many redirects (more than {max_redirects}), the last to {target}",
                )
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                method, data, json = ("HEAD" if method == "HEAD" else "GET"), None, None
                lean_body = None
            if headers and target.origin() != url.origin():
                headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIAL_HEADERS}
            key = (method, target, _cookie_state(session, hop_cookies, target))
            if key in seen:
                chain = " → ".join([*redirects, str(target)])
                raise FetchError(Outcome.HTTP_ERROR, f"redirect loop: {chain}")
            seen.add(key)
            url = target

    async def _lean_hop(
        self,
        recorder: _PhaseRecorder,
        url: URL,
        *,
        method: str,
        headers: Mapping[str, str] | None,
        body: bytes | None,
        tls: TLSSpec,
        cookies: SimpleCookie | None,
    ) -> _LeanAnswer:
        """One request on a fresh connection by the lean exchange, each step timed as it ends."""
        if self._recording is None:
            raise RuntimeError("HttpClient.start() was not awaited")
        loop = asyncio.get_running_loop()
        host = url.raw_host or ""
        sslcontext = self.ssl_context(tls) if url.scheme == "https" else None
        key = exchange.connection_key(url, sslcontext)
        if recorder.literal_host:  # an address in the URL: connecting started with the hop
            addresses = [exchange.address_info(host, url.port or 0)]
        else:  # the recording resolver marks the end of the lookup (and its first address)
            addresses = await exchange.resolve(self._recording, url, key)
        protocol = await exchange.connect(loop, addresses, key)
        try:
            if sslcontext is not None:
                recorder.enter(_TLS)
                # Certificates name hosts without the trailing dot of a fully-qualified name.
                server_hostname = host.rstrip(".")
                protocol = await exchange.secure(loop, protocol, sslcontext, server_hostname, key)
            recorder.enter(_PROCESSING)
            cookie = (
                "; ".join(f"{k}={m.coded_value}" for k, m in sorted(cookies.items()))
                if cookies
                else ""
            )
            head, sent = exchange.request_head(
                method, url, headers, user_agent=self._user_agent, cookie=cookie, body=body
            )
            message, payload = await exchange.send(
                protocol, head, body, method=method, url=url, sent=sent, max_line=_MAX_HEADER_LINE
            )
        except BaseException:
            protocol.abort()
            raise
        answer = _LeanAnswer(url, message, payload, protocol)
        recorder.answered(answer, protocol.transport)
        return answer


def _has_own_jar(session: aiohttp.ClientSession) -> bool:
    return not isinstance(session.cookie_jar, aiohttp.DummyCookieJar)


def _cookie_state(
    session: aiohttp.ClientSession, hop_cookies: SimpleCookie | None, url: URL
) -> str:
    """The cookies a request to `url` would carry, as text (part of a redirect loop's key)."""
    if _has_own_jar(session):
        return session.cookie_jar.filter_cookies(url).output(header="", sep=";")
    return hop_cookies.output(header="", sep=";") if hop_cookies else ""


async def _read_body(response: _Answer, max_body: int) -> bytes:
    """Read the whole body, but never more than max_body bytes (after decompression)."""
    if response.content_length is not None and response.content_length > max_body:
        raise _too_large(max_body)
    chunks: list[bytes] = []
    size = 0
    stream = response.content
    while chunk := await stream.readany():
        size += len(chunk)
        if size > max_body:
            raise _too_large(max_body)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(max_body: int) -> FetchError:
    return FetchError(Outcome.CONTENT_MISMATCH, f"body larger than {_human_size(max_body)}")
