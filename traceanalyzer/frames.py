"""pandas views of an analysis: one row per request, one row per window (``Analysis.requests_frame()`` /
``Analysis.windows_frame()``).

Units are in the column names (``_s`` seconds, ``_mib`` MiB, ``_pct`` percent; ``qps`` / ``tps`` per second).
Instants come twice: as a pandas ``Timestamp`` in UTC (``t_send``, ``t_start``) and as seconds since the
capture's first ``t_send`` (``t_send_s``, ``start_s``), the time axis of every chart and of the summary.

The per-request frame reads the per-request data :func:`traceanalyzer.analysis.analyze` keeps on its result
(:func:`keep_requests`): the latencies the latency stage computed, so its percentiles are the summary's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from traceanalyzer.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from traceanalyzer.metrics.context import StageContext
    from traceanalyzer.model import Analysis

_ATTRIBUTE = "_request_data"
_ID_COLUMNS = ("id", "response_id", "run", "session_id", "turn", "prompt_id", "api", "prompt_tokens")
"""Columns of the request records kept beside the stage frame (those a capture has)."""
_OPTIONAL = ("session_id", "turn")
"""Columns shown only when some request has a value (conversations)."""
_INTS = ("turn", "prompt_tokens", "output_tokens", "in_flight", "status")


@dataclass(frozen=True)
class RequestData:
    """What an analysis keeps of its requests: the stage frame (:mod:`traceanalyzer.metrics.context`) and
    the record columns that identify each request (``table``, row-aligned with ``frame``)."""

    t0_ns: int
    frame: pd.DataFrame
    table: pa.Table


def keep_requests(analysis: Analysis, ctx: StageContext) -> Analysis:
    """Attach the per-request data of ``ctx`` to ``analysis`` (not a field: never serialized or compared)."""
    table = ctx.request_table
    names = [c for c in (*_ID_COLUMNS, "t_send", "t_end", "output_tokens") if c in table.column_names]
    data = RequestData(t0_ns=ctx.t0_ns, frame=ctx.requests, table=table.select(names))
    object.__setattr__(analysis, _ATTRIBUTE, data)
    return analysis


def request_data(analysis: Analysis) -> RequestData | None:
    """The per-request data of an analysis; ``None`` for one read back from JSON."""
    data: RequestData | None = getattr(analysis, _ATTRIBUTE, None)
    return data


def _timestamps(values: Any) -> pd.Series:
    import pandas as pd

    return pd.Series(pd.to_datetime(values, unit="ns", utc=True))


def requests_frame(analysis: Analysis) -> pd.DataFrame:
    """One row per request record (those with a ``t_send``), failures included (``ok`` is False).

    Columns: ``id``, ``response_id``, ``run``, ``host``, ``model``, ``scenario``, ``stage``, ``session_id``
    and ``turn`` (conversations only), ``prompt_id``, ``api``, ``t_send`` / ``t_end`` (``Timestamp``, UTC),
    ``t_send_s`` (seconds since the capture's first ``t_send``), ``ttft_s``, ``tpot_s``, ``e2e_s`` (DESIGN
    section 4; NaN where not defined), ``output_tokens``, ``prompt_tokens``, ``in_flight``, ``status``
    (nullable integers), ``ok``, ``error_class`` (``None`` for a success). The summary's latency statistics
    are over the rows with ``ok`` and a value.
    """
    import pandas as pd
    import pyarrow as pa

    data = request_data(analysis)
    if data is None:
        raise UsageError(
            "this analysis holds no per-request data (it was read back from JSON); "
            "analyze the capture again for requests_frame()"
        )
    frame, table = data.frame, data.table

    def column(name: str) -> Any:
        if name not in table.column_names:
            return None
        col = table.column(name)
        if name in _INTS:
            return col.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get).astype("Int64")
        if name in ("t_send", "t_end"):
            return _timestamps(col.to_numpy())
        return col.to_pandas()

    out: dict[str, Any] = {}
    for name in ("id", "response_id", "run"):
        out[name] = column(name)
    for name in ("host", "model", "scenario", "stage"):
        out[name] = frame[name].to_numpy()
    for name in (*_OPTIONAL, "prompt_id", "api"):
        values = column(name)
        if values is not None and (name not in _OPTIONAL or values.notna().any()):
            out[name] = values
    out["t_send"] = column("t_send")
    out["t_end"] = column("t_end")
    out["t_send_s"] = frame["send_s"].to_numpy()
    for name in ("ttft_s", "tpot_s", "e2e_s"):
        out[name] = frame[name].to_numpy()
    out["output_tokens"] = column("output_tokens")
    out["prompt_tokens"] = column("prompt_tokens")
    for name in ("in_flight", "status"):
        out[name] = pd.array(frame[name].to_numpy(), dtype="Float64").astype("Int64")
    out["ok"] = frame["ok"].to_numpy()
    out["error_class"] = frame["error_class"].to_numpy()
    result = pd.DataFrame({k: v for k, v in out.items() if v is not None})
    for name in ("host", "model", "scenario", "stage", "error_class"):
        result[name] = result[name].astype("category")
    return result


def windows_frame(analysis: Analysis) -> pd.DataFrame:
    """One row per window of ``Analysis.timeseries``: the series the report draws, resources included.

    ``t_start`` (``Timestamp``, UTC) and every per-window field of
    :class:`~traceanalyzer.model.WindowSeries` under its own name (``start_s``, ``qps``, ``ttft_p95_s``,
    ``gpu_util_pct``, ...; NaN where not measured); failures per error class as ``errors_<class>``; each GPU
    as ``gpu_util_pct:<host/gpuN>`` and ``gpu_mem_used_mib:<host/gpuN>``.
    """
    import numpy as np
    import pandas as pd

    from traceanalyzer.model import WindowSeries

    ts = analysis.timeseries
    n = len(ts.start_s)
    start_ns = analysis.capture.t0_ns + np.round(np.asarray(ts.start_s, dtype=np.float64) * 1e9)
    out: dict[str, Any] = {"t_start": _timestamps(start_ns.astype(np.int64))}
    for f in dataclasses.fields(WindowSeries):
        values = getattr(ts, f.name)
        if isinstance(values, tuple) and len(values) == n and f.name != "gpus":
            out[f.name] = list(values)
    for cls, counts in ts.errors.items():
        out[f"errors_{cls}"] = list(counts)
    for gpu in ts.gpus:
        out[f"gpu_util_pct:{gpu.key}"] = list(gpu.util_pct)
        out[f"gpu_mem_used_mib:{gpu.key}"] = list(gpu.mem_used_mib)
    frame = pd.DataFrame(out)
    for name in frame.columns:
        if frame[name].dtype == object and name != "stage":
            frame[name] = pd.to_numeric(frame[name])
    return frame
