"""``_stats.csv`` -> ``totals`` records; ``_stats_history.csv`` -> ``load`` and ``load_endpoint`` records.

Locust quirks handled here (2.47, ``locust/stats.py``):

- *Pseudo request types* (``METRIC``, ``LLMUser``'s ``TTFT``) are counted by Locust as requests, in their own
  rows and in ``Aggregated``. Here they are kept apart: the ``Aggregated`` totals record and the ``load``
  series count real requests only. Without ``--csv-full-history`` the history has only the ``Aggregated``
  row, so the pseudo share is taken from ``_stats.csv`` (the series is scaled, and a note says so).
- *Rates*: Locust's ``Requests/s`` column is a 10 s trailing mean that ends 2 s before the row's time.
  ``rps`` and ``fail_per_s`` here are exact interval rates from the cumulative counts,
  ``(count_i - count_{i-1}) / (t_i - t_{i-1})``; Locust's own figures are kept as ``locust_rps`` /
  ``locust_fail_per_s``. The first row (no previous count) falls back on Locust's figure.
- *Rounded percentiles*: Locust buckets response times to two significant digits (147 ms -> 150 ms) before it
  takes percentiles, and writes them as whole milliseconds; they are kept as written under ``locust_*_ms`` and
  never used as our latency statistics. With ``--csv-full-history`` the history's percentiles cover Locust's
  10 s window (``0`` there means no data in the window and becomes null); without it, the ``Aggregated``
  row's are cumulative since the start.
- *Stats reset* (``--reset-stats`` or the web UI): cumulative counts drop; the row gets a
  ``locust.stats_reset`` event and its rate counts from zero.
- *Last second*: Locust writes its CSVs once a second and does not rewrite them at shutdown, so the requests
  of the last second or so are in neither file (see ``docs/locust.md``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from recorders.locust_import.context import SOURCE, ImportContext
from recorders.locust_import.csvfile import CsvRow, CsvTable
from recorders.locust_import.timefmt import NS_PER_S, epoch_seconds_to_ns

AGGREGATED_NAMES = frozenset({"Aggregated", "Total"})
Record = dict[str, Any]
EndpointKey = tuple[str, str]


def percentile_key(column: str) -> str:
    """Locust's percentile column -> our key: ``50%`` -> ``p50``, ``99.9%`` -> ``p99_9``."""
    return "p" + column.strip().rstrip("%").replace(".", "_")


@functools.lru_cache(maxsize=64)
def _percentile_columns(header: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(column, key) of each percentile column of a header, in order."""
    return tuple((c, percentile_key(c)) for c in header if c.strip().endswith("%"))


def _percentiles(row: CsvRow, header: list[str], *, zero_is_missing: bool) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for column, key in _percentile_columns(tuple(header)):
        value = row.optional_real(column)
        out[key] = None if (zero_is_missing and value == 0) else value
    return out


def _method(row: CsvRow) -> str:
    return row.text("Type", "Method").strip()


def _is_aggregated(row: CsvRow) -> bool:
    return row.text("Name").strip() in AGGREGATED_NAMES and _method(row) in ("", "None")


# -- _stats.csv ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StatsTotals:
    """What ``_stats.csv`` says: totals records plus the counts the other stages need."""

    records: list[Record]
    requests: int
    failures: int
    pseudo_requests: int
    pseudo_failures: int
    locust_requests: int
    locust_failures: int

    @property
    def pseudo_share(self) -> tuple[float, float]:
        """Share of Locust's aggregated requests / failures that are pseudo types."""
        r = self.pseudo_requests / self.locust_requests if self.locust_requests else 0.0
        f = self.pseudo_failures / self.locust_failures if self.locust_failures else 0.0
        return r, f


def _stats_detail(row: CsvRow, header: list[str]) -> dict[str, Any]:
    return {
        "type": _method(row),
        "median_ms": row.optional_real("Median Response Time", "Median response time"),
        "avg_ms": row.optional_real("Average Response Time", "Average response time"),
        "min_ms": row.optional_real("Min Response Time", "Min response time"),
        "max_ms": row.optional_real("Max Response Time", "Max response time"),
        "avg_content_size": row.optional_real("Average Content Size"),
        "locust_rps": row.optional_real("Requests/s"),
        "locust_fail_per_s": row.optional_real("Failures/s") if row.has("Failures/s") else None,
        "locust_percentiles_ms": _percentiles(row, header, zero_is_missing=False),
        "percentiles_rounded": True,
    }


def parse_stats(table: CsvTable, ctx: ImportContext) -> StatsTotals:
    """One ``totals`` record per row; the ``Aggregated`` record counts real requests only (no pseudo)."""
    table.require("Name", ("Request Count", "# requests"), ("Failure Count", "# failures"))
    records: list[Record] = []
    real_requests = real_failures = pseudo_requests = pseudo_failures = 0
    aggregated: tuple[CsvRow, int, int] | None = None
    for row in table.rows:
        requests = row.integer("Request Count", "# requests")
        failures = row.integer("Failure Count", "# failures")
        if requests < 0 or failures < 0 or failures > requests:
            raise row.fail(f"impossible counts: {requests} requests, {failures} failures")
        if _is_aggregated(row):
            aggregated = (row, requests, failures)
            continue
        row_detail = _stats_detail(row, table.header)
        pseudo = ctx.is_pseudo(_method(row))
        row_detail["pseudo"] = pseudo
        if pseudo:
            pseudo_requests += requests
            pseudo_failures += failures
        else:
            real_requests += requests
            real_failures += failures
        records.append(_totals_record(ctx, row.text("Name"), requests, failures, row_detail))
    detail: dict[str, Any]
    if aggregated is None:
        locust_requests, locust_failures = real_requests + pseudo_requests, real_failures + pseudo_failures
        detail = {"computed": True}
    else:
        row, locust_requests, locust_failures = aggregated
        detail = _stats_detail(row, table.header)
        if locust_requests != real_requests + pseudo_requests:
            raise row.fail(
                f"'Aggregated' counts {locust_requests} requests but the rows above sum to "
                f"{real_requests + pseudo_requests}"
            )
    detail.update(
        locust_requests=locust_requests,
        locust_failures=locust_failures,
        pseudo_requests=pseudo_requests,
        pseudo_failures=pseudo_failures,
        pseudo_types=sorted(ctx.pseudo_types),
    )
    records.append(_totals_record(ctx, "Aggregated", real_requests, real_failures, detail))
    return StatsTotals(
        records,
        real_requests,
        real_failures,
        pseudo_requests,
        pseudo_failures,
        locust_requests,
        locust_failures,
    )


def _totals_record(
    ctx: ImportContext, name: str, requests: int, failures: int, detail: dict[str, Any]
) -> Record:
    return {
        "type": "totals",
        "run": ctx.run,
        "host": ctx.host,
        "source": SOURCE,
        "name": name,
        "requests": requests,
        "failures": failures,
        "detail": detail,
    }


# -- _stats_history.csv --------------------------------------------------------------------------------------
@dataclass
class _Snapshot:
    """One write of the history: its rows up to and including the ``Aggregated`` row."""

    t: int
    users: int
    aggregated: CsvRow
    endpoints: list[CsvRow]


@dataclass
class HistoryResult:
    load: list[Record] = field(default_factory=list)
    endpoints: list[Record] = field(default_factory=list)
    events: list[Record] = field(default_factory=list)
    #: per (type, name): epoch ns of the first and last history row in which its failure count rose
    failure_times: dict[EndpointKey, tuple[int, int]] = field(default_factory=dict)
    first_t: int | None = None
    last_t: int | None = None
    notes: list[str] = field(default_factory=list)


def _snapshots(table: CsvTable, notes: list[str]) -> list[_Snapshot]:
    snapshots: list[_Snapshot] = []
    pending: list[CsvRow] = []
    for row in table.rows:
        if _is_aggregated(row):
            t = _timestamp(row)
            for other in pending:
                if _timestamp(other) != t:
                    raise other.fail(f"timestamp differs from its 'Aggregated' row (row {row.number})")
            users = row.integer("User Count", "User count", "Users")
            snapshots.append(_Snapshot(t=t, users=users, aggregated=row, endpoints=pending))
            pending = []
        else:
            pending.append(row)
    if pending:
        notes.append(
            f"{table.path}: rows {pending[0].number}-{pending[-1].number} have no 'Aggregated' row "
            "(Locust stopped mid-write); left out"
        )
    return snapshots


def _timestamp(row: CsvRow) -> int:
    try:
        return epoch_seconds_to_ns(row.text("Timestamp"))
    except ValueError:
        raise row.fail(f"column 'Timestamp': expected epoch seconds, got {row.text('Timestamp')!r}") from None


def _counts(row: CsvRow) -> tuple[int, int]:
    requests = row.integer("Total Request Count")
    failures = row.integer("Total Failure Count")
    if requests < 0 or failures < 0 or failures > requests:
        raise row.fail(f"impossible counts: {requests} requests, {failures} failures")
    return requests, failures


def _rate(
    count: int, prev_count: int | None, t: int, prev_t: int | None, fallback: float | None
) -> float | None:
    if prev_count is None or prev_t is None:
        return 0.0 if count == 0 else fallback
    if t <= prev_t:
        return None
    delta = count - prev_count if count >= prev_count else count
    return delta * NS_PER_S / (t - prev_t)


def _scaling_note(table: CsvTable, stats: StatsTotals | None, share_r: float) -> str | None:
    if stats is None:
        return (
            f"{table.path}: no per-endpoint rows (--csv-full-history) and no _stats.csv: request rates "
            "include any pseudo request types"
        )
    if share_r > 0:
        return (
            f"{table.path}: no per-endpoint rows (--csv-full-history); pseudo request types were "
            f"{share_r:.1%} of requests in _stats.csv, so the load series is scaled by that share"
        )
    return None


def parse_history(table: CsvTable, ctx: ImportContext, stats: StatsTotals | None) -> HistoryResult:
    """One ``load`` record per write of the history, one ``load_endpoint`` record per endpoint row."""
    table.require(
        "Timestamp",
        ("User Count", "User count", "Users"),
        "Name",
        "Total Request Count",
        "Total Failure Count",
    )
    result = HistoryResult()
    snapshots = _snapshots(table, result.notes)
    full_history = any(s.endpoints for s in snapshots)
    share_r, share_f = stats.pseudo_share if stats is not None else (0.0, 0.0)
    if snapshots and not full_history and (note := _scaling_note(table, stats, share_r)):
        result.notes.append(note)
    prev_t: int | None = None
    prev_requests: int | None = None
    prev_failures: int | None = None
    prev_endpoint: dict[EndpointKey, tuple[int | None, int, int]] = {}
    for snap in snapshots:
        if full_history:
            real = [_counts(r) for r in snap.endpoints if not ctx.is_pseudo(_method(r))]
            requests, failures = sum(c[0] for c in real), sum(c[1] for c in real)
        else:
            agg_requests, agg_failures = _counts(snap.aggregated)
            requests, failures = round(agg_requests * (1 - share_r)), round(agg_failures * (1 - share_f))
        if prev_requests is not None and requests < prev_requests:
            result.events.append(_reset_event(ctx, snap.t, prev_requests, requests, table))
        locust_rps = snap.aggregated.optional_real("Requests/s")
        locust_fail = snap.aggregated.optional_real("Failures/s")
        result.load.append(
            {
                "type": "load",
                "run": ctx.run,
                "host": ctx.host,
                "t": snap.t,
                "users": snap.users,
                "rps": _rate(
                    requests,
                    prev_requests,
                    snap.t,
                    prev_t,
                    None if locust_rps is None else locust_rps * (1 - share_r),
                ),
                "fail_per_s": _rate(failures, prev_failures, snap.t, prev_t, locust_fail),
                "source": SOURCE,
                "requests_total": requests,
                "failures_total": failures,
                "locust_rps": locust_rps,
                "locust_fail_per_s": locust_fail,
                "locust_percentiles_ms": _percentiles(
                    snap.aggregated, table.header, zero_is_missing=full_history
                ),
                "locust_percentile_window": "10s" if full_history else "cumulative",
            }
        )
        for row in snap.endpoints:
            key = (_method(row), row.text("Name"))
            base = prev_endpoint.get(key, (prev_t, 0, 0))
            record = _endpoint_record(ctx, snap.t, row, table.header, key, base)
            if record["failures_total"] != base[2] and record["failures_total"] > 0:
                first, _ = result.failure_times.get(key, (snap.t, snap.t))
                result.failure_times[key] = (first, snap.t)
            result.endpoints.append(record)
            prev_endpoint[key] = (snap.t, record["requests_total"], record["failures_total"])
        prev_t, prev_requests, prev_failures = snap.t, requests, failures
    if snapshots:
        result.first_t, result.last_t = snapshots[0].t, snapshots[-1].t
    return result


def _endpoint_record(
    ctx: ImportContext,
    t: int,
    row: CsvRow,
    header: list[str],
    key: EndpointKey,
    base: tuple[int | None, int, int],
) -> Record:
    """One endpoint row; ``base`` is (time, requests, failures) of its previous row (time None: none)."""
    base_t, base_count, base_fails = base
    count, fails = _counts(row)
    locust_rps = row.optional_real("Requests/s")
    locust_fail = row.optional_real("Failures/s")
    return {
        "type": "load_endpoint",
        "run": ctx.run,
        "host": ctx.host,
        "t": t,
        "method": key[0],
        "name": key[1],
        "pseudo": ctx.is_pseudo(key[0]),
        "rps": _rate(count, base_count if base_t is not None else None, t, base_t, locust_rps),
        "fail_per_s": _rate(fails, base_fails if base_t is not None else None, t, base_t, locust_fail),
        "requests_total": count,
        "failures_total": fails,
        "locust_rps": locust_rps,
        "locust_fail_per_s": locust_fail,
        "locust_percentiles_ms": _percentiles(row, header, zero_is_missing=True),
        "locust_median_ms": row.optional_real("Total Median Response Time"),
        "locust_avg_ms": row.optional_real("Total Average Response Time"),
        "locust_min_ms": row.optional_real("Total Min Response Time"),
        "locust_max_ms": row.optional_real("Total Max Response Time"),
        "source": SOURCE,
    }


def _reset_event(ctx: ImportContext, t: int, before: int, after: int, table: CsvTable) -> Record:
    return {
        "type": "event",
        "run": ctx.run,
        "host": ctx.host,
        "t": t,
        "name": "locust.stats_reset",
        "detail": {"requests_before": before, "requests_after": after, "file": str(table.path)},
    }
