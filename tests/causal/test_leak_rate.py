"""A slow, steady memory climb in a soak shorter than the climb's consequence is still a leak: the rule
decides on the rate and on the projected exhaustion, not only on the rise seen during the run. Captures are
written with the real trace writer and analyzed end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from causal_frames import write_trace

from traceanalyzer.analysis import analyze
from traceanalyzer.loader import load_capture
from traceanalyzer.model import AnalysisOptions, Finding

T0 = 1_790_000_000_000_000_000
S = 1_000_000_000
MS = 1_000_000
TOTAL_MIB = 81_559.0


def _write(path: Path, recorder: str, records: list[dict[str, Any]]) -> None:
    write_trace(path, recorder, records, host="soak-1")


def _soak(tmp_path: Path, slope_mib_per_min: float, seconds: int = 7200, seed: int = 15) -> list[Finding]:
    """``seconds`` at a steady 2 req/s with flat latency, and 1 Hz GPU samples whose memory climbs
    ``slope_mib_per_min`` from 40,000 MiB with noise of sd 40 MiB on an 81,559 MiB card."""
    rng = np.random.default_rng(seed)
    requests = []
    for i in range(2 * seconds):
        t_send = T0 + i * S // 2
        first = t_send + int(rng.normal(200, 10)) * MS
        chunks = [int((first - t_send) / 1000) + 20_000 * k for k in range(16)]
        requests.append(
            {"type": "request", "host": "soak-1", "id": f"r{i}", "model": "m", "t_send": t_send,
             "t_headers": first - 5 * MS, "t_first": first, "t_end": t_send + chunks[-1] * 1000 + MS,
             "chunks_us": chunks, "output_tokens": 16, "tokens_source": "usage", "status": 200,
             "finish_reason": "length", "error": None}
        )  # fmt: skip
    used = 40_000.0 + slope_mib_per_min / 60.0 * np.arange(seconds + 1) + rng.normal(0, 40, seconds + 1)
    gpu = [
        {"type": "gpu", "host": "gpu-1", "t": T0 + k * S, "gpu": 0, "uuid": "GPU-0", "name": "H100",
         "util_pct": 60.0, "mem_util_pct": 30.0, "mem_used_mib": float(used[k]), "mem_total_mib": TOTAL_MIB,
         "power_w": 400.0, "temp_c": 60.0, "sm_clock_mhz": 1980.0, "source": "nvml"}
        for k in range(seconds + 1)
    ]  # fmt: skip
    _write(tmp_path / "requests.jsonl", "traceanalyzer.record.http", requests)
    _write(tmp_path / "gpu.jsonl", "traceanalyzer.record.gpu", gpu)
    analysis = analyze(load_capture([tmp_path], cache=False), AnalysisOptions())
    return [f for f in analysis.findings if f.rule == "memory_leak"]


@pytest.mark.slow
def test_two_hour_soak_climbing_10_mib_per_min_is_a_leak(tmp_path: Path) -> None:
    (leak,) = _soak(tmp_path, 10.0)
    ev = leak.evidence
    assert ev["series"].startswith("GPU")
    assert ev["slope_mib_per_s"] * 60 == pytest.approx(10.0, rel=0.03)
    assert (
        ev["slope_low_mib_per_s"] > 0 and ev["slope_low_mib_per_s"] <= 10 / 60 <= ev["slope_high_mib_per_s"]
    )
    assert ev["rise_pct"] < 2.0  # 1,200 MiB of 81,559: the old gate on the rise alone stayed silent
    assert set(ev["criteria"]) == {"time_to_exhaustion", "daily_rate"}
    # (81,559 - about 41,200 MiB at the end) / 10 MiB/min: about 67 hours after the run
    assert ev["time_to_exhaustion_s"] / 3600 == pytest.approx((TOTAL_MIB - 41_200) / 600, rel=0.05)
    assert ev["daily_pct"] == pytest.approx(100 * 14_400 / TOTAL_MIB, rel=0.03)
    assert leak.severity == "warning"  # not within 24 h after the run
    assert "MiB/min" in leak.message and "per 24 h" in leak.message


@pytest.mark.slow
def test_the_same_soak_with_flat_memory_has_no_leak(tmp_path: Path) -> None:
    assert _soak(tmp_path, 0.0) == []
