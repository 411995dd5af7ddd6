"""Locust's failure texts (as Locust 2.47 writes them) -> error classes; Locust's timestamps -> epoch ns."""

from __future__ import annotations

import pytest

from recorders.locust_import.errortext import parse_error
from recorders.locust_import.timefmt import format_offset, parse_instant, parse_timezone


@pytest.mark.parametrize(
    ("text", "status", "error_class", "parsed_status"),
    [
        (
            "HTTPError('429 Client Error: Too Many Requests for url: /v1/chat/completions')",
            None,
            "rate_limited",
            429,
        ),
        (
            "HTTPError('500 Server Error: Internal Server Error for url: /v1/chat/completions')",
            None,
            "server_5xx",
            500,
        ),
        ("HTTPError('400 Client Error: Bad Request for url: /v1/chat/completions')", None, "client_4xx", 400),
        (
            "HTTPError('504 Server Error: Gateway Timeout for url: /v1/chat/completions')",
            None,
            "timeout",
            504,
        ),
        (
            "ReadTimeout(ReadTimeoutError(\"HTTPConnectionPool(host='127.0.0.1', port=18765): "
            "Read timed out. "
            '(read timeout=0.05)"))',
            None,
            "timeout",
            None,
        ),
        ("ConnectionRefusedError(111, 'Connection refused')", None, "connection", None),
        ("RemoteDisconnected('Remote end closed connection without response')", None, "connection", None),
        ("ChunkedEncodingError(ProtocolError('Response ended prematurely'))", None, "stream_broken", None),
        ("CatchResponseError('backend says: CUDA out of memory')", None, "oom", None),
        ("LocustBadStatusCode(code=503)", None, "server_5xx", 503),
        # LLMUser's own tag is trusted as written
        (
            "CatchResponseError('[context_length] HTTP 400: This model's maximum context length is 8192.')",
            None,
            "context_length",
            400,
        ),
        (
            "CatchResponseError('[stream_broken] HTTP 500: Internal server error while generating.')",
            None,
            "stream_broken",
            500,
        ),
        ("CatchResponseError('[connection]: ConnectError: refused')", None, "connection", None),
        # csv_request_logger writes str(exception) and the status code
        ("429 Client Error: Too Many Requests for url: /v1/chat/completions", 429, "rate_limited", 429),
        ("[Errno 111] Connection refused", None, "connection", None),
    ],
)
def test_locust_failure_texts(
    text: str, status: int | None, error_class: str, parsed_status: int | None
) -> None:
    parsed = parse_error(text, status)
    assert (parsed.error_class, parsed.status) == (error_class, parsed_status)


def test_catch_response_text_is_unwrapped() -> None:
    assert parse_error("CatchResponseError('it said \"no\"')").message == 'it said "no"'
    tagged = parse_error("CatchResponseError('[rate_limited] HTTP 429: Rate limit exceeded.')")
    assert tagged.message == "Rate limit exceeded."


@pytest.mark.parametrize(
    ("zone", "text", "expected_utc"),
    [
        ("+05:30", "2026-11-21 17:48:32,721", "2026-11-21T12:18:32.721"),
        ("Asia/Kolkata", "2026-11-21 17:48:32,721", "2026-11-21T12:18:32.721"),
        ("UTC-8", "2026-01-01 00:00:00,000", "2026-01-01T08:00:00"),
        ("Europe/Berlin", "2026-07-01 12:00:00,000", "2026-07-01T10:00:00"),  # summer time, UTC+2
        ("Europe/Berlin", "2026-01-01 12:00:00,000", "2026-01-01T11:00:00"),
        ("+05:30", "2026-11-21T12:18:32Z", "2026-11-21T12:18:32"),  # zoned text wins over the option
        ("+05:30", "1795263512", "2026-11-21T12:18:32"),
    ],
)
def test_instants(zone: str, text: str, expected_utc: str) -> None:
    from datetime import UTC, datetime

    moment = datetime.fromisoformat(expected_utc).replace(tzinfo=UTC)
    expected = int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000
    assert parse_instant(text, parse_timezone(zone)) == expected


def test_epoch_decimals_are_exact() -> None:
    assert parse_instant("1795263479.752581", parse_timezone("UTC")) == 1_795_263_479_752_581_000
    assert format_offset(19800) == "+05:30" and format_offset(-12600) == "-03:30"


def test_local_time_follows_this_machines_zone_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--timezone local`` applies the local zone's daylight-saving rules per timestamp."""
    import time

    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        zone = parse_timezone("local")
        summer = parse_instant("2026-07-01 12:00:00,000", zone)
        winter = parse_instant("2026-01-01 12:00:00,000", zone)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert summer == parse_instant("2026-07-01T10:00:00Z", None)
    assert winter == parse_instant("2026-01-01T11:00:00Z", None)
