"""``record server``: scrape a serving engine's Prometheus ``/metrics`` into ``server`` records.

``server``: ``host, t, engine, running, waiting, kv_cache_pct, preemptions, metrics`` (DESIGN section 3).
The four named fields are mapped from each engine's own names; when an engine runs several schedulers
(vLLM data parallel: one series per ``engine`` label) the series are combined as stated below.

- ``running``, summed: vLLM ``vllm:num_requests_running``; SGLang ``sglang:num_running_reqs``;
  TGI ``tgi_batch_current_size``.
- ``waiting``, summed: vLLM ``vllm:num_requests_waiting``; SGLang ``sglang:num_queue_reqs``;
  TGI ``tgi_queue_size``; Triton ``nv_inference_pending_request_count``.
- ``kv_cache_pct``, the maximum (the fullest cache): 100 x vLLM ``vllm:kv_cache_usage_perc`` (older
  releases: ``vllm:gpu_cache_usage_perc``); 100 x SGLang ``sglang:token_usage``.
- ``preemptions``, summed: vLLM ``vllm:num_preemptions_total``;
  SGLang ``sglang:num_retracted_requests_total``.

vLLM's and SGLang's usage gauges are fractions (1 means 100 %), hence the factor 100. ``preemptions`` is
the engine's cumulative counter as exposed (differences between records give preemptions per interval).
A field the engine does not expose is null. ``engine`` is the engine whose metric prefix (``vllm:``,
``sglang:``, ``tgi_``, ``nv_``) has the most series, null when none does.

``metrics`` keeps every other series: counters (their ``_total`` sample), gauges and untyped samples, and
histograms and summaries as ``_sum`` and ``_count`` (buckets, quantiles and ``_created`` timestamps are
dropped; NaN and infinite values are left out). The key is the sample name, followed by
``{label="value",...}`` for its labels (sorted), leaving out identity labels (``model_name``, ``engine``,
...) that have one value across the whole scrape, so one model on one engine gives plain names.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from recorders.gpu import runtime
from recorders.gpu.prometheus import PrometheusScraper, ScrapeError
from recorders.gpu.records import number
from recorders.gpu.runtime import RecordSummary, SamplingControl
from recorders.tracefile import Clock, TraceWriter
from traceanalyzer.errors import SourceUnreachableError, UsageError

RECORDER = "traceanalyzer.record.server"

ENGINE_PREFIXES: dict[str, str] = {"vllm": "vllm:", "sglang": "sglang:", "tgi": "tgi_", "triton": "nv_"}


@dataclass(frozen=True)
class FieldSource:
    """Where one ``server`` field comes from: ``scale`` x the combined value of the first of ``names``
    present in the scrape."""

    names: tuple[str, ...]
    combine: str = "sum"  # "sum" or "max" over the series of that name
    scale: float = 1.0


ENGINE_FIELDS: dict[str, dict[str, FieldSource]] = {
    "vllm": {
        "running": FieldSource(("vllm:num_requests_running",)),
        "waiting": FieldSource(("vllm:num_requests_waiting",)),
        "kv_cache_pct": FieldSource(("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"), "max", 100.0),
        "preemptions": FieldSource(("vllm:num_preemptions_total",)),
    },
    "sglang": {
        "running": FieldSource(("sglang:num_running_reqs",)),
        "waiting": FieldSource(("sglang:num_queue_reqs",)),
        "kv_cache_pct": FieldSource(("sglang:token_usage",), "max", 100.0),
        "preemptions": FieldSource(("sglang:num_retracted_requests_total",)),
    },
    "tgi": {
        "running": FieldSource(("tgi_batch_current_size",)),
        "waiting": FieldSource(("tgi_queue_size",)),
    },
    "triton": {
        "waiting": FieldSource(("nv_inference_pending_request_count",)),
    },
}
SERVER_FIELDS = ("running", "waiting", "kv_cache_pct", "preemptions")

# Labels that identify the process rather than the series; dropped from metric keys when constant.
IDENTITY_LABELS = frozenset(
    {
        "model_name",
        "engine",
        "name",
        "instance",
        "job",
        "pid",
        "tp_rank",
        "pp_rank",
        "dp_rank",
        "model",
        "version",
    }
)
_SUM_COUNT = {
    "histogram": ("_sum", "_count"),
    "summary": ("_sum", "_count"),
    "gaugehistogram": ("_gsum", "_gcount"),
}


def detect_engine(samples: Iterable[Sample]) -> str | None:
    """The engine whose metric prefix has the most series, or None."""
    votes: Counter[str] = Counter()
    for sample in samples:
        for engine, prefix in ENGINE_PREFIXES.items():
            if sample.name.startswith(prefix):
                votes[engine] += 1
                break
    return votes.most_common(1)[0][0] if votes else None


def _kept_samples(families: Iterable[Metric]) -> list[Sample]:
    """Samples worth keeping: no buckets, quantiles or ``_created`` of a counter/histogram/summary."""
    families = list(families)
    with_created = {
        f.name + "_created"
        for f in families
        if f.type in ("counter", "histogram", "summary", "gaugehistogram")
    }
    kept = []
    for family in families:
        suffixes = _SUM_COUNT.get(family.type)
        for sample in family.samples:
            if sample.name in with_created:
                continue
            if suffixes is not None and not sample.name.endswith(suffixes):
                continue
            if isinstance(sample.value, (int, float)) and math.isfinite(sample.value):
                kept.append(sample)
    return kept


def _escape(value: str) -> str:
    """A label value escaped as in the exposition format (backslash, double quote, newline)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _label_key(name: str, labels: dict[str, str], dropped: frozenset[str]) -> str:
    shown = sorted((k, v) for k, v in labels.items() if k not in dropped)
    if not shown:
        return name
    return name + "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in shown) + "}"


def _combine(values: list[float], how: str) -> float:
    return max(values) if how == "max" else math.fsum(values)


def server_record(
    families: Iterable[Metric], t: int, *, keep: re.Pattern[str] | None = None
) -> dict[str, Any]:
    """One ``server`` record (without ``host``) from a parsed exposition.

    ``keep``, when given, filters the ``metrics`` keys.
    """
    return server_sample_record(_kept_samples(families), t, keep=keep)


def server_sample_record(
    samples: list[Sample], t: int, *, keep: re.Pattern[str] | None = None
) -> dict[str, Any]:
    """One ``server`` record (without ``host``) from the samples of one engine at one time (a scrape without
    its buckets, quantiles and ``_created`` samples, or one step of a Prometheus range query)."""
    engine = detect_engine(samples)
    by_name: dict[str, list[float]] = {}
    for s in samples:
        by_name.setdefault(s.name, []).append(float(s.value))
    record: dict[str, Any] = {"type": "server", "t": t, "engine": engine}
    mapped: set[str] = set()
    sources = ENGINE_FIELDS.get(engine or "", {})
    for key in SERVER_FIELDS:
        value = None
        src = sources.get(key)
        if src is not None:
            for name in src.names:
                if name in by_name:
                    value = number(_combine(by_name[name], src.combine), src.scale)
                    mapped.add(name)
                    break
        record[key] = value
    # Identity labels with a single value across the scrape carry nothing per series.
    seen: dict[str, set[str]] = {}
    for s in samples:
        for k, v in s.labels.items():
            if k in IDENTITY_LABELS:
                seen.setdefault(k, set()).add(v)
    dropped = frozenset(k for k, values in seen.items() if len(values) == 1)
    metrics: dict[str, float] = {}
    for s in samples:
        if s.name in mapped:
            continue
        key = _label_key(s.name, s.labels, dropped)
        if keep is None or keep.search(key):
            metrics[key] = float(s.value)
    record["metrics"] = metrics
    return record


@dataclass(frozen=True)
class ServerRecorderOptions:
    """Options of ``record server``: the metrics ``url``, the interval and duration (seconds), the per-scrape
    ``timeout_s`` (default: the interval, within 1-10 s), ``metrics_match`` (a regex; only matching
    ``metrics`` keys are kept), ``host`` (the records' ``host``, default this machine) and ``run``."""

    out: str | Path
    url: str
    interval_s: float = 1.0
    duration_s: float | None = None
    timeout_s: float | None = None
    metrics_match: str | None = None
    host: str | None = None
    run: str | None = None

    def validate(self) -> re.Pattern[str] | None:
        if not self.url.startswith(("http://", "https://")):
            raise UsageError(f"--url must be an http(s) URL of a /metrics endpoint, got {self.url!r}")
        runtime.check_timing(self.interval_s, self.duration_s, self.timeout_s)
        if self.metrics_match is None:
            return None
        try:
            return re.compile(self.metrics_match)
        except re.error as exc:
            raise UsageError(f"--metrics-match is not a regular expression: {exc}") from None


async def record_server_async(
    options: ServerRecorderOptions,
    *,
    control: SamplingControl | None = None,
) -> RecordSummary:
    """Scrape ``options.url`` on the drift-free schedule until the duration ends or ``control.stop`` is set.

    The first scrape must succeed (else SourceUnreachableError, exit code 3, and no file is written); later
    failures (timeout, refused, HTTP error, garbage) are ``scrape_failed`` / ``scrape_recovered`` events and
    the scrape is retried on the next tick.
    """
    keep = options.validate()
    control = control or SamplingControl()
    clock = control.clock or Clock()
    timeout_s = options.timeout_s or runtime.default_timeout_s(options.interval_s)
    async with PrometheusScraper(options.url, timeout_s=timeout_s) as scraper:
        try:
            first = await scraper.scrape()
        except ScrapeError as exc:
            raise SourceUnreachableError(f"cannot scrape {options.url}: {exc}") from None
        engine = detect_engine(_kept_samples(first))
        config = {**runtime.meta_config(options), "engine_detected": engine}
        with TraceWriter(
            options.out, recorder=RECORDER, config=config, run=options.run, host=options.host, clock=clock
        ) as writer:
            sink = runtime.Sink(writer)

            async def tick(t: int) -> None:
                try:
                    families = await scraper.scrape()
                except ScrapeError as exc:
                    sink.faults.fail(("scrape", options.url), "scrape", str(exc), url=options.url)
                    return
                sink.faults.ok(("scrape", options.url))
                sink.write(server_record(families, t, keep=keep))

            summary = await runtime.run_sampling(
                sink, tick, interval_s=options.interval_s, duration_s=options.duration_s, control=control
            )
    return dataclasses.replace(summary, info={"engine": engine})


def record_server(options: ServerRecorderOptions) -> RecordSummary:
    """Blocking entry point of ``traceanalyzer record server``."""
    return asyncio.run(record_server_async(options))
