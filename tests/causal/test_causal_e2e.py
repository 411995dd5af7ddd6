"""End to end: each simulated scenario recorded with the real collector and samplers, analyzed, and checked
for the expected first strike and finding with sane evidence; ``steady`` yields no warning or critical
finding.

Each scenario runs the simulated server (``run_simserver``) and, as subprocesses through the ``traceanalyzer``
CLI, the collector (``record http``), the GPU sampler against the simulated DCGM exporter (``record gpu
--backend dcgm``) and the engine-metrics scraper (``record server``), for 10-16 s with the scenario's timeline
compressed where needed. Recordings are made once per module, on first use, and shared by the tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from recorders.simserver.testing import run_simserver, stop_process
from traceanalyzer.analysis import analyze
from traceanalyzer.loader import load_capture
from traceanalyzer.model import Analysis, AnalysisOptions, Finding

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

CLI = [sys.executable, "-m", "traceanalyzer"]
WINDOW_S = 1.0
SAMPLE_INTERVAL_S = "0.25"


@dataclass(frozen=True)
class Plan:
    """How one scenario is recorded: collector load options, duration, server overrides."""

    load: Sequence[str]
    duration_s: float
    overrides: Mapping[str, Any] = field(default_factory=dict)


PLANS: dict[str, Plan] = {
    "steady": Plan(["--concurrency", "8", "--max-tokens", "32"], 14),
    "ramp-oom": Plan(["--stages", "3s@4,3s@8,3s@16,4s@32", "--max-tokens", "64"], 13),
    "queue-timeout": Plan(["--stages", "3s@2/s,11s@6/s", "--max-tokens", "80", "--ttft-timeout", "3"], 14),
    "cpu-bound": Plan(["--rate", "8", "--max-tokens", "32"], 12),
    "leak": Plan(["--concurrency", "8", "--max-tokens", "32"], 12, {"gpu.leak_mib_per_s": 300.0}),
    "regression": Plan(["--rate", "12", "--max-tokens", "32"], 14, {"faults.regression_at_s": 6.0}),
    "mixed-4xx": Plan(["--rate", "10", "--max-tokens", "32"], 10),
}


def _sampler(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as err:
        return subprocess.Popen([*CLI, "record", *args], stdout=subprocess.DEVNULL, stderr=err)


def record(scenario: str, out: Path) -> Path:
    """Record ``scenario`` into ``out``: requests, GPU (dcgm) and server traces. Returns ``out``."""
    plan = PLANS[scenario]
    out.mkdir(parents=True, exist_ok=True)
    with run_simserver(scenario, seed=7, overrides=plan.overrides) as sim:
        samplers = [
            _sampler(
                ["gpu", "--backend", "dcgm", "--url", sim.dcgm_url, "--interval", SAMPLE_INTERVAL_S,
                 "--host", "sim-gpu", "--out", str(out / "gpu.jsonl")],
                out / "gpu.log",
            ),
            _sampler(
                ["server", "--url", sim.metrics_url, "--interval", SAMPLE_INTERVAL_S, "--host", "sim-engine",
                 "--out", str(out / "server.jsonl")],
                out / "server.log",
            ),
        ]  # fmt: skip
        try:
            collector = subprocess.run(
                [*CLI, "record", "http", "--url", sim.base_url, "--model", sim.model, *plan.load,
                 "--duration", f"{plan.duration_s:g}", "--timeout", "20", "--grace", "8", "--seed", "7",
                 "--quiet", "--out", str(out / "requests.jsonl")],
                capture_output=True,
                timeout=plan.duration_s + 60,
            )  # fmt: skip
        finally:
            for process in samplers:
                stop_process(process)
        assert collector.returncode == 0, collector.stderr.decode(errors="replace") + sim.log()[-2000:]
    return out


def analyze_capture(directory: Path) -> Analysis:
    options = AnalysisOptions(window_s=WINDOW_S, warmup_s=1.0, cooldown_s=1.0)
    return analyze(load_capture([directory]), options)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], tuple[Path, Analysis]]]:
    """Record and analyze a scenario on first use; later tests of the module reuse it."""
    cache: dict[str, tuple[Path, Analysis]] = {}
    root = tmp_path_factory.mktemp("causal-e2e")

    def get(scenario: str) -> tuple[Path, Analysis]:
        if scenario not in cache:
            directory = record(scenario, root / scenario)
            cache[scenario] = (directory, analyze_capture(directory))
        return cache[scenario]

    yield get


def _rules(analysis: Analysis, *severities: str) -> list[Finding]:
    return [f for f in analysis.findings if not severities or f.severity in severities]


def _describe(analysis: Analysis) -> str:
    lines = [f"first_strike={analysis.first_strike}", f"sequence={analysis.error_sequence}"]
    lines += [
        f"{cls}: n={e.count} onset={e.onset_s} isolated={e.isolated_count}"
        for cls, e in analysis.errors.items()
    ]
    lines += [f"{f.severity} {f.rule}: {f.message}" for f in analysis.findings]
    lines += [f"note {n.section}: {n.reason}" for n in analysis.notes]
    return "\n".join(lines)


def test_steady_has_no_warning_or_critical_finding(recorded: Callable[[str], tuple[Path, Analysis]]) -> None:
    _, analysis = recorded("steady")
    assert analysis.requests.total > 50, _describe(analysis)
    assert _rules(analysis, "warning", "critical") == [], _describe(analysis)
    assert analysis.first_strike is None and analysis.error_sequence == ()
    assert analysis.resources.gpu_util_mean is not None  # the GPU rules had data to judge
    assert not [n for n in analysis.notes if n.section == "diagnosis" and "no GPU samples" in n.reason]


def test_ramp_oom_first_strike_is_oom_then_5xx(recorded: Callable[[str], tuple[Path, Analysis]]) -> None:
    _, analysis = recorded("ramp-oom")
    info = _describe(analysis)
    strike = analysis.first_strike
    assert strike is not None and strike.error_class == "oom" and strike.category == "memory", info
    assert analysis.error_sequence[0] == "oom", info
    oom = analysis.errors["oom"]
    assert oom.onset_s is not None and oom.load_at_onset is not None
    assert oom.load_at_onset.in_flight is not None and oom.load_at_onset.in_flight >= 8, info
    assert oom.load_at_onset.stage is not None, info
    if "server_5xx" in analysis.error_sequence:
        assert analysis.errors["server_5xx"].onset_s >= oom.onset_s  # type: ignore[operator]
    (burst,) = [f for f in analysis.findings if f.rule == "error_burst" and f.evidence["class"] == "oom"]
    assert burst.severity == "critical" and burst.evidence["position"] == 1
    assert strike.evidence["onset_s"] == oom.onset_s
    indicators = {i.name for i in oom.leading_indicators}
    assert {"gpu_mem_pct", "kv_cache_pct", "ttft_p95_s"} <= indicators, info


def test_queue_timeout_first_strike_is_timeout_and_ttft_tracks_queue(
    recorded: Callable[[str], tuple[Path, Analysis]],
) -> None:
    _, analysis = recorded("queue-timeout")
    info = _describe(analysis)
    strike = analysis.first_strike
    assert strike is not None and strike.error_class == "timeout" and strike.category == "queueing", info
    assert "oom" not in analysis.errors, info
    (queueing,) = [f for f in analysis.findings if f.rule == "queueing"]
    assert queueing.evidence["spearman_rho"] >= 0.6 and queueing.evidence["p_value"] < 0.01, info
    assert queueing.evidence["queue_max"] >= 4
    assert queueing.severity == "warning"  # TTFT p95 went past the 1 s SLO while requests waited
    waiting = {i.name: i for i in analysis.errors["timeout"].leading_indicators}["queue_waiting"]
    assert waiting.value is not None and waiting.value >= 1, info


def test_cpu_bound_gpu_idle_while_slow(recorded: Callable[[str], tuple[Path, Analysis]]) -> None:
    _, analysis = recorded("cpu-bound")
    info = _describe(analysis)
    (finding,) = [f for f in analysis.findings if f.rule == "cpu_bound"]
    assert finding.severity == "warning", info
    assert finding.evidence["gpu_util_median_slow_pct"] < 50, info
    assert finding.evidence["slow_windows"] >= 3
    assert not [f for f in analysis.findings if f.rule == "gpu_saturated"], info


def test_leak_memory_climbing_with_time_to_exhaustion(
    recorded: Callable[[str], tuple[Path, Analysis]],
) -> None:
    _, analysis = recorded("leak")
    info = _describe(analysis)
    (leak,) = [f for f in analysis.findings if f.rule == "memory_leak"]
    ev = leak.evidence
    # 300 MiB/s plus 2 MiB per finished request (about 15 requests/s here)
    assert 250 <= ev["slope_mib_per_s"] * 1 <= 450, info
    assert ev["p_value"] < 1e-6 and ev["series"].startswith("GPU")
    assert ev["time_to_exhaustion_s"] is not None and 0 < ev["time_to_exhaustion_s"] < 120, info
    assert leak.severity == "critical"


def test_regression_latency_shift_without_load_change(
    recorded: Callable[[str], tuple[Path, Analysis]],
) -> None:
    _, analysis = recorded("regression")
    info = _describe(analysis)
    shifts = [f for f in analysis.findings if f.rule == "latency_shift" and f.severity == "warning"]
    assert len(shifts) == 1, info
    (shift,) = shifts
    assert shift.start_s is not None and 5.0 <= shift.start_s <= 9.0, info  # the server slows at 6 s
    assert "tpot_p50_s" in shift.evidence["latency"] or "e2e_p50_s" in shift.evidence["latency"], info
    tpot = shift.evidence["latency"].get("tpot_p50_s")
    if tpot is not None:
        assert tpot["after_s"] / tpot["before_s"] >= 1.5, info
    assert shift.evidence["load_change"] != "up"


def test_mixed_4xx_first_strike_is_an_interface_limit(
    recorded: Callable[[str], tuple[Path, Analysis]],
) -> None:
    _, analysis = recorded("mixed-4xx")
    info = _describe(analysis)
    strike = analysis.first_strike
    assert strike is not None and strike.category == "interface_limits", info
    assert strike.error_class in {"rate_limited", "context_length", "client_4xx"}
    assert "rate_limited" in analysis.error_sequence, info
    assert not {"oom", "server_5xx", "timeout"} & set(analysis.error_sequence), info


def test_summary_json_through_the_cli(
    recorded: Callable[[str], tuple[Path, Analysis]], tmp_path: Path
) -> None:
    directory, analysis = recorded("queue-timeout")
    out = tmp_path / "summary.json"
    done = subprocess.run(
        [*CLI, "analyze", str(directory), "--window", str(WINDOW_S), "--warmup", "1", "--cooldown", "1",
         "--json", str(out)],
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    summary = json.loads(out.read_text())
    assert summary["first_strike"] == "timeout"
    assert summary["error_sequence"] == list(analysis.error_sequence)
    assert summary["errors"]["timeout"]["onset"] == pytest.approx(analysis.errors["timeout"].onset_s)
    rules = {f["rule"] for f in summary["findings"]}
    assert {"error_burst", "queueing"} <= rules
    for f in summary["findings"]:
        assert f["severity"] in {"info", "warning", "critical"}
        assert set(f) >= {"rule", "severity", "start", "end", "message", "evidence"}
