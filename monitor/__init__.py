"""Uptime, latency, login, session and freshness monitoring for government sites and accounts."""

__version__ = "0.1.0"
