"""``import_locust``: the one call that turns a set of Locust outputs into trace files.

Stages (:data:`STAGES`, in order; later ones use what earlier ones found): ``_stats.csv`` (totals and the
pseudo-type share) -> ``_stats_history.csv`` (load series, per-endpoint failure times) -> ``_failures.csv``
-> text logs -> ``_exceptions.csv`` (times from the logs) -> per-request logs. Each input becomes one JSONL
file in the output directory, named after it (``run_stats_history.csv`` -> ``run_stats_history.jsonl``),
written with :class:`recorders.tracefile.TraceWriter` so it starts with a ``meta`` line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recorders.locust_import.context import DEFAULT_PSEUDO_TYPES, ImportContext
from recorders.locust_import.csvfile import CsvTable, read_csv
from recorders.locust_import.discover import Kind, LocustInput, discover
from recorders.locust_import.failures import parse_exceptions, parse_failures
from recorders.locust_import.logs import LogResult, log_host, one_run, parse_log
from recorders.locust_import.request_log import parse_request_log
from recorders.locust_import.stats import HistoryResult, Record, StatsTotals, parse_history, parse_stats
from recorders.locust_import.timefmt import NS_PER_S, format_offset, parse_timezone, utc_offset_s
from recorders.tracefile import TraceWriter, new_run_id
from traceanalyzer.errors import UsageError

RECORDER = "locust-import"


@dataclass(frozen=True)
class ImportOptions:
    """``timezone``: zone of the text logs' times (``local``, ``UTC``, ``+05:30``, ``Europe/Berlin``).
    ``pseudo_types``: request types that are measurements, added to ``METRIC`` and ``TTFT``.
    ``host`` / ``run``: written into every record (default: the host named in the Locust log, else
    ``locust``; a new run id). ``overwrite``: replace output files that exist (otherwise an error)."""

    timezone: str = "local"
    pseudo_types: Sequence[str] = ()
    host: str | None = None
    run: str | None = None
    overwrite: bool = False


@dataclass(frozen=True)
class OutputFile:
    """One trace file written: from which input (and its kind), with its record count per ``type``."""

    path: Path
    input: Path
    kind: str
    records: dict[str, int]


@dataclass(frozen=True)
class ImportResult:
    """What was written, and the numbers a user checks the import by.

    ``locust_requests`` / ``locust_failures``: Locust's own totals from ``_stats.csv``, pseudo types left out.
    ``logged_requests`` / ``logged_failures``: requests in the per-request logs. ``pseudo_rows``: rows of
    pseudo request types kept out of the request counts, as ``"TYPE (input kind)": rows``. ``notes``:
    everything the user should know (gaps, scaling).
    """

    outputs: list[OutputFile]
    run: str
    host: str
    notes: list[str] = field(default_factory=list)
    pseudo_rows: dict[str, int] = field(default_factory=dict)
    locust_requests: int | None = None
    locust_failures: int | None = None
    logged_requests: int | None = None
    logged_failures: int | None = None


@dataclass
class _Work:
    """Parsed inputs and their records, filled stage by stage."""

    records: dict[Path, list[Record]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    pseudo_rows: Counter[str] = field(default_factory=Counter)
    stats: StatsTotals | None = None
    history: HistoryResult | None = None
    logs: list[LogResult] = field(default_factory=list)
    failures_last_t: int | None = None
    logged_requests: int | None = None
    logged_failures: int | None = None


def _output_paths(inputs: Sequence[LocustInput], out_dir: Path) -> dict[Path, Path]:
    taken: set[str] = set()
    out: dict[Path, Path] = {}
    for item in inputs:
        stem = item.path.stem
        name = f"{stem}.jsonl"
        n = 2
        while name in taken:
            name = f"{stem}-{n}.jsonl"
            n += 1
        taken.add(name)
        out[item.path] = out_dir / name
    return out


def _table(item: LocustInput, work: _Work) -> CsvTable:
    table = read_csv(item.path)
    if table.partial_last_row is not None:
        work.notes.append(
            f"{item.path}:{table.partial_last_row}: last row cut short (writer killed); left out"
        )
    return table


def _latest(*values: int | None) -> int | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _check_log_zone(work: _Work, zone_text: str, ctx: ImportContext) -> None:
    """Warn when the logged start of Locust and the history's first row are more than 10 minutes apart: the
    usual sign of a wrong ``--timezone``; the offset that would line them up is suggested."""
    if work.history is None or work.history.first_t is None:
        return
    first_t = work.history.first_t
    starts = [
        e["t"] for log in work.logs for e in log.events if e["name"] in ("locust.start", "locust.spawn")
    ]
    if not starts:
        return
    start = min(starts, key=lambda t: abs(t - first_t))
    gap_s = (start - first_t) / NS_PER_S
    if abs(gap_s) <= 600:
        return
    suggested = utc_offset_s(ctx.zone, start) + round(gap_s / 900) * 900
    work.notes.append(
        f"log times are {gap_s / 3600:+.2f} h off the stats history with --timezone {zone_text}; "
        f"the logs were probably written at UTC{format_offset(suggested)} "
        f"(try --timezone {format_offset(suggested)})"
    )


def _stats_stage(item: LocustInput, work: _Work, ctx: ImportContext) -> None:
    if work.stats is not None:
        raise UsageError(f"{item.path}: more than one _stats.csv; import one Locust run at a time")
    work.stats = parse_stats(_table(item, work), ctx)
    work.pseudo_rows.update(
        f"{r['detail']['type']} (stats)" for r in work.stats.records if r["detail"].get("pseudo")
    )
    work.records[item.path] = work.stats.records


def _history_stage(item: LocustInput, work: _Work, ctx: ImportContext) -> None:
    if work.history is not None:
        raise UsageError(f"{item.path}: more than one _stats_history.csv; import one Locust run at a time")
    work.history = parse_history(_table(item, work), ctx, work.stats)
    work.notes.extend(work.history.notes)
    work.records[item.path] = work.history.load + work.history.endpoints + work.history.events


def _failures_stage(item: LocustInput, work: _Work, ctx: ImportContext) -> None:
    times = work.history.failure_times if work.history is not None else {}
    failures = parse_failures(_table(item, work), ctx, times)
    work.pseudo_rows.update({f"{t} (failures)": n for t, n in failures.pseudo_rows.items()})
    work.failures_last_t = _latest(work.failures_last_t, failures.last_t)
    work.records[item.path] = failures.records


def _log_stage(item: LocustInput, work: _Work, ctx: ImportContext) -> None:
    log = parse_log(item.path, ctx)
    if log.orphan_lines:
        work.notes.append(f"{item.path}: {log.orphan_lines} lines before the first log record left out")
    log.events, runs = one_run(log.events, work.history.first_t if work.history else None)
    if runs > 1:
        work.notes.append(
            f"{item.path}: holds {runs} Locust runs (the log is appended to); imported the one starting at "
            f"line {log.events[0]['detail']['line']}"
        )
    work.logs.append(log)
    work.records[item.path] = log.events


def _exceptions_stage(item: LocustInput, work: _Work, ctx: ImportContext) -> None:
    events = [e for log in work.logs for e in log.events]
    end = _latest(
        work.history.last_t if work.history else None,
        work.failures_last_t,
        max((e["t"] for e in events), default=None),
    )
    if end is None:
        end = item.path.stat().st_mtime_ns
        work.notes.append(f"{item.path}: no other Locust file gives the run's end; file time used")
    work.records[item.path] = parse_exceptions(_table(item, work), ctx, events, end)


def _request_log_stage(item: LocustInput, work: _Work, ctx: ImportContext) -> None:
    result = parse_request_log(_table(item, work), ctx, id_prefix=item.path.stem)
    work.pseudo_rows.update({f"{t} (request log)": n for t, n in result.pseudo_rows.items()})
    if result.without_time:
        work.notes.append(f"{item.path}: {result.without_time} rows without a response time left out")
    work.logged_requests = (work.logged_requests or 0) + len(result.records)
    work.logged_failures = (work.logged_failures or 0) + result.failures
    work.records[item.path] = result.records


#: The stages in the order they run: later ones use what earlier ones found.
STAGES: tuple[tuple[Kind, Callable[[LocustInput, _Work, ImportContext], None]], ...] = (
    (Kind.STATS, _stats_stage),
    (Kind.STATS_HISTORY, _history_stage),
    (Kind.FAILURES, _failures_stage),
    (Kind.LOG, _log_stage),
    (Kind.EXCEPTIONS, _exceptions_stage),
    (Kind.REQUEST_LOG, _request_log_stage),
)


def _cross_check(work: _Work) -> None:
    if work.stats is None or work.logged_requests is None:
        return
    gap = work.logged_requests - work.stats.requests
    if gap > 0:
        work.notes.append(
            f"the request logs hold {gap} more requests than Locust's _stats.csv ({work.logged_requests} vs "
            f"{work.stats.requests}): Locust writes its CSVs once a second and not at shutdown, so the last "
            "second is missing from them"
        )
    elif gap < 0:
        work.notes.append(
            f"the request logs hold {-gap} fewer requests than Locust's _stats.csv ({work.logged_requests} "
            f"vs {work.stats.requests}): a request log per worker may be missing"
        )


def import_locust(
    paths: Iterable[str | Path], out_dir: str | Path, options: ImportOptions | None = None
) -> ImportResult:
    """Convert Locust CSVs, text logs and per-request logs into trace files in ``out_dir``.

    Raises :class:`BadInputError` (naming file and row) for malformed input and :class:`UsageError` for
    paths that are not Locust output or output files that exist (unless ``options.overwrite``).
    """
    opts = options or ImportOptions()
    inputs, notes = discover(paths)
    zone = parse_timezone(opts.timezone)
    pseudo = frozenset(DEFAULT_PSEUDO_TYPES | {p.strip().upper() for p in opts.pseudo_types if p.strip()})
    run = opts.run or new_run_id()
    out = Path(out_dir)
    targets = _output_paths(inputs, out)
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not opts.overwrite:
        raise UsageError(f"output files exist: {', '.join(existing)} (pass --overwrite to replace them)")

    work = _Work(notes=list(notes))
    host = opts.host or next((h for i in inputs if i.kind is Kind.LOG and (h := log_host(i.path))), None)
    ctx = ImportContext(host=host or "locust", run=run, zone=zone, pseudo_types=pseudo)
    for kind, stage in STAGES:
        for item in inputs:
            if item.kind is kind:
                stage(item, work, ctx)
    _check_log_zone(work, opts.timezone, ctx)
    _cross_check(work)

    config: dict[str, Any] = {
        "inputs": [str(i.path) for i in inputs],
        "timezone": opts.timezone,
        "pseudo_types": sorted(pseudo),
    }
    outputs: list[OutputFile] = []
    for item in inputs:
        target = targets[item.path]
        if target.exists():
            target.unlink()
        records = work.records.get(item.path, [])
        counts: Counter[str] = Counter()
        with TraceWriter(
            target,
            recorder=RECORDER,
            config={**config, "input": str(item.path), "input_kind": item.kind.value},
            run=run,
            host=ctx.host,
        ) as writer:
            for record in records:
                writer.write(record)
                counts[record["type"]] += 1
        outputs.append(OutputFile(target, item.path, item.kind.value, dict(counts)))
    return ImportResult(
        outputs=outputs,
        run=run,
        host=ctx.host,
        notes=work.notes,
        pseudo_rows={k: v for k, v in work.pseudo_rows.items() if v},
        locust_requests=work.stats.requests if work.stats else None,
        locust_failures=work.stats.failures if work.stats else None,
        logged_requests=work.logged_requests,
        logged_failures=work.logged_failures,
    )
