"""Structured logging: JSON lines in production, readable lines in a terminal.

Configured once by the entrypoint. Everything — our code, uvicorn, alembic — goes through
structlog's processors, so every line has the same shape and the same redaction. Output is
UTF-8 whatever the locale says (the predecessor crashed on Unicode names) and unbuffered.

Privacy: message content, health questions, prompts, e-mail addresses and secrets are
personal data. Code must not pass them to a logger; as a second line of defence the
``redact_personal_data`` processor replaces the values of keys that usually carry them.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any, Literal, TextIO

import structlog

# Keys whose values are personal data or secrets and never reach a log line.
REDACTED_KEYS = frozenset(
    {
        "content",
        "text",
        "body",
        "message_text",
        "prompt",
        "question",
        "answer",
        "transcript",
        "email",
        "to_address",
        "token",
        "access_token",
        "refresh_token",
        "secret",
        "password",
        "authorization",
        "cookie",
        "reply_token",
    }
)
REDACTED = "[redacted]"

get_logger = structlog.get_logger


def redact_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> Mapping[str, Any]:
    """Replace the values of personal-data keys, at any depth of dicts."""
    return _redact(event_dict)


def _redact(mapping: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in mapping.items():
        if key.lower() in REDACTED_KEYS:
            mapping[key] = REDACTED
        elif isinstance(value, dict):
            mapping[key] = _redact(dict(value))
    return mapping


def configure_logging(
    level: str = "INFO",
    fmt: Literal["auto", "json", "console"] = "auto",
    stream: TextIO | None = None,
) -> None:
    """Route structlog and the standard library through one UTF-8, unbuffered handler."""
    stream = stream if stream is not None else sys.stderr
    if hasattr(stream, "reconfigure"):
        stream.reconfigure(encoding="utf-8", errors="backslashreplace", line_buffering=True)
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())

    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_personal_data,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if use_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if use_json else _identity,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("uvicorn.access", "sqlalchemy.engine", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True

    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def _identity(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    return event_dict


@contextmanager
def bound_event_context(
    *, community: int | str | None = None, platform: str | None = None, event_id: str | None = None
) -> Iterator[None]:
    """Bind (community, platform, event id) once for everything logged while handling one event."""
    values = {
        key: value
        for key, value in (("community", community), ("platform", platform), ("event_id", event_id))
        if value is not None
    }
    with structlog.contextvars.bound_contextvars(**values):
        yield
