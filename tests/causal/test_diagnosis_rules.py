"""Each diagnosis rule on constructed window grids: it fires on its pattern, with sane evidence, and stays
quiet on stationary noise."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from causal_frames import frames, healthy

from traceanalyzer.causal import error_sequence
from traceanalyzer.diagnosis import RULES, DiagnosisOptions, MemorySeries, diagnose
from traceanalyzer.diagnosis.resources import cpu_bound, gpu_saturated, queueing
from traceanalyzer.diagnosis.stability import unstable
from traceanalyzer.diagnosis.trends import _bin_medians, latency_shift, memory_leak
from traceanalyzer.model import SloThresholds, Variability

SLO = SloThresholds()
OPTS = DiagnosisOptions()
N = 120


def _memory(windows, used: np.ndarray, total: float | None = 80_000.0) -> list[MemorySeries]:
    t = ((windows["start_s"] + windows["end_s"]) / 2).to_numpy()
    return [MemorySeries("GPU h/gpu0", t, used, total)]


def test_memory_leak_recovers_slope_and_time_to_exhaustion() -> None:
    rng = np.random.default_rng(1)
    cols = healthy(N, seed=1)
    windows, _ = frames(N, **cols)
    t = ((windows["start_s"] + windows["end_s"]) / 2).to_numpy()
    used = 50_000 + 2.0 * t + rng.normal(0, 40, N)  # 2 MiB/s over 1,200 s
    found, skipped = memory_leak(_memory(windows, used), windows, OPTS)
    assert skipped == []
    (leak,) = found
    ev = leak.evidence
    assert leak.rule == "memory_leak"
    assert ev["slope_mib_per_s"] == pytest.approx(2.0, rel=0.05)
    assert ev["p_value"] < 1e-6 and ev["mann_kendall_tau"] > 0.5
    expected = (80_000 - (50_000 + 2.0 * 1150)) / 2.0
    assert ev["time_to_exhaustion_s"] == pytest.approx(expected, rel=0.1)
    assert leak.severity == "critical"  # runs out within a day
    assert "MiB/min" in leak.message and leak.message.endswith(".")


@pytest.mark.parametrize("seed", range(8))
def test_flat_noisy_memory_is_not_a_leak(seed: int) -> None:
    rng = np.random.default_rng(seed)
    windows, _ = frames(N, **healthy(N, seed=seed))
    used = 50_000 + rng.normal(0, 300, N)
    found, _ = memory_leak(_memory(windows, used), windows, OPTS)
    assert found == []


def test_small_significant_creep_below_every_practical_threshold_is_not_a_leak() -> None:
    rng = np.random.default_rng(2)
    windows, _ = frames(N, **healthy(N, seed=2))
    t = ((windows["start_s"] + windows["end_s"]) / 2).to_numpy()
    # 0.03 MiB/s: 36 MiB over the run (0.05 % of 80 GB), 2,592 MiB a day (3.2 %); 30,000 MiB last 11 days
    used = 50_000 + 0.03 * t + rng.normal(0, 2, N)
    fit_is_significant = memory_leak(_memory(windows, used), windows, DiagnosisOptions(leak_min_daily_pct=3))[
        0
    ]
    assert [f.evidence["criteria"] for f in fit_is_significant] == [["daily_rate"]]
    assert memory_leak(_memory(windows, used), windows, OPTS)[0] == []


def test_slow_creep_in_a_short_run_is_a_leak_by_its_rate_and_consequence() -> None:
    rng = np.random.default_rng(2)
    windows, _ = frames(N, **healthy(N, seed=2))
    t = ((windows["start_s"] + windows["end_s"]) / 2).to_numpy()
    used = 50_000 + 0.5 * t + rng.normal(0, 20, N)  # 600 MiB over the run: 0.75 % of 80 GB, 54 % a day
    (leak,) = memory_leak(_memory(windows, used), windows, OPTS)[0]
    assert leak.evidence["rise_pct"] < OPTS.leak_min_rise_pct
    assert leak.evidence["criteria"] == ["time_to_exhaustion", "daily_rate"]
    assert leak.evidence["time_to_exhaustion_s"] == pytest.approx((80_000 - 50_575) / 0.5, rel=0.05)
    assert leak.severity == "critical"  # 16 hours after the run
    no_total = memory_leak(_memory(windows, used, None), windows, OPTS)[0]
    assert [f.evidence["criteria"] for f in no_total] == [["daily_rate"]]  # 86 % of its start per day


@pytest.mark.parametrize("seed", range(12))
def test_sawtooth_memory_of_a_cache_that_fills_and_empties_is_not_a_leak(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    windows, _ = frames(N, **healthy(N, seed=seed))
    t = ((windows["start_s"] + windows["end_s"]) / 2).to_numpy()
    period = rng.uniform(100, 400)  # 3 to 12 teeth over the run, cut at a random phase
    phase = rng.uniform(0, period)
    used = 40_000 + 3_000 * (((t + phase) % period) / period) + rng.normal(0, 50, N)
    assert memory_leak(_memory(windows, used), windows, OPTS)[0] == []


@pytest.mark.parametrize("seed", range(8))
def test_drift_inside_the_noise_is_not_projected_into_a_leak(seed: int) -> None:
    # a slight drift well inside the noise (significant for some seeds): with the spread around the line
    # larger than the rise, the rate is not extrapolated to a day; the rise itself (0.6 % of total) is < 2 %
    rng = np.random.default_rng(200 + seed)
    windows, _ = frames(N, **healthy(N, seed=seed))
    t = ((windows["start_s"] + windows["end_s"]) / 2).to_numpy()
    used = 50_000 + 0.4 * t + rng.normal(0, 600, N)  # 480 MiB of drift under noise of sd 600 MiB
    assert memory_leak(_memory(windows, used), windows, OPTS)[0] == []


def test_memory_that_follows_load_is_not_a_leak_but_a_leak_under_load_is() -> None:
    rng = np.random.default_rng(3)
    cols = healthy(N, seed=3)
    cols["concurrency_mean"] = np.repeat([8.0, 32.0, 64.0, 16.0], N // 4) + rng.normal(0, 0.3, N)
    windows, _ = frames(N, **cols)
    follows = 40_000 + 300 * windows["load"].to_numpy() + rng.normal(0, 50, N)
    assert memory_leak(_memory(windows, follows), windows, OPTS)[0] == []
    t = ((windows["start_s"] + windows["end_s"]) / 2).to_numpy()
    leaking = follows + 2.0 * (t - t[0])  # 2 MiB/s on top of what load explains
    found = memory_leak(_memory(windows, leaking), windows, OPTS)[0]
    assert [f.evidence["load_adjusted"] for f in found] == [True]


@pytest.mark.parametrize("seed", range(6))
def test_kv_cache_filling_as_concurrency_steps_up_is_not_a_leak(seed: int) -> None:
    rng = np.random.default_rng(300 + seed)
    cols = healthy(N, seed=seed)
    cols["concurrency_mean"] = np.repeat([4.0, 8.0, 16.0, 32.0], N // 4) + rng.normal(0, 0.3, N)
    windows, _ = frames(N, **cols)
    used = 40_000 + 400 * windows["load"].to_numpy() + rng.normal(0, 50, N)  # +11 GB over the ramp
    assert memory_leak(_memory(windows, used), windows, OPTS)[0] == []


def test_memory_leak_without_total_and_without_samples() -> None:
    rng = np.random.default_rng(4)
    windows, _ = frames(N, **healthy(N, seed=4))
    t = ((windows["start_s"] + windows["end_s"]) / 2).to_numpy()
    (leak,) = memory_leak(_memory(windows, 8_000 + 3.0 * t + rng.normal(0, 30, N), None), windows, OPTS)[0]
    assert leak.evidence["time_to_exhaustion_s"] is None and leak.severity == "warning"
    found, skipped = memory_leak([], windows, OPTS)
    assert found == [] and skipped[0].rule == "memory_leak"


def test_queueing_when_ttft_tracks_queue_depth() -> None:
    rng = np.random.default_rng(5)
    cols = healthy(N, seed=5)
    queue = np.clip(
        np.r_[np.zeros(30), np.linspace(0, 40, 60), np.linspace(40, 5, 30)] + rng.normal(0, 1, N), 0, None
    )
    cols["queue_waiting"] = queue
    cols["ttft_p95_s"] = 0.3 + 0.1 * np.r_[queue[1:], queue[-1]] + rng.normal(0, 0.02, N)
    windows, _ = frames(N, **cols)
    (f,), skipped = queueing(windows, SLO, OPTS)
    assert skipped == []
    assert f.severity == "warning"  # TTFT p95 went past 1 s while requests waited
    assert f.evidence["spearman_rho"] > 0.9
    assert f.evidence["ttft_s_per_waiting_request"] == pytest.approx(0.1, rel=0.15)
    assert abs(f.evidence["lag_windows"]) <= 1


def test_queueing_per_request_meets_each_ttft_with_the_queue_at_send() -> None:
    rng = np.random.default_rng(14)
    cols = healthy(N, seed=14)
    queue = np.r_[np.zeros(40), np.linspace(0, 30, 80)]
    cols["queue_waiting"] = queue
    windows, _ = frames(N, **cols)
    send = np.sort(rng.uniform(0, N * 10.0, 3000))
    ttft = 0.05 + 0.08 * queue[(send // 10).astype(int)] + rng.exponential(0.05, send.size)
    requests = pd.DataFrame({"send_s": send, "ttft_s": ttft})
    (f,), _ = queueing(windows, SLO, OPTS, requests)
    assert f.evidence["method"] == "per request, queue at send" and f.evidence["pairs"] == 3000
    assert f.evidence["spearman_rho"] > 0.8
    assert f.evidence["ttft_s_per_waiting_request"] == pytest.approx(0.08, rel=0.15)
    assert f.severity == "warning" and f.start_s == 430.0  # first window with a request waiting
    flat = pd.DataFrame({"send_s": send, "ttft_s": rng.normal(0.3, 0.02, send.size)})
    assert queueing(windows, SLO, OPTS, flat) == ([], [])


def test_no_queueing_without_a_queue_or_without_server_metrics() -> None:
    windows, _ = frames(N, **healthy(N, seed=6))
    assert queueing(windows, SLO, OPTS) == ([], [])
    cols = healthy(N, seed=6)
    del cols["queue_waiting"]
    windows, _ = frames(N, **cols)
    found, skipped = queueing(windows, SLO, OPTS)
    assert found == [] and "queue depth" in skipped[0].reason


def test_cpu_bound_when_latency_is_high_and_gpu_idle() -> None:
    rng = np.random.default_rng(7)
    cols = healthy(N, seed=7)
    cols["ttft_p95_s"][40:] = rng.normal(2.5, 0.2, N - 40)
    cols["gpu_util_pct"][40:] = rng.normal(20, 3, N - 40)
    cols["cpu_pct"][40:] = rng.normal(97, 1, N - 40)
    windows, _ = frames(N, **cols)
    (f,), _ = cpu_bound(windows, SLO, OPTS)
    assert f.severity == "warning" and f.start_s == 400.0
    assert f.evidence["slow_windows"] == N - 40
    assert f.evidence["gpu_util_median_slow_pct"] == pytest.approx(20, abs=2)
    assert f.evidence["cpu_pct_median_slow"] == pytest.approx(97, abs=1)
    busy = healthy(N, seed=7)
    busy["ttft_p95_s"][40:] = 2.5
    busy["gpu_util_pct"][40:] = 98.0
    assert cpu_bound(frames(N, **busy)[0], SLO, OPTS)[0] == []


def test_gpu_rules_skip_without_gpu_samples_and_say_why() -> None:
    windows, _ = frames(N, **healthy(N, seed=8, gpu=False))
    result = diagnose(windows, slo=SLO, variability=Variability())
    reasons = {s.rule: s.reason for s in result.skipped}
    assert "no GPU samples" in reasons["cpu_bound"] and "no GPU samples" in reasons["gpu_saturated"]
    assert "memory_leak" in reasons


def test_gpu_saturated_when_tps_flattens_as_load_grows() -> None:
    rng = np.random.default_rng(9)
    cols = healthy(N, seed=9)
    levels = np.repeat(np.arange(4), N // 4)
    cols["concurrency_mean"] = np.array([8.0, 16, 32, 64])[levels] + rng.normal(0, 0.2, N)
    cols["tps"] = np.array([500.0, 950, 1000, 1010])[levels] + rng.normal(0, 5, N)
    cols["gpu_util_pct"] = np.array([60.0, 92, 97, 98])[levels] + rng.normal(0, 1, N)
    cols["e2e_p50_s"] = np.array([1.0, 1.05, 2.0, 4.0])[levels] + rng.normal(0, 0.02, N)
    cols["ttft_p95_s"] = np.array([0.3, 0.35, 0.9, 2.5])[levels] + rng.normal(0, 0.02, N)
    stages = [f"c{c}" for c in np.array([8, 16, 32, 64])[levels]]
    windows, _ = frames(N, stage=stages, **cols)
    (f,), _ = gpu_saturated(windows, SLO, OPTS)
    assert f.evidence["from_level"] == "c16" and f.evidence["to_level"] == "c32"
    assert f.evidence["tps_elasticity"] < 0.1
    assert f.start_s == 600.0
    assert len(f.evidence["levels"]) == 4
    # TPS that keeps growing with load is not saturation
    cols["tps"] = np.array([500.0, 950, 1900, 3700])[levels]
    assert gpu_saturated(frames(N, stage=stages, **cols)[0], SLO, OPTS)[0] == []


def test_latency_shift_without_load_change_is_a_warning_and_names_what_moved() -> None:
    rng = np.random.default_rng(10)
    cols = healthy(N, seed=10)
    cols["tpot_p50_s"][70:] *= 1.5
    cols["e2e_p50_s"][70:] *= 1.5
    cols["gpu_util_pct"][70:] = rng.normal(55, 3, N - 70)
    windows, _ = frames(N, **cols)
    (f,), _ = latency_shift(windows, OPTS)
    assert f.severity == "warning" and f.evidence["window"] == 70 and f.start_s == 700.0
    assert set(f.evidence["latency"]) == {"tpot_p50_s", "e2e_p50_s"}
    assert f.evidence["latency"]["tpot_p50_s"]["after_s"] == pytest.approx(0.030, rel=0.05)
    assert "gpu_util_pct" in f.evidence["moved"] and f.evidence["load_change"] is None
    assert "with no rise in offered load" in f.message and "GPU utilization" in f.message


def test_latency_shift_with_more_offered_load_is_info() -> None:
    rng = np.random.default_rng(11)
    cols = healthy(N, seed=11)
    cols["e2e_p50_s"][60:] *= 1.6
    cols["offered_qps"][60:] = rng.normal(20, 0.5, N - 60)
    (f,), _ = latency_shift(frames(N, **cols)[0], OPTS)
    assert f.severity == "info" and f.evidence["load_change"] == "up" and "as load rose" in f.message


def test_latency_shift_at_a_stage_change_is_info_and_closed_loop_slowdown_is_a_warning() -> None:
    rng = np.random.default_rng(12)
    cols = healthy(N, seed=12)
    cols["e2e_p50_s"][60:] *= 1.6
    cols["concurrency_mean"][60:] = rng.normal(32, 0.5, N - 60)
    stages = ["c16"] * 60 + ["c32"] * 60
    (f,), _ = latency_shift(frames(N, stage=stages, **cols)[0], OPTS)
    assert f.severity == "info" and f.evidence["load_change"] == "up"
    # closed loop, same concurrency: requests slow down, so fewer are sent; that is not less load
    cols = healthy(N, seed=12)
    cols["e2e_p50_s"][60:] *= 1.6
    cols["offered_qps"][60:] = rng.normal(6, 0.3, N - 60)
    (g,), _ = latency_shift(frames(N, **cols)[0], OPTS)
    assert g.severity == "warning" and g.evidence["load_change"] == "down"


def test_unstable_names_the_broken_threshold_and_discounts_counting_noise() -> None:
    windows, _ = frames(N, **healthy(N, seed=12))
    found, _ = unstable(Variability(e2e_cv=0.35, qps_cv=0.05), SLO, windows, OPTS)
    (f,) = found
    assert f.severity == "warning" and f.evidence["metric"] == "e2e_cv" and f.evidence["threshold"] == 0.2
    windows["ok"] = 9.0  # 9 requests per window: counting noise alone is a 33 % CV
    (noise,), _ = unstable(Variability(qps_cv=0.3), SLO, windows, OPTS)
    assert noise.severity == "info" and noise.evidence["counting_noise_cv"] == pytest.approx(1 / 3)
    assert unstable(Variability(e2e_cv=0.1, qps_cv=0.05), SLO, windows, OPTS)[0] == []


@pytest.mark.parametrize("seed", range(12))
def test_stationary_healthy_run_has_no_warning_or_critical_finding(seed: int) -> None:
    cols = healthy(N, seed=seed)
    windows, counts = frames(
        N, gpu_mem_used_mib=cols.pop("gpu_mem_used_mib"), gpu_mem_total_mib=80_000.0, **cols
    )
    mem = [
        MemorySeries(
            "GPU h/gpu0",
            ((windows["start_s"] + windows["end_s"]) / 2).to_numpy(),
            windows["gpu_mem_used_mib"].to_numpy(),
            80_000.0,
        )
    ]
    result = diagnose(
        windows,
        slo=SLO,
        variability=Variability(
            e2e_cv=0.05, ttft_cv=0.1, tpot_cv=0.05, qps_cv=0.04, gpu_mem_fluctuation=0.01
        ),
        sequence=error_sequence(windows, counts),
        memory=mem,
    )
    assert [f for f in result.findings if f.severity != "info"] == []
    assert result.skipped == ()


def test_diagnose_orders_findings_and_evidence_is_plain_json() -> None:
    rng = np.random.default_rng(13)
    cols = healthy(N, seed=13)
    oom = np.zeros(N, dtype=int)
    oom[90:] = 30
    cols["e2e_p50_s"][60:] *= 2
    windows, counts = frames(N, errors={"oom": oom}, **cols)
    t = ((windows["start_s"] + windows["end_s"]) / 2).to_numpy()
    mem = _memory(windows, 50_000 + 5 * t + rng.normal(0, 20, N))
    result = diagnose(
        windows, slo=SLO, variability=Variability(), sequence=error_sequence(windows, counts), memory=mem
    )
    rules = [f.rule for f in result.findings]
    assert set(rules) == {"error_burst", "memory_leak", "latency_shift"}
    severities = [f.severity for f in result.findings]
    assert severities == sorted(severities, key=["critical", "warning", "info"].index)
    burst = next(f for f in result.findings if f.rule == "error_burst")
    assert burst.severity == "critical" and burst.start_s == 900.0 and burst.evidence["class"] == "oom"
    for f in result.findings:
        assert f.rule in RULES
        json.dumps(f.evidence, allow_nan=False)


@pytest.mark.parametrize(
    ("size", "bins"), [(86_400, 2_000), (86_401, 4_000), (5_000, 4_999), (12, 5), (7, 7)]
)
def test_bin_medians_equal_the_medians_of_array_split_bins(size: int, bins: int) -> None:
    x = np.random.default_rng(size).normal(size=size) * 1e3
    expected = [np.median(part) for part in np.array_split(x, bins)]
    assert np.array_equal(_bin_medians(x, bins), expected)
