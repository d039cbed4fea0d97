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


def _scrubbed(renderer: Processor) -> Processor:
    """The renderer, with every secret scrubbed from the line it renders: the finished line
    holds everything (fields, a traceback, values of any type), in their escaped forms."""

    def render(logger: WrappedLogger, name: str, event: EventDict) -> str:
        return scrub(str(renderer(logger, name, event)))

    return render
