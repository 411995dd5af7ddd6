"""Locust's timestamps, turned into integer nanoseconds since the Unix epoch.

What Locust writes (2.47, checked against ``locust/stats.py``, ``locust/log.py`` and
``locust/contrib/csv_request_logger.py``):

- ``_stats_history.csv`` ``Timestamp``: ``int(time.time())``, whole epoch seconds (UTC, truncated);
- ``_failures.csv`` ``First Seen`` / ``Last Seen``: ISO 8601 UTC with a ``Z``, truncated to the second;
- the ``--logfile`` text log: ``[2026-11-21 17:48:32,721]`` in the *local time* of the machine that ran
  Locust, with no zone, so the importer needs that zone (``--timezone``; default: this machine's local zone);
- ``csv_request_logger`` ``timestamp``: epoch seconds with 6 decimals (the request's start time).

Epoch strings are converted with :class:`~decimal.Decimal`, so microsecond digits survive exactly.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from traceanalyzer.errors import UsageError

NS_PER_S = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.I)


def parse_timezone(text: str) -> tzinfo | None:
    """``local`` (``None``: this machine's zone, with its daylight-saving rules), ``UTC``, an offset such as
    ``+05:30`` / ``-0800`` / ``UTC+2``, or an IANA name such as ``Europe/Berlin`` (daylight saving applied per
    timestamp)."""
    value = text.strip()
    if value.lower() == "local":
        return None
    if value.upper() in ("UTC", "Z", "GMT"):
        return UTC
    match = _OFFSET.match(value)
    if match:
        sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3) or 0)
        if hours > 23 or minutes > 59:
            raise UsageError(f"--timezone {text!r}: an offset is at most ±23:59")
        delta = timedelta(hours=hours, minutes=minutes)
        return timezone(-delta if sign == "-" else delta)
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"--timezone {text!r}: not 'local', 'UTC', an offset like +05:30, "
            "or a zone name like Europe/Berlin"
        ) from None


def datetime_to_ns(moment: datetime) -> int:
    """Exact epoch nanoseconds of an aware datetime (no float on the way)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * NS_PER_S + delta.microseconds * 1_000


def epoch_seconds_to_ns(text: str) -> int:
    """``"1795263479"`` or ``"1795263479.752581"`` (epoch seconds) -> nanoseconds, else ``ValueError``."""
    try:
        seconds = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"not epoch seconds: {text!r}") from None
    if not seconds.is_finite() or seconds < 0:
        raise ValueError(f"not epoch seconds: {text!r}")
    return int(seconds * NS_PER_S)


def parse_instant(text: str, zone: tzinfo | None) -> int:
    """Any timestamp Locust writes -> epoch nanoseconds.

    Epoch seconds, ISO 8601 with ``Z`` or an offset (taken as written), or a zone-less date-time (``2026-11-21
    17:48:32,721``, ``2026-11-21T17:48:32``), which is read in ``zone`` (``None``: this machine's local
    time). Raises ``ValueError``.
    """
    value = text.strip()
    if not value:
        raise ValueError("empty timestamp")
    if value[0].isdigit() and "-" not in value:
        return epoch_seconds_to_ns(value)
    iso = value.replace(",", ".")
    if iso.endswith(("Z", "z")):
        iso = iso[:-1] + "+00:00"
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.astimezone() if zone is None else moment.replace(tzinfo=zone)
    return datetime_to_ns(moment)


def utc_offset_s(zone: tzinfo | None, at_ns: int) -> int:
    """The zone's offset from UTC in seconds at the given instant (``None``: this machine's zone)."""
    moment = datetime.fromtimestamp(at_ns / NS_PER_S, tz=UTC).astimezone(zone)
    offset = moment.utcoffset()
    return 0 if offset is None else int(offset.total_seconds())


def format_offset(seconds: int) -> str:
    """``19800`` -> ``+05:30``."""
    sign = "-" if seconds < 0 else "+"
    minutes = abs(seconds) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
