"""Locust's ``--logfile`` text log -> ``event`` records.

Every log record (``[%(asctime)s] HOST/LEVEL/LOGGER: message``, ``locust/log.py``) becomes one event;
lines that do not start a record (tracebacks) belong to the record above. ``asctime`` is the *local time*
of the machine that ran Locust, without a zone: it is read in the zone given to the importer
(``--timezone``). The host in each line is where it was written, so logs of several workers keep their own
hosts.

Locust opens the log in append mode, so a reused ``--logfile`` holds several runs, each opened by a
``Starting Locust`` line: only one run is imported (:func:`one_run`), the one that started nearest to the
CSVs' first row, else the last.

Known Locust messages get their own event names, with the numbers they carry in ``detail``:
``locust.start``, ``locust.spawn`` (users, rate), ``locust.spawn_complete`` (users),
``locust.run_time_limit``, ``locust.stop``, ``locust.shutdown`` (exit code), ``locust.cpu_warning``,
``locust.worker_ready``, ``locust.worker_missing``, ``locust.worker_quit``, ``locust.stats_reset``; errors
with a traceback are ``locust.exception``; anything else is ``locust.log``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from recorders.locust_import.context import ImportContext
from recorders.locust_import.discover import LOG_LINE
from recorders.locust_import.stats import Record
from recorders.locust_import.timefmt import parse_instant
from traceanalyzer.errors import BadInputError

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("locust.start", re.compile(r"^Starting Locust (?P<version>\S+)")),
    (
        "locust.spawn",
        re.compile(r"^Ramping to (?P<users>\d+) users at a rate of (?P<rate>[\d.]+) per second"),
    ),
    ("locust.spawn_complete", re.compile(r"^All users spawned: .*\((?P<users>\d+) total users\)")),
    ("locust.run_time_limit", re.compile(r"^Run time limit set to (?P<seconds>\d+) seconds")),
    (
        "locust.stop",
        re.compile(r"run-time limit reached|Shape test (?:completed|stopping)|All users stopped"),
    ),
    ("locust.shutdown", re.compile(r"^Shutting down \(exit code (?P<exit_code>-?\d+)\)")),
    (
        "locust.cpu_warning",
        re.compile(r"CPU usage (?:above|threshold was exceeded)|exceeded cpu threshold", re.I),
    ),
    ("locust.worker_ready", re.compile(r"reported as ready\.")),
    (
        "locust.worker_missing",
        re.compile(r"failed to send heartbeat|went missing|Gave up waiting for workers"),
    ),
    (
        "locust.worker_quit",
        re.compile(r"^Got quit message from master|\) quit\. \d+ workers ready|last worker quit"),
    ),
    ("locust.stats_reset", re.compile(r"Resetting stats", re.I)),
)
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")


@dataclass
class LogResult:
    events: list[Record] = field(default_factory=list)
    orphan_lines: int = 0


def _event_name(level: str, message: str, has_traceback: bool) -> tuple[str, dict[str, Any]]:
    for name, pattern in _PATTERNS:
        match = pattern.search(message)
        if match:
            values: dict[str, Any] = {}
            for key, text in match.groupdict().items():
                values[key] = (float(text) if "." in text else int(text)) if _NUMBER.match(text) else text
            return name, values
    if has_traceback and level in ("ERROR", "CRITICAL"):
        return "locust.exception", {}
    return "locust.log", {}


def log_host(path: Path) -> str | None:
    """The host named in a Locust log's first record (the machine that ran that Locust process)."""
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            match = LOG_LINE.match(line.rstrip("\n"))
            if match:
                return match.group("host") or None
    return None


def parse_log(path: Path, ctx: ImportContext) -> LogResult:
    """Read one Locust text log; a file without a single Locust log line is not a Locust log (exit 2)."""
    result = LogResult()
    current: dict[str, Any] | None = None
    continuation: list[str] = []

    def finish() -> None:
        if current is None:
            return
        text = "\n".join(continuation).rstrip()
        name, values = _event_name(current["level"], current["message"], bool(text))
        detail: dict[str, Any] = {
            "level": current["level"],
            "logger": current["logger"],
            "message": current["message"],
            "log_host": current["host"],
            "file": str(path),
            "line": current["line"],
        }
        if text:
            detail["traceback"] = text
        detail.update(values)
        result.events.append(
            {
                "type": "event",
                "run": ctx.run,
                "host": current["host"] or ctx.host,
                "t": current["t"],
                "name": name,
                "detail": detail,
            }
        )

    try:
        with path.open(encoding="utf-8", errors="replace", newline=None) as fh:
            for number, raw in enumerate(fh, start=1):
                line = raw.rstrip("\n")
                match = LOG_LINE.match(line)
                if match is None:
                    if current is None:
                        if line.strip():
                            result.orphan_lines += 1
                    else:
                        continuation.append(line)
                    continue
                finish()
                continuation = []
                try:
                    t = parse_instant(match.group("ts"), ctx.zone)
                except ValueError:
                    raise BadInputError(
                        f"not a valid time: {match.group('ts')!r}", path=str(path), line=number
                    ) from None
                current = {
                    "t": t,
                    "host": match.group("host"),
                    "level": match.group("level"),
                    "logger": match.group("logger"),
                    "message": match.group("message"),
                    "line": number,
                }
    except OSError as exc:
        raise BadInputError(f"cannot read: {exc.strerror}", path=str(path)) from None
    finish()
    if not result.events:
        raise BadInputError(
            "no Locust log lines ('[YYYY-MM-DD HH:MM:SS,mmm] host/LEVEL/logger: ...')", path=str(path)
        )
    return result


def one_run(events: list[Record], reference_t: int | None) -> tuple[list[Record], int]:
    """The events of one Locust run of a log, and how many runs the log holds.

    Runs start at ``locust.start`` events (lines before the first belong to the first run). The run kept is
    the one whose start is nearest to ``reference_t`` (the history's first row), else the last one.
    """
    starts = [i for i, e in enumerate(events) if e["name"] == "locust.start"]
    if len(starts) <= 1:
        return events, max(len(starts), 1)
    bounds = [0, *starts[1:], len(events)]
    runs = [events[a:b] for a, b in pairwise(bounds)]
    if reference_t is None:
        return runs[-1], len(runs)
    start_times = [events[i]["t"] for i in starts]
    nearest = min(range(len(runs)), key=lambda k: abs(start_times[k] - reference_t))
    return runs[nearest], len(runs)
