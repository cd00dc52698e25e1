"""structlog configuration: JSON lines (or, on a terminal, readable ones) with the request
id bound on every line.

Libraries that log through the standard library (uvicorn, asyncpg, nats) are rendered by
the same processors, so every line of the process is one JSON object.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


# Bumped by every configure_logging, so that a logger cached by ``logger_for`` follows it.
_generation = 0
_loggers: dict[str, tuple[int, Any]] = {}


def logger_for(name: str) -> Any:
    """The bound logger of ``name`` under the current configuration, made once per
    configuration: ``structlog.get_logger`` on a hot path makes a proxy, a bound logger and
    an output logger on every call, a line logged or not. (structlog.testing.capture_logs
    changes the processors in place, so a cached logger is captured too.)"""
    cached = _loggers.get(name)
    if cached is None or cached[0] != _generation:
        cached = (_generation, structlog.get_logger(name).bind())
        _loggers[name] = cached
    return cached[1]


def resolved_format(fmt: str, terminal: bool) -> str:
    """``auto`` is ``console`` on a terminal (a person reads it) and ``json`` otherwise (a
    collector does)."""
    if fmt == "auto":
        return "console" if terminal else "json"
    return fmt


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    global _generation
    _generation += 1
    terminal = sys.stderr.isatty()
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if resolved_format(fmt, terminal) == "json"
        else structlog.dev.ConsoleRenderer(colors=terminal)
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(_LEVELS[level])
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # httpx logs every request at info; the services' clients of the ledger (the
    # projector's gap fill polls it twice a second per partition) would drown the log.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(_LEVELS[level], logging.WARNING))
