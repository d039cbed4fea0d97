"""The `http` probe and the HTTP client under it, against real misbehaving loopback servers."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
import uvloop
from aiohttp import web
from yarl import URL

from monitor.configtypes import TLSSpec
from monitor.probes import CHECK_TYPES
from monitor.probes.base import ProbeContext
from monitor.probes.http import HttpCheck, probe
from monitor.probes.httpclient import (
    FetchError,
    HttpClient,
    Response,
    decode_body,
    der_not_after,
    private_chain_not_afters,
    public_chain_not_afters,
)
from monitor.results import Outcome, ProbeResult
from tests.targets import (
    TEST_HOST,
    LoopbackResolver,
    ServeApp,
    answer_after,
    close_before_answer,
    close_mid_headers,
    head,
    not_http,
    raw_server,
    refused_port,
    reset_mid_body,
    server_context,
    short_content_length,
    stall_body,
    truncated_chunked,
)

TIMEOUT = 0.5
HOME = "<html><head><title>石化离退休干部局</title></head><body>中国石化 欢迎</body></html>"
GBK_HOME = "<html><head><title>国资委</title></head><body>石化离退休干部局 首页</body></html>"


def http_check(url: str, **settings: Any) -> HttpCheck:
    settings.setdefault("timeout", TIMEOUT)
    return HttpCheck(id="home", site="petrochem", url=url, interval=60, **settings)


async def run(url: str, ctx: ProbeContext, **settings: Any) -> ProbeResult:
    return await probe(http_check(url, **settings), ctx)


def phase_sum(result: ProbeResult) -> float:
    assert result.phases is not None
    return sum(result.phases.as_tuple())


# --- a well-behaved site, with routes that answer in the ways real sites do ---------------------


async def _home(request: web.Request) -> web.Response:
    return web.Response(text=HOME, content_type="text/html")


async def _status(request: web.Request) -> web.Response:
    return web.Response(status=int(request.match_info["code"]), text="Service Unavailable")


async def _loop(request: web.Request) -> web.Response:
    other = "b" if request.match_info["step"] == "a" else "a"
    raise web.HTTPFound(f"/loop/{other}")


async def _chain(request: web.Request) -> web.Response:
    left = int(request.match_info["left"])
    if left == 0:
        return web.Response(text="arrived")
    raise web.HTTPFound(f"/chain/{left - 1}")


async def _gate(request: web.Request) -> web.Response:
    # The anti-bot gate many sites use: set a cookie, redirect to yourself, let the cookie in.
    if request.cookies.get("visitor") == "ok":
        return web.Response(text=HOME, content_type="text/html")
    response = web.HTTPFound("/gate")
    response.set_cookie("visitor", "ok")
    raise response


async def _big(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()  # chunked: no Content-Length to refuse it early
    await response.prepare(request)
    for _ in range(8):
        await response.write(b"x" * 1024)
    await response.write_eof()
    return response


async def _big_declared(request: web.Request) -> web.Response:
    return web.Response(body=b"x" * 8192)


async def _gbk(request: web.Request) -> web.Response:
    return web.Response(
        body=GBK_HOME.encode("gbk"), headers={"Content-Type": "text/html; charset=GBK"}
    )


async def _echo(request: web.Request) -> web.Response:
    return web.Response(text=f"{request.method} token={request.headers.get('X-Token', '')}")


async def _post_then_see_other(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/echo")


async def _peer(request: web.Request) -> web.Response:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return web.Response(text=str(peer[1] if peer else ""))


async def _slowish(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(0.1)
    response = web.StreamResponse()
    await response.prepare(request)
    await response.write(b"<html>first part ")
    await asyncio.sleep(0.1)
    await response.write(b"second part</html>")
    await response.write_eof()
    return response


def site_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/", _home)
    app.router.add_get("/status/{code}", _status)
    app.router.add_get("/loop/{step}", _loop)
    app.router.add_get("/chain/{left}", _chain)
    app.router.add_get("/gate", _gate)
    app.router.add_get("/big", _big)
    app.router.add_get("/big-declared", _big_declared)
    app.router.add_get("/gbk", _gbk)
    app.router.add_route("*", "/echo", _echo)
    app.router.add_post("/form", _post_then_see_other)
    app.router.add_get("/peer", _peer)
    app.router.add_get("/slowish", _slowish)
    return app


# --- ok ------------------------------------------------------------------------------------


async def test_ok_page_with_marker(serve: ServeApp, probe_ctx: ProbeContext) -> None:
    """A 200 page holding the marker and none of the forbidden words is ok, with its status."""
    base = await serve(site_app())
    result = await run(
        base + "/", probe_ctx, expect={"body_contains": ["石化"], "body_not_contains": ["404"]}
    )
    assert result.outcome is Outcome.OK, result.detail
    assert result.status_code == 200
    assert result.tls_verified is None  # plain http
    assert result.cert_expiry_timestamp is None
    assert (result.site, result.check, result.type, result.location) == (
        "petrochem",
        "home",
        "http",
        "test",
    )


async def test_registry_finds_the_http_probe() -> None:
    """The `http` check type is registered with this module's spec and probe."""
    assert CHECK_TYPES["http"].spec is HttpCheck
    assert CHECK_TYPES["http"].probe is probe


async def test_each_probe_opens_a_fresh_connection(
    serve: ServeApp, probe_ctx: ProbeContext
) -> None:
    """Two probes of one URL arrive over two different TCP connections, as two visitors would."""
    base = await serve(site_app())
    first = await probe_ctx.http.fetch(base + "/peer", timeout=TIMEOUT)
    second = await probe_ctx.http.fetch(base + "/peer", timeout=TIMEOUT)
    assert first.body and second.body
    assert first.body != second.body


async def test_dns_is_asked_on_every_probe(
    serve: ServeApp, probe_ctx: ProbeContext, resolver: LoopbackResolver
) -> None:
    """The name is resolved afresh for every probe: no cache hides resolver trouble."""
    base = await serve(site_app())
    for _ in range(3):
        assert (await run(base + "/", probe_ctx)).outcome is Outcome.OK
    assert resolver.lookups == [TEST_HOST] * 3


async def test_secret_headers_and_body_are_sent(serve: ServeApp, probe_ctx: ProbeContext) -> None:
    """Header values held as secrets reach the server, and never the result's detail."""
    base = await serve(site_app())
    result = await run(
        base + "/echo",
        probe_ctx,
        method="POST",
        headers={"X-Token": "s3cret-token"},
        body="a=1",
        expect={"body_contains": ["POST token=s3cret-token"]},
    )
    assert result.outcome is Outcome.OK, result.detail
    assert "s3cret" not in result.detail
    assert "s3cret" not in repr(http_check(base, headers={"X-Token": "s3cret-token"}))


async def test_post_redirected_with_303_becomes_get(
    http_client: HttpClient, serve: ServeApp
) -> None:
    """A 303 after a POST is followed with a GET, as browsers do."""
    base = await serve(site_app())
    response = await http_client.fetch(base + "/form", method="POST", data="a=1", timeout=TIMEOUT)
    assert response.body == b"GET token="
    assert response.redirects == (base + "/form",)
    assert response.url == base + "/echo"


async def test_cookie_gate_redirect_is_followed(serve: ServeApp, probe_ctx: ProbeContext) -> None:
    """A redirect to the same URL that sets a cookie is not a loop: the cookie lets the probe in."""
    base = await serve(site_app())
    result = await run(base + "/gate", probe_ctx, expect={"body_contains": ["石化"]})
    assert result.outcome is Outcome.OK, result.detail


async def test_cookies_are_not_kept_between_probes(
    serve: ServeApp, probe_ctx: ProbeContext
) -> None:
    """Every probe is a first-time visitor: a cookie from one probe is not sent by the next."""
    base = await serve(site_app())
    for _ in range(2):
        response = await probe_ctx.http.fetch(base + "/gate", timeout=TIMEOUT)
        assert len(response.redirects) == 1


async def test_cookie_session_keeps_cookies(http_client: HttpClient, serve: ServeApp) -> None:
    """A cookie session keeps what the server set across fetches, for multi-step flows."""
    base = await serve(site_app())
    async with http_client.cookie_session() as session:
        first = await http_client.fetch(base + "/gate", timeout=TIMEOUT, session=session)
        second = await http_client.fetch(base + "/gate", timeout=TIMEOUT, session=session)
    assert len(first.redirects) == 1
    assert second.redirects == ()
    # Closing the cookie session left the shared connector working.
    assert (await http_client.fetch(base + "/", timeout=TIMEOUT)).status == 200


# --- timeouts name their phase ---------------------------------------------------------------


async def test_slow_headers_time_out_in_processing(probe_ctx: ProbeContext) -> None:
    """A server that answers after the timeout gives `timeout` naming the wait for headers."""
    async with raw_server(answer_after(5, head(content_length=0))) as port:
        result = await run(f"http://{TEST_HOST}:{port}/", probe_ctx)
    assert result.outcome is Outcome.TIMEOUT
    assert result.detail == "timeout after 0.5s while waiting for response headers (processing)"
    assert result.phases is not None and result.phases.processing > 0.4


async def test_slow_body_times_out_in_transfer(probe_ctx: ProbeContext) -> None:
    """A body that stalls past the timeout gives `timeout` naming the body transfer."""
    async with raw_server(stall_body(5)) as port:
        result = await run(f"http://{TEST_HOST}:{port}/", probe_ctx)
    assert result.outcome is Outcome.TIMEOUT
    assert result.detail == "timeout after 0.5s while reading the body (transfer)"
    assert result.status_code == 200
    assert result.phases is not None and result.phases.transfer > 0.4


async def test_stalled_tls_handshake_times_out_in_tls(probe_ctx: ProbeContext) -> None:
    """A server that accepts TCP but never speaks TLS times out in the `tls` phase."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    async with raw_server(silent) as port:
        result = await run(f"https://{TEST_HOST}:{port}/", probe_ctx)
    assert result.outcome is Outcome.TIMEOUT
    assert result.detail == "timeout after 0.5s during the TLS handshake (tls)"


# --- dropouts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("handler", "detail"),
    [
        (reset_mid_body(), "mid-body"),
        (close_mid_headers(), "before the response headers were complete"),
        (close_before_answer(), "before the response headers were complete"),
        (truncated_chunked(), "mid-body"),
        (short_content_length(), "mid-body"),
    ],
    ids=[
        "reset-mid-body",
        "close-mid-headers",
        "close-before-answer",
        "truncated-chunked",
        "short",
    ],
)
async def test_connection_lost_mid_exchange_is_dropout(
    probe_ctx: ProbeContext, handler: Any, detail: str
) -> None:
    """A connection closed or reset before the answer is complete is a `dropout`."""
    async with raw_server(handler) as port:
        result = await run(f"http://{TEST_HOST}:{port}/", probe_ctx)
    assert result.outcome is Outcome.DROPOUT, result.detail
    assert detail in result.detail


async def test_dropout_over_tls(
    probe_ctx: ProbeContext, tls_cert: trustme.LeafCert, ca_file: Path
) -> None:
    """A reset mid-body over HTTPS is a `dropout` too, not a TLS error."""
    async with raw_server(reset_mid_body(), tls=server_context(tls_cert)) as port:
        result = await run(f"https://{TEST_HOST}:{port}/", probe_ctx, tls={"ca_file": ca_file})
    assert result.outcome is Outcome.DROPOUT, result.detail


# --- HTTP errors ------------------------------------------------------------------------------


async def test_server_error_is_http_error(serve: ServeApp, probe_ctx: ProbeContext) -> None:
    """A 503 where 2xx is expected is `http_error` saying what was seen and expected."""
    base = await serve(site_app())
    result = await run(base + "/status/503", probe_ctx)
    assert result.outcome is Outcome.HTTP_ERROR
    assert result.detail == "status 503, expected 2xx"
    assert result.status_code == 503


async def test_expected_status_list(serve: ServeApp, probe_ctx: ProbeContext) -> None:
    """A status listed in expect.status is ok even outside 2xx."""
    base = await serve(site_app())
    result = await run(base + "/status/404", probe_ctx, expect={"status": [200, 404]})
    assert result.outcome is Outcome.OK


async def test_redirect_loop_is_http_error(serve: ServeApp, probe_ctx: ProbeContext) -> None:
    """Redirects that come back to a URL already visited are `http_error` saying it loops."""
    base = await serve(site_app())
    result = await run(base + "/loop/a", probe_ctx)
    assert result.outcome is Outcome.HTTP_ERROR
    assert result.detail == (f"redirect loop: {base}/loop/a → {base}/loop/b → {base}/loop/a")
    assert result.status_code == 302


async def test_too_many_redirects_is_http_error(serve: ServeApp, probe_ctx: ProbeContext) -> None:
    """More redirects than max_redirects is `http_error`; within the limit they are followed."""
    base = await serve(site_app())
    within = await run(base + "/chain/3", probe_ctx, max_redirects=3)
    beyond = await run(base + "/chain/4", probe_ctx, max_redirects=3)
    assert within.outcome is Outcome.OK, within.detail
    assert beyond.outcome is Outcome.HTTP_ERROR
    assert beyond.detail.startswith("too many redirects (more than 3)")


async def test_redirect_not_followed_when_disabled(
    serve: ServeApp, probe_ctx: ProbeContext
) -> None:
    """With follow_redirects off the 302 itself is judged against expect.status."""
    base = await serve(site_app())
    result = await run(base + "/chain/1", probe_ctx, follow_redirects=False)
    assert result.outcome is Outcome.HTTP_ERROR
    assert result.detail == "status 302, expected 2xx"


async def test_not_http_is_http_error(probe_ctx: ProbeContext) -> None:
    """An answer that is not HTTP is `http_error`."""
    async with raw_server(not_http()) as port:
        result = await run(f"http://{TEST_HOST}:{port}/", probe_ctx)
    assert result.outcome is Outcome.HTTP_ERROR, result.detail
    assert result.detail.startswith("invalid HTTP response")


# --- content ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/big", "/big-declared"])
async def test_oversized_body_is_content_mismatch(
    serve: ServeApp, probe_ctx: ProbeContext, path: str
) -> None:
    """A body past max_body_size (streamed or declared) stops the read: `content_mismatch`."""
    base = await serve(site_app())
    result = await run(base + path, probe_ctx, max_body_size="4KiB")
    assert result.outcome is Outcome.CONTENT_MISMATCH
    assert result.detail == "body larger than 4 KiB"
    assert result.status_code == 200


async def test_missing_marker_is_content_mismatch(serve: ServeApp, probe_ctx: ProbeContext) -> None:
    """A page without the expected marker is `content_mismatch` naming the marker and the page."""
    base = await serve(site_app())
    result = await run(base + "/", probe_ctx, expect={"body_contains": ["国资委"]})
    assert result.outcome is Outcome.CONTENT_MISMATCH
    assert result.detail == 'body does not contain "国资委"; page title "石化离退休干部局"'


async def test_forbidden_text_is_content_mismatch(serve: ServeApp, probe_ctx: ProbeContext) -> None:
    """A page holding a forbidden text is `content_mismatch` showing where it was seen."""
    base = await serve(site_app())
    result = await run(base + "/", probe_ctx, expect={"body_not_contains": ["欢迎"]})
    assert result.outcome is Outcome.CONTENT_MISMATCH
    assert result.detail.startswith('body contains forbidden "欢迎": "')
    assert "中国石化 欢迎" in result.detail


async def test_regex_mismatch_is_content_mismatch(serve: ServeApp, probe_ctx: ProbeContext) -> None:
    """A body not matching expect.body_regex is `content_mismatch` naming the pattern."""
    base = await serve(site_app())
    ok = await run(base + "/", probe_ctx, expect={"body_regex": [r"中国\w+"]})
    bad = await run(base + "/", probe_ctx, expect={"body_regex": [r"\d{4}年"]})
    assert ok.outcome is Outcome.OK
    assert bad.outcome is Outcome.CONTENT_MISMATCH
    assert bad.detail.startswith(r"body does not match /\d{4}年/")


async def test_gbk_page_is_decoded(serve: ServeApp, probe_ctx: ProbeContext) -> None:
    """A GBK page is decoded by its declared charset, so Chinese markers are found."""
    base = await serve(site_app())
    response = await probe_ctx.http.fetch(base + "/gbk", timeout=TIMEOUT)
    assert response.text() == GBK_HOME
    result = await run(base + "/gbk", probe_ctx, expect={"body_contains": ["石化离退休干部局"]})
    assert result.outcome is Outcome.OK, result.detail


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (GBK_HOME.encode("gbk"), "text/html; charset=gb2312"),
        (('<meta charset="gbk">' + GBK_HOME).encode("gbk"), "text/html"),
        (
            (
                '<meta http-equiv="Content-Type" content="text/html; charset=GB2312">' + GBK_HOME
            ).encode("gb2312"),
            None,
        ),
        (GBK_HOME.encode("gb18030"), None),
        (GBK_HOME.encode("utf-8"), "text/html"),
        ("\ufeff".encode() + GBK_HOME.encode("utf-8"), "text/html; charset=gbk"),
        (GBK_HOME.encode("utf-8"), "text/html; charset=no-such-charset"),
    ],
    ids=[
        "header-gb2312",
        "meta-charset",
        "meta-http-equiv",
        "undeclared-gbk",
        "utf8",
        "bom",
        "bad",
    ],
)
def test_decode_body_finds_the_charset(body: bytes, content_type: str | None) -> None:
    """Charset from Content-Type, then <meta>, then UTF-8, then GB18030; a BOM wins."""
    assert GBK_HOME in decode_body(body, content_type)


def test_decode_body_never_raises() -> None:
    """Bytes that are valid in no declared charset decode with replacement, not an exception."""
    assert "\ufffd" in decode_body(b"\xff\xfe\xfa<html>", "text/html; charset=utf-8")


# --- TLS -------------------------------------------------------------------------------------


async def test_per_check_ca_file_verifies(
    serve: ServeApp, probe_ctx: ProbeContext, tls_cert: trustme.LeafCert, ca_file: Path
) -> None:
    """A certificate from the CA in the check's ca_file verifies: ok with tls_verified; the
    same certificate without that CA is not trusted."""
    base = await serve(site_app(), cert=tls_cert)
    result = await run(base + "/", probe_ctx, tls={"ca_file": ca_file})
    without = await run(base + "/", probe_ctx)
    assert result.outcome is Outcome.OK, result.detail
    assert result.tls_verified is True
    assert without.outcome is Outcome.TLS_ERROR


async def test_system_trust_store_honours_ssl_cert_file(
    serve: ServeApp, tls_cert: trustme.LeafCert, ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a ca_file the system store is used, and SSL_CERT_FILE points it at our CA."""
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    base = await serve(site_app(), cert=tls_cert)
    async with HttpClient(resolver=LoopbackResolver()) as client:
        result = await probe(http_check(base + "/"), ProbeContext(http=client))
    assert result.outcome is Outcome.OK, result.detail
    assert result.tls_verified is True


async def test_cert_expiry_is_recorded(
    serve: ServeApp, probe_ctx: ProbeContext, tls_ca: trustme.CA, ca_file: Path
) -> None:
    """The earliest notAfter of the peer's certificate is recorded as a unix timestamp."""
    not_after = dt.datetime(2031, 5, 17, 8, 30, tzinfo=dt.UTC)
    leaf = tls_ca.issue_cert(TEST_HOST, not_after=not_after)
    base = await serve(site_app(), cert=leaf)
    result = await run(base + "/", probe_ctx, tls={"ca_file": ca_file})
    assert result.outcome is Outcome.OK, result.detail
    assert result.cert_expiry_timestamp == not_after.timestamp()


@pytest.mark.parametrize(
    "not_after",
    [
        dt.datetime(2031, 5, 17, 8, 30, tzinfo=dt.UTC),  # UTCTime (before 2050)
        dt.datetime(2049, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
        dt.datetime(2050, 1, 1, tzinfo=dt.UTC),  # GeneralizedTime from 2050 on (RFC 5280)
        dt.datetime(2099, 7, 1, 12, tzinfo=dt.UTC),
    ],
)
def test_der_not_after_reads_the_certificate_as_x509_does(
    tls_ca: trustme.CA, not_after: dt.datetime
) -> None:
    """The notAfter read from a certificate's DER (the chain Python 3.13+ gives publicly) is
    the date the certificate was issued with, as `cryptography` reads it too."""
    from cryptography import x509

    der = ssl.PEM_cert_to_DER_cert(
        tls_ca.issue_cert(TEST_HOST, not_after=not_after).cert_chain_pems[0].bytes().decode()
    )
    assert der_not_after(der) == not_after.timestamp()
    assert der_not_after(der) == x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()
    assert der_not_after(der[:40]) is None and der_not_after(b"not a certificate") is None


async def test_the_public_chain_api_reads_the_expiries_the_private_one_does(
    serve: ServeApp, tls_ca: trustme.CA
) -> None:
    """Over a real TLS connection, the 3.13+ path (the chain as DER, as ssl.py's public
    get_unverified_chain builds it) gives the chain's notAfter dates exactly as the private
    path this Python uses does."""
    not_after = dt.datetime(2033, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    base = await serve(site_app(), cert=tls_ca.issue_cert(TEST_HOST, not_after=not_after))
    context = ssl.create_default_context()
    tls_ca.configure_trust(context)
    _, writer = await asyncio.open_connection(
        "127.0.0.1",
        URL(base).port,
        ssl=context,
        server_hostname=TEST_HOST,
    )
    try:
        tls_object = writer.get_extra_info("ssl_object")
        private = tls_object._sslobj  # what Python 3.13's ssl.py reads for its public API

        class Public:
            """An SSLObject's chain methods as Python 3.13 has them (lists of DER)."""

            def get_unverified_chain(self) -> list[bytes]:
                return [
                    c.public_bytes(ssl._ssl.ENCODING_DER) for c in private.get_unverified_chain()
                ]

            def get_verified_chain(self) -> list[bytes]:
                return [c.public_bytes(ssl._ssl.ENCODING_DER) for c in private.get_verified_chain()]

        for chain in ("get_unverified_chain", "get_verified_chain"):
            seen = private_chain_not_afters(tls_object, chain)
            assert public_chain_not_afters(Public(), chain) == seen  # type: ignore[arg-type]
            assert not_after.timestamp() in seen and len(seen) == (1 if "un" in chain else 2)
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("cert_fixture", "detail"),
    [
        ("expired_cert", "certificate has expired"),
        ("wrong_host_cert", "certificate is for another host"),
        ("untrusted_cert", "certificate not trusted"),
    ],
)
async def test_bad_certificate_is_tls_error(
    serve: ServeApp,
    probe_ctx: ProbeContext,
    ca_file: Path,
    request: pytest.FixtureRequest,
    cert_fixture: str,
    detail: str,
) -> None:
    """Expired, wrong-host and untrusted certificates are `tls_error` saying which."""
    base = await serve(site_app(), cert=request.getfixturevalue(cert_fixture))
    result = await run(base + "/", probe_ctx, tls={"ca_file": ca_file})
    assert result.outcome is Outcome.TLS_ERROR
    assert result.detail.startswith(detail), result.detail
    assert result.status_code is None


async def test_expired_cert_expiry_still_recorded(
    serve: ServeApp, probe_ctx: ProbeContext, ca_file: Path, expired_cert: trustme.LeafCert
) -> None:
    """A rejected certificate's expiry is still recorded, so the alert can say when it lapsed."""
    base = await serve(site_app(), cert=expired_cert)
    result = await run(base + "/", probe_ctx, tls={"ca_file": ca_file})
    assert result.outcome is Outcome.TLS_ERROR
    assert result.cert_expiry_timestamp is not None
    lapsed = dt.datetime.fromtimestamp(result.cert_expiry_timestamp, dt.UTC)
    assert lapsed < dt.datetime.now(dt.UTC)
    assert result.detail == f"certificate has expired (on {lapsed:%Y-%m-%d %H:%M} UTC)"


async def test_verify_off_accepts_untrusted_and_says_so(
    serve: ServeApp, probe_ctx: ProbeContext, untrusted_cert: trustme.LeafCert
) -> None:
    """tls.verify=false accepts an untrusted certificate, reports tls_verified false, and still
    records the certificate's expiry."""
    base = await serve(site_app(), cert=untrusted_cert)
    result = await run(base + "/", probe_ctx, tls={"verify": False})
    assert result.outcome is Outcome.OK, result.detail
    assert result.tls_verified is False
    assert result.cert_expiry_timestamp is not None


async def test_https_to_a_plain_port_is_tls_error(serve: ServeApp, probe_ctx: ProbeContext) -> None:
    """Speaking TLS to a server that answers plain HTTP fails the handshake: `tls_error`."""
    base = await serve(site_app())
    result = await run(base.replace("http://", "https://") + "/", probe_ctx)
    assert result.outcome is Outcome.TLS_ERROR, result.detail
    assert result.detail.startswith("TLS handshake failed")


async def test_missing_ca_file_is_probe_error(
    serve: ServeApp, probe_ctx: ProbeContext, tmp_path: Path
) -> None:
    """A ca_file that cannot be read is the monitor's problem (`probe_error`), not the site's."""
    result = await run(
        f"https://{TEST_HOST}:1/", probe_ctx, tls={"ca_file": tmp_path / "missing.pem"}
    )
    assert result.outcome is Outcome.PROBE_ERROR
    assert "missing.pem" in result.detail


# --- connection and name ---------------------------------------------------------------------


async def test_refused_port_is_connect_error(probe_ctx: ProbeContext) -> None:
    """A port nobody listens on is `connect_error`."""
    port = refused_port()
    result = await run(f"http://{TEST_HOST}:{port}/", probe_ctx)
    assert result.outcome is Outcome.CONNECT_ERROR
    assert result.detail == f"cannot connect to {TEST_HOST}:{port}: connection refused"


async def test_unresolvable_name_is_dns_error(probe_ctx: ProbeContext) -> None:
    """A name the resolver does not know is `dns_error` naming the host."""
    result = await run("http://no-such-site.gov.cn/", probe_ctx)
    assert result.outcome is Outcome.DNS_ERROR
    assert result.detail == "cannot resolve no-such-site.gov.cn: Name or service not known"


# --- phases ----------------------------------------------------------------------------------


async def test_phases_sum_to_the_duration_over_tls(
    serve: ServeApp, probe_ctx: ProbeContext, tls_cert: trustme.LeafCert, ca_file: Path
) -> None:
    """Over HTTPS every phase is measured and together they account for the probe's duration."""
    base = await serve(site_app(), cert=tls_cert)
    result = await run(base + "/slowish", probe_ctx, tls={"ca_file": ca_file})
    assert result.outcome is Outcome.OK, result.detail
    assert result.phases is not None
    assert all(value > 0 for value in result.phases.as_tuple()), result.phases
    assert result.phases.processing >= 0.09  # the server waits 0.1 s before its headers
    assert result.phases.transfer >= 0.09  # and 0.1 s inside the body
    assert math.isclose(phase_sum(result), result.duration_seconds, rel_tol=0.05, abs_tol=0.005)


async def test_concurrent_probes_keep_their_own_phases(
    serve: ServeApp, probe_ctx: ProbeContext, tls_cert: trustme.LeafCert, ca_file: Path
) -> None:
    """Probes running at once over one shared TLS context each time only their own exchange."""
    base = await serve(site_app(), cert=tls_cert)
    results = await asyncio.gather(
        *(run(base + "/slowish", probe_ctx, tls={"ca_file": ca_file}) for _ in range(8))
    )
    for result in results:
        assert result.outcome is Outcome.OK, result.detail
        assert result.phases is not None and result.phases.tls > 0
        assert result.cert_expiry_timestamp is not None
        assert math.isclose(phase_sum(result), result.duration_seconds, rel_tol=0.05, abs_tol=0.005)


async def test_phases_sum_to_the_duration_on_failure(probe_ctx: ProbeContext) -> None:
    """A probe that times out still accounts for its whole duration in its phases."""
    async with raw_server(stall_body(5)) as port:
        result = await run(f"http://{TEST_HOST}:{port}/", probe_ctx)
    assert math.isclose(phase_sum(result), result.duration_seconds, rel_tol=0.05, abs_tol=0.005)


async def test_ip_address_url_has_no_resolve_time(
    serve: ServeApp, probe_ctx: ProbeContext, resolver: LoopbackResolver
) -> None:
    """A URL with an IP address skips DNS: nothing is looked up and the time goes to connect."""
    base = await serve(site_app())
    result = await run(base.replace(TEST_HOST, "127.0.0.1") + "/slowish", probe_ctx)
    assert result.outcome is Outcome.OK, result.detail
    assert resolver.lookups == []
    assert result.phases is not None and result.phases.connect > 0
    assert result.phases.resolve == 0


def test_phases_measured_under_uvloop(tls_cert: trustme.LeafCert, ca_file: Path) -> None:
    """On uvloop too the TLS handshake is timed apart from connect and the cert is read."""

    async def scenario() -> Response:
        app_runner = web.AppRunner(site_app())
        await app_runner.setup()
        site = web.TCPSite(app_runner, "127.0.0.1", 0, ssl_context=server_context(tls_cert))
        await site.start()
        port = app_runner.addresses[0][1]
        try:
            async with HttpClient(resolver=LoopbackResolver()) as client:
                return await client.fetch(
                    f"https://{TEST_HOST}:{port}/", timeout=2, tls=TLSSpec(ca_file=ca_file)
                )
        finally:
            await app_runner.cleanup()

    response = uvloop.run(scenario())
    assert response.status == 200
    assert response.tls_verified is True
    assert response.cert_expiry_timestamp is not None
    assert all(value > 0 for value in response.phases.as_tuple()), response.phases


async def test_fetch_raises_only_fetch_error(probe_ctx: ProbeContext) -> None:
    """fetch() turns a target's failure into FetchError carrying the outcome and the phases."""
    with pytest.raises(FetchError) as caught:
        await probe_ctx.http.fetch(f"http://{TEST_HOST}:{refused_port()}/", timeout=TIMEOUT)
    assert caught.value.outcome is Outcome.CONNECT_ERROR
    assert caught.value.phases is not None
