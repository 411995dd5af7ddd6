"""``_failures.csv`` -> aggregated ``failures`` records; ``_exceptions.csv`` -> ``event`` records.

``failures`` is a schema extension (``docs/architecture.md``): ``host, t_first, t_last, class, status, count,
name, message, source``; ``method`` and ``t_source`` are added. Times:

- Locust 2.4x writes ``First Seen`` / ``Last Seen`` (UTC, truncated to the second): ``t_source: "locust"``;
- older Locust writes only ``Method, Name, Error, Occurrences``: the times then come from the history rows
  (``--csv-full-history``) in which that endpoint's failure count rose, ``t_source: "stats_history"`` (the
  failure happened in the second before); otherwise they are null.

``_exceptions.csv`` (errors raised inside the locustfile, not request failures) has no times; each row's
``locust.exception`` event takes the time of the first log line with the same message when a Locust log is
imported too (``t_source: "log"``), else the end of the run (``t_source: "end_of_run"``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from recorders.locust_import.context import SOURCE, ImportContext
from recorders.locust_import.csvfile import CsvTable
from recorders.locust_import.errortext import parse_error
from recorders.locust_import.stats import EndpointKey, Record
from recorders.locust_import.timefmt import parse_instant


@dataclass
class FailuresResult:
    records: list[Record] = field(default_factory=list)
    pseudo_rows: Counter[str] = field(default_factory=Counter)
    last_t: int | None = None


def parse_failures(
    table: CsvTable, ctx: ImportContext, failure_times: dict[EndpointKey, tuple[int, int]]
) -> FailuresResult:
    """One ``failures`` record per row, the error class read from the error text and status."""
    table.require(("Method", "Type"), "Name", "Error", "Occurrences")
    with_times = "first seen" in table.columns and "last seen" in table.columns
    result = FailuresResult()
    for row in table.rows:
        method = row.text("Method", "Type").strip()
        if ctx.is_pseudo(method):
            result.pseudo_rows[method] += 1
            continue
        name = row.text("Name")
        count = row.integer("Occurrences")
        if count < 0:
            raise row.fail(f"negative occurrences: {count}")
        parsed = parse_error(row.text("Error"))
        t_first = t_last = None
        t_source: str | None = None
        if with_times and row.text("First Seen").strip():
            try:
                t_first = parse_instant(row.text("First Seen"), ctx.zone)
                t_last = parse_instant(row.text("Last Seen") or row.text("First Seen"), ctx.zone)
            except ValueError:
                raise row.fail(
                    f"'First Seen' / 'Last Seen' are not times: "
                    f"{row.text('First Seen')!r}, {row.text('Last Seen')!r}"
                ) from None
            t_source = "locust"
        elif (method, name) in failure_times:
            t_first, t_last = failure_times[(method, name)]
            t_source = "stats_history"
        if t_last is not None:
            result.last_t = t_last if result.last_t is None else max(result.last_t, t_last)
        result.records.append(
            {
                "type": "failures",
                "run": ctx.run,
                "host": ctx.host,
                "t_first": t_first,
                "t_last": t_last,
                "class": parsed.error_class,
                "status": parsed.status,
                "count": count,
                "name": name,
                "method": method,
                "message": parsed.message,
                "source": SOURCE,
                "t_source": t_source,
            }
        )
    return result


def parse_exceptions(
    table: CsvTable, ctx: ImportContext, log_events: Sequence[Record], end_of_run: int
) -> list[Record]:
    """One ``locust.exception`` event per row of ``_exceptions.csv``."""
    table.require("Count", "Message", "Traceback")
    by_message: dict[str, list[int]] = {}
    for event in log_events:
        logged = event.get("detail") or {}
        if logged.get("level") in ("ERROR", "CRITICAL"):
            by_message.setdefault(str(logged.get("message", "")).strip(), []).append(event["t"])
    records: list[Record] = []
    for row in table.rows:
        count = row.integer("Count")
        message = row.text("Message")
        times = sorted(by_message.get(message.strip(), []))
        detail: dict[str, Any] = {
            "count": count,
            "message": message,
            "traceback": row.text("Traceback"),
            "nodes": [n.strip() for n in row.text("Nodes").split(",") if n.strip()]
            if row.has("Nodes")
            else [],
            "t_source": "log" if times else "end_of_run",
        }
        if times:
            detail.update(t_last=times[-1], log_count=len(times))
        records.append(
            {
                "type": "event",
                "run": ctx.run,
                "host": ctx.host,
                "t": times[0] if times else end_of_run,
                "name": "locust.exception",
                "detail": detail,
            }
        )
    return records
