"""Benchmark the security check's page reading; prints figures, asserts nothing.

    .venv/bin/python tests/bench/bench_security.py [--runs 10]

Time of `read_page` (parse, hidden-link and embed scan, document.write, fingerprint, wording)
on: the test homepage; the same homepage grown to about 2 MB with a 12,000-item news list; and
the hostile page of tests/test_security.py (200,000 unclosed elements, 30,000 hidden links,
unterminated scripts, brace-only CSS), with the default max_links (5,000); beside each, the
time of the shared parser alone (`parse_html`), which the security reading adds to.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from monitor.probes.extract import parse_html
from monitor.probes.security import SecurityCheck, read_page
from tests.fakesite import homepage, hostile_page


def _timed(check: SecurityCheck, body: bytes, runs: int) -> tuple[float, float, int]:
    times = []
    findings = 0
    for _ in range(runs):
        started = time.perf_counter()
        reading = read_page(check, body, "text/html; charset=utf-8", "http://gov.test/")
        times.append(time.perf_counter() - started)
        findings = len(reading.findings)
    return statistics.median(times), max(times), findings


def _parse_only(body: bytes) -> float:
    """The shared parser's own time on the page (decode and parse_html), for comparison."""
    started = time.perf_counter()
    parse_html(body.decode("utf-8", errors="replace"))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    check = SecurityCheck.model_validate(
        {"id": "s", "site": "s", "url": "http://gov.test/", "interval": 60, "timeout": 15}
    )
    small = homepage().encode()
    rows = "".join(
        f'<li><a href="/art/{i}.html">国务院国资委召开第{i}次工作会议</a><span>2026-07-01</span></li>'
        for i in range(12_000)
    )
    large = homepage().replace('<ul class="list">', f'<ul class="list">{rows}').encode()
    for name, body in (("homepage", small), ("2 MB homepage", large), ("hostile", hostile_page())):
        median, worst, findings = _timed(check, body, args.runs)
        parse = statistics.median(_parse_only(body) for _ in range(args.runs))
        print(
            f"{name:14} {len(body) / 1024:8.0f} KiB  median {median * 1000:7.1f} ms  "
            f"max {worst * 1000:7.1f} ms  (parse_html alone {parse * 1000:7.1f} ms)  "
            f"findings {findings}"
        )


if __name__ == "__main__":
    main()
