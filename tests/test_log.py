from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from townsquare.log import REDACTED_KEYS, bound_event_context, configure_logging, get_logger

SECRET = "my chest hurts when I climb stairs"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream=stream)
    yield stream
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_lines_are_json_with_the_event_context_bound_once(log_stream: io.StringIO) -> None:
    log = get_logger("test")
    with bound_event_context(community=42, platform="line", event_id="01HXYZ"):
        log.info("message_scored", xp=15)
        log.info("batch_committed")
    log.info("outside")
    first, second, third = _lines(log_stream)
    assert first["event"] == "message_scored"
    assert first["xp"] == 15
    assert {first["community"], second["community"]} == {42}
    assert second["platform"] == "line"
    assert second["event_id"] == "01HXYZ"
    assert "community" not in third


@pytest.mark.parametrize("key", sorted(REDACTED_KEYS))
def test_personal_data_never_reaches_the_log(log_stream: io.StringIO, key: str) -> None:
    get_logger("test").info("received", **{key: SECRET}, nested={key: SECRET})
    assert SECRET not in log_stream.getvalue()
    (line,) = _lines(log_stream)
    assert line[key] == "[redacted]"


def test_standard_library_loggers_share_the_format_and_redaction(
    log_stream: io.StringIO,
) -> None:
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 7)
    (line,) = _lines(log_stream)
    assert line["event"] == "Started server process [7]"
    assert line["logger"] == "uvicorn.error"


def test_unicode_is_written_as_utf8_whatever_the_stream_encoding() -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    configure_logging("INFO", "json", stream=stream)
    try:
        get_logger("test").info("member_joined", display_name="王小明 🎉")
        stream.flush()
        assert "王小明 🎉" in raw.getvalue().decode("utf-8")
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()


def test_console_format_is_human_readable() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "console", stream=stream)
    try:
        get_logger("test").info("api_started", url="http://127.0.0.1:8000")
        text = stream.getvalue()
        assert "api_started" in text
        assert not text.lstrip().startswith("{")
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
