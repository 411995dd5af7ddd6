"""Per-request logs of ``locust.contrib.csv_request_logger.CsvRequestLogger`` -> ``request`` records.

Columns (Locust 2.47): ``timestamp`` (epoch seconds, 6 decimals: the request's start time when the client
passes one, as ``HttpUser`` and ``FastHttpUser`` do), ``request_type``, ``name``, ``response_time_ms`` (2
decimals; empty when the event had none), ``response_length``, ``status_code`` (0 when no response arrived)
and ``exception`` (``str()`` of the failure; empty on success).

A Locust request event carries no chunk timing: the records have ``t_send`` and ``t_end = t_send +
response_time_ms`` only (``t_headers``, ``t_first`` null, ``chunks_us`` empty, ``tokens_source`` null). For a
streamed response without ``LLMUser``, Locust's response time is the time to the headers. Rows with a pseudo
request type (``METRIC``, ``TTFT``) are measurements, not requests: they are counted and left out, and so
are rows without a response time (nothing to put in ``t_end``), with a note. The logger is not flushed at
every row when ``flush_interval > 1``, and rows of requests in flight at shutdown are absent.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from recorders.locust_import.context import SOURCE, ImportContext
from recorders.locust_import.csvfile import CsvTable
from recorders.locust_import.errortext import parse_error
from recorders.locust_import.stats import Record
from recorders.locust_import.timefmt import epoch_seconds_to_ns

COLUMNS = (
    "timestamp",
    "request_type",
    "name",
    "response_time_ms",
    "response_length",
    "status_code",
    "exception",
)


@dataclass
class RequestLogResult:
    records: list[Record] = field(default_factory=list)
    pseudo_rows: Counter[str] = field(default_factory=Counter)
    failures: int = 0
    without_time: int = 0


def parse_request_log(table: CsvTable, ctx: ImportContext, id_prefix: str) -> RequestLogResult:
    """One ``request`` record per row that is a real request; ``id`` is ``{id_prefix}-{row}``."""
    table.require(*COLUMNS)
    result = RequestLogResult()
    for row in table.rows:
        request_type = row.text("request_type").strip()
        if ctx.is_pseudo(request_type):
            result.pseudo_rows[request_type] += 1
            continue
        try:
            t_send = epoch_seconds_to_ns(row.text("timestamp"))
        except ValueError:
            raise row.fail(
                f"column 'timestamp': expected epoch seconds, got {row.text('timestamp')!r}"
            ) from None
        elapsed_text = row.text("response_time_ms").strip()
        if not elapsed_text:
            result.without_time += 1
            continue
        try:
            elapsed = Decimal(elapsed_text)
        except InvalidOperation:
            elapsed = Decimal("NaN")
        if not elapsed.is_finite() or elapsed < 0:
            raise row.fail(f"column 'response_time_ms': expected milliseconds, got {elapsed_text!r}")
        t_end = t_send + int(elapsed * 1_000_000)
        status = row.integer("status_code") or None
        exception = row.text("exception")
        error = None
        if exception.strip():
            parsed = parse_error(exception, status)
            error = {"class": parsed.error_class, "status": parsed.status, "message": parsed.message}
            result.failures += 1
        result.records.append(
            {
                "type": "request",
                "run": ctx.run,
                "host": ctx.host,
                "id": f"{id_prefix}-{row.number}",
                "response_id": None,
                "model": None,
                "api": None,
                "scenario": None,
                "prompt_id": None,
                "stage": None,
                "in_flight": None,
                "prompt_tokens": None,
                "max_tokens": None,
                "t_send": t_send,
                "t_headers": None,
                "t_first": None,
                "t_end": t_end,
                "chunks_us": [],
                "output_tokens": None,
                "tokens_source": None,
                "status": status,
                "finish_reason": None,
                "error": error,
                "source": SOURCE,
                "locust_type": request_type,
                "locust_name": row.text("name"),
                "response_length": row.integer("response_length"),
            }
        )
    return result
