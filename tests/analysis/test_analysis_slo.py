"""SLO thresholds from TOML and their evaluation."""

from __future__ import annotations

import pytest
from analysis_traces import MS, T0, S, build_capture, request

from traceanalyzer.analysis import analyze
from traceanalyzer.errors import BadInputError
from traceanalyzer.model import AnalysisOptions, SloThresholds
from traceanalyzer.slo import load_slo_file

REQUESTS = [request(f"r{i}", T0 + i * S, [200_000, 220_000, 240_000]) for i in range(20)] + [
    request("x", T0 + 20 * S, [], t_end=T0 + 20 * S + 5 * MS, error=("server_5xx", 500))
]


def test_defaults_are_the_design_values():
    slo = SloThresholds()
    assert (slo.ttft_p95_s, slo.tpot_p95_s, slo.rtv, slo.qps_cv) == (1.0, 0.05, 0.20, 0.10)
    assert (slo.error_rate, slo.error_rate_soak, slo.latency_drift) == (0.001, 0.005, 0.30)
    assert (slo.gpu_mem_fluctuation, slo.cpu_pct, slo.consistency_cosine) == (0.10, 80.0, 0.8)


def test_toml_overrides_and_switches_off(tmp_path):
    path = tmp_path / "slo.toml"
    path.write_text("[slo]\nttft_p95_s = 0.1\nerror_rate = 0.1\ncpu_pct = false\n", encoding="utf-8")
    slo = load_slo_file(path)
    assert slo.ttft_p95_s == 0.1 and slo.error_rate == 0.1 and slo.cpu_pct is None
    assert slo.tpot_p95_s == 0.05  # untouched default


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[slo]\nttft_p99 = 1\n", "unknown SLO ttft_p99"),
        ("[slo]\nttft_p95_s = 'fast'\n", "must be a non-negative number"),
        ("[slo\n", "not valid TOML"),
    ],
)
def test_bad_slo_files_name_the_file(tmp_path, text, problem):
    path = tmp_path / "slo.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadInputError, match=problem) as info:
        load_slo_file(path)
    assert str(path) in str(info.value)


def test_missing_slo_file(tmp_path):
    with pytest.raises(BadInputError, match="not found"):
        load_slo_file(tmp_path / "nope.toml")


def test_each_slo_has_name_threshold_value_and_verdict():
    result = analyze(build_capture(requests=REQUESTS))
    by_name = {s.name: s for s in result.slo}
    ttft = by_name["ttft_p95"]
    assert (ttft.threshold, ttft.value, ttft.passed) == (1.0, pytest.approx(0.2), True)
    err = by_name["error_rate"]
    assert (err.threshold, err.value, err.passed) == (0.001, pytest.approx(1 / 21), False)
    assert by_name["tpot_p95"].value == pytest.approx(0.02) and by_name["tpot_p95"].passed
    assert by_name["consistency_cosine"].passed is None  # no consistency result
    assert "e2e_p95" not in by_name  # off by default
    assert "latency_drift" not in by_name  # soaks only


def test_custom_thresholds_change_the_verdict_and_goodput():
    strict = SloThresholds(ttft_p95_s=0.1, error_rate=0.1)
    result = analyze(build_capture(requests=REQUESTS), AnalysisOptions(slo=strict))
    by_name = {s.name: s for s in result.slo}
    assert by_name["ttft_p95"].passed is False and by_name["error_rate"].passed is True
    assert result.capacity.good_requests == 0  # every TTFT is 0.2 s > 0.1 s
