"""Check types: one module each, one probe signature, found through `CHECK_TYPES`.

A new check type is one module (its config model and its probe) and one line here; the
figures it reports beyond the common result fields are one frozen class in
monitor/measurements.py (its field names are the JSON keys).
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from monitor.probes import feed, freshness, http, interaction, links, login, security
from monitor.probes.base import CheckType, Probe, ProbeContext, ProbeRun

CHECK_TYPES: Mapping[str, CheckType[Any]] = MappingProxyType(
    {
        "http": CheckType(http.HttpCheck, http.probe),
        "freshness": CheckType(freshness.FreshnessCheck, freshness.probe),
        "feed": CheckType(feed.FeedCheck, feed.probe),
        "login": CheckType(login.LoginCheck, login.probe),
        "links": CheckType(links.LinksCheck, links.probe),
        "interaction": CheckType(interaction.InteractionCheck, interaction.probe),
        "security": CheckType(security.SecurityCheck, security.probe),
    }
)

__all__ = ["CHECK_TYPES", "CheckType", "Probe", "ProbeContext", "ProbeRun"]
