"""summary@1: the contract keys, JSON Schema validation, and the result read back from JSON."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from analysis_traces import MS, T0, S, build_capture, request

from traceanalyzer.analysis import analyze
from traceanalyzer.console import render_text
from traceanalyzer.model import analysis_from_dict
from traceanalyzer.summary import summary, summary_json

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "summary.schema.json").read_text(encoding="utf-8"))
STATS_KEYS = {"count", "mean", "std", "min", "p50", "p90", "p95", "p99", "p99_9", "max"}

REQUESTS = [
    request(
        f"r{i}", T0 + i * S, [200_000, 250_000, 300_000], scenario="chat" if i % 2 else "long", stage="s1"
    )
    for i in range(30)
] + [
    request("t", T0 + 31 * S, [], t_end=T0 + 33 * S, error=("timeout", None), stage="s1"),
    request("o", T0 + 32 * S, [100_000], t_end=T0 + 32 * S + 200 * MS, error=("oom", 500), stage="s1"),
]
GPU = [
    {"host": "g", "gpu": 0, "t": T0 + t * S, "util_pct": 60.0, "mem_used_mib": 4000.0 + t} for t in range(34)
]


@pytest.fixture(scope="module")
def result():
    return analyze(build_capture(requests=REQUESTS, gpu=GPU))


def test_summary_has_every_contract_key(result):
    s = summary(result)
    assert s["schema"] == "traceanalyzer/summary@1"
    assert set(s["requests"]) >= {"total", "ok", "failed"}
    for key in ("ttft", "tpot", "itl", "e2e"):
        assert set(s[key]) == STATS_KEYS
    assert set(s["qps"]) >= {"mean", "peak", "stable", "cv"}
    assert set(s["tps"]) >= {"cluster_mean", "cluster_peak", "per_request"}
    assert set(s["capacity"]) >= {"knee", "max_sustainable"}
    assert set(s["errors"]) == {"timeout", "oom"}
    assert set(s["errors"]["oom"]) >= {"count", "first_seen", "last_seen", "onset"}
    assert set(s["variability"]) >= {"e2e_cv", "ttft_cv", "tpot_cv", "qps_cv", "gpu_mem_fluctuation"}
    assert set(s["resources"]) >= {"gpu_util_mean", "gpu_mem_used_max_mib", "cpu_pct_mean"}
    assert set(s["breakdown"]) == {"model", "scenario", "host"}
    assert set(s["breakdown"]["scenario"]["chat"]) >= {
        "requests",
        "ttft_p50",
        "ttft_p95",
        "e2e_p95",
        "error_rate",
    }
    for key in (
        "duration_s",
        "goodput_rps",
        "slo_attainment",
        "error_rate",
        "error_sequence",
        "first_strike",
    ):
        assert key in s
    assert all(set(item) >= {"name", "threshold", "value", "pass"} for item in s["slo"])
    assert set(s["inventory"]) >= {"files", "skipped_lines"}


def test_summary_values_are_the_analysis_values(result):
    s = summary(result)
    assert s["requests"] == {"total": 32, "ok": 30, "failed": 2}
    assert s["ttft"]["p50"] == pytest.approx(0.2)
    assert s["errors"]["timeout"]["first_seen"] == pytest.approx(33.0)
    assert s["error_rate"] == pytest.approx(2 / 32)
    assert s["resources"]["gpu_util_mean"] == pytest.approx(60.0)
    assert s["slo"] and all(isinstance(item["pass"], bool) for item in s["slo"])


def test_summary_json_validates_against_the_schema(result, tmp_path):
    path = tmp_path / "summary.json"
    path.write_text(summary_json(result), encoding="utf-8")
    jsonschema.validate(json.loads(path.read_text(encoding="utf-8")), SCHEMA)


def test_empty_capture_summary_validates_too():
    jsonschema.validate(json.loads(summary_json(analyze(build_capture()))), SCHEMA)


def test_schema_rejects_a_renamed_key(result):
    broken = summary(result)
    broken["ttft"]["p999"] = broken["ttft"].pop("p99_9")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


def test_analysis_round_trips_through_json(result):
    again = analysis_from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result


def test_console_shows_verdict_layers_and_errors(result):
    text = render_text(result)
    for part in ("Verdict", "Layer 1", "Layer 2", "Layer 3", "TTFT", "timeout", "oom", "ttft_p95"):
        assert part in text
