"""The report as one self-contained, printable html page: inline CSS and SVG, no script."""

from __future__ import annotations

from html import escape

from monitor.report.model import Report, Status
from monitor.report.render.blocks import Block, DailyChart, Heading, LatencyChart, Paragraph, Table
from monitor.report.render.layout import layout
from monitor.report.render.svg import daily_bars, latency_bars
from monitor.report.words import Lang, Texts

__all__ = ["to_html"]

_CSS = """
@page { size: A4; margin: 15mm 12mm; }
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC",
       "SimSun", sans-serif; font-size: 10.5pt; line-height: 1.55; color: #212121;
       max-width: 1100px; margin: 0 auto; padding: 12px 18px; }
h1 { font-size: 18pt; text-align: center; margin: 0.4em 0 0.2em; }
h2 { font-size: 14pt; border-bottom: 2px solid #b71c1c; padding-bottom: 2px; margin-top: 1.4em; }
h3 { font-size: 12pt; margin-top: 1.2em; break-after: avoid; page-break-after: avoid; }
h4 { font-size: 10.5pt; margin: 0.9em 0 0.3em; color: #37474f; break-after: avoid; }
p { margin: 0.3em 0 0.6em; text-align: justify; }
table { border-collapse: collapse; width: 100%; margin: 0.3em 0 0.8em; font-size: 9pt; }
th, td { border: 1px solid #bdbdbd; padding: 2px 5px; vertical-align: top; text-align: left; }
th { background: #eceff1; }
tr { break-inside: avoid; page-break-inside: avoid; }
td.num { text-align: right; white-space: nowrap; }
.pass { color: #1b5e20; } .warning { color: #e65100; font-weight: bold; }
.veto { color: #b71c1c; font-weight: bold; } .not_assessable { color: #616161; font-style: italic; }
figure { margin: 0.2em 0 0.8em; break-inside: avoid; page-break-inside: avoid; }
svg { max-width: 100%; height: auto; }
ul { margin: 0.2em 0 0.6em 1.2em; padding: 0; }
@media print { body { max-width: none; padding: 0; } a { color: inherit; } }
"""


def _numeric(text: str) -> bool:
    stripped = text.replace("%", "").replace(" s", "").replace(",", "").strip()
    try:
        float(stripped)
    except ValueError:
        return False
    return True


def _table(table: Table, statuses: dict[str, str]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    rows = []
    for row in table.rows:
        cells = []
        for i, cell in enumerate(row):
            classes = []
            if i in table.status_columns and cell in statuses:
                classes.append(statuses[cell])
            elif _numeric(cell):
                classes.append("num")
            attr = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{attr}>{escape(cell)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _block(block: Block, t: Texts, statuses: dict[str, str]) -> str:
    if isinstance(block, Heading):
        return f"<h{block.level}>{escape(block.text)}</h{block.level}>"
    if isinstance(block, Paragraph):
        out = f"<p>{escape(block.text)}</p>" if block.text else ""
        if block.items:
            out += "<ul>" + "".join(f"<li>{escape(i)}</li>" for i in block.items) + "</ul>"
        return out
    if isinstance(block, Table):
        return _table(block, statuses)
    if isinstance(block, DailyChart):
        return f"<figure>{daily_bars(block, t('chart_no_data'))}</figure>"
    if isinstance(block, LatencyChart):
        return f"<figure>{latency_bars(block, t('chart_seconds'))}</figure>"
    raise TypeError(f"unknown block {block!r}")


def to_html(report: Report, lang: Lang = "zh") -> str:
    """The whole report as an html document."""
    t = Texts(lang, report.period.zone)
    blocks = layout(report, t)
    statuses = {t(str(s)): str(s) for s in Status}
    title = next((b.text for b in blocks if isinstance(b, Heading)), "")
    body = "\n".join(_block(b, t, statuses) for b in blocks)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{t("html_lang")}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )
