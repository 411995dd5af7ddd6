"""Compare a candidate run with a baseline: every headline metric side by side, tested and judged.

For each headline metric (:data:`METRICS`) the comparison holds the baseline and candidate values, the delta
``candidate - baseline`` and the relative change ``delta / |baseline|``, and a status:

- ``regression`` / ``improvement``: the change is beyond the metric's tolerance (:class:`Tolerance`) AND a
  significance test says it is not chance (p < ``alpha``, in the same direction as the change);
- ``not_significant``: beyond tolerance, but the test cannot tell it from noise;
- ``changed``: beyond tolerance, and no test applies (variability coefficients, peaks, memory): look at it;
- ``unchanged``: within tolerance; ``info``: a metric with no better direction (counts, offered load);
  ``not_measured``: missing on either side.

Significance tests (:mod:`traceanalyzer.significance`):

- Latency distributions (TTFT, TPOT, E2E, per-request TPS): two-sided Mann-Whitney U on the per-request
  values of successful requests (``scipy.stats.mannwhitneyu``). ``prob_greater`` = U / (n_c n_b) =
  P(candidate value > baseline value) + P(tie) / 2 (the common-language effect size; 0.5 = no shift).
  Every percentile of a quantity (p50, p95, p99) is judged with its distribution's test. ITL gaps of one
  request are not independent samples, so ITL is not tested (TPOT carries decode speed).
- Throughput (QPS, cluster TPS) and GPU utilisation: Mann-Whitney U on the steady-state windows of each run
  (windows are the samples; both runs should use the same ``--window``).
- Error rate, per-class error rates, SLO attainment and goodput (its share of requests meeting every SLO):
  two-proportion z-test, ``z = (p_c - p_b) /
  sqrt(p (1 - p) (1/n_b + 1/n_c))`` with the pooled ``p = (x_b + x_c) / (n_b + n_c)``; two-sided p-value.

Per-request samples come from the per-request data an analysis keeps (:func:`request_samples`), so the
tests see every request, not the downsampled distributions the report draws.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from traceanalyzer.errors import UsageError
from traceanalyzer.i18n import N_
from traceanalyzer.model import Analysis, AnalysisOptions, SloResult
from traceanalyzer.significance import SignificanceTest, mann_whitney, two_proportion

if TYPE_CHECKING:
    from traceanalyzer.loader import Capture

Better = Literal["lower", "higher"]
Status = Literal[
    "regression", "improvement", "not_significant", "changed", "unchanged", "info", "not_measured"
]
FloatArray = npt.NDArray[np.float64]


# -- tolerance ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tolerance:
    """How large a change must be before it counts (defaults in brackets).

    Relative tolerances compare ``|delta| / |baseline|``; absolute ones compare ``|delta|`` in the metric's
    own unit (fractions for rates and coefficients).
    """

    latency: float = 0.10
    """Relative change of a latency statistic (TTFT, TPOT, ITL, E2E; p50/p95/p99/mean) [10 %]."""
    throughput: float = 0.10
    """Relative change of QPS, cluster TPS, goodput, per-request TPS [10 %]."""
    error_rate: float = 0.001
    """Absolute change of the error rate and of each class's rate [0.001 = 0.1 percentage point]."""
    attainment: float = 0.02
    """Absolute change of SLO attainment and consistency shares [0.02 = 2 percentage points]."""
    variability: float = 0.05
    """Absolute change of a coefficient of variation (RTV, TTFT/TPOT CV, QPS CV, GPU memory fluctuation)."""
    resources: float = 0.10
    """Relative change of GPU utilisation, GPU memory and CPU [10 %]."""
    alpha: float = 0.01
    """Significance level of every test (two-sided p-value below it) [0.01]."""


_TOLERANCE_NAMES = tuple(f.name for f in fields(Tolerance))
_SPEC = re.compile(r"^\s*(?:(?P<name>[a-z_]+)\s*=\s*)?(?P<value>[0-9]*\.?[0-9]+)\s*(?P<pct>%)?\s*$")


def parse_tolerance(specs: Sequence[str], base: Tolerance | None = None) -> Tolerance:
    """``--tolerance`` options: ``NAME=VALUE`` (``latency=0.15``, ``error_rate=0.2%``, ``alpha=0.05``) or a
    bare ``VALUE`` that sets both ``latency`` and ``throughput``. ``%`` divides by 100."""
    tol = base or Tolerance()
    for spec in specs:
        m = _SPEC.match(spec)
        if m is None or (m["name"] is not None and m["name"] not in _TOLERANCE_NAMES):
            raise UsageError(
                f"--tolerance {spec!r}: expected NAME=VALUE or VALUE, "
                f"NAME one of {', '.join(_TOLERANCE_NAMES)}"
            )
        value = float(m["value"]) / (100.0 if m["pct"] else 1.0)
        if m["name"] == "alpha" and not 0.0 < value < 1.0:
            raise UsageError(f"--tolerance {spec!r}: alpha must be between 0 and 1")
        names = (m["name"],) if m["name"] else ("latency", "throughput")
        tol = replace(tol, **{name: value for name in names})
    return tol


# -- per-request samples -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RequestSamples:
    """Per-request values of successful requests (seconds; tokens/s for ``tps_per_request``), NaN-free."""

    ttft_s: FloatArray
    tpot_s: FloatArray
    e2e_s: FloatArray
    tps_per_request: FloatArray

    def get(self, name: str) -> FloatArray:
        value: FloatArray = getattr(self, name)
        return value


def _finite(values: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    return arr[np.isfinite(arr)]


def request_samples(analysis: Analysis) -> RequestSamples | None:
    """The per-request values of an analysis's successful requests; ``None`` for an analysis read back from
    JSON (it keeps no per-request data)."""
    from traceanalyzer.frames import request_data
    from traceanalyzer.metrics.latency import e2e_s, tpot_s, tps_per_request, ttft_s

    data = request_data(analysis)
    if data is None:
        return None
    ok = data.frame[data.frame["ok"]]
    return RequestSamples(
        ttft_s=_finite(ttft_s(ok)),
        tpot_s=_finite(tpot_s(ok)),
        e2e_s=_finite(e2e_s(ok)),
        tps_per_request=_finite(tps_per_request(ok)),
    )


def analyze_with_samples(
    capture: Capture, options: AnalysisOptions | None = None
) -> tuple[Analysis, RequestSamples]:
    """``analyze`` plus the per-request latencies the tests need (:func:`request_samples`)."""
    from traceanalyzer.analysis import analyze

    analysis = analyze(capture, options)
    samples = request_samples(analysis)
    assert samples is not None  # a fresh analysis keeps its requests
    return analysis, samples


def steady_windows(analysis: Analysis, series: str) -> FloatArray:
    """Values of a per-window series over the run's steady-state windows (all windows when none is steady)."""
    ts = analysis.timeseries
    values = getattr(ts, series)
    steady = ts.steady if any(ts.steady) else (True,) * len(values)
    return _finite(
        [v if (v is not None and keep) else np.nan for v, keep in zip(values, steady, strict=False)]
    )


# -- headline metrics --------------------------------------------------------------------------------------
Getter = Callable[[Analysis], "float | None"]


@dataclass(frozen=True)
class MetricSpec:
    """A headline metric: where to read it, which way is better, its tolerance and its test."""

    key: str
    label: str
    group: str
    unit: str
    """``s``, ``fraction``, ``req/s``, ``tokens/s``, ``%``, ``MiB``, ``cosine``, ``count``."""
    get: Getter
    better: Better | None
    tolerance: str | None
    """Name of the :class:`Tolerance` field; ``relative`` unless listed in ``_ABSOLUTE``."""
    test: str | None = None
    """``requests:<sample>``, ``windows:<series>``, ``proportion:<name>`` or ``None``."""


_ABSOLUTE = frozenset({"error_rate", "attainment", "variability"})


def _stat(quantity: str, stat: str) -> Getter:
    def get(a: Analysis) -> float | None:
        value: float | None = getattr(getattr(a.latency, quantity), stat)
        return value

    return get


def _latency_specs() -> list[MetricSpec]:
    specs = []
    names = {"ttft_s": "TTFT", "tpot_s": "TPOT", "itl_s": "ITL", "e2e_s": "E2E"}
    for quantity, label in names.items():
        test = None if quantity == "itl_s" else f"requests:{quantity}"
        for stat in ("mean", "p50", "p95", "p99"):
            specs.append(
                MetricSpec(
                    f"{quantity[:-2]}_{stat}",
                    f"{label} {stat}",
                    "latency",
                    "s",
                    _stat(quantity, stat),
                    "lower",
                    "latency",
                    test,
                )
            )
    return specs


def _error_rate(a: Analysis) -> float | None:
    return a.stability.error_rate


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("requests", N_("requests"), "run", "count", lambda a: float(a.requests.total), None, None),
    MetricSpec("duration", N_("duration"), "run", "s", lambda a: a.capture.duration_s, None, None),
    MetricSpec("offered_qps", N_("offered QPS (mean)"), "run", "req/s",
               lambda a: a.capacity.offered_qps_mean, None, None),
    *_latency_specs(),
    MetricSpec("qps_stable", N_("QPS (stable)"), "capacity", "req/s", lambda a: a.capacity.qps.stable,
               "higher", "throughput", "windows:qps"),
    MetricSpec("qps_mean", N_("QPS (mean)"), "capacity", "req/s", lambda a: a.capacity.qps.mean, "higher",
               "throughput", "windows:qps"),
    MetricSpec("qps_peak", N_("QPS (peak window)"), "capacity", "req/s", lambda a: a.capacity.qps.peak,
               "higher", "throughput"),
    MetricSpec("tps_cluster_mean", N_("cluster TPS (mean)"), "capacity", "tokens/s",
               lambda a: a.capacity.tps_cluster_mean, "higher", "throughput", "windows:tps"),
    MetricSpec("tps_cluster_peak", N_("cluster TPS (peak window)"), "capacity", "tokens/s",
               lambda a: a.capacity.tps_cluster_peak, "higher", "throughput"),
    MetricSpec("tps_per_request_p50", N_("per-request TPS p50"), "capacity", "tokens/s",
               lambda a: a.capacity.tps_per_request.p50, "higher", "throughput", "requests:tps_per_request"),
    MetricSpec("goodput", N_("goodput"), "capacity", "req/s", lambda a: a.capacity.goodput_rps, "higher",
               "throughput", "proportion:slo_attainment"),
    MetricSpec("slo_attainment", N_("SLO attainment"), "capacity", "fraction",
               lambda a: a.capacity.slo_attainment, "higher", "attainment", "proportion:slo_attainment"),
    MetricSpec("error_rate", N_("error rate"), "stability", "fraction", _error_rate, "lower", "error_rate",
               "proportion:error_rate"),
    MetricSpec("e2e_cv", N_("RTV (CV of E2E)"), "stability", "fraction",
               lambda a: a.stability.variability.e2e_cv, "lower", "variability"),
    MetricSpec("ttft_cv", N_("CV of TTFT"), "stability", "fraction",
               lambda a: a.stability.variability.ttft_cv, "lower", "variability"),
    MetricSpec("tpot_cv", N_("CV of TPOT"), "stability", "fraction",
               lambda a: a.stability.variability.tpot_cv, "lower", "variability"),
    MetricSpec("qps_cv", N_("QPS fluctuation (CV)"), "stability", "fraction",
               lambda a: a.stability.variability.qps_cv, "lower", "variability"),
    MetricSpec("gpu_mem_fluctuation", N_("GPU memory fluctuation"), "stability", "fraction",
               lambda a: a.stability.variability.gpu_mem_fluctuation, "lower", "variability"),
    MetricSpec("gpu_util_mean", N_("GPU utilisation (mean)"), "resources", "%",
               lambda a: a.resources.gpu_util_mean, None, "resources", "windows:gpu_util_pct"),
    MetricSpec("gpu_mem_used_max", N_("GPU memory used (max)"), "resources", "MiB",
               lambda a: a.resources.gpu_mem_used_max_mib, "lower", "resources"),
    MetricSpec("cpu_pct_mean", N_("host CPU (mean)"), "resources", "%", lambda a: a.resources.cpu_pct_mean,
               "lower", "resources", "windows:cpu_pct"),
    MetricSpec("consistency_mean_cosine", N_("consistency: mean cosine"), "consistency", "cosine",
               lambda a: a.consistency.mean_cosine if a.consistency else None, "higher", "attainment"),
    MetricSpec("consistency_exact_match", N_("consistency: exact-match rate"), "consistency", "fraction",
               lambda a: a.consistency.exact_match_rate if a.consistency else None, "higher", "attainment"),
)  # fmt: skip
"""Every headline metric compared, in report order (per-class error rates are added per capture)."""


@dataclass(frozen=True)
class MetricDelta:
    """One metric, both runs. ``change`` = ``delta / |baseline|`` (``None`` when the baseline is 0)."""

    key: str
    label: str
    group: str
    unit: str
    better: Better | None
    baseline: float | None
    candidate: float | None
    delta: float | None
    change: float | None
    tolerance: float | None
    tolerance_kind: Literal["relative", "absolute"] | None
    status: Status
    test: SignificanceTest | None = None


@dataclass(frozen=True)
class SloChange:
    """An SLO judged in both runs whose verdict differs (``None``: not measured in that run)."""

    name: str
    threshold: float
    baseline: bool | None
    candidate: bool | None
    baseline_value: float | None
    candidate_value: float | None
    unit: str = ""
    comparison: str = "<="


@dataclass(frozen=True)
class Comparison:
    """The result of comparing a candidate run with a baseline (module docstring)."""

    baseline: Analysis
    candidate: Analysis
    tolerance: Tolerance
    metrics: tuple[MetricDelta, ...]
    slo_changes: tuple[SloChange, ...] = ()
    baseline_name: str = "baseline"
    candidate_name: str = "candidate"
    warnings: tuple[str, ...] = field(default_factory=tuple)
    """Why the comparison may mislead (different offered load, window length, models)."""

    @property
    def regressions(self) -> tuple[MetricDelta, ...]:
        """The metrics flagged ``regression``, in report order."""
        return tuple(m for m in self.metrics if m.status == "regression")

    @property
    def improvements(self) -> tuple[MetricDelta, ...]:
        """The metrics flagged ``improvement``, in report order."""
        return tuple(m for m in self.metrics if m.status == "improvement")

    def metric(self, key: str) -> MetricDelta:
        """The delta of metric ``key`` (``KeyError`` when not compared)."""
        for m in self.metrics:
            if m.key == key:
                return m
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        """JSON types: the metrics, tests, SLO changes and verdict (the two analyses are left out)."""
        import dataclasses

        return {
            "schema": "traceanalyzer/compare@1",
            "baseline": self.baseline_name,
            "candidate": self.candidate_name,
            "tolerance": dataclasses.asdict(self.tolerance),
            "regressions": [m.key for m in self.regressions],
            "improvements": [m.key for m in self.improvements],
            "metrics": [dataclasses.asdict(m) for m in self.metrics],
            "slo_changes": [dataclasses.asdict(s) for s in self.slo_changes],
            "warnings": list(self.warnings),
        }


# -- judging -----------------------------------------------------------------------------------------------
def _status(
    spec: MetricSpec, base: float | None, cand: float | None, tol: Tolerance, test: SignificanceTest | None
) -> tuple[Status, float | None, Literal["relative", "absolute"] | None]:
    if spec.tolerance is None:
        return ("info" if base is not None and cand is not None else "not_measured"), None, None
    limit = float(getattr(tol, spec.tolerance))
    kind: Literal["relative", "absolute"] = "absolute" if spec.tolerance in _ABSOLUTE else "relative"
    if base is None or cand is None:
        return "not_measured", limit, kind
    if spec.better is None:
        return "info", limit, kind
    delta = cand - base
    if kind == "absolute":
        size = abs(delta)
    else:
        size = abs(delta) / abs(base) if base else (math.inf if delta else 0.0)
    if not size > limit:
        return "unchanged", limit, kind
    if test is None:
        return "changed", limit, kind
    worse = delta > 0 if spec.better == "lower" else delta < 0
    shift = test.prob_greater - 0.5 if test.prob_greater is not None else test.statistic
    agrees = (shift > 0) == (delta > 0)  # the test found a shift the same way the metric moved
    if test.p_value < tol.alpha and agrees:
        return ("regression" if worse else "improvement"), limit, kind
    return "not_significant", limit, kind


def _proportion(a: Analysis, name: str) -> tuple[int, int]:
    """(successes, trials) of a proportion tested by name."""
    total = a.requests.total
    if name == "error_rate":
        return a.requests.failed, total
    if name == "slo_attainment":
        return a.capacity.good_requests, total
    if name.startswith("errors."):
        err = a.errors.get(name.split(".", 1)[1])
        return (err.count if err else 0), total
    raise KeyError(name)


def _run_test(
    spec: MetricSpec,
    base: Analysis,
    cand: Analysis,
    samples: tuple[RequestSamples, RequestSamples] | None,
    cache: dict[str, SignificanceTest | None],
) -> SignificanceTest | None:
    if spec.test is None:
        return None
    if spec.test in cache:
        return cache[spec.test]
    kind, _, name = spec.test.partition(":")
    result: SignificanceTest | None = None
    if kind == "requests" and samples is not None:
        result = mann_whitney(spec.test, samples[0].get(name), samples[1].get(name))
    elif kind == "windows":
        result = mann_whitney(spec.test, steady_windows(base, name), steady_windows(cand, name))
    elif kind == "proportion":
        (x_b, n_b), (x_c, n_c) = _proportion(base, name), _proportion(cand, name)
        result = two_proportion(spec.test, x_b, n_b, x_c, n_c)
    cache[spec.test] = result
    return result


def _class_specs(base: Analysis, cand: Analysis) -> list[MetricSpec]:
    classes = sorted(set(base.errors) | set(cand.errors))

    def getter(cls: str) -> Getter:
        def get(a: Analysis) -> float | None:
            if not a.requests.total:
                return None
            err = a.errors.get(cls)
            return (err.count if err else 0) / a.requests.total

        return get

    return [
        MetricSpec(
            f"errors.{c}",
            f"error rate: {c}",
            "stability",
            "fraction",
            getter(c),
            "lower",
            "error_rate",
            f"proportion:errors.{c}",
        )
        for c in classes
    ]


def _slo_changes(base: Sequence[SloResult], cand: Sequence[SloResult]) -> tuple[SloChange, ...]:
    by_name = {s.name: s for s in base}
    changes = []
    for c in cand:
        b = by_name.get(c.name)
        if b is None or b.passed == c.passed:
            continue
        changes.append(
            SloChange(c.name, c.threshold, b.passed, c.passed, b.value, c.value, c.unit, c.comparison)
        )
    return tuple(changes)


def _median_in_flight(a: Analysis) -> float | None:
    values = _finite([np.nan if v is None else v for v in a.timeseries.in_flight_mean])
    return float(np.median(values)) if values.size else None


def _warnings(base: Analysis, cand: Analysis, tol: Tolerance) -> tuple[str, ...]:
    out = []

    def differs(b: float | None, c: float | None) -> bool:
        return b is not None and c is not None and b > 0 and abs(c - b) / b > tol.throughput

    b_load, c_load = base.capacity.offered_qps_mean, cand.capacity.offered_qps_mean
    b_open, c_open = _median_in_flight(base), _median_in_flight(cand)
    # A slower service sends less under a fixed concurrency and keeps more open under a fixed rate; the load
    # itself differs only when both moved.
    if differs(b_load, c_load) and (b_open is None or c_open is None or differs(b_open, c_open)):
        out.append(
            f"the load differs ({b_load:.3g} vs {c_load:.3g} req/s sent"
            + (f", {b_open:.3g} vs {c_open:.3g} requests in flight" if b_open and c_open else "")
            + "): throughput and latency changes may come from the load, not the service"
        )
    if base.timeseries.window_s != cand.timeseries.window_s:
        out.append("the runs were analyzed with different window lengths: windowed tests are not comparable")
    if base.capture.models and cand.capture.models and set(base.capture.models) != set(cand.capture.models):
        out.append("the runs served different models")
    for side, a in (("baseline", base), ("candidate", cand)):
        if a.requests.ok < 3:
            out.append(f"the {side} has fewer than 3 successful requests: latency tests are not possible")
    return tuple(out)


def compare(
    baseline: Analysis,
    candidate: Analysis,
    *,
    samples: tuple[RequestSamples, RequestSamples] | None = None,
    tolerance: Tolerance | None = None,
    names: tuple[str, str] = ("baseline", "candidate"),
) -> Comparison:
    """Compare two analyses (module docstring). Without ``samples`` the per-request tests are skipped and
    latency changes beyond tolerance are reported as ``changed``."""
    tol = tolerance or Tolerance()
    cache: dict[str, SignificanceTest | None] = {}
    deltas = []
    for spec in (*METRICS, *_class_specs(baseline, candidate)):
        b, c = spec.get(baseline), spec.get(candidate)
        b = None if b is None or not math.isfinite(b) else float(b)
        c = None if c is None or not math.isfinite(c) else float(c)
        test = _run_test(spec, baseline, candidate, samples, cache)
        status, limit, kind = _status(spec, b, c, tol, test)
        delta = None if b is None or c is None else c - b
        change = None if delta is None or not b else delta / abs(b)
        deltas.append(
            MetricDelta(
                spec.key,
                spec.label,
                spec.group,
                spec.unit,
                spec.better,
                b,
                c,
                delta,
                change,
                limit,
                kind,
                status,
                test,
            )
        )
    return Comparison(
        baseline=baseline,
        candidate=candidate,
        tolerance=tol,
        metrics=tuple(deltas),
        slo_changes=_slo_changes(baseline.slo, candidate.slo),
        baseline_name=names[0],
        candidate_name=names[1],
        warnings=_warnings(baseline, candidate, tol),
    )


def compare_captures(
    baseline: Capture,
    candidate: Capture,
    options: AnalysisOptions | None = None,
    *,
    tolerance: Tolerance | None = None,
    names: tuple[str, str] = ("baseline", "candidate"),
) -> Comparison:
    """Analyze both captures with the same options and compare them, with per-request tests."""
    base, base_samples = analyze_with_samples(baseline, options)
    cand, cand_samples = analyze_with_samples(candidate, options)
    return compare(base, cand, samples=(base_samples, cand_samples), tolerance=tolerance, names=names)
