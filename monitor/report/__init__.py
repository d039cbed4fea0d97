"""Quarterly summaries: availability, incidents, latency, freshness and the official verdicts.

`build_report()` reads Postgres (rollups and the report tables, never the pruned raw results)
into a `Report`; `render()` turns it into Markdown, HTML, CSV or JSON, in Chinese or English.

Computing: build.py (with gather, content, histogram, indicators, reviews, security) fills the
plain data of model.py. Presenting: render/ (layout.py lays md and html out, one function per
section; csv.py, json.py), every word from words.py.
"""

from monitor.report.build import ReportError, build_report
from monitor.report.model import Report, Status
from monitor.report.output import OutputError, save
from monitor.report.period import Period, PeriodError, parse_period, quarter, quarter_of
from monitor.report.render import FORMATS, TABLE_NAMES, Format, render
from monitor.report.words import LANGS, Lang

__all__ = [
    "FORMATS",
    "LANGS",
    "TABLE_NAMES",
    "Format",
    "Lang",
    "OutputError",
    "Period",
    "PeriodError",
    "Report",
    "ReportError",
    "Status",
    "build_report",
    "parse_period",
    "quarter",
    "quarter_of",
    "render",
    "save",
]
