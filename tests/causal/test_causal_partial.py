"""Partial captures: Locust-only traces (no chunk timing, or only aggregated failures) still get an error
sequence; without GPU samples the GPU rules are skipped and the analysis says why. Trace files are written
with the real trace writer and read back by the real loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from causal_frames import write_trace

from traceanalyzer.analysis import analyze
from traceanalyzer.loader import load_capture
from traceanalyzer.model import AnalysisOptions

T0 = 1_790_000_000_000_000_000
S = 1_000_000_000


def _write(path: Path, recorder: str, records: list[dict[str, Any]]) -> None:
    write_trace(path, recorder, records, host="locust-1")


def _locust_request(i: int, t_send: int, duration_s: float, error: tuple[str, int] | None) -> dict[str, Any]:
    """A request as the Locust request-log importer writes it: send and end times, status, no chunk timing."""
    rec: dict[str, Any] = {
        "type": "request",
        "host": "locust-1",
        "id": f"r{i}",
        "model": "m",
        "t_send": t_send,
        "t_first": None,
        "t_end": t_send + round(duration_s * S),
        "chunks_us": [],
        "status": 200 if error is None else error[1],
        "error": None if error is None else {"class": error[0], "status": error[1], "message": error[0]},
    }
    return rec


def test_locust_request_log_without_chunks_gets_a_sequence_and_gpu_rules_say_why_skipped(
    tmp_path: Path,
) -> None:
    records = []
    for i in range(600):  # 10 requests/s for 60 s
        t_send = T0 + i * S // 10
        error = None
        if i == 50:
            error = ("server_5xx", 500)  # one stray 500 at 5 s
        elif i >= 300 and i % 2 == 0:
            error = ("rate_limited", 429)  # from 30 s on, half the requests are refused
        elif i >= 450 and i % 3 == 1:
            error = ("timeout", None)  # then timeouts join in
        records.append(_locust_request(i, t_send, 0.8, error))
    _write(tmp_path / "requests.jsonl", "locust_import", records)
    analysis = analyze(load_capture([tmp_path], cache=False), AnalysisOptions(window_s=5.0, warmup_s=5.0))
    assert analysis.first_strike is not None
    assert analysis.first_strike.error_class == "rate_limited"
    assert analysis.first_strike.category == "interface_limits"
    assert analysis.error_sequence == ("rate_limited", "timeout")
    stray = analysis.errors["server_5xx"]
    assert stray.onset_s is None and stray.isolated_count == 1 and stray.first_seen_s == 5.8
    rate = analysis.errors["rate_limited"]
    assert rate.onset_s is not None and 25.0 <= rate.onset_s <= 30.0
    assert rate.load_at_onset is not None and rate.load_at_onset.offered_qps == 10.0
    diagnosis_notes = " ".join(analysis.notes_for("diagnosis"))
    assert "cpu_bound skipped: no GPU samples" in diagnosis_notes
    assert "gpu_saturated skipped: no GPU samples" in diagnosis_notes
    assert "queueing skipped" in diagnosis_notes
    assert [f.rule for f in analysis.findings if f.rule == "error_burst"] == ["error_burst", "error_burst"]


def test_aggregated_failures_only_estimate_onsets_from_first_and_last_seen(tmp_path: Path) -> None:
    load = [
        {"type": "load", "host": "locust-1", "t": T0 + k * S, "users": 20, "rps": 20.0, "source": "locust"}
        for k in range(61)
    ]
    failures = [
        {"type": "failures", "host": "locust-1", "t_first": T0 + 12 * S, "t_last": T0 + 12 * S,
         "class": "oom", "status": 500, "count": 1, "name": "/v1/chat/completions",
         "message": "CUDA out of memory", "source": "locust"},
        {"type": "failures", "host": "locust-1", "t_first": T0 + 40 * S, "t_last": T0 + 60 * S,
         "class": "server_5xx", "status": 500, "count": 300, "name": "/v1/chat/completions",
         "message": "500 Internal Server Error", "source": "locust"},
    ]  # fmt: skip
    _write(tmp_path / "locust.jsonl", "locust_import", load + failures)
    analysis = analyze(load_capture([tmp_path], cache=False), AnalysisOptions(window_s=5.0, warmup_s=0.0))
    assert analysis.error_sequence == ("server_5xx",)
    strike = analysis.first_strike
    assert strike is not None and strike.category == "unrecoverable"  # 15 of Locust's 20 requests/s failed
    assert strike.evidence["peak_5xx_share"] == 0.75
    five = analysis.errors["server_5xx"]
    assert five.count == 300 and five.onset_s == 40.0
    assert analysis.errors["oom"].onset_s is None  # 28 s before: not the trigger
    assert any("estimated" in reason for reason in analysis.notes_for("causal"))


def test_host_memory_climbing_is_a_leak_named_after_the_host(tmp_path: Path) -> None:
    requests = [_locust_request(i, T0 + i * S // 5, 0.5, None) for i in range(600)]  # 5/s for 120 s
    host = [
        {"type": "host", "host": "loadgen-1", "t": T0 + k * S, "cpu_pct": 30.0 + (k % 7),
         "mem_used_mib": 8_000.0 + 25.0 * k + (k % 5) * 10, "mem_total_mib": 16_000.0, "load1": 1.0}
        for k in range(121)
    ]  # fmt: skip
    _write(tmp_path / "requests.jsonl", "locust_import", requests)
    _write(tmp_path / "host.jsonl", "traceanalyzer.record.gpu", host)
    analysis = analyze(load_capture([tmp_path], cache=False), AnalysisOptions(window_s=5.0))
    (leak,) = [f for f in analysis.findings if f.rule == "memory_leak"]
    assert leak.evidence["series"] == "host loadgen-1"
    assert leak.evidence["slope_mib_per_s"] == pytest.approx(25.0, rel=0.05)
    # 8,000 MiB left at 25 MiB/s from about 11,000 MiB: about 200 s after the run
    assert leak.evidence["time_to_exhaustion_s"] == pytest.approx(200, rel=0.2)
    assert leak.severity == "critical" and leak.chart == "host_mem_used_mib"
    assert "cpu_bound skipped: no GPU samples" in " ".join(analysis.notes_for("diagnosis"))
