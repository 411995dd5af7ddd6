"""Range-query series -> ``gpu``, ``server`` and ``host`` records, one step at a time.

At each step of the grid the samples of one host are put together as one scrape of that host would have
given them, and handed to the recorders' own mappings, so the fields mean exactly what they mean in a
capture made by ``record gpu --backend dcgm`` or ``record server``:

- ``gpu``: :func:`recorders.gpu.dcgm.dcgm_sample_records` over the DCGM series of one host (the
  ``Hostname`` label the DCGM exporter adds, else ``instance``); ``source`` is ``prometheus/dcgm``.
- ``server``: :func:`recorders.server_metrics.server_sample_record` over the engine series of one
  ``instance`` (buckets, quantiles and ``_created`` series left out, as ``record server`` leaves them out),
  plus the ``--queries`` results (key: the query name, with the series' labels when it has several);
  ``source`` is ``prometheus/ENGINE`` (``prometheus`` when no engine series is there).
- ``host``: :func:`recorders.gpu.records.host_record` from node exporter's ``node_memory_MemTotal_bytes``,
  ``node_memory_MemAvailable_bytes``, ``node_load1`` and the ``node_cpu`` query (percent of all cores
  neither idle nor in iowait, psutil's definition); ``source`` is ``prometheus/node``.

Counter rates: every engine counter series (a name ending ``_total``, ``_count`` or ``_sum``) also gets
``NAME:rate`` in ``metrics``, its increase per second over the rate window ending at the step: the sum of
the increases between consecutive points in the window, where a value below the previous one is a counter
reset and counts as an increase of the value itself (as PromQL's ``rate`` counts it), divided by the time
between the first and last point. The first point after a gap longer than the window has no rate. The
cumulative value stays as the engine exposes it (``preemptions`` included), as ``record server`` writes it.

A step where a series has no point (not scraped yet, stale, the target down) contributes nothing; a value
that is NaN or infinite is null in the record. A record with no reading at all is not written.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.samples import Sample

from recorders.gpu.dcgm import DCGM_INPUTS, dcgm_sample_records
from recorders.gpu.records import host_record
from recorders.prometheus_import.queries import (
    DCGM,
    ENGINE,
    NODE,
    NODE_CPU,
    NODE_LOAD1,
    NODE_MEM_AVAILABLE,
    NODE_MEM_TOTAL,
)
from recorders.prometheus_import.series import Labels, Series
from recorders.server_metrics import ENGINE_PREFIXES, server_sample_record

COUNTER_SUFFIXES = ("_total", "_count", "_sum")
RATE_SUFFIX = ":rate"
_KIND_ORDER = {"gpu": 0, "server": 1, "host": 2}
_ENGINE_NAMES = tuple(ENGINE_PREFIXES.values())


def engine_series(series: Series) -> bool:
    """Whether ``record server`` would keep this series: an engine's metric, not a histogram bucket, a
    summary quantile or a ``_created`` timestamp."""
    name = series.name or ""
    return (
        name.startswith(_ENGINE_NAMES)
        and not name.endswith(("_bucket", "_created"))
        and "quantile" not in series.labels
    )


def is_counter(name: str) -> bool:
    return name.endswith(COUNTER_SUFFIXES)


def _host_of(labels: dict[str, str], default: str, *names: str) -> str:
    for name in names:
        if labels.get(name):
            return labels[name]
    return default


@dataclass
class _CounterState:
    """The points of a counter series still inside the rate window at the end of the previous part."""

    tail: list[tuple[int, float]] = field(default_factory=list)


def counter_rates(
    points: Sequence[tuple[int, float]], window_ms: int, tail: Sequence[tuple[int, float]] = ()
) -> list[float | None]:
    """Per-second rate at each of ``points`` (see the module docstring); ``tail``: earlier points of the
    same series (the previous window part), used but not rated."""
    allp = [*tail, *points]
    out: list[float | None] = []
    j = 0
    for i in range(len(tail), len(allp)):
        t, value = allp[i]
        while j < i and allp[j][0] < t - window_ms:
            j += 1
        if j == i or not math.isfinite(value):  # a gap: no earlier point of the series in the window
            out.append(None)
            continue
        increase = 0.0
        for k in range(j + 1, i + 1):
            prev, cur = allp[k - 1][1], allp[k][1]
            if math.isfinite(prev) and math.isfinite(cur):
                increase += cur - prev if cur >= prev else cur
        out.append(increase / ((t - allp[j][0]) / 1000))
    return out


class RecordMapper:
    """Turns the results of one window part after another into records, keeping each counter's last
    points across parts so rates continue over the part boundary."""

    def __init__(
        self, *, default_host: str, rate_window_ms: int, keep: re.Pattern[str] | None = None
    ) -> None:
        self.default_host = default_host
        self.rate_window_ms = rate_window_ms
        self.keep = keep
        self._counters: dict[tuple[str | None, Labels], _CounterState] = {}

    def records(self, results: dict[str, list[Series]], extra: Iterable[str] = ()) -> list[dict[str, Any]]:
        """The records of one window part: ``results`` maps a query name to its series; ``extra`` names
        the ``--queries`` queries among them. Sorted by time, then gpu/server/host, host and GPU."""
        gpu: dict[tuple[int, str], list[Sample]] = {}
        for series in results.get(DCGM, []):
            if series.name not in DCGM_INPUTS:
                continue
            host = _host_of(series.labels, self.default_host, "Hostname", "instance")
            for t, v in series.points:
                gpu.setdefault((t, host), []).append(Sample(series.name, series.labels, v))
        server: dict[tuple[int, str], list[Sample]] = {}
        for series in results.get(ENGINE, []):
            if engine_series(series):
                self._engine_samples(series, server)
        for name in extra:
            for series in results.get(name, []):
                host = _host_of(series.labels, self.default_host, "instance")
                for t, v in series.points:
                    if math.isfinite(v):
                        server.setdefault((t, host), []).append(Sample(name, series.labels, v))
        host_values: dict[tuple[int, str], dict[str, float]] = {}
        for series in results.get(NODE, []):
            if series.name in (NODE_MEM_TOTAL, NODE_MEM_AVAILABLE, NODE_LOAD1):
                self._host_points(series, series.name, host_values)
        for series in results.get(NODE_CPU, []):
            self._host_points(series, NODE_CPU, host_values)

        out: list[dict[str, Any]] = []
        for (t, host), samples in gpu.items():
            for rec in dcgm_sample_records(samples, _ns(t), source="prometheus/dcgm"):
                out.append({**rec, "host": host})
        for (t, host), samples in server.items():
            rec = server_sample_record(samples, _ns(t), keep=self.keep)
            engine = rec.get("engine")
            rec["host"] = host
            rec["source"] = f"prometheus/{engine}" if engine else "prometheus"
            out.append(rec)
        for (t, host), values in host_values.items():
            rec = host_record(
                t=_ns(t),
                cpu_pct=values.get(NODE_CPU),
                mem_total_bytes=values.get(NODE_MEM_TOTAL),
                mem_available_bytes=values.get(NODE_MEM_AVAILABLE),
                load1=values.get(NODE_LOAD1),
            )
            if any(rec[k] is not None for k in ("cpu_pct", "mem_used_mib", "mem_total_mib", "load1")):
                out.append({**rec, "host": host, "source": "prometheus/node"})
        out.sort(key=lambda r: (r["t"], _KIND_ORDER[r["type"]], r["host"], r.get("gpu") or 0))
        return out

    def _engine_samples(self, series: Series, into: dict[tuple[int, str], list[Sample]]) -> None:
        assert series.name is not None
        host = _host_of(series.labels, self.default_host, "instance")
        for t, v in series.points:
            if math.isfinite(v):
                into.setdefault((t, host), []).append(Sample(series.name, series.labels, v))
        if not is_counter(series.name):
            return
        state = self._counters.setdefault(series.key, _CounterState())
        rates = counter_rates(series.points, self.rate_window_ms, state.tail)
        rate_name = series.name + RATE_SUFFIX
        for (t, _), rate in zip(series.points, rates, strict=True):
            if rate is not None:
                into.setdefault((t, host), []).append(Sample(rate_name, series.labels, rate))
        if series.points:
            last_t = series.points[-1][0]
            kept = [*state.tail, *series.points]
            state.tail = [p for p in kept if p[0] >= last_t - self.rate_window_ms]

    def _host_points(
        self, series: Series, field_name: str, into: dict[tuple[int, str], dict[str, float]]
    ) -> None:
        host = _host_of(series.labels, self.default_host, "instance")
        for t, v in series.points:
            into.setdefault((t, host), {}).setdefault(field_name, v)


def _ns(t_ms: int) -> int:
    return t_ms * 1_000_000
