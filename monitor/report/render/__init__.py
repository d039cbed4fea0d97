"""One entry point for every output format."""

from __future__ import annotations

from typing import Literal

from monitor.redact import scrub
from monitor.report.model import Report
from monitor.report.render.csv import TABLES, csv_files
from monitor.report.render.html import to_html
from monitor.report.render.json import to_bytes as json_bytes
from monitor.report.render.md import to_markdown
from monitor.report.words import Lang

__all__ = ["FORMATS", "TABLE_NAMES", "Format", "render"]

Format = Literal["md", "html", "csv", "json"]
FORMATS: tuple[Format, ...] = ("md", "html", "csv", "json")
# The CSV tables, for `--table`.
TABLE_NAMES: tuple[str, ...] = tuple(TABLES)


def render(
    report: Report, fmt: Format, lang: Lang = "zh", table: str | None = None
) -> bytes | dict[str, bytes]:
    """The report in `fmt`, UTF-8, without any secret of the config (monitor.redact).

    `csv` gives `{"sites.csv": ..., "incidents.csv": ...}` (one file per table), or with
    `table` (`incidents`, see `TABLES`) that one file's bytes. Other formats give bytes;
    `table` is accepted only with csv.
    """
    rendered = _render(report, fmt, lang, table)
    if isinstance(rendered, bytes):
        return _scrubbed(rendered)
    return {name: _scrubbed(data) for name, data in rendered.items()}


def _scrubbed(data: bytes) -> bytes:
    return scrub(data.decode("utf-8")).encode("utf-8")


def _render(report: Report, fmt: Format, lang: Lang, table: str | None) -> bytes | dict[str, bytes]:
    if table is not None and fmt != "csv":
        raise ValueError("--table goes with --format csv")
    if fmt == "md":
        return to_markdown(report, lang).encode("utf-8")
    if fmt == "html":
        return to_html(report, lang).encode("utf-8")
    if fmt == "json":
        return json_bytes(report, lang)
    if fmt == "csv":
        files = csv_files(report, lang, table)
        return files[f"{table}.csv"] if table is not None else files
    raise ValueError(f"unknown format {fmt!r} (one of: {', '.join(FORMATS)})")
