"""Text formatting of numbers for the reports (jinja filters). Formatting only: no metric is computed here.

Every function takes ``None`` (not measured) and returns an en dash for it. Durations and latencies arrive in
seconds, shares as fractions, percentages as percent, memory in MiB (the units of ``traceanalyzer.model``).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec

from traceanalyzer.i18n import N_, _, decimal, percent_sign, utc_datetime

MISSING = "\u2013"
"""What a value that was not measured looks like."""
NBSP = "\u00a0"


P = ParamSpec("P")


def _ok(value: float | None) -> bool:
    return value is not None and not (isinstance(value, float) and not math.isfinite(value))


def measured(func: Callable[Concatenate[float, P], str]) -> Callable[Concatenate[float | None, P], str]:
    """Let a formatter take ``None`` or NaN (not measured), which it shows as :data:`MISSING`."""

    @functools.wraps(func)
    def format_value(value: float | None, /, *args: P.args, **kwargs: P.kwargs) -> str:
        return func(value, *args, **kwargs) if value is not None and _ok(value) else MISSING

    return format_value


@measured
def num(value: float, digits: int = 2) -> str:
    """``1,234.57``; integers without decimals."""
    if isinstance(value, int) and not isinstance(value, bool):
        return decimal(value)
    return decimal(value, digits)


@measured
def count(value: float) -> str:
    """An integer count with thousands separators."""
    return decimal(round(value))


@measured
def sig(value: float, digits: int = 3) -> str:
    """``digits`` significant digits, plain notation for everyday magnitudes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return decimal(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= digits + 3 or magnitude < -4:
        return f"{value:.{digits - 1}e}"
    return decimal(value, max(0, digits - 1 - magnitude))


@measured
def ms(seconds: float, digits: int = 1) -> str:
    """Seconds as milliseconds: ``43.4 ms``."""
    return f"{decimal(seconds * 1000, digits)}{NBSP}ms"


@measured
def ms_bare(seconds: float, digits: int = 1) -> str:
    """Seconds as milliseconds without the unit (table cells under a 'ms' header)."""
    return decimal(seconds * 1000, digits)


@measured
def latency(seconds: float) -> str:
    """A latency in the unit that reads best: ``850 ms``, ``1.35 s``, ``12.4 s``."""
    if abs(seconds) < 1.0:
        return f"{decimal(seconds * 1000, 1 if abs(seconds) < 0.1 else 0)}{NBSP}ms"
    return f"{decimal(seconds, 2 if abs(seconds) < 10 else 1)}{NBSP}s"


@measured
def duration(seconds: float) -> str:
    """A length of time: ``14.0 s``, ``12 min 30 s``, ``24 h 0 min``."""
    if seconds < 120:
        return f"{decimal(seconds, 1)}{NBSP}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 120:
        return _("{minutes}\u00a0min {seconds}\u00a0s").format(minutes=minutes, seconds=secs)
    hours, minutes = divmod(minutes, 60)
    return _("{hours}\u00a0h {minutes}\u00a0min").format(hours=decimal(hours), minutes=minutes)


@measured
def instant(seconds: float) -> str:
    """An instant in seconds since the first request: ``6.0 s`` or ``t+1:02:03`` for long runs."""
    if abs(seconds) < 600:
        return f"{decimal(seconds, 1)}{NBSP}s"
    sign = "-" if seconds < 0 else ""
    minutes, secs = divmod(round(abs(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{sign}{hours}:{minutes:02d}:{secs:02d}"


def span(start: float | None, end: float | None) -> str:
    """A time range: ``6.0 s – 13.0 s``."""
    if not _ok(start) and not _ok(end):
        return MISSING
    return f"{instant(start)} {MISSING} {instant(end)}"


@measured
def pct(fraction: float, digits: int = 1) -> str:
    """A fraction as a percentage: ``0.2370`` -> ``23.7 %``; tiny non-zero shares keep two significant
    digits (``0.0031 %``)."""
    value = fraction * 100
    if value != 0 and abs(value) < 10 ** (-digits):
        return percent_sign(sig(value, 2))
    return percent_sign(decimal(value, digits))


@measured
def percent(value: float, digits: int = 1) -> str:
    """A value that already is a percentage: ``56.4 %``."""
    return percent_sign(decimal(value, digits))


@measured
def signed_pct(fraction: float, digits: int = 1) -> str:
    """A relative change: ``+12.5 %``, ``-3.0 %``."""
    return percent_sign(decimal(fraction * 100, digits, signed=True))


@measured
def mib(value: float) -> str:
    """Memory in MiB, with GiB for large values: ``79,058 MiB (77.2 GiB)``."""
    text = f"{decimal(value)}{NBSP}MiB"
    return f"{text} ({decimal(value / 1024, 1)}{NBSP}GiB)" if value >= 10240 else text


@measured
def rate(value: float, unit: str = "req/s", digits: int = 2) -> str:
    """A rate with its unit (in the report's language): ``5.51 req/s``."""
    return f"{decimal(value, digits)}{NBSP}{_(unit)}"


UNITS = (N_("req/s"), N_("tokens/s"))
"""Unit names that read differently in another language (``rate`` translates them)."""


@measured
def pvalue(value: float) -> str:
    """A p-value: ``0.42``, ``3.1e-05``, ``< 1e-300``."""
    if value == 0:
        return "< 1e-300"
    return f"{value:.2g}" if value >= 1e-3 else f"{value:.1e}"


def utc(epoch_ns: int | None) -> str:
    """Epoch nanoseconds as ``2026-11-21 12:38:48 UTC``."""
    if epoch_ns is None:
        return MISSING
    return utc_datetime(datetime.fromtimestamp(epoch_ns / 1e9, tz=UTC))


def utc_minute(when: datetime) -> str:
    """An aware datetime to the minute: ``2026-11-21 12:38 UTC``."""
    return utc_datetime(when, seconds=False)


@measured
def in_unit(value: float, unit: str) -> str:
    """A value in a model unit name (``s``, ``fraction``, ``%``, ``req/s``, ``tokens/s``, ``MiB``, ``cosine``,
    ``count``) formatted for reading."""
    formatter = _UNIT_FORMATTERS.get(unit)
    if formatter is not None:
        return formatter(value)
    return sig(value)


@measured
def delta_in_unit(value: float, unit: str) -> str:
    """A difference in a model unit, with its sign."""
    text = in_unit(abs(value), unit)
    return ("+" if value > 0 else "-" if value < 0 else "\u00b1") + text


_UNIT_FORMATTERS: dict[str, Callable[[float | None], str]] = {
    "s": latency,
    "fraction": lambda v: pct(v, 2),
    "%": percent,
    "req/s": lambda v: rate(v, "req/s"),
    "tokens/s": lambda v: rate(v, "tokens/s", 1),
    "MiB": mib,
    "cosine": lambda v: sig(v, 3),
    "count": count,
}


def evidence_value(value: Any) -> str:
    """One evidence value as short text: numbers to 4 significant digits, lists and maps inline."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, (int, float)):
        return sig(value, 4)
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return ", ".join(f"{k}{NBSP}={NBSP}{evidence_value(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(evidence_value(v) for v in value) + "]"
    return json.dumps(value, default=str)


@dataclass(frozen=True)
class EvidenceGrid:
    """A map of maps (``{"ttft_p95_s": {"value": ..., "baseline": ...}, ...}``) as a table of text cells."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[str, ...]], ...]


def evidence_grid(value: Any) -> EvidenceGrid | None:
    """``value`` as an :class:`EvidenceGrid` when it is a non-empty map whose values are all maps."""
    if not isinstance(value, Mapping) or not value or not all(isinstance(v, Mapping) for v in value.values()):
        return None
    columns: list[str] = []
    for inner in value.values():
        columns += [str(c) for c in inner if str(c) not in columns]
    rows = tuple(
        (str(name), tuple(evidence_value(inner.get(c)) if c in inner else "" for c in columns))
        for name, inner in value.items()
    )
    return EvidenceGrid(tuple(columns), rows)


FILTERS: dict[str, Callable[..., Any]] = {
    "num": num,
    "count": count,
    "sig": sig,
    "ms": ms,
    "ms_bare": ms_bare,
    "latency": latency,
    "duration": duration,
    "instant": instant,
    "span": span,
    "pct": pct,
    "percent": percent,
    "signed_pct": signed_pct,
    "mib": mib,
    "rate": rate,
    "pvalue": pvalue,
    "utc": utc,
    "utc_minute": utc_minute,
    "in_unit": in_unit,
    "delta_in_unit": delta_in_unit,
    "evidence": evidence_value,
    "evidence_grid": evidence_grid,
}
"""The jinja filters every report template can use."""
