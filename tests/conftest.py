"""Shared fixtures: a test CA and certificates, loopback servers by name, the HTTP client, the
context a probe gets and the fake site it probes."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import structlog
import trustme
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from monitor.probes.base import ProbeContext
from monitor.probes.httpclient import HttpClient
from monitor.redact import SECRETS
from tests.fakeclock import WallClock
from tests.fakesite import NOW, FakeSite
from tests.targets import TEST_HOST, LoopbackResolver, ServeApp, server_context

# Fixtures that live beside the helpers they use, available to every test without an import:
# `pg_url`/`pg_conn` (a fresh PostgreSQL schema), `target` (a site for `monitor run`),
# `world` (a running monitor over a small world of sites).
pytest_plugins = ["tests.pg", "tests.service", "tests.webworld"]


@pytest.fixture(autouse=True)
def _fresh_logging() -> object:
    """Undo `configure_logging` after a test: it binds the stream pytest captured, then closes."""
    yield
    structlog.reset_defaults()


@pytest.fixture(autouse=True)
def _no_secrets_left() -> object:
    """Forget the secrets a test's configs registered, so they do not mask another's text."""
    yield
    SECRETS.clear()


# --- TLS: one CA for the session, certificates for TEST_HOST, good and bad ---------------------


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    """The CA the tests trust (through a CA file or SSL_CERT_FILE)."""
    return trustme.CA()


@pytest.fixture(scope="session")
def tls_cert(tls_ca: trustme.CA) -> trustme.LeafCert:
    """A valid certificate for TEST_HOST."""
    return tls_ca.issue_cert(TEST_HOST)


@pytest.fixture(scope="session")
def expired_cert(tls_ca: trustme.CA) -> trustme.LeafCert:
    """A certificate for TEST_HOST that expired yesterday."""
    now = dt.datetime.now(dt.UTC)
    return tls_ca.issue_cert(
        TEST_HOST, not_before=now - dt.timedelta(days=90), not_after=now - dt.timedelta(days=1)
    )


@pytest.fixture(scope="session")
def wrong_host_cert(tls_ca: trustme.CA) -> trustme.LeafCert:
    """A valid certificate, but for another host."""
    return tls_ca.issue_cert("other.test")


@pytest.fixture(scope="session")
def untrusted_cert() -> trustme.LeafCert:
    """A certificate for TEST_HOST from a CA nobody trusts."""
    return trustme.CA().issue_cert(TEST_HOST)


@pytest.fixture(scope="session")
def ca_file(tls_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test CA as a PEM file (a check's `tls.ca_file`, or SSL_CERT_FILE)."""
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(path))
    return path


# --- Names, servers and the client ---------------------------------------------------------


@pytest.fixture
def resolver() -> LoopbackResolver:
    """Resolves `*.test` to 127.0.0.1 and fails other names; records lookups."""
    return LoopbackResolver()


@pytest.fixture
async def http_client(resolver: LoopbackResolver) -> AsyncIterator[HttpClient]:
    """A started HttpClient that resolves through the loopback resolver."""
    async with HttpClient(resolver=resolver) as client:
        yield client


@pytest.fixture
async def probe_ctx(http_client: HttpClient) -> AsyncIterator[ProbeContext]:
    """The context a probe gets, over the test client, on the real wall clock (the test
    certificates' dates are real); closed afterwards (kept sessions, parser workers)."""
    context = ProbeContext(http=http_client, location="test")
    yield context
    await context.close()


# --- The fake government site and the clock its dates are written for ----------------------


@pytest.fixture
def clock() -> WallClock:
    """The wall clock of `ctx`: NOW, the moment the fake site's dates are written for; the test
    moves it by hand."""
    return WallClock(NOW)


@pytest.fixture
async def ctx(http_client: HttpClient, clock: WallClock) -> AsyncIterator[ProbeContext]:
    """The context a probe gets, over the test client, on `clock`; closed afterwards (kept
    sessions, parser workers)."""
    context = ProbeContext(http=http_client, location="test", now=clock)
    yield context
    await context.close()


@pytest.fixture
def fake() -> FakeSite:
    """The fake government site, for the test to set up before `site` serves it."""
    return FakeSite()


@pytest.fixture
async def site(fake: FakeSite, serve: ServeApp) -> str:
    """The fake site's base URL under TEST_HOST; other.test (the same server) plays an
    external site."""
    base = await serve(fake.app())
    fake.base_url = base
    fake.other_url = base.replace(TEST_HOST, "other.test")
    return base


@pytest.fixture
def serve(aiohttp_server: AiohttpServer) -> ServeApp:
    """Start an aiohttp app on loopback; return its base URL under TEST_HOST.

    `await serve(app)` serves plain HTTP; `await serve(app, cert=leaf)` serves HTTPS with `leaf`.
    """

    async def start(app: web.Application, *, cert: trustme.LeafCert | None = None) -> str:
        ssl = server_context(cert) if cert is not None else None
        server = await aiohttp_server(app, ssl=ssl)
        scheme = "https" if cert is not None else "http"
        return f"{scheme}://{TEST_HOST}:{server.port}"

    return start
