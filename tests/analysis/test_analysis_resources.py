"""Resources joined to the window grid (as-of), resource summary, variability and soak drift."""

from __future__ import annotations

import pytest
from analysis_traces import T0, S, build_capture, request

from traceanalyzer.analysis import analyze
from traceanalyzer.model import AnalysisOptions

# one request every second for 30 s: three 10 s windows (the last one 9.11 s)
REQUESTS = [request(f"r{i}", T0 + i * S, [100_000]) for i in range(30)]
GPU = [
    # gpu 0 sampled at 1, 2, 3 s only; gpu 1 once at 1 s
    {
        "host": "node",
        "gpu": 0,
        "t": T0 + 1 * S,
        "util_pct": 10.0,
        "mem_used_mib": 1000.0,
        "mem_total_mib": 8000.0,
        "source": "nvml",
    },
    {
        "host": "node",
        "gpu": 0,
        "t": T0 + 2 * S,
        "util_pct": 20.0,
        "mem_used_mib": 1100.0,
        "mem_total_mib": 8000.0,
        "source": "nvml",
    },
    {
        "host": "node",
        "gpu": 0,
        "t": T0 + 3 * S,
        "util_pct": 30.0,
        "mem_used_mib": 1200.0,
        "mem_total_mib": 8000.0,
        "source": "nvml",
    },
    {"host": "node", "gpu": 1, "t": T0 + 1 * S, "util_pct": 50.0, "mem_used_mib": 500.0, "source": "nvml"},
]
HOST = [{"host": "node", "t": T0 + 15 * S, "cpu_pct": 50.0, "mem_used_mib": 2048.0}]
SERVER = [
    {"host": "node", "t": T0 + 5 * S, "waiting": 3.0, "running": 8.0, "kv_cache_pct": 40.0},
    {"host": "node", "t": T0 + 25 * S, "waiting": 7.0, "running": 8.0, "kv_cache_pct": 90.0},
]


@pytest.fixture(scope="module")
def joined():
    return analyze(build_capture(requests=REQUESTS, gpu=GPU, host=HOST, server=SERVER))


def test_window_value_is_the_mean_of_its_samples(joined):
    gpu0 = next(d for d in joined.timeseries.gpus if d.key == "node/gpu0")
    assert gpu0.util_pct[0] == pytest.approx(20.0)  # mean of 10, 20, 30
    assert gpu0.mem_total_mib == 8000.0
    # the window series average over GPUs (util) and sum them (memory)
    assert joined.timeseries.gpu_util_pct[0] == pytest.approx((20.0 + 50.0) / 2)
    assert joined.timeseries.gpu_mem_used_mib[0] == pytest.approx(1100.0 + 500.0)


def test_a_window_without_samples_takes_the_last_earlier_one_within_tolerance(joined):
    gpu0 = next(d for d in joined.timeseries.gpus if d.key == "node/gpu0")
    # window 1 ends at 20 s, last sample at 3 s: 17 s old <= 2 windows -> as-of value
    assert gpu0.util_pct[1] == pytest.approx(30.0)
    # window 2 ends at 29.11 s: 26 s old > 20 s -> no value
    assert gpu0.util_pct[2] is None
    assert joined.timeseries.cpu_pct == (None, 50.0, 50.0)


def test_server_series(joined):
    assert joined.timeseries.queue_waiting == (3.0, 3.0, 7.0)
    assert joined.timeseries.kv_cache_pct[2] == 90.0
    assert joined.resources.queue_waiting_max == 7.0 and joined.resources.kv_cache_pct_max == 90.0


def test_resource_summary(joined):
    res = joined.resources
    assert res.gpu_util_mean == pytest.approx((10 + 20 + 30 + 50) / 4)
    assert res.gpu_mem_used_max_mib == 1200.0
    assert res.cpu_pct_mean == 50.0
    assert res.sources == ("nvml",)
    assert [g.key for g in res.gpus] == ["node/gpu0", "node/gpu1"]
    assert res.gpus[0].samples == 3


def test_gpu_memory_fluctuation_is_range_over_mean_of_the_worst_gpu(joined):
    # no sample lies in steady state (10-19.11 s), so every sample counts; gpu 0: (1200 - 1000) / 1100
    assert joined.stability.variability.gpu_mem_fluctuation == pytest.approx(200 / 1100)


def test_empty_resource_traces_are_not_measured_with_reasons():
    result = analyze(build_capture(requests=REQUESTS))
    assert result.resources.gpu_util_mean is None and result.resources.cpu_pct_mean is None
    assert result.timeseries.gpu_util_pct == (None, None, None)
    assert result.timeseries.gpus == ()
    assert result.notes_for("resources.gpu") and result.notes_for("resources.host")
    gpu_slo = next(s for s in result.slo if s.name == "gpu_mem_fluctuation")
    assert gpu_slo.passed is None


def test_samples_outside_the_run_do_not_count_in_the_summary():
    gpu = [
        {"host": "n", "gpu": 0, "t": T0 - 100 * S, "util_pct": 0.0, "mem_used_mib": 10.0},
        {"host": "n", "gpu": 0, "t": T0 + 5 * S, "util_pct": 80.0, "mem_used_mib": 20.0},
    ]
    result = analyze(build_capture(requests=REQUESTS, gpu=gpu))
    assert result.resources.gpu_util_mean == 80.0


def test_variability_coefficients_are_std_over_mean():
    # E2E 0.1 s and 0.3 s alternating: CV = 0.1 / 0.2
    reqs = [request(f"r{i}", T0 + i * S, [100_000 if i % 2 else 300_000]) for i in range(10)]
    var = analyze(build_capture(requests=reqs)).stability.variability
    assert var.e2e_cv == pytest.approx(0.5)
    assert var.ttft_cv == pytest.approx(0.5)


def test_soak_latency_drift_compares_the_last_and_first_quarter_of_steady_state():
    # E2E 1.0 s for the first 40 s, 1.5 s after: first quarter p95 1.0, last quarter p95 1.5
    reqs = [request(f"r{i}", T0 + i * S, [200_000, 1_000_000 if i < 40 else 1_500_000]) for i in range(80)]
    options = AnalysisOptions(warmup_s=0, cooldown_s=0, soak=True)
    result = analyze(build_capture(requests=reqs), options)
    assert result.stability.variability.latency_drift == pytest.approx(0.5)
    drift = next(s for s in result.slo if s.name == "latency_drift")
    assert drift.passed is False and drift.threshold == 0.30
    error_rate = next(s for s in result.slo if s.name == "error_rate")
    assert error_rate.threshold == 0.005  # the soak bound


def test_aggregated_importer_failures_count_per_class():
    failures = [
        {
            "host": "locust",
            "t_first": T0 + 2 * S,
            "t_last": T0 + 9 * S,
            "class": "rate_limited",
            "status": 429,
            "count": 7,
            "source": "locust",
        }
    ]
    result = analyze(build_capture(requests=REQUESTS, failures=failures))
    err = result.errors["rate_limited"]
    assert (err.count, err.first_seen_s, err.last_seen_s) == (7, 2.0, 9.0)
    assert err.first_failure is None


def test_a_capture_with_only_gpu_samples_is_placed_on_their_own_span():
    result = analyze(build_capture(gpu=GPU))
    assert result.requests.total == 0
    assert result.capture.t0_ns == T0 + 1 * S and result.capture.duration_s == 2.0
    assert result.resources.gpu_mem_used_max_mib == 1200.0
    assert result.notes_for("requests")


def _ramp(stage_mib: list[float], wobble_mib: list[float]) -> tuple[list[dict], list[dict]]:
    """Four 60 s load stages, one request a second; GPU memory sampled every second at the stage's level, with
    a +-``wobble`` alternation inside the stage."""
    requests, gpu = [], []
    for k in range(240):
        stage = k // 60
        requests.append(request(f"r{k}", T0 + k * S, [100_000], stage=f"s{stage + 1}@{4 << stage}"))
        used = stage_mib[stage] + (wobble_mib[stage] if k % 2 else -wobble_mib[stage])
        gpu.append({"host": "node", "gpu": 0, "t": T0 + k * S, "mem_used_mib": used, "source": "nvml"})
    return requests, gpu


def test_gpu_memory_fluctuation_is_judged_within_each_load_stage():
    # memory steps up with the load (20 -> 50 GB): a ramp, not fluctuation; inside stages it wobbles +-1 %
    requests, gpu = _ramp([20_000, 30_000, 40_000, 50_000], [200, 300, 400, 500])
    result = analyze(build_capture(requests=requests, gpu=gpu), AnalysisOptions(warmup_s=10.0))
    var = result.stability.variability
    assert var.gpu_mem_fluctuation == pytest.approx(0.02)  # (max - min) / mean = 2 * wobble / level
    assert var.gpu_mem_fluctuation_stage in {"s1@4", "s2@8", "s3@16", "s4@32"}
    gpu_slo = next(s for s in result.slo if s.name == "gpu_mem_fluctuation")
    assert gpu_slo.passed is True and gpu_slo.note == f"worst stage: {var.gpu_mem_fluctuation_stage}"
    # the same samples without stages keep the whole-run definition: (50.5 - 19.8) / mean
    unstaged = [{k: v for k, v in r.items() if k != "stage"} for r in requests]
    whole = analyze(build_capture(requests=unstaged, gpu=gpu), AnalysisOptions(warmup_s=10.0, cooldown_s=0.0))
    assert whole.stability.variability.gpu_mem_fluctuation > 0.8
    assert whole.stability.variability.gpu_mem_fluctuation_stage is None


def test_the_worst_stage_is_named_and_fails():
    requests, gpu = _ramp([20_000, 30_000, 40_000, 50_000], [100, 3_000, 100, 100])
    result = analyze(build_capture(requests=requests, gpu=gpu), AnalysisOptions(warmup_s=10.0))
    var = result.stability.variability
    assert (
        var.gpu_mem_fluctuation == pytest.approx(6_000 / 30_000) and var.gpu_mem_fluctuation_stage == "s2@8"
    )
    assert next(s for s in result.slo if s.name == "gpu_mem_fluctuation").passed is False
    (finding,) = [
        f for f in result.findings if f.rule == "unstable" and f.evidence["metric"] == "gpu_mem_fluctuation"
    ]
    assert finding.evidence["stage"] == "s2@8" and "stage s2@8" in finding.message
