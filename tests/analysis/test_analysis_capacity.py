"""Layer 2: goodput, steady state, load levels, saturation knee and maximum sustainable load."""

from __future__ import annotations

import pytest
from analysis_traces import MS, T0, S, build_capture, request

from traceanalyzer.analysis import analyze
from traceanalyzer.model import AnalysisOptions


def stage_requests(
    stage: str, start_s: int, rate: float, in_flight: int, ttft_ms: int, e2e_ms: int
) -> list[dict]:
    """30 s of requests at ``rate``/s, 10 chunks each: TTFT, then 9 more evenly up to E2E."""
    out = []
    step_us = (e2e_ms - ttft_ms) * 1000 // 9
    chunks = [ttft_ms * 1000 + i * step_us for i in range(10)]
    for i in range(int(30 * rate)):
        t = T0 + start_s * S + round(i / rate * S)
        out.append(request(f"{stage}-{i}", t, chunks, stage=stage, in_flight=in_flight))
    return out


# s1: 1 req/s at in-flight 2, E2E 0.5 s -> 10 tokens/s
# s2: 2 req/s at in-flight 4, E2E 0.6 s -> 20 tokens/s (TPS doubled with the load)
# s3: 2.1 req/s at in-flight 8, TTFT 1.5 s, E2E 2.0 s -> 21 tokens/s: TPS flat, latency grew -> knee at s2
STAGED = (
    stage_requests("s1", 0, 1.0, 2, 100, 500)
    + stage_requests("s2", 30, 2.0, 4, 150, 600)
    + stage_requests("s3", 60, 2.1, 8, 1500, 2000)
)


@pytest.fixture(scope="module")
def staged():
    return analyze(build_capture(requests=STAGED))


def test_steady_state_is_each_stage_after_its_warmup(staged):
    assert staged.capture.stages == ("s1", "s2", "s3")
    assert [(round(s.start_s), s.stage) for s in staged.capture.steady] == [
        (10, "s1"),
        (40, "s2"),
        (70, "s3"),
    ]
    steady = staged.timeseries.steady
    assert [i for i, flag in enumerate(steady) if flag] == [1, 2, 4, 5, 7, 8]
    assert staged.timeseries.stage[:9] == ("s1",) * 3 + ("s2",) * 3 + ("s3",) * 3


def test_levels_are_the_stages_with_stable_qps_and_tps(staged):
    levels = {lv.name: lv for lv in staged.capacity.levels}
    assert staged.capacity.level_kind == "stage"
    assert [lv.name for lv in staged.capacity.levels] == ["s1", "s2", "s3"]
    assert levels["s1"].in_flight == 2
    assert levels["s2"].qps == pytest.approx(2.0)
    assert levels["s1"].tps == pytest.approx(10.0, rel=0.05)
    assert levels["s2"].tps == pytest.approx(20.0, rel=0.05)
    assert levels["s3"].ttft_p95_s == pytest.approx(1.5)
    assert not levels["s3"].slo_held  # TTFT p95 1.5 s > 1 s


def test_knee_is_the_last_level_where_tps_still_scaled(staged):
    knee = staged.capacity.knee
    assert knee is not None and knee.stage == "s2" and knee.in_flight == 4
    assert knee.qps == pytest.approx(2.0)


def test_max_sustainable_is_the_highest_level_holding_the_slos(staged):
    best = staged.capacity.max_sustainable
    assert best is not None and best.stage == "s2"


def test_stable_qps_is_the_median_over_steady_windows(staged):
    # steady windows carry 1, 1, 2, 2, 2.1, 2.1 completions/s (to within one request at the edges)
    assert staged.capacity.qps.stable == pytest.approx(2.0, abs=0.1)
    assert staged.capacity.qps.cv is not None and staged.capacity.qps.cv < 0.05


def test_goodput_counts_successful_requests_meeting_every_slo():
    reqs = [
        request("good", T0, [500_000, 510_000, 520_000]),  # TTFT 0.5, TPOT 0.01
        request("slow_ttft", T0 + 1 * S, [1_500_000, 1_510_000]),  # TTFT 1.5 > 1 s
        request("slow_tpot", T0 + 2 * S, [100_000, 200_000]),  # TPOT 0.1 > 0.05 s
        request("one_token", T0 + 3 * S, [200_000]),  # no TPOT: only TTFT judged
        request("failed", T0 + 4 * S, [], t_end=T0 + 5 * S, error=("server_5xx", 503)),
    ]
    result = analyze(build_capture(requests=reqs))
    assert result.capacity.good_requests == 2
    assert result.capacity.slo_attainment == pytest.approx(2 / 5)
    assert result.capacity.goodput_rps == pytest.approx(2 / result.capture.duration_s)


def test_user_levels_from_locust_history():
    reqs = [request(f"r{i}", T0 + i * S, [100_000]) for i in range(60)]
    load = [{"t": T0 + t * S, "users": 10.0 if t < 30 else 20.0, "source": "locust"} for t in range(0, 60, 2)]
    result = analyze(build_capture(requests=reqs, load=load))
    assert result.capacity.level_kind == "users"
    assert [lv.name for lv in result.capacity.levels] == ["users=10", "users=20"]
    assert result.timeseries.users[0] == 10.0 and result.timeseries.users[4] == 20.0


def test_in_flight_levels_when_load_ramps_without_stages():
    # in-flight at send 1, 2, 4, 8 in consecutive 10 s windows -> four power-of-two levels
    reqs = [
        request(f"r{i}", T0 + i * S, [100_000], in_flight=[1, 2, 4, 8][min(i // 10, 3)]) for i in range(40)
    ]
    result = analyze(build_capture(requests=reqs))
    assert result.capacity.level_kind == "in_flight"
    assert [lv.name for lv in result.capacity.levels] == [
        "in_flight<=1",
        "in_flight<=2",
        "in_flight<=4",
        "in_flight<=8",
    ]


def test_constant_load_has_no_levels_and_says_why():
    reqs = [request(f"r{i}", T0 + i * S, [100_000], in_flight=4) for i in range(40)]
    result = analyze(build_capture(requests=reqs))
    assert result.capacity.levels == () and result.capacity.knee is None
    assert result.capacity.max_sustainable is None
    assert result.notes_for("capacity")


def test_stages_shorter_than_warmup_are_noted():
    reqs = [request(f"r{i}", T0 + i * S, [100_000], stage="a" if i < 5 else "b") for i in range(10)]
    result = analyze(build_capture(requests=reqs), AnalysisOptions(warmup_s=30))
    assert any("warmup" in r for r in result.notes_for("steady"))
    assert all(result.timeseries.steady)  # nothing steady: every window is used instead


def test_breakdown_by_model_scenario_host_and_stage(staged):
    by_stage = staged.breakdown["stage"]
    assert set(by_stage) == {"s1", "s2", "s3"}
    assert by_stage["s3"].ttft_p50_s == pytest.approx(1.5)
    assert staged.breakdown["model"]["m"].requests == len(STAGED)
    assert "scenario" not in staged.breakdown  # no request names a scenario


def test_short_failure_window_keeps_error_rate_per_stage():
    reqs = [
        *stage_requests("a", 0, 1.0, 1, 100, 200),
        request("x", T0 + 31 * S, [], t_end=T0 + 31 * S + 5 * MS, error=("oom", 500), stage="b"),
    ]
    result = analyze(build_capture(requests=reqs))
    levels = {lv.name: lv for lv in result.capacity.levels}
    assert levels["b"].error_rate == 1.0 and levels["a"].error_rate == 0.0
