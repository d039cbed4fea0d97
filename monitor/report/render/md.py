"""The report as Markdown: for people, and for pasting into a notice draft."""

from __future__ import annotations

from monitor.report.model import Report
from monitor.report.render.blocks import Block, DailyChart, Heading, LatencyChart, Paragraph, Table
from monitor.report.render.layout import layout
from monitor.report.words import Lang, Texts

__all__ = ["to_markdown"]


def _cell(text: str) -> str:
    # A pipe or a line break would end the cell; a backslash would escape what follows.
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _table(table: Table) -> list[str]:
    lines = [
        "| " + " | ".join(_cell(h) for h in table.headers) + " |",
        "|" + "|".join("---" for _ in table.headers) + "|",
    ]
    lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows)
    return lines


def _block(block: Block) -> list[str]:
    if isinstance(block, Heading):
        return ["#" * block.level + " " + block.text]
    if isinstance(block, Paragraph):
        lines = [block.text] if block.text else []
        lines.extend(f"- {item}" for item in block.items)
        return lines
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, DailyChart | LatencyChart):
        return []  # charts are drawn in the html; the tables carry the figures
    raise TypeError(f"unknown block {block!r}")


def to_markdown(report: Report, lang: Lang = "zh") -> str:
    """The whole report as Markdown text."""
    out: list[str] = []
    for block in layout(report, Texts(lang, report.period.zone)):
        lines = _block(block)
        if lines:
            out.extend(lines)
            out.append("")
    return "\n".join(out)
