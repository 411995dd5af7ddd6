"""Run comparison: a planted regression is flagged with a significant test; two runs of the same scenario
with different seeds are not; error-rate changes use the proportion test."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.reports.conftest import OPTIONS
from tests.reports.report_captures import Profile, write_capture
from traceanalyzer.compare import (
    Comparison,
    Tolerance,
    analyze_with_samples,
    compare,
    parse_tolerance,
)
from traceanalyzer.errors import UsageError
from traceanalyzer.loader import load_capture
from traceanalyzer.significance import mann_whitney, two_proportion

BASE = Profile(requests=900, rate=30.0, ttft_s=0.2, tpot_s=0.02, tokens=24, error_share=0.002)


def run(tmp: Path, name: str, profile: Profile, seed: int) -> tuple[object, object]:
    capture = load_capture([write_capture(tmp / name, profile, seed=seed)], cache=False)
    return analyze_with_samples(capture, OPTIONS)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[object, object]]:
    tmp = tmp_path_factory.mktemp("compare")
    return {
        "base": run(tmp, "base", BASE, seed=1),
        "same": run(tmp, "same", BASE, seed=2),
        "slow": run(tmp, "slow", replace(BASE, ttft_s=0.3, tpot_s=0.03), seed=3),
        "errors": run(tmp, "errors", replace(BASE, error_share=0.05), seed=4),
    }


def comparison(runs: dict[str, tuple[object, object]], a: str, b: str) -> Comparison:
    (base, base_samples), (cand, cand_samples) = runs[a], runs[b]
    return compare(base, cand, samples=(base_samples, cand_samples), names=(a, b))  # type: ignore[arg-type]


def test_planted_latency_regression_is_flagged(runs: dict[str, tuple[object, object]]) -> None:
    c = comparison(runs, "base", "slow")
    flagged = {m.key for m in c.regressions}
    assert {"ttft_p50", "ttft_p95", "tpot_p50", "e2e_p95"} <= flagged
    ttft = c.metric("ttft_p50")
    assert ttft.test is not None and ttft.test.kind == "mann_whitney" and ttft.test.p_value < 1e-6
    assert ttft.test.prob_greater is not None and ttft.test.prob_greater > 0.7
    assert ttft.change is not None and 0.3 < ttft.change < 0.7  # planted +50 %
    assert ttft.test.n_baseline == runs["base"][0].latency.ttft_s.count  # type: ignore[attr-defined]
    assert "error_rate" not in flagged


def test_same_scenario_other_seed_is_not_flagged(runs: dict[str, tuple[object, object]]) -> None:
    c = comparison(runs, "base", "same")
    assert c.regressions == ()
    assert c.improvements == ()
    assert c.metric("ttft_p50").status in ("unchanged", "not_significant")
    assert not c.warnings


def test_error_rate_regression_uses_the_proportion_test(runs: dict[str, tuple[object, object]]) -> None:
    c = comparison(runs, "base", "errors")
    err = c.metric("error_rate")
    assert err.status == "regression"
    assert err.test is not None and err.test.kind == "two_proportion" and err.test.statistic > 3
    assert c.metric("errors.server_5xx").status == "regression"
    assert "ttft_p95" not in {m.key for m in c.regressions}


def test_comparison_serializes(runs: dict[str, tuple[object, object]]) -> None:
    data = comparison(runs, "base", "slow").to_dict()
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text)["schema"] == "traceanalyzer/compare@1"
    assert "ttft_p95" in data["regressions"]


def test_tests_match_hand_computed_values() -> None:
    base = np.array([1.0, 2.0, 3.0, 4.0])
    cand = np.array([3.5, 4.5, 5.5, 6.5])
    result = mann_whitney("x", base, cand)
    assert result is not None
    # U of the candidate: pairs with cand > base: 3.5 beats 3, 4.5 beats 4, the rest beat all 4 -> 3+4+4+4.
    assert result.statistic == 15.0 and result.prob_greater == 15 / 16
    assert mann_whitney("x", base[:2], cand) is None
    z = two_proportion("p", 10, 1000, 30, 1000)
    assert z is not None
    pooled = 40 / 2000
    expected = (0.03 - 0.01) / np.sqrt(pooled * (1 - pooled) * (2 / 1000))
    assert z.statistic == pytest.approx(expected)
    assert z.p_value < 0.01
    assert two_proportion("p", 0, 100, 0, 100).p_value == 1.0  # type: ignore[union-attr]


def test_tolerance_parsing() -> None:
    tol = parse_tolerance(["latency=0.05", "error_rate=0.2%", "alpha=0.05"])
    assert tol == Tolerance(latency=0.05, error_rate=0.002, alpha=0.05)
    assert parse_tolerance(["15%"]) == Tolerance(latency=0.15, throughput=0.15)
    for bad in ("speed=0.1", "latency=", "alpha=2"):
        with pytest.raises(UsageError, match="--tolerance"):
            parse_tolerance([bad])
