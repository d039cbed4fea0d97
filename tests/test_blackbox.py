"""The blackbox_exporter HTTP series of an `http` check, from real probes of loopback servers.

Each value is checked against what the server did (its certificate read with `cryptography`,
the bytes it sent, the redirects it answered, the address it listens on), not against the
monitor's own reading of it.
"""

from __future__ import annotations

import gzip
import ipaddress
from pathlib import Path
from typing import Any

import trustme
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from prometheus_client import CollectorRegistry

from monitor.configtypes import TLSSpec
from monitor.metrics import Metrics
from monitor.probes.base import ProbeContext
from monitor.probes.http import HttpCheck, probe
from monitor.results import Outcome
from tests.targets import TEST_HOST, ServeApp, answer_after, raw_server

PAGE = (
    "<html><head><title>国资委</title></head><body>"
    + "国务院国有资产监督管理委员会 " * 200
    + "</body></html>"
)


def check(url: str, ca_file: Path | None = None, **settings: Any) -> HttpCheck:
    tls = TLSSpec(ca_file=ca_file) if ca_file is not None else TLSSpec()
    settings.setdefault("timeout", 2)
    return HttpCheck(id="home", site="sasac", url=url, interval=60, tls=tls, **settings)


def fnv1a_32(data: bytes) -> int:
    """FNV-1a, 32 bits (Go's hash/fnv New32a), as blackbox_exporter hashes the address."""
    value = 2166136261
    for byte in data:
        value ^= byte
        value = (value * 16777619) % 2**32
    return value


SENT: dict[str, int] = {}  # what site_app's page last put in its Content-Length


def site_app() -> web.Application:
    """A page served gzip-compressed behind two redirects."""

    async def page(request: web.Request) -> web.Response:
        body = gzip.compress(PAGE.encode())
        SENT["content_length"] = len(body)
        return web.Response(
            body=body,
            headers={"Content-Encoding": "gzip", "Content-Type": "text/html; charset=utf-8"},
        )

    async def first(request: web.Request) -> web.Response:
        raise web.HTTPFound("/second")

    async def second(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/page")

    app = web.Application()
    app.router.add_get("/page", page)
    app.router.add_get("/first", first)
    app.router.add_get("/second", second)
    return app


async def test_https_probe_exports_what_the_server_sent(
    serve: ServeApp, tls_cert: trustme.LeafCert, tls_ca: trustme.CA, ca_file: Path,
    probe_ctx: ProbeContext,
) -> None:  # fmt: skip
    """Over TLS behind two redirects with a gzip body: version, lengths, redirects, address, TLS and the leaf certificate as blackbox reports them."""
    base = await serve(site_app(), cert=tls_cert)
    url = f"{base}/first"  # -> /second -> /page
    result = await probe(check(url, ca_file, expect={"body_contains": ["国资委"]}), probe_ctx)
    assert result.outcome is Outcome.OK, result.detail
    transport = result.transport
    assert transport is not None
    assert transport.http_version == 1.1
    assert transport.redirects == 2
    assert transport.body_length == len(PAGE.encode())
    # The header as sent (the compressed length), not the body read.
    assert transport.content_length == SENT["content_length"] < transport.body_length
    assert transport.ssl is True
    assert transport.ip_protocol == 4
    assert transport.ip_addr_hash == fnv1a_32(ipaddress.ip_address("127.0.0.1").packed)
    assert result.phases is not None
    assert 0 <= transport.dns_lookup_seconds <= result.phases.resolve
    assert transport.failed_due_to_regex is False
    assert transport.tls_version == "TLS 1.3"  # aiohttp's server side defaults to 1.3

    leaf = x509.load_pem_x509_certificate(tls_cert.cert_chain_pems[0].bytes())
    root = x509.load_pem_x509_certificate(tls_ca.cert_pem.bytes())
    cert = transport.certificate
    assert cert is not None
    assert cert.fingerprint_sha256 == leaf.fingerprint(hashes.SHA256()).hex()
    assert cert.subject == leaf.subject.rfc4514_string()
    assert cert.issuer == leaf.issuer.rfc4514_string()
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert cert.subjectalternative == ",".join(names.get_values_for_type(x509.DNSName))
    assert cert.serialnumber == format(leaf.serial_number, "x")
    # The verified chain is leaf and root: its earliest expiry.
    earliest = min(leaf.not_valid_after_utc, root.not_valid_after_utc).timestamp()
    assert transport.last_chain_expiry == earliest

    # Into the metrics with blackbox's names.
    registry = CollectorRegistry()
    metrics = Metrics(registry, location="test", version="1")
    metrics.declare(check(url, ca_file))
    metrics.observe(result)
    labels = {"site": "sasac", "check": "home", "type": "http", "location": "test"}
    get = registry.get_sample_value
    assert get("probe_http_redirects", labels) == 2
    assert get("probe_http_uncompressed_body_length", labels) == len(PAGE.encode())
    assert get("probe_http_ssl", labels) == 1
    assert get("probe_tls_version_info", {**labels, "version": "TLS 1.3"}) == 1
    assert get("probe_ssl_last_chain_expiry_timestamp_seconds", labels) == earliest
    info = {**labels, "fingerprint_sha256": cert.fingerprint_sha256, "issuer": cert.issuer,
            "serialnumber": cert.serialnumber, "subject": cert.subject,
            "subjectalternative": cert.subjectalternative}  # fmt: skip
    assert get("probe_ssl_last_chain_info", info) == 1


async def test_plain_probe_failing_its_marker(serve: ServeApp, probe_ctx: ProbeContext) -> None:
    """A plain-HTTP page without its marker: failed due to regex, no TLS, Content-Length as sent."""

    async def plain(request: web.Request) -> web.Response:
        return web.Response(text="维护中", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", plain)
    base = await serve(app)
    result = await probe(check(f"{base}/", expect={"body_contains": ["国资委"]}), probe_ctx)
    assert result.outcome is Outcome.CONTENT_MISMATCH
    transport = result.transport
    assert transport is not None
    assert transport.failed_due_to_regex is True
    assert transport.ssl is False
    assert transport.tls_version is None and transport.certificate is None
    assert transport.content_length == len("维护中".encode()) == transport.body_length
    assert transport.redirects == 0


async def test_unverified_tls_has_no_verified_chain(
    serve: ServeApp, tls_cert: trustme.LeafCert, probe_ctx: ProbeContext
) -> None:
    """With tls.verify false there is no verified chain: TLS version yes, chain expiry and info no."""
    base = await serve(site_app(), cert=tls_cert)
    spec = HttpCheck(id="home", site="sasac", url=f"{base}/page", interval=60, timeout=2,
                     tls=TLSSpec(verify=False))  # fmt: skip
    result = await probe(spec, probe_ctx)
    assert result.outcome is Outcome.OK, result.detail
    transport = result.transport
    assert transport is not None
    assert transport.ssl is True and transport.tls_version == "TLS 1.3"
    assert transport.last_chain_expiry is None
    assert transport.certificate is None


async def test_timeout_keeps_the_lookup_and_the_address(probe_ctx: ProbeContext) -> None:
    """A server that never answers: the lookup and the address are known, no answer facts."""
    async with raw_server(answer_after(5, b"HTTP/1.1 200 OK\r\n\r\n")) as port:
        result = await probe(check(f"http://{TEST_HOST}:{port}/", timeout=0.3), probe_ctx)
    assert result.outcome is Outcome.TIMEOUT
    transport = result.transport
    assert transport is not None
    assert transport.ip_protocol == 4
    assert transport.ip_addr_hash == fnv1a_32(bytes([127, 0, 0, 1]))
    assert transport.http_version == 0 and transport.content_length == 0
    assert transport.body_length == 0 and transport.ssl is False
    assert result.phases is not None and 0 <= transport.dns_lookup_seconds <= result.phases.resolve
