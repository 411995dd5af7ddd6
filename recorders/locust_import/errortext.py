"""Locust's failure texts -> HTTP status, message and our error class (through ``recorders.errors.classify``).

Locust keeps a failure as the exception's ``repr`` (``_failures.csv`` ``Error``; ``str`` in the request log):

- ``HTTPError('429 Client Error: Too Many Requests for url: /v1/chat/completions')`` (``HttpUser``);
- ``LocustBadStatusCode(code=500)`` (``FastHttpUser``);
- ``ReadTimeout(...)``, ``ConnectTimeout(...)`` (client timeouts);
- ``ConnectionRefusedError(111, 'Connection refused')``, ``RemoteDisconnected(...)`` (no response);
- ``ChunkedEncodingError(...)`` / ``IncompleteRead`` / "Response ended prematurely" (body cut mid-stream);
- ``CatchResponseError('...')``, the text a locustfile passed to ``response.failure()``.

``LLMUser`` (``recorders.locust_user``) fails requests with ``[CLASS] HTTP STATUS: message``; that tag is
trusted as written, so a Locust run with ``LLMUser`` imports with the very classes the user recorded.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from recorders.errors import ERROR_CLASSES, classify

_CATCH = re.compile(r"^CatchResponseError\((?P<quoted>(['\"]).*\2)\)$", re.S)
_TAG = re.compile(r"^\[(?P<cls>[a-z_0-9]+)\](?: HTTP (?P<status>\d{3}))?:? ?(?P<rest>.*)$", re.S)
_STATUS_PATTERNS = (
    re.compile(r"\b([1-5]\d\d) (?:Client|Server) Error\b"),
    re.compile(r"\bcode=([1-5]\d\d)\b"),
    re.compile(r"\bHTTP ([1-5]\d\d)\b"),
    re.compile(r"\bstatus(?:[ _]code)?[=: ]+([1-5]\d\d)\b", re.I),
)
_TIMEOUT_NAMES = ("ReadTimeout", "ConnectTimeout", "Timeout", "TimeoutError", "ConnectionTimeout", "timeout")
_CONNECTION_NAMES = (
    "ConnectionRefusedError",
    "ConnectionResetError",
    "ConnectionAbortedError",
    "NewConnectionError",
    "RemoteDisconnected",
    "ConnectionError",
    "BrokenPipeError",
    "gaierror",
)
_MID_STREAM = re.compile(
    r"\b(?:ChunkedEncodingError|IncompleteRead|ContentDecodingError|InvalidChunkLength)\b"
    r"|Response ended prematurely",
)
_LEADING_NAME = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?(?P<name>[A-Za-z_]\w*)\(")


@dataclass(frozen=True)
class ParsedError:
    """One failure text, read: ``message`` is unwrapped from ``CatchResponseError(...)``."""

    error_class: str
    status: int | None
    message: str


def _unwrap(text: str) -> str:
    match = _CATCH.match(text.strip())
    if not match:
        return text
    try:
        inner = ast.literal_eval(match.group("quoted"))
    except (ValueError, SyntaxError):
        return match.group("quoted")[1:-1]
    return inner if isinstance(inner, str) else text


def _status_in(text: str) -> int | None:
    for pattern in _STATUS_PATTERNS:
        match = pattern.search(text)
        if match:
            return int(match.group(1))
    return None


def parse_error(text: str, status: int | None = None) -> ParsedError:
    """Read a Locust failure text. ``status`` (e.g. the request log's ``status_code``) wins when it is > 0."""
    message = _unwrap(text)
    known_status = status if status else None
    tagged = _TAG.match(message)
    if tagged and tagged.group("cls") in ERROR_CLASSES:
        tag_status = int(tagged.group("status")) if tagged.group("status") else None
        return ParsedError(tagged.group("cls"), known_status or tag_status, tagged.group("rest"))
    found_status = known_status or _status_in(message)
    leading = _LEADING_NAME.match(message)
    names = {leading.group("name")} if leading else set()
    names.update(re.findall(r"\b([A-Za-z_]\w*)\(", message))
    error_class = classify(
        found_status,
        message,
        mid_stream=bool(_MID_STREAM.search(message)),
        timed_out=any(n in names for n in _TIMEOUT_NAMES),
        connection_failed=any(n in names for n in _CONNECTION_NAMES),
    )
    return ParsedError(error_class, found_status, message)
