"""Check types: one module each, one probe signature, found through `CHECK_TYPES`.

A new check type is one module (its config model and its probe) and one line here.
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from monitor.probes import http
from monitor.probes.base import CheckType, Probe, ProbeContext, Stopwatch

CHECK_TYPES: Mapping[str, CheckType[Any]] = MappingProxyType(
    {
        "http": CheckType(http.HttpCheck, http.probe),
    }
)

__all__ = ["CHECK_TYPES", "CheckType", "Probe", "ProbeContext", "Stopwatch"]
