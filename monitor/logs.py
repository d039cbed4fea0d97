"""Structured logs: JSON lines for machines, a readable console for people at a terminal."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from monitor.redact import scrub


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """Log to stderr (stdout is for `check --json`): console at a terminal, JSON otherwise."""
    out = stream or sys.stderr
    renderer: Processor
    if out.isatty():
        renderer = structlog.dev.ConsoleRenderer()
    else:
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _scrubbed(renderer),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    # Libraries log through the standard module (aiohttp's "Error handling request" with its
    # traceback); with no handler configured, Python's last-resort handler prints it.
    last_resort = logging.lastResort
    if last_resort is not None and not any(isinstance(f, _Scrub) for f in last_resort.filters):
        last_resort.addFilter(_Scrub())


class _Scrub(logging.Filter):
    """Scrubs a standard log record's message and traceback of every secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


def _scrubbed(renderer: Processor) -> Processor:
    """The renderer, with every secret scrubbed from the line it renders: the finished line
    holds everything (fields, a traceback, values of any type), in their escaped forms."""

    def render(logger: WrappedLogger, name: str, event: EventDict) -> str:
        return scrub(str(renderer(logger, name, event)))

    return render
