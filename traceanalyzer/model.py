"""The one typed result of an analysis: small frozen dataclasses, JSON-serializable.

``analyze(capture, options) -> Analysis`` fills these; every renderer (console, summary JSON, HTML, PDF)
reads them and never computes a metric. Conventions, everywhere below:

- Instants are seconds (float) since the capture's first ``t_send`` (``CaptureInfo.t0_ns`` is that instant in
  epoch nanoseconds); field names end in ``_s``. Durations are seconds too (``_s``); rates are per second
  (``qps``, ``tps``, ``_rps``); shares and coefficients are fractions (0.25 = 25 %), percentages say ``_pct``;
  memory is MiB (``_mib``).
- ``None`` means "not measured" (no data for it); the reason is in ``Analysis.notes``. Never NaN.
- Sequences are tuples and maps are plain dicts, so ``dataclasses.asdict`` + ``json.dumps`` work unchanged
  (:meth:`Analysis.to_dict`), and :func:`analysis_from_dict` reads such a dict back.

Metric definitions are DESIGN section 4; each formula is written once, in the docstring of the stage that
computes it (``traceanalyzer/metrics/``), and collected in ``docs/metrics.md``.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from traceanalyzer.consistency.results import ConsistencyResult
from traceanalyzer.consistency.robustness import RobustnessVerdict
from traceanalyzer.consistency.sampling import DEFAULT_BACKEND, DEFAULT_SAMPLE
from traceanalyzer.conversation_results import ConversationsResult
from traceanalyzer.parity.results import ParityResult

if TYPE_CHECKING:
    import pandas as pd

ANALYSIS_SCHEMA = "traceanalyzer/analysis@1"

JSONValue: TypeAlias = "str | int | float | bool | list[JSONValue] | dict[str, JSONValue] | None"

Severity = Literal["info", "warning", "critical"]
"""Severity of a finding; a healthy run has no ``warning`` or ``critical`` finding."""

LevelKind = Literal["stage", "users", "in_flight"]
"""What a load level is: a load stage, a Locust user count, or a power-of-two bin of client in-flight."""


# -- options -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SloThresholds:
    """Service-level objectives (DESIGN section 4 defaults); ``None`` switches one off.

    Overridable by a TOML file (``traceanalyzer.slo.load_slo_file``) whose ``[slo]`` table uses these names.
    """

    ttft_p95_s: float | None = 1.0
    """TTFT p95 must be at most this (seconds). Also the per-request TTFT bound used for goodput."""
    ttft_slow_s: float | None = 3.0
    """A request whose TTFT exceeds this (seconds) counts as "slow" (``LatencyResult.slow_ttft_share``)."""
    tpot_p95_s: float | None = 0.05
    """TPOT p95 must be at most this (seconds). Also the per-request TPOT bound used for goodput."""
    e2e_p95_s: float | None = None
    """Optional E2E p95 bound (seconds); off by default. Also a per-request bound for goodput when set."""
    rtv: float | None = 0.20
    """Response-time variability: CV of E2E (std / mean) must be at most this fraction."""
    qps_cv: float | None = 0.10
    """QPS fluctuation: CV of windowed QPS in steady state must be at most this fraction."""
    error_rate: float | None = 0.001
    """Error rate (failed / all) must be at most this fraction (0.1 %)."""
    error_rate_soak: float | None = 0.005
    """Error rate bound for soak runs (0.5 %), used instead of ``error_rate`` when the run is a soak."""
    latency_drift: float | None = 0.30
    """Soak latency drift (see ``Variability.latency_drift``) must be at most this fraction; soaks only."""
    gpu_mem_fluctuation: float | None = 0.10
    """GPU memory fluctuation ((max - min) / mean of mem_used, worst GPU) must be at most this fraction."""
    cpu_pct: float | None = 80.0
    """Mean host CPU utilisation in the run must be at most this percentage."""
    consistency_cosine: float | None = 0.8
    """Mean pairwise cosine similarity of answers to the same prompt must be at least this."""


@dataclass(frozen=True)
class AnalysisOptions:
    """How to analyze. Clock offsets, leniency and the Parquet cache belong to loading (``load_capture``)."""

    window_s: float = 10.0
    """Length of the time windows of every per-window series (seconds). A run shorter than one window is one
    window as long as the run."""
    warmup_s: float = 10.0
    """Seconds left out of steady state at the start of each load stage (or of the run, without stages)."""
    cooldown_s: float = 10.0
    """Seconds left out of steady state at the end of the run (runs without stages)."""
    slo: SloThresholds = field(default_factory=SloThresholds)
    soak: bool | None = None
    """Whether the run is a soak (soak error-rate bound and latency-drift SLO). ``None``: decided from the
    capture: a run of at least ``soak_min_s`` without load stages."""
    soak_min_s: float = 3600.0
    embedding_model: str | None = None
    """Path of a local sentence-transformers model for the consistency stage (``None``: the packaged
    all-MiniLM-L6-v2)."""
    similarity_threshold: float = 0.8
    """Cosine similarity at or above which two answers count as consistent (``share_above_threshold``)."""
    embedding_cache_dir: str | None = None
    """Directory of the embedding cache (by text hash), usually in the capture's cache directory; ``None``:
    no cache."""
    clock_offsets_ns: Mapping[str, int] = field(default_factory=dict)
    """Per-host clock offsets the loader already applied (nanoseconds); recorded for the report only."""
    top_n: int = 10
    """How many slowest requests to keep."""
    distribution_points: int = 201
    """Points of each downsampled quantile function in ``Distributions``."""
    consistency_sample: int | None = DEFAULT_SAMPLE
    """Most answers embedded by the consistency stage, drawn per prompt and time slice (``None``: all);
    ``traceanalyzer.consistency.sampling``."""
    embedding_backend: str = DEFAULT_BACKEND
    """What runs the embedding model: ``torch`` or ``onnx`` (ONNX Runtime)."""


# -- building blocks ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stats:
    """Summary statistics of one quantity; the unit is in the name of the field holding it.

    Percentiles use linear interpolation between order statistics; ``std`` is the population standard
    deviation (ddof=0). Every value is ``None`` when ``count`` is 0.
    """

    count: int = 0
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    p99_9: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Note:
    """Why a section has no (or partial) data: ``section`` names it (``resources``, ``consistency``, ...)."""

    section: str
    reason: str


@dataclass(frozen=True)
class RequestRef:
    """One request, enough to find it in the client's and the server's logs."""

    id: str
    """Client id (unique in the run)."""
    response_id: str | None
    """The server's response id (first stream chunk's ``id``, else ``x-request-id``)."""
    host: str | None
    model: str | None
    scenario: str | None
    stage: str | None
    t_send_s: float
    t_end_s: float | None
    ttft_s: float | None
    e2e_s: float | None
    output_tokens: int | None
    status: int | None
    """HTTP status, ``None`` when no response arrived."""
    error_class: str | None = None
    error_message: str | None = None
    source_file: str | None = None
    run: str | None = None
    """Run id (with ``id``, it gives the request's exported trace id)."""
    session_id: str | None = None
    """Chat / session id of a conversation's request."""


@dataclass(frozen=True)
class LoadPoint:
    """A load level named for capacity results and error onsets (``None`` where not known)."""

    stage: str | None
    """Stage name (``users=50`` / ``in_flight<=16`` for levels that are not named stages)."""
    in_flight: int | None
    """Median client in-flight requests when sent."""
    qps: float | None
    """Completed successful requests per second at that level (stable QPS)."""
    users: float | None = None
    """Locust users at that level."""
    offered_qps: float | None = None
    """Requests sent per second at that level."""


@dataclass(frozen=True)
class TimeSpan:
    start_s: float
    end_s: float
    stage: str | None = None


@dataclass(frozen=True)
class EventMarker:
    """An ``event`` record of the capture (stage change, deploy, fault), for timeline charts."""

    t_s: float
    name: str
    host: str | None
    detail: JSONValue = None


# -- capture and counts --------------------------------------------------------------------------------
@dataclass(frozen=True)
class CaptureInfo:
    t0_ns: int
    """Epoch nanoseconds of the first ``t_send`` (the zero of every ``_s`` instant); without requests, of the
    first record with a time."""
    duration_s: float
    """From the first ``t_send`` to the last request's ``t_end`` (without requests: the span of all
    records)."""
    runs: tuple[str, ...]
    hosts: tuple[str, ...]
    models: tuple[str, ...]
    scenarios: tuple[str, ...]
    stages: tuple[str, ...]
    """Load stages in order of their first request."""
    soak: bool
    steady: tuple[TimeSpan, ...]
    """Steady-state spans: per stage after its first ``warmup_s``; without stages, the run minus warmup and
    cooldown (the whole run when that would leave nothing)."""
    events: tuple[EventMarker, ...] = ()
    clock_offsets_ns: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestCounts:
    total: int
    ok: int
    """Requests without an error."""
    failed: int
    """Requests with an error, plus aggregated failures of importers (``failures`` records) where a host has
    no per-request records."""


# -- layer 1 ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LatencyResult:
    """User-perceived latency over successful requests (seconds)."""

    ttft_s: Stats
    tpot_s: Stats
    itl_s: Stats
    """Pooled gaps between consecutive text chunks of every successful request."""
    e2e_s: Stats
    slow_ttft_share: float | None = None
    """Share of successful requests whose TTFT exceeds ``SloThresholds.ttft_slow_s``."""


@dataclass(frozen=True)
class Distributions:
    """Downsampled quantile functions for CDF and histogram charts.

    Each tuple holds ``AnalysisOptions.distribution_points`` values: the value at probability ``i / (n - 1)``
    (linear interpolation), so ``values[0]`` is the minimum and ``values[-1]`` the maximum. Empty when there
    is no data.
    """

    ttft_s: tuple[float, ...] = ()
    tpot_s: tuple[float, ...] = ()
    itl_s: tuple[float, ...] = ()
    e2e_s: tuple[float, ...] = ()
    tps_per_request: tuple[float, ...] = ()


@dataclass(frozen=True)
class BreakdownRow:
    requests: int
    ok: int
    failed: int
    error_rate: float | None
    ttft_p50_s: float | None
    ttft_p95_s: float | None
    tpot_p95_s: float | None
    e2e_p50_s: float | None
    e2e_p95_s: float | None


# -- layer 2 ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QpsStats:
    mean: float
    """Successful requests completed / run duration."""
    peak: float
    """Highest windowed QPS."""
    stable: float | None
    """Median windowed QPS over steady-state windows."""
    cv: float | None
    """QPS fluctuation: CV of windowed QPS in steady state (per stage, window-weighted mean over stages)."""


@dataclass(frozen=True)
class LoadLevel:
    """One load level (a stage, a Locust user count or an in-flight bin) with what it carried."""

    name: str
    kind: LevelKind
    start_s: float
    end_s: float
    in_flight: int | None
    users: float | None
    requests: int
    ok: int
    failed: int
    error_rate: float | None
    offered_qps: float | None
    qps: float | None
    """Stable QPS: median windowed QPS over the level's steady windows (all its windows if none is steady)."""
    tps: float | None
    """Mean cluster TPS over the level's steady windows."""
    ttft_p95_s: float | None
    tpot_p95_s: float | None
    e2e_p95_s: float | None
    slo_held: bool
    """Error rate <= the error-rate SLO and every latency SLO held at this level."""


@dataclass(frozen=True)
class CapacityResult:
    qps: QpsStats
    offered_qps_mean: float
    """Requests sent / run duration."""
    tps_cluster_mean: float | None
    """Output tokens delivered / run duration (tokens/s); None when no request recorded a chunk arrival."""
    tps_cluster_peak: float | None
    """Highest windowed cluster TPS (tokens/s); None as for ``tps_cluster_mean``."""
    tps_per_request: Stats
    """Per-request TPS = output_tokens / E2E (tokens/s)."""
    decode_speed: Stats
    """Per-request decode speed = 1 / TPOT (tokens/s)."""
    goodput_rps: float
    slo_attainment: float | None
    good_requests: int
    levels: tuple[LoadLevel, ...] = ()
    level_kind: LevelKind | None = None
    knee: LoadPoint | None = None
    max_sustainable: LoadPoint | None = None


# -- layer 3 ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variability:
    """Variability coefficients (fractions)."""

    e2e_cv: float | None = None
    """RTV: std / mean of E2E."""
    ttft_cv: float | None = None
    tpot_cv: float | None = None
    qps_cv: float | None = None
    """CV of windowed QPS in steady state."""
    gpu_mem_fluctuation: float | None = None
    """(max - min) / mean of mem_used in steady state, worst GPU; with load stages, the worst stage's steady
    state (each stage judged on its own)."""
    gpu_mem_cv: float | None = None
    """CV of mem_used in steady state, worst GPU (worst stage with load stages)."""
    latency_drift: float | None = None
    """E2E p95 of the last quarter of steady state / that of the first quarter - 1."""
    gpu_mem_fluctuation_stage: str | None = None
    """The load stage whose steady state gave ``gpu_mem_fluctuation``; ``None`` without stages."""


@dataclass(frozen=True)
class LeadingIndicator:
    """How one signal behaved before an error class's onset (filled by the causal stage)."""

    name: str
    """``ttft_p95_s``, ``gpu_mem_used_mib``, ``kv_cache_pct``, ``queue_waiting``, ..."""
    value: float | None
    """Value at onset."""
    baseline: float | None
    """Value in steady state before the onset."""
    change: float | None
    """value / baseline - 1."""
    trend: Literal["rising", "falling", "flat"] | None = None
    """Mann-Kendall trend over the windows leading up to the onset (``flat`` when not significant)."""
    slope_per_s: float | None = None
    """Theil-Sen slope over those windows, in the indicator's unit per second."""


@dataclass(frozen=True)
class ErrorClassStats:
    """One error class. ``count``, ``first_seen_s``, ``last_seen_s`` come from the error-rate stage; the
    onset and what led to it from the causal stage (``None`` until it ran, or when the class never became
    persistent). A failure's time is its ``t_end``."""

    count: int
    first_seen_s: float
    last_seen_s: float
    rate: float | None = None
    """count / all requests."""
    onset_s: float | None = None
    """Start of the first window from which the class stays at or above a threshold share."""
    load_at_onset: LoadPoint | None = None
    leading_indicators: tuple[LeadingIndicator, ...] = ()
    first_failure: RequestRef | None = None
    """The first failed request of this class (``None`` for aggregated importer failures only)."""
    statuses: Mapping[str, int] = field(default_factory=dict)
    """HTTP status (as text; ``none`` when no response) -> count."""
    isolated_count: int | None = None
    """Failures outside every persistent episode (one-off errors); ``None`` until the causal stage ran."""
    share_at_onset: float | None = None
    """Share of requests failing with this class over its first persistent episode."""
    peak_share: float | None = None
    """Highest share of a window's requests failing with this class."""
    episodes: tuple[TimeSpan, ...] = ()
    """Runs of windows in which the class stayed at or above the onset share."""


@dataclass(frozen=True)
class FirstStrike:
    error_class: str
    onset_s: float | None
    category: str
    """``interface_limits`` (4xx first), ``queueing`` (timeout first without OOM), ``memory`` (OOM first),
    ``unrecoverable`` (mass 5xx), or another short name the causal stage documents."""
    explanation: str
    evidence: Mapping[str, JSONValue] = field(default_factory=dict)
    """The numbers behind it: onset, shares, load at onset, leading indicators, the classes that followed."""


@dataclass(frozen=True)
class Finding:
    """A diagnosis finding. ``rule`` ids are stable (DESIGN section 7)."""

    rule: str
    severity: Severity
    start_s: float | None
    end_s: float | None
    message: str
    evidence: Mapping[str, JSONValue] = field(default_factory=dict)
    chart: str | None = None
    """Name of the per-window series that shows it (``gpu_util_pct``, ``ttft_p95_s``, ...)."""


@dataclass(frozen=True)
class StabilityResult:
    error_rate: float | None
    """failed / all requests."""
    error_rate_steady: float | None
    """Error rate of requests sent in steady state."""
    variability: Variability


@dataclass(frozen=True)
class GpuSummary:
    key: str
    """``host/gpu<index>``."""
    host: str | None
    gpu: int | None
    name: str | None
    samples: int
    util_pct_mean: float | None
    mem_used_mib_max: float | None
    mem_total_mib: float | None
    power_w_mean: float | None
    temp_c_max: float | None


@dataclass(frozen=True)
class ResourceSummary:
    """Resources during the run (samples between the first ``t_send`` and the last ``t_end``)."""

    gpu_util_mean: float | None = None
    """Mean GPU utilisation over every sample of every GPU (percent)."""
    gpu_mem_used_max_mib: float | None = None
    """Highest memory used by one GPU (MiB)."""
    cpu_pct_mean: float | None = None
    """Mean host CPU utilisation over every sample of every host (percent)."""
    host_mem_used_max_mib: float | None = None
    queue_waiting_max: float | None = None
    kv_cache_pct_max: float | None = None
    gpus: tuple[GpuSummary, ...] = ()
    sources: tuple[str, ...] = ()
    """Where GPU samples came from (``nvml``, ``nvidia-smi``, ``dcgm``)."""


@dataclass(frozen=True)
class DeviceSeries:
    """One GPU's per-window series (as-of joined to the window grid)."""

    key: str
    host: str | None
    gpu: int | None
    util_pct: tuple[float | None, ...]
    mem_used_mib: tuple[float | None, ...]
    mem_total_mib: float | None = None


@dataclass(frozen=True)
class WindowSeries:
    """Every per-window series on one grid: window ``i`` is ``[start_s[i], start_s[i] + length_s[i])``.

    Windows are ``AnalysisOptions.window_s`` long from the first ``t_send``; the last one ends at the end of
    the run (it may be shorter, and rates use its real length). Resource series are per-window means of the
    samples inside the window; a window with none takes the last earlier sample (as-of join, per host, within
    two windows or two sampling intervals); ``None`` where there is no data.
    """

    window_s: float = 10.0
    start_s: tuple[float, ...] = ()
    length_s: tuple[float, ...] = ()
    stage: tuple[str | None, ...] = ()
    """The stage most requests sent in the window belong to."""
    steady: tuple[bool, ...] = ()
    sent: tuple[int, ...] = ()
    ok: tuple[int, ...] = ()
    """Successful requests completed (last text chunk, else ``t_end``) in the window."""
    failed: tuple[int, ...] = ()
    """Failures whose ``t_end`` falls in the window."""
    errors: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    """Error class -> failures per window."""
    error_rate: tuple[float | None, ...] = ()
    """failed / (ok + failed) of the window."""
    qps: tuple[float, ...] = ()
    offered_qps: tuple[float, ...] = ()
    tps: tuple[float, ...] = ()
    """Cluster TPS: output tokens whose chunk arrived in the window / window length."""
    ttft_p50_s: tuple[float | None, ...] = ()
    ttft_p95_s: tuple[float | None, ...] = ()
    ttft_p99_s: tuple[float | None, ...] = ()
    tpot_p50_s: tuple[float | None, ...] = ()
    tpot_p95_s: tuple[float | None, ...] = ()
    e2e_p50_s: tuple[float | None, ...] = ()
    e2e_p95_s: tuple[float | None, ...] = ()
    e2e_p99_s: tuple[float | None, ...] = ()
    in_flight_mean: tuple[float | None, ...] = ()
    """Mean client in-flight count at send of the requests sent in the window."""
    concurrency_mean: tuple[float, ...] = ()
    """Time-weighted mean number of requests open (between ``t_send`` and ``t_end``) in the window."""
    users: tuple[float | None, ...] = ()
    """Locust users (``load`` records)."""
    load_rps: tuple[float | None, ...] = ()
    gpu_util_pct: tuple[float | None, ...] = ()
    """Mean utilisation over all GPUs."""
    gpu_mem_used_mib: tuple[float | None, ...] = ()
    """Memory used summed over all GPUs."""
    cpu_pct: tuple[float | None, ...] = ()
    """Mean CPU utilisation over hosts."""
    host_mem_used_mib: tuple[float | None, ...] = ()
    queue_waiting: tuple[float | None, ...] = ()
    """Requests waiting in the serving engine's queue, summed over servers."""
    running: tuple[float | None, ...] = ()
    kv_cache_pct: tuple[float | None, ...] = ()
    """KV-cache usage, highest over servers (percent)."""
    gpus: tuple[DeviceSeries, ...] = ()


@dataclass(frozen=True)
class SloResult:
    """One SLO judged: the measured ``value`` against ``threshold`` (``comparison``); ``passed`` is ``None``
    when it was not measured."""

    name: str
    threshold: float
    value: float | None
    """The measured value; ``None`` when not measured (then ``passed`` is ``None`` too)."""
    passed: bool | None
    comparison: Literal["<=", ">="] = "<="
    unit: str = ""
    """``s``, ``fraction`` or ``%``."""
    note: str | None = None


# -- inventory -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileRecord:
    path: str
    records: int
    skipped: int
    problems: Mapping[str, int] = field(default_factory=dict)
    types: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class InventoryInfo:
    files: tuple[FileRecord, ...] = ()
    skipped_lines: int = 0
    unknown_types: Mapping[str, int] = field(default_factory=dict)
    duplicate_request_ids: int = 0
    warnings: tuple[str, ...] = ()


# -- the result ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Analysis:
    """Everything an analysis found. Stages fill it in order (``traceanalyzer.analysis.STAGES``)."""

    capture: CaptureInfo
    options: AnalysisOptions
    requests: RequestCounts
    latency: LatencyResult
    capacity: CapacityResult
    stability: StabilityResult
    resources: ResourceSummary
    timeseries: WindowSeries
    distributions: Distributions = field(default_factory=Distributions)
    breakdown: Mapping[str, Mapping[str, BreakdownRow]] = field(default_factory=dict)
    """``model`` / ``scenario`` / ``host`` / ``stage`` -> value -> row."""
    slowest: tuple[RequestRef, ...] = ()
    """Slowest successful requests by E2E, slowest first."""
    errors: Mapping[str, ErrorClassStats] = field(default_factory=dict)
    error_sequence: tuple[str, ...] = ()
    """Error classes with an onset, ordered by onset (causal stage)."""
    first_strike: FirstStrike | None = None
    findings: tuple[Finding, ...] = ()
    consistency: ConsistencyResult | None = None
    """Output consistency (``traceanalyzer.consistency``); ``None`` before that stage ran."""
    robustness: Mapping[str, RobustnessVerdict] = field(default_factory=dict)
    """A verdict per robustness scenario, by scenario name."""
    conversations: ConversationsResult | None = None
    """Multi-turn chat sessions (``traceanalyzer.metrics.conversations``); None without any."""
    slo: tuple[SloResult, ...] = ()
    parity: ParityResult = field(default_factory=ParityResult)
    """Imported tools' own summaries recomputed, ours beside them (``traceanalyzer.parity``)."""
    inventory: InventoryInfo = field(default_factory=InventoryInfo)
    notes: tuple[Note, ...] = ()
    schema: str = ANALYSIS_SCHEMA
    tool_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The whole result as plain JSON types (tuples become lists on ``json.dumps``)."""
        return dataclasses.asdict(self)

    def notes_for(self, section: str) -> tuple[str, ...]:
        """Reasons recorded for ``section`` (``"not measured: ..."``)."""
        return tuple(n.reason for n in self.notes if n.section == section)

    def requests_frame(self) -> pd.DataFrame:
        """One row per request (pandas), failures included: ids, host, model, scenario, stage, ``t_send`` as
        a UTC ``Timestamp``, ``ttft_s``, ``tpot_s``, ``e2e_s``, ``output_tokens``, ``ok``, ``error_class``
        (:func:`traceanalyzer.frames.requests_frame`). Only an analysis made from a capture has it; one read
        back with :meth:`from_json` raises :class:`~traceanalyzer.errors.UsageError`."""
        from traceanalyzer.frames import requests_frame

        return requests_frame(self)

    def windows_frame(self) -> pd.DataFrame:
        """One row per window (pandas): every per-window series the report draws, resources included
        (:func:`traceanalyzer.frames.windows_frame`)."""
        from traceanalyzer.frames import windows_frame

        return windows_frame(self)

    def to_json(self, *, full: bool = False, indent: int | None = 2) -> str:
        """The summary@1 JSON, what ``traceanalyzer analyze --json`` writes (docs/summary.schema.json).

        ``full=True`` adds one key, ``analysis``, holding every field of this result (schema
        ``traceanalyzer/analysis@1``: per-window series, distributions, slowest requests, ...), so that
        :meth:`from_json` restores it exactly; the summary keys stay the same.
        """
        from traceanalyzer.restore import to_json

        return to_json(self, full=full, indent=indent)

    @classmethod
    def from_json(cls, source: str | bytes | os.PathLike[str]) -> Analysis:
        """Read an analysis back from :meth:`to_json` output: JSON text, or the path of a file holding it.

        From ``to_json(full=True)`` (or a bare analysis@1 document) every field is restored: the result equals
        the original and renders the same. From a plain summary@1 (``analyze --json``) the fields the summary
        holds are restored, so ``to_json()`` gives the same summary back and comparisons work; what a summary
        does not hold is empty (docs/api.md, "Saving and reading back"). Neither keeps per-request data.
        """
        from traceanalyzer.restore import from_json

        return from_json(source)


# -- reading a saved result back -------------------------------------------------------------------------
def analysis_from_dict(data: Mapping[str, Any]) -> Analysis:
    """Rebuild an :class:`Analysis` from :meth:`Analysis.to_dict` output (e.g. a saved JSON file)."""
    analysis: Analysis = _build(Analysis, data)
    return analysis


def _build(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        return _build(members[0], value) if len(members) == 1 else value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = typing.get_type_hints(tp)
        kwargs = {
            f.name: _build(hints[f.name], value[f.name]) for f in dataclasses.fields(tp) if f.name in value
        }
        return tp(**kwargs)
    if origin is tuple:
        items = typing.get_args(tp)
        item = items[0] if items else Any
        return tuple(_build(item, v) for v in value)
    if origin in (Mapping, dict) or (isinstance(origin, type) and issubclass(origin, Mapping)):
        kv = typing.get_args(tp)
        item = kv[1] if len(kv) == 2 else Any
        return {k: _build(item, v) for k, v in value.items()}
    return value
