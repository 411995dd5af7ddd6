"""What every analysis stage receives: the loaded capture, the options and the derived per-request table.

A stage is a plain function ``(ctx: StageContext, analysis: Analysis) -> Analysis`` that returns the analysis
with its own part filled in (``dataclasses.replace``); later stages read earlier results from ``analysis``
(e.g. ``analysis.timeseries``). Stages are composed in one place, ``traceanalyzer.analysis.STAGES``.

:func:`prepare` derives, once, everything several stages share:

- the time origin ``t0_ns`` (first ``t_send``; without requests, the first record with a time) and the end of
  the run (last ``t_end`` or last text chunk; without requests, the last record);
- the window grid: ``window_s`` windows from the origin, the last one ending at the end of the run;
- ``requests``: one pandas row per request record (``row`` is its index in ``capture.requests``), with
  times in seconds since the origin and the per-request latencies of DESIGN section 4:

  - ``ttft_s = (t_first - t_send)``; ``e2e_s = (last text chunk - t_send)``, where the last text chunk is at
    ``t_send + chunks_us[-1]`` (``t_end - t_send`` when no chunk offsets were recorded);
  - ``tpot_s = (last chunk - t_first) / (output_tokens - 1)`` for requests with ``output_tokens >= 2``
    (the last chunk taken at ``t_end`` when no chunk offsets were recorded, as for imported production
    traces that only know the first and the last token; null for a non-streamed request, ``stream: false``,
    whose whole answer arrived at once);
  - ``done_s``: when a request completed (its last text chunk, else ``t_end``); ``end_s``: its ``t_end``
    (a failure's time); ``w_send`` / ``w_done`` / ``w_end``: window index of ``send_s`` / ``done_s`` /
    ``end_s``;
  - latencies are kept for every request; stages restrict them to successful ones (``ok``).
- load stages in order of their first request, the stage of each window (the stage most requests sent in it
  belong to), and steady state: per stage after its first ``warmup_s``; without stages the run minus
  ``warmup_s`` and ``cooldown_s`` (the whole run when that leaves nothing). A window is steady when at least
  80 % of it lies in a steady span and it is at least half a window long (a short last window is too noisy
  for rates); when no window qualifies, every such full window counts.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from traceanalyzer.arrowpool import use_system_pool
from traceanalyzer.loader.chunkfile import CHUNK_COLUMNS, release
from traceanalyzer.loader.load import duckdb_config
from traceanalyzer.metrics.chunks import ChunkPassResult, chunk_pass
from traceanalyzer.model import Analysis, AnalysisOptions, EventMarker, Note, RequestRef, TimeSpan

if TYPE_CHECKING:
    from traceanalyzer.loader import Capture

NS = 1_000_000_000
STEADY_WINDOW_SHARE = 0.8
"""A window is steady when at least this share of it lies inside a steady-state span."""

Stage = Callable[["StageContext", Analysis], Analysis]
"""An analysis stage: fills its part of the analysis from the context and earlier results."""

_TIME_TABLES = ("gpu", "host", "server", "load", "event")


@dataclass(frozen=True)
class WindowGrid:
    """Windows ``[start_s[i], start_s[i] + length_s[i])``, seconds since ``t0_ns``."""

    t0_ns: int
    window_s: float
    duration_s: float
    start_s: npt.NDArray[np.float64]
    length_s: npt.NDArray[np.float64]

    @property
    def n(self) -> int:
        return int(self.start_s.size)

    def index(self, t_s: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Window index of each instant (seconds since the origin), clipped into the grid."""
        t = np.nan_to_num(np.asarray(t_s, dtype=np.float64), nan=0.0)
        return np.clip(np.floor(t / self.window_s), 0, self.n - 1).astype(np.int64)

    @classmethod
    def build(cls, t0_ns: int, duration_s: float, window_s: float) -> WindowGrid:
        """The grid of a run ``duration_s`` long: full windows and a last, possibly shorter, one.

        A last piece shorter than 5 % of a window joins the window before it (so no rate is taken over a
        sliver of time). A run shorter than one window is one window as long as the run (at least 1 ms, so
        rates exist).
        """
        n = max(1, math.ceil(duration_s / window_s - 1e-9))
        if n > 1 and duration_s - (n - 1) * window_s < 0.05 * window_s:
            n -= 1
        start = np.arange(n, dtype=np.float64) * window_s
        length = np.full(n, float(window_s))
        length[-1] = max(duration_s - start[-1], 1e-3)
        return cls(t0_ns=t0_ns, window_s=window_s, duration_s=duration_s, start_s=start, length_s=length)


OK_COLUMNS = ("row", "send_s", "w_done", "ttft_s", "tpot_s", "e2e_s", "output_tokens")
"""The columns of :attr:`StageContext.ok`: what the stages read of the successful requests."""


@dataclass
class StageContext:
    """Inputs shared by the stages (see the module docstring). Built by :func:`prepare`."""

    capture: Capture
    options: AnalysisOptions
    grid: WindowGrid
    requests: pd.DataFrame
    request_table: pa.Table
    """``capture.requests`` less records without ``t_send`` and less the chunk columns (``chunks_us``,
    ``chunk_tokens``: they are read in bounded batches from ``chunk_table``); ``requests.row`` indexes it."""
    stages: tuple[str, ...]
    window_stage: tuple[str | None, ...]
    steady: npt.NDArray[np.bool_]
    steady_spans: tuple[TimeSpan, ...]
    stage_spans: tuple[TimeSpan, ...]
    """Per stage: its first to its last ``t_send``."""
    soak: bool
    events: tuple[EventMarker, ...] = ()
    notes: list[Note] = field(default_factory=list)
    chunk_table: pa.Table | None = None
    """``t_send``, ``chunks_us``, ``chunk_tokens``, ``error_class`` of every row of ``capture.requests`` (rows
    without ``t_send`` included, to be skipped): the input of the chunk pass, which reads and releases it
    batch by batch. None: ``request_table`` holds the chunk columns."""
    _duck: duckdb.DuckDBPyConnection | None = None
    _chunks: ChunkPassResult | None = None

    @property
    def t0_ns(self) -> int:
        return self.grid.t0_ns

    @functools.cached_property
    def ok(self) -> pd.DataFrame:
        """The successful requests (rows of ``requests``, columns :data:`OK_COLUMNS`); computed once."""
        return self.requests.loc[self.requests["ok"].to_numpy(dtype=bool), list(OK_COLUMNS)]

    def duck(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with ``request_table`` registered as the view ``requests`` (zero copy)."""
        if self._duck is None:
            self._duck = duckdb.connect(config=duckdb_config())
            self._duck.register("requests", self.request_table)
        return self._duck

    def chunks(self) -> ChunkPassResult:
        """Pooled chunk gaps and tokens per window (:mod:`traceanalyzer.metrics.chunks`), computed once."""
        if self._chunks is None:
            window_ns = round(self.grid.window_s * NS)
            table = self.request_table if self.chunk_table is None else self.chunk_table
            self._chunks = chunk_pass(table, self.t0_ns, window_ns, self.grid.n)
        return self._chunks

    def close(self) -> None:
        if self._duck is not None:
            self._duck.close()
            self._duck = None

    def request_ref(self, row: int) -> RequestRef:
        """The request at ``row`` of ``request_table`` as a :class:`RequestRef`."""
        rec = self.requests.iloc[row]
        columns = [
            c for c in self.request_table.column_names if c not in ("chunks_us", "chunk_tokens", "text")
        ]
        raw = self.request_table.select(columns).slice(row, 1).to_pylist()[0]

        def text(name: str) -> str | None:
            value = raw.get(name)
            return None if value is None else str(value)

        def num(name: str) -> float | None:
            value = rec[name]
            return None if pd.isna(value) else float(value)

        tokens = raw.get("output_tokens")
        status = raw.get("status")
        return RequestRef(
            id=str(raw.get("id")),
            response_id=text("response_id"),
            host=text("host"),
            model=text("model"),
            scenario=text("scenario"),
            stage=text("stage"),
            t_send_s=float(rec["send_s"]),
            t_end_s=num("end_s"),
            ttft_s=num("ttft_s"),
            e2e_s=num("e2e_s"),
            output_tokens=None if tokens is None else int(tokens),
            status=None if status is None else int(status),
            error_class=text("error_class"),
            error_message=text("error_message"),
            source_file=text("source_file"),
            run=text("run"),
            session_id=text("session_id"),
        )

    def note(self, section: str, reason: str) -> None:
        """Record why a section has no or partial data (added to ``Analysis.notes``)."""
        self.notes.append(Note(section, reason))


# -- building the context ----------------------------------------------------------------------------------
def _column(table: pa.Table, name: str) -> pa.ChunkedArray | None:
    return table.column(name) if name in table.column_names else None


def _seconds_since(table: pa.Table, name: str, t0_ns: int) -> npt.NDArray[np.float64]:
    """``(column - t0) / 1e9`` as float64 seconds, exact in int64 first; NaN for nulls or a missing column."""
    col = _column(table, name)
    if col is None:
        return np.full(table.num_rows, np.nan)
    delta = pc.subtract(col.cast(pa.int64()), pa.scalar(t0_ns, pa.int64()))
    return np.asarray(delta.to_numpy(zero_copy_only=False), dtype=np.float64) / NS


def _delta_s(table: pa.Table, later: str, earlier: str) -> npt.NDArray[np.float64]:
    """``(later - earlier) / 1e9`` per row, subtracted in int64 (exact); NaN where either is null."""
    a, b = _column(table, later), _column(table, earlier)
    if a is None or b is None:
        return np.full(table.num_rows, np.nan)
    delta = pc.subtract(a.cast(pa.int64()), b.cast(pa.int64()))
    return np.asarray(delta.to_numpy(zero_copy_only=False), dtype=np.float64) / NS


def _floats(table: pa.Table, name: str) -> npt.NDArray[np.float64]:
    col = _column(table, name)
    if col is None:
        return np.full(table.num_rows, np.nan)
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)


def _categorical(table: pa.Table, name: str) -> pd.Categorical:
    col = _column(table, name)
    if col is None:
        return pd.Categorical([None] * table.num_rows)
    series = pc.dictionary_encode(col.cast(pa.string())).to_pandas()
    return pd.Categorical(series)


def last_chunk_us(
    chunks: pa.ChunkedArray | None, rows: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Per request, the offset of its last text chunk (microseconds, NaN without chunks) and the chunk count.

    Reads the list offsets directly (no copy of the ~100 values per request), one Arrow chunk at a time,
    releasing each (mapped chunk data leaves no resident pages behind).
    """
    last = np.full(rows, np.nan)
    count = np.zeros(rows, dtype=np.int64)
    if chunks is None:
        return last, count
    pos = 0
    for chunk in chunks.chunks:
        offsets = np.asarray(chunk.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
        lengths = np.diff(offsets)
        if chunk.null_count:
            valid = np.asarray(chunk.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
            lengths = np.where(valid, lengths, 0)
        size = lengths.size
        has = lengths > 0
        if has.any():
            values = chunk.values
            idx = offsets[1:][has] - 1
            taken = values.take(pa.array(idx)).to_numpy(zero_copy_only=False)
            block = last[pos : pos + size]
            block[has] = np.asarray(taken, dtype=np.float64)
        count[pos : pos + size] = lengths
        pos += size
        release(chunk)
    return last, count


def _time_bounds(capture: Capture) -> tuple[int, int] | None:
    """(first, last) epoch ns of every timed record when there are no requests."""
    firsts: list[int] = []
    lasts: list[int] = []
    for name in _TIME_TABLES:
        table: pa.Table = getattr(capture, name)
        if table.num_rows and "t" in table.column_names:
            lo, hi = pc.min_max(table.column("t")).values()
            if lo.is_valid:
                firsts.append(lo.as_py())
                lasts.append(hi.as_py())
    failures: pa.Table = capture.failures
    if failures.num_rows:
        for col, out in (("t_first", firsts), ("t_last", lasts)):
            if col in failures.column_names:
                value = (pc.min if col == "t_first" else pc.max)(failures.column(col)).as_py()
                if value is not None:
                    out.append(int(value))
    if not firsts:
        return None
    return min(firsts), max(lasts + firsts)


def request_frame(
    table: pa.Table,
    t0_ns: int,
    chunk_ends: tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]] | None = None,
) -> pd.DataFrame:
    """The per-request frame of the module docstring (without window indices). ``chunk_ends``: the
    :func:`last_chunk_us` of the rows, when ``table`` does not hold ``chunks_us``."""
    rows = table.num_rows
    send_s = _seconds_since(table, "t_send", t0_ns)
    first_s = _seconds_since(table, "t_first", t0_ns)
    end_s = _seconds_since(table, "t_end", t0_ns)
    last_us, n_chunks = chunk_ends or last_chunk_us(_column(table, "chunks_us"), rows)
    # Latencies from integer differences (exact), not from the rounded instants.
    ttft = _delta_s(table, "t_first", "t_send")
    e2e = np.where(np.isfinite(last_us), last_us / 1e6, _delta_s(table, "t_end", "t_send"))
    tokens = _floats(table, "output_tokens")
    error_col = _column(table, "error_class")
    ok = (
        np.ones(rows, dtype=bool)
        if error_col is None
        else np.asarray(error_col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    )
    done_s = send_s + e2e
    end_s = np.where(np.isfinite(end_s), end_s, done_s)
    stream_col = _column(table, "stream")
    not_streamed = (
        np.zeros(rows, dtype=bool)
        if stream_col is None
        else np.asarray(pc.fill_null(pc.equal(stream_col, False), False).to_numpy(zero_copy_only=False), bool)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where((tokens >= 2) & ~not_streamed, (e2e - ttft) / (tokens - 1), np.nan)
    return pd.DataFrame(
        {
            "row": np.arange(rows, dtype=np.int64),
            "send_s": send_s,
            "first_s": first_s,
            "done_s": done_s,
            "end_s": end_s,
            "ttft_s": ttft,
            "e2e_s": e2e,
            "tpot_s": tpot,
            "n_chunks": n_chunks,
            "output_tokens": tokens,
            "in_flight": _floats(table, "in_flight"),
            "status": _floats(table, "status"),
            "ok": ok,
            "error_class": _categorical(table, "error_class"),
            "host": _categorical(table, "host"),
            "model": _categorical(table, "model"),
            "scenario": _categorical(table, "scenario"),
            "stage": _categorical(table, "stage"),
        },
        copy=False,  # one block per column: no consolidating copy, and column subsets stay zero-copy
    )


def _stage_layout(
    frame: pd.DataFrame, grid: WindowGrid, options: AnalysisOptions
) -> tuple[tuple[str, ...], tuple[str | None, ...], list[TimeSpan], list[TimeSpan]]:
    """Stages in order, the stage of each window, stage spans and steady spans."""
    staged = frame.dropna(subset=["stage"])
    if staged.empty:
        return (), (None,) * grid.n, [], []
    bounds = staged.groupby("stage", observed=True)["send_s"].agg(["min", "max"]).sort_values("min")
    names = tuple(str(s) for s in bounds.index)
    spans = [TimeSpan(float(r["min"]), float(r["max"]), str(s)) for s, r in bounds.iterrows()]
    steady = [
        TimeSpan(span.start_s + options.warmup_s, span.end_s, span.stage)
        for span in spans
        if span.end_s > span.start_s + options.warmup_s
    ]
    counts = staged.groupby(["w_send", "stage"], observed=True).size().reset_index(name="n")
    top = counts.sort_values("n", ascending=False).drop_duplicates("w_send").set_index("w_send")["stage"]
    per_window = pd.Series(top.astype(object)).reindex(range(grid.n)).ffill().bfill()
    window_stage = tuple(None if pd.isna(s) else str(s) for s in per_window)
    return names, window_stage, spans, steady


def _steady_windows(grid: WindowGrid, spans: list[TimeSpan]) -> npt.NDArray[np.bool_]:
    inside = np.zeros(grid.n)
    end = grid.start_s + grid.length_s
    for span in spans:
        inside += np.clip(np.minimum(end, span.end_s) - np.maximum(grid.start_s, span.start_s), 0, None)
    result: npt.NDArray[np.bool_] = inside >= STEADY_WINDOW_SHARE * grid.length_s
    return result


def _events(capture: Capture, t0_ns: int) -> tuple[EventMarker, ...]:
    table: pa.Table = capture.event
    if table.num_rows == 0:
        return ()
    t_s = _seconds_since(table, "t", t0_ns)
    out = []
    for t, rec in zip(
        t_s,
        table.select([c for c in ("name", "host", "detail") if c in table.column_names]).to_pylist(),
        strict=True,
    ):
        detail: Any = rec.get("detail")
        if isinstance(detail, str):
            with contextlib.suppress(ValueError):
                detail = json.loads(detail)
        out.append(EventMarker(t_s=float(t), name=str(rec.get("name")), host=rec.get("host"), detail=detail))
    return tuple(sorted(out, key=lambda e: e.t_s))


def prepare(capture: Capture, options: AnalysisOptions) -> StageContext:
    """Derive the shared inputs of every stage (module docstring)."""
    use_system_pool()
    notes: list[Note] = []
    full: pa.Table = capture.requests
    chunk_names = [c for c in ("t_send", *CHUNK_COLUMNS, "error_class") if c in full.column_names]
    chunk_table = full.select(chunk_names) if "chunks_us" in chunk_names else None
    table = full.drop_columns([c for c in CHUNK_COLUMNS if c in full.column_names])
    chunk_ends = last_chunk_us(_column(full, "chunks_us"), full.num_rows)
    if table.num_rows and table.column("t_send").null_count:
        keep = pc.is_valid(table.column("t_send"))
        table = table.filter(keep)
        kept = np.asarray(keep.to_numpy(zero_copy_only=False), dtype=bool)
        chunk_ends = (chunk_ends[0][kept], chunk_ends[1][kept])
        notes.append(Note("requests", "request records without t_send were left out"))
    if table.num_rows:
        t0_ns = int(pc.min(table.column("t_send")).as_py())
        frame = request_frame(table, t0_ns, chunk_ends)
        duration_s = float(np.nanmax(np.concatenate([frame["end_s"], frame["done_s"], frame["send_s"]])))
    else:
        bounds = _time_bounds(capture)
        t0_ns, last_ns = bounds if bounds else (0, 0)
        frame = request_frame(table, t0_ns, chunk_ends)
        duration_s = (last_ns - t0_ns) / NS
        notes.append(Note("requests", "not measured: the capture has no request records"))
    grid = WindowGrid.build(t0_ns, max(duration_s, 0.0), options.window_s)
    for col, src in (("w_send", "send_s"), ("w_done", "done_s"), ("w_end", "end_s")):
        frame[col] = grid.index(frame[src].to_numpy())
    stages, window_stage, stage_spans, steady_spans = _stage_layout(frame, grid, options)
    if stages and not steady_spans:
        notes.append(Note("steady", f"every stage is shorter than the {options.warmup_s:g} s warmup"))
    if not stages:
        start, end = options.warmup_s, grid.duration_s - options.cooldown_s
        if end > start:
            steady_spans = [TimeSpan(start, end)]
        else:
            steady_spans = [TimeSpan(0.0, grid.duration_s)]
            notes.append(
                Note("steady", "the run is shorter than warmup + cooldown; steady state is the whole run")
            )
    full = grid.length_s >= 0.5 * grid.window_s
    if not full.any():
        full[:] = True
    steady = _steady_windows(grid, steady_spans) & full
    if not steady.any():
        steady = full
        notes.append(Note("steady", "no window lies in steady state; every window is used instead"))
    soak = (
        options.soak if options.soak is not None else (len(stages) <= 1 and duration_s >= options.soak_min_s)
    )
    return StageContext(
        capture=capture,
        options=options,
        grid=grid,
        requests=frame,
        request_table=table,
        stages=stages,
        window_stage=window_stage,
        steady=steady,
        steady_spans=tuple(steady_spans),
        stage_spans=tuple(stage_spans),
        soak=soak,
        events=_events(capture, t0_ns),
        notes=notes,
        chunk_table=chunk_table,
    )
