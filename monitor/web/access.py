"""Who may read the pages: off on loopback, else a read-only token or basic auth is needed.

The rule (`server.access` in the config): with a `token` or `username`/`password` every page
asks for one of them; without either, pages are served only when the server listens on a
loopback address, or with `public: true`. The JSON API under /api/ follows the same rule
(it carries the same details); /metrics and the health endpoints are open to every scraper.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress

from aiohttp import web

from monitor.config import Server

# A valid `?token=` is kept in this cookie, so the links of the page need not carry it.
TOKEN_COOKIE = "monitor_token"  # noqa: S105 - the cookie's name, not a token


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class Verdict:
    """What `check` decided: allowed, a token cookie to set, or why not."""

    def __init__(self, allowed: bool, *, set_token: str | None = None, why: str = "") -> None:
        self.allowed = allowed
        self.set_token = set_token
        self.why = why  # "token", "basic" or "public": what the refusal page explains


def check(request: web.Request, server: Server) -> Verdict:
    access = server.access
    # An empty value (`${MONITOR_WEB_TOKEN:-}` unset) is no credential: it must never match.
    token = access.token.get_secret_value() if access.token is not None else None
    password = access.password.get_secret_value() if access.password is not None else None
    token, password = token or None, password or None
    if token is None and password is None:
        if access.public or is_loopback(server.host):
            return Verdict(True)
        return Verdict(False, why="public")
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if token is not None:
        if scheme.lower() == "bearer" and _same(credentials.strip(), token):
            return Verdict(True)
        if _same(request.cookies.get(TOKEN_COOKIE, ""), token):
            return Verdict(True)
        if _same(request.query.get("token", ""), token):
            return Verdict(True, set_token=token)
    if password is not None and scheme.lower() == "basic":
        try:
            user, _, given = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, given = "", ""
        if _same(user, access.username or "") and _same(given, password):
            return Verdict(True)
    return Verdict(False, why="basic" if token is None else "token")


def api_refusal(request: web.Request, server: Server) -> web.Response | None:
    """The JSON answer refusing an /api/ request the rule does not allow; None if allowed."""
    if check(request, server).allowed:
        return None
    access = server.access
    if access.token is None and access.password is None:
        message = "server.access is not set: the API is served on loopback only (or public: true)"
        return web.json_response({"error": message}, status=403)
    return web.json_response(
        {"error": "server.access: a token or password is needed"},
        status=401,
        headers={"WWW-Authenticate": "Basic"} if access.password is not None else None,
    )
