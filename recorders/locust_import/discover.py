"""Which Locust output each path is: told apart by content (CSV header, log line format), not by file name.

A path may be a file, a directory (its ``*.csv`` and ``*.log`` files, recursively; files that are not Locust
output are skipped with a note), or a CSV prefix as given to ``locust --csv PREFIX`` (``PREFIX_stats.csv``,
``PREFIX_stats_history.csv``, ``PREFIX_failures.csv``, ``PREFIX_exceptions.csv``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from recorders.locust_import.csvfile import normalise, read_header
from traceanalyzer.errors import BadInputError, UsageError

PREFIX_SUFFIXES = ("_stats.csv", "_stats_history.csv", "_failures.csv", "_exceptions.csv")

#: One record of Locust's text log (``locust/log.py``): ``[%(asctime)s] HOST/LEVEL/LOGGER: message``.
LOG_LINE = re.compile(
    r"^\[(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:,\d{1,6})?)\] (?P<host>[^/\s]*)/(?P<level>[A-Z]+)/"
    r"(?P<logger>[^:\s]+): ?(?P<message>.*)$"
)


class Kind(StrEnum):
    STATS = "stats"
    STATS_HISTORY = "stats_history"
    FAILURES = "failures"
    EXCEPTIONS = "exceptions"
    REQUEST_LOG = "request_log"
    LOG = "log"


@dataclass(frozen=True)
class LocustInput:
    path: Path
    kind: Kind


def classify_header(header: Sequence[str]) -> Kind | None:
    """The kind of Locust CSV a header belongs to, or ``None``."""
    cols = {normalise(c) for c in header}
    if {"timestamp", "request_type", "response_time_ms"} <= cols:
        return Kind.REQUEST_LOG
    if "timestamp" in cols and ("user count" in cols or "total request count" in cols):
        return Kind.STATS_HISTORY
    if {"error", "occurrences"} <= cols:
        return Kind.FAILURES
    if {"count", "message", "traceback"} <= cols:
        return Kind.EXCEPTIONS
    if "name" in cols and (
        {"request count", "failure count"} <= cols or {"# requests", "# failures"} <= cols
    ):
        return Kind.STATS
    return None


def _looks_like_log(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            for _, line in zip(range(50), fh, strict=False):
                if LOG_LINE.match(line.rstrip("\r\n")):
                    return True
    except OSError:
        return False
    return False


def classify_file(path: Path) -> Kind | None:
    """The kind of one file, or ``None`` when it is neither a Locust CSV nor a Locust text log."""
    if path.suffix.lower() == ".csv":
        header = read_header(path)
        return classify_header(header) if header else None
    return Kind.LOG if _looks_like_log(path) else None


def discover(paths: Iterable[str | Path]) -> tuple[list[LocustInput], list[str]]:
    """Resolve command-line paths to Locust inputs; returns them (deduplicated, in order) and notes."""
    found: dict[Path, LocustInput] = {}
    notes: list[str] = []

    def add(path: Path, kind: Kind) -> None:
        found.setdefault(path.resolve(), LocustInput(path=path, kind=kind))

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            candidates = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (".csv", ".log")
            )
            matched = 0
            for candidate in candidates:
                kind = classify_file(candidate)
                if kind is None:
                    notes.append(f"{candidate}: not Locust output, skipped")
                else:
                    add(candidate, kind)
                    matched += 1
            if not matched:
                raise UsageError(f"{path}: no Locust CSV or log files in this directory")
        elif path.is_file():
            kind = classify_file(path)
            if kind is None:
                what = "a Locust CSV (unknown header)" if path.suffix.lower() == ".csv" else "a Locust log"
                raise BadInputError(f"not {what}", path=str(path), line=1)
            add(path, kind)
        else:
            members = [Path(f"{raw}{suffix}") for suffix in PREFIX_SUFFIXES]
            existing = [m for m in members if m.is_file()]
            if not existing:
                raise UsageError(f"{raw}: no such file or directory, and no Locust CSVs with this prefix")
            for member in existing:
                kind = classify_file(member)
                if kind is None:
                    raise BadInputError("not a Locust CSV (unknown header)", path=str(member), line=1)
                add(member, kind)
    return list(found.values()), notes
