"""Layer 1 metrics on hand-computed traces (DESIGN section 4 definitions)."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_traces import MS, T0, S, build_capture, request

from traceanalyzer.analysis import analyze
from traceanalyzer.model import AnalysisOptions

# a: sent at 0 s; chunks at +200, +250, +300, +400 ms -> TTFT 0.2, E2E 0.4, TPOT 0.2/3, gaps 50,50,100 ms
# b: sent at 1 s; chunks at +100, +300 ms            -> TTFT 0.1, E2E 0.3, TPOT 0.2, gap 200 ms
# c: sent at 2 s; one chunk at +500 ms, one token     -> TTFT 0.5, E2E 0.5, no TPOT, no gap
# d: sent at 3 s; timed out at 3.5 s before any chunk -> no latency, a timeout at 3.5 s
# e: sent at 4 s; HTTP 500 at 4.1 s                   -> no latency, a server_5xx at 4.1 s
REQUESTS = [
    request("a", T0, [200_000, 250_000, 300_000, 400_000], t_end=T0 + 410 * MS),
    request("b", T0 + 1 * S, [100_000, 300_000], t_end=T0 + 1 * S + 310 * MS),
    request("c", T0 + 2 * S, [500_000], t_end=T0 + 2 * S + 510 * MS),
    request("d", T0 + 3 * S, [], t_end=T0 + 3 * S + 500 * MS, error=("timeout", None)),
    request("e", T0 + 4 * S, [], t_end=T0 + 4 * S + 100 * MS, error=("server_5xx", 500)),
]


@pytest.fixture(scope="module")
def small():
    return analyze(build_capture(requests=REQUESTS))


def test_ttft_is_first_chunk_minus_send(small):
    ttft = small.latency.ttft_s
    assert ttft.count == 3
    assert ttft.min == pytest.approx(0.1)
    assert ttft.p50 == pytest.approx(0.2)
    assert ttft.mean == pytest.approx((0.2 + 0.1 + 0.5) / 3)
    # p95 with linear interpolation over [0.1, 0.2, 0.5]: rank 1.9 -> 0.2 + 0.9 * 0.3
    assert ttft.p95 == pytest.approx(0.47)
    assert ttft.std == pytest.approx(np.std([0.2, 0.1, 0.5]))


def test_e2e_is_last_chunk_minus_send_not_t_end(small):
    e2e = small.latency.e2e_s
    assert sorted([e2e.min, e2e.p50, e2e.max]) == pytest.approx([0.3, 0.4, 0.5])


def test_tpot_needs_two_tokens(small):
    tpot = small.latency.tpot_s
    assert tpot.count == 2  # the one-token request c has no TPOT
    assert tpot.min == pytest.approx(0.2 / 3)
    assert tpot.max == pytest.approx(0.2)


def test_itl_pools_every_chunk_gap_exactly(small):
    itl = small.latency.itl_s
    gaps = [0.05, 0.05, 0.1, 0.2]
    assert itl.count == 4
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99), ("p99_9", 0.999)):
        assert getattr(itl, name) == pytest.approx(float(np.quantile(gaps, q)))
    assert itl.mean == pytest.approx(0.1)
    assert itl.std == pytest.approx(np.std(gaps))


def test_failures_before_first_token_count_as_errors_not_latency(small):
    assert (small.requests.total, small.requests.ok, small.requests.failed) == (5, 3, 2)
    timeout = small.errors["timeout"]
    assert (timeout.count, timeout.first_seen_s, timeout.last_seen_s) == (
        1,
        pytest.approx(3.5),
        pytest.approx(3.5),
    )
    assert timeout.first_failure is not None and timeout.first_failure.id == "d"
    assert small.errors["server_5xx"].statuses == {"500": 1}
    assert list(small.errors) == ["timeout", "server_5xx"]  # ordered by first seen
    assert small.stability.error_rate == pytest.approx(2 / 5)


def test_per_request_tps_and_decode_speed(small):
    # output_tokens / E2E: 4 / 0.4, 2 / 0.3, 1 / 0.5; decode speed = 1 / TPOT: 15, 5
    assert small.capacity.tps_per_request.max == pytest.approx(10.0)
    assert small.capacity.tps_per_request.min == pytest.approx(2.0)
    assert small.capacity.decode_speed.count == 2
    assert small.capacity.decode_speed.mean == pytest.approx((15 + 5) / 2)


def test_slowest_requests_carry_ids(small):
    assert [r.id for r in small.slowest] == ["c", "a", "b"]
    assert small.slowest[0].e2e_s == pytest.approx(0.5)


def test_distributions_are_quantile_functions(small):
    values = small.distributions.ttft_s
    assert len(values) == AnalysisOptions().distribution_points
    assert values[0] == pytest.approx(0.1) and values[-1] == pytest.approx(0.5)
    assert list(values) == sorted(values)
    assert small.distributions.itl_s[0] == pytest.approx(0.05)


def test_e2e_falls_back_to_t_end_without_chunk_offsets():
    rec = request("x", T0, [], t_end=T0 + 700 * MS)
    rec["t_first"] = T0 + 100 * MS
    rec["output_tokens"] = 5
    result = analyze(build_capture(requests=[rec]))
    assert result.latency.e2e_s.p50 == pytest.approx(0.7)
    assert result.latency.ttft_s.p50 == pytest.approx(0.1)
    assert result.latency.itl_s.count == 0


def test_only_one_token_outputs_leave_tpot_unmeasured_with_a_note():
    reqs = [request(f"r{i}", T0 + i * S, [300_000]) for i in range(3)]
    result = analyze(build_capture(requests=reqs))
    assert result.latency.tpot_s.count == 0 and result.latency.tpot_s.p95 is None
    assert any("TPOT" in r for r in result.notes_for("latency"))
    tpot_slo = next(s for s in result.slo if s.name == "tpot_p95")
    assert tpot_slo.passed is None and tpot_slo.value is None


def test_empty_capture_analyzes_to_empty_results():
    result = analyze(build_capture())
    assert result.requests.total == 0
    assert result.latency.ttft_s.count == 0
    assert result.stability.error_rate is None
    assert result.timeseries.start_s == (0.0,)
