"""Per-window series: the grid, QPS, offered QPS, cluster TPS, concurrency, error rate per window."""

from __future__ import annotations

import pytest
from analysis_traces import MS, T0, S, build_capture, request

from traceanalyzer.analysis import analyze
from traceanalyzer.model import AnalysisOptions


def test_run_shorter_than_one_window_is_one_window_as_long_as_the_run():
    # two requests, the last one ends 4.01 s after the first send
    reqs = [request("a", T0, [100_000]), request("b", T0 + 3 * S + 900 * MS, [100_000])]
    result = analyze(build_capture(requests=reqs))
    ts = result.timeseries
    assert ts.start_s == (0.0,)
    assert ts.length_s == pytest.approx((4.01,))
    assert result.capture.duration_s == pytest.approx(4.01)
    assert ts.qps == pytest.approx((2 / 4.01,))
    assert result.capacity.qps.mean == pytest.approx(2 / 4.01)
    assert result.capacity.qps.peak == pytest.approx(2 / 4.01)


def test_last_window_is_shorter_and_rates_use_its_length():
    # one request per second from 0 to 24 s, each done 100 ms after sending; the run ends at 24.11 s
    reqs = [request(f"r{i}", T0 + i * S, [100_000]) for i in range(25)]
    ts = analyze(build_capture(requests=reqs)).timeseries
    assert ts.length_s == pytest.approx((10.0, 10.0, 4.11))
    assert ts.sent == (10, 10, 5)
    assert ts.ok == (10, 10, 5)
    assert ts.qps == pytest.approx((1.0, 1.0, 5 / 4.11))
    assert ts.offered_qps == pytest.approx((1.0, 1.0, 5 / 4.11))


def test_peak_qps_ignores_a_short_last_window():
    reqs = [request(f"r{i}", T0 + i * S, [100_000]) for i in range(25)]
    assert analyze(build_capture(requests=reqs)).capacity.qps.peak == pytest.approx(1.0)


def test_cluster_tps_counts_tokens_in_the_window_their_chunk_arrived():
    # sent at 9.5 s: a chunk of 3 tokens at 9.7 s (window 0), one of 5 at 11.1 s (window 1); ends 11.11 s
    rec = request("x", T0 + 9 * S + 500 * MS, [200_000, 1_600_000], output_tokens=8, chunk_tokens=[3, 5])
    first = request("first", T0, [100_000])
    ts = analyze(build_capture(requests=[first, rec])).timeseries
    assert ts.length_s == pytest.approx((10.0, 1.11))
    assert ts.tps == pytest.approx(((1 + 3) / 10.0, 5 / 1.11))


def test_a_last_sliver_shorter_than_5_percent_of_a_window_joins_the_window_before():
    # the run ends 10.11 s after the first send: 0.11 s is 1.1 % of a window, so one window of 10.11 s
    rec = request("x", T0 + 9 * S + 500 * MS, [200_000, 600_000], output_tokens=8, chunk_tokens=[3, 5])
    first = request("first", T0, [100_000])
    ts = analyze(build_capture(requests=[first, rec])).timeseries
    assert ts.length_s == pytest.approx((10.11,))
    assert ts.tps == pytest.approx(((1 + 3 + 5) / 10.11,))


def test_cluster_tps_mean_is_tokens_over_duration():
    reqs = [request(f"r{i}", T0 + i * S, [100_000, 200_000, 300_000]) for i in range(20)]
    result = analyze(build_capture(requests=reqs))
    assert result.capacity.tps_cluster_mean == pytest.approx(60 / result.capture.duration_s)


def test_cluster_tps_is_not_measured_without_any_chunk_time():
    # non-streamed answers: the whole body at t_end, no chunk offsets; tokens are known, their arrival is not
    reqs = [
        request(f"r{i}", T0 + i * S, output_tokens=20, t_end=T0 + i * S + 400 * MS, stream=False)
        for i in range(20)
    ]
    result = analyze(build_capture(requests=reqs))
    assert result.capacity.tps_cluster_mean is None and result.capacity.tps_cluster_peak is None
    assert any("cluster TPS" in n.reason for n in result.notes if n.section == "capacity")
    assert result.capacity.tps_per_request.count == 20  # per-request TPS needs no chunk time
    one_streamed = [*reqs, request("s", T0 + 30 * S, [100_000, 200_000])]
    assert analyze(build_capture(requests=one_streamed)).capacity.tps_cluster_mean is not None


def test_qps_counts_completions_and_offered_qps_counts_sends():
    # sent at 9 s, last chunk at 11 s: offered in window 0, completed in window 1
    reqs = [
        request("a", T0, [100_000]),
        request("b", T0 + 9 * S, [2_000_000]),
        request("c", T0 + 15 * S, [1_000]),
    ]
    ts = analyze(build_capture(requests=reqs)).timeseries
    assert ts.sent == (2, 1)
    assert ts.ok == (1, 2)


def test_failures_fall_in_the_window_of_their_t_end():
    reqs = [
        request("a", T0, [100_000]),
        request("b", T0 + 8 * S, [], t_end=T0 + 12 * S, error=("timeout", None)),
        request("c", T0 + 13 * S, [100_000]),
        request("d", T0 + 14 * S, [], t_end=T0 + 14 * S + 10 * MS, error=("rate_limited", 429)),
    ]
    ts = analyze(build_capture(requests=reqs)).timeseries
    assert ts.failed == (0, 2)
    assert ts.errors == {"rate_limited": (0, 1), "timeout": (0, 1)}
    assert ts.error_rate == (0.0, pytest.approx(2 / 3))


def test_concurrency_is_the_time_weighted_number_of_open_requests():
    # a open 0-4 s, b open 2-6 s; windows of 2 s: 1, 2, 1 open on average
    reqs = [
        request("a", T0, [3_990_000], t_end=T0 + 4 * S),
        request("b", T0 + 2 * S, [3_990_000], t_end=T0 + 6 * S),
    ]
    ts = analyze(build_capture(requests=reqs), AnalysisOptions(window_s=2.0)).timeseries
    assert ts.concurrency_mean == pytest.approx((1.0, 2.0, 1.0))


def test_in_flight_is_the_mean_at_send_per_window():
    reqs = [
        request("a", T0, [100_000], in_flight=2),
        request("b", T0 + 1 * S, [100_000], in_flight=4),
        request("c", T0 + 11 * S, [100_000]),
    ]
    ts = analyze(build_capture(requests=reqs)).timeseries
    assert ts.in_flight_mean == (3.0, None)


def test_window_latency_percentiles_by_completion_window():
    reqs = [request(f"r{i}", T0 + i * S, [100_000 * (i + 1)]) for i in range(3)] + [
        request("late", T0 + 12 * S, [400_000])
    ]
    ts = analyze(build_capture(requests=reqs)).timeseries
    assert ts.ttft_p50_s == pytest.approx((0.2, 0.4))
    assert ts.e2e_p95_s[0] == pytest.approx(0.29)  # [0.1, 0.2, 0.3] at rank 1.9
    assert ts.tpot_p50_s == (None, None)
