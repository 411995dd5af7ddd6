"""``import prometheus`` against a real Prometheus server that scraped the simulated server (vLLM metrics and
its DCGM exporter) and a node exporter every second during a short load from our collector.

Prometheus scrapes the exporters through a recording proxy, so each imported value is compared with what
the exporter really served at that time. The capture made of the collector's requests and the imported
records alone (no sampler of ours) reproduces the ``leak`` scenario's finding.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from recorders.gpu.dcgm import dcgm_records
from recorders.gpu.prometheus import parse_text
from recorders.gpu.records import GPU_READINGS, host_record
from recorders.prometheus_import import PrometheusImportOptions, import_prometheus
from recorders.prometheus_import.testing import prometheus_binary, run_prometheus
from recorders.server_metrics import SERVER_FIELDS, server_record
from recorders.simserver.testing import run_simserver
from tests.prometheus_import.conftest import RecordingProxy, Served
from traceanalyzer.errors import UsageError

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        prometheus_binary() is None,
        reason="the prometheus binary is not installed (apt-get install prometheus; .ci/run installs it)",
    ),
]

CLI = [sys.executable, "-m", "traceanalyzer"]
LOAD_S = 12


@dataclass
class Recording:
    capture: Path
    responses: Path
    proxy: RecordingProxy
    node: bool
    cli: subprocess.CompletedProcess[str]
    bad_query: UsageError | None
    split: Any


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _records(path: Path, kind: str) -> list[dict[str, Any]]:
    return [r for r in _read(path) if r["type"] == kind]


def _wait_for_scrape_after(url: str, job: str, t_ns: int, timeout: float = 15.0) -> None:
    """Wait until Prometheus holds a sample of ``job`` scraped after ``t_ns``."""
    query = urllib.parse.urlencode({"query": f'timestamp(up{{job="{job}"}})'})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=2) as resp:
            result = json.load(resp)["data"]["result"]
        if result and float(result[0]["value"][1]) * 1e9 > t_ns:
            return
        time.sleep(0.2)
    raise AssertionError(f"prometheus scraped nothing of {job} after the load in {timeout:g} s")


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory, node_exporter: str | None) -> Iterator[Recording]:
    root = tmp_path_factory.mktemp("prometheus-real")
    capture, responses = root / "capture", root / "responses"
    capture.mkdir()
    with run_simserver("leak", seed=7, overrides={"gpu.leak_mib_per_s": 300.0}) as sim:
        upstreams = {"engine": sim.metrics_url, "dcgm": sim.dcgm_url}
        if node_exporter:
            upstreams["node"] = node_exporter
        with RecordingProxy(upstreams) as proxy:
            targets = {name: proxy.url(name) for name in upstreams}
            with run_prometheus(targets, root / "prometheus", interval_s=1.0) as prom:
                prom.wait_scraped()
                load = subprocess.run(
                    [*CLI, "record", "http", "--url", sim.base_url, "--model", sim.model,
                     "--concurrency", "8", "--max-tokens", "32", "--duration", str(LOAD_S), "--seed", "7",
                     "--no-text", "--quiet", "--out", str(capture / "requests.jsonl")],
                    capture_output=True, text=True, timeout=LOAD_S + 60,
                )  # fmt: skip
                assert load.returncode == 0, load.stderr
                last_end = max(r["t_end"] for r in _records(capture / "requests.jsonl", "request"))
                for job in targets:
                    _wait_for_scrape_after(prom.url, job, last_end + 1_000_000_000)
                cli = subprocess.run(
                    [*CLI, "import", "prometheus", "--url", prom.url, "--capture", str(capture),
                     "--margin", "1s", "--scrape-interval", "1s", "--save-responses", str(responses),
                     "--out", str(capture)],
                    capture_output=True, text=True, timeout=120,
                )  # fmt: skip
                bad_queries = root / "bad.toml"
                bad_queries.write_text("[queries]\nbroken = 'sum(rate(vllm:generation_tokens_total[1s]'\n")
                try:
                    import_prometheus(
                        PrometheusImportOptions(
                            out=root / "bad", url=prom.url, capture=capture, queries_file=bad_queries
                        )
                    )
                except UsageError as exc:
                    bad_query: UsageError | None = exc
                else:
                    bad_query = None
                # The same window in parts of 4 steps: several queries per exporter, joined.
                window = json.loads((capture / "gpu.jsonl").read_text().splitlines()[0])["config"]["window"]
                split = import_prometheus(
                    PrometheusImportOptions(
                        out=root / "split",
                        url=prom.url,
                        start=window["start_ms"] / 1000,
                        end=window["end_ms"] / 1000,
                        scrape_interval_s=1.0,
                        max_points=4,
                        progress=False,
                    )
                )
    yield Recording(capture, responses, proxy, node_exporter is not None, cli, bad_query, split)


def _served_near(bodies: list[Served], t: int) -> list[Served]:
    """Bodies Prometheus may hold as the latest sample at step ``t``: its sample time is the scrape's start,
    a moment before the proxy saw the request; scrapes come every second, a late one (a busy machine)
    makes Prometheus skip the next."""
    return [b for b in bodies if t - 3_000_000_000 <= b.t_start <= t + 250_000_000]


def test_import_writes_gpu_and_server_records_equal_to_what_was_served(recording: Recording) -> None:
    assert recording.cli.returncode == 0, recording.cli.stderr
    gpu = _records(recording.capture / "gpu.jsonl", "gpu")
    server = _records(recording.capture / "server.jsonl", "server")
    assert len(gpu) >= LOAD_S and len(server) >= LOAD_S
    assert f"{len(gpu)} gpu records" in recording.cli.stdout

    dcgm_served = recording.proxy.bodies("dcgm")
    for rec in gpu:
        assert rec["source"] == "prometheus/dcgm" and rec["gpu"] == 0 and rec["uuid"].startswith("GPU-")
        readings = tuple(rec[k] for k in GPU_READINGS)
        candidates = [
            tuple(r[k] for k in GPU_READINGS)
            for b in _served_near(dcgm_served, rec["t"])
            for r in dcgm_records(parse_text(b.body), 0)
        ]
        assert readings in candidates, (rec, candidates)
        expected_host = dcgm_records(parse_text(dcgm_served[0].body), 0)[0]
        assert rec["name"] == expected_host["name"] and rec["uuid"] == expected_host["uuid"]

    engine_served = recording.proxy.bodies("engine")
    for rec in server:
        assert rec["engine"] == "vllm" and rec["source"] == "prometheus/vllm"
        cumulative = {k: v for k, v in rec["metrics"].items() if ":rate" not in k}
        candidates = [server_record(parse_text(b.body), 0) for b in _served_near(engine_served, rec["t"])]
        assert any(
            all(rec[k] == c[k] for k in SERVER_FIELDS) and cumulative == c["metrics"] for c in candidates
        ), (rec, candidates)
    # The load shows: tokens were generated at a positive rate while requests ran.
    rates = [r["metrics"].get("vllm:generation_tokens_total:rate") for r in server if r["running"]]
    assert rates and max(x for x in rates if x is not None) > 0


def test_host_records_from_node_exporter_equal_what_was_served(recording: Recording) -> None:
    if not recording.node:
        pytest.skip("prometheus-node-exporter is not installed (it comes with the prometheus package)")
    hosts = _records(recording.capture / "host.jsonl", "host")
    assert len(hosts) >= LOAD_S
    served = recording.proxy.bodies("node")
    for rec in hosts:
        assert rec["source"] == "prometheus/node"
        candidates = []
        for b in _served_near(served, rec["t"]):
            values = {s.name: s.value for f in parse_text(b.body) for s in f.samples}
            candidates.append(
                host_record(
                    t=rec["t"],
                    cpu_pct=rec["cpu_pct"],
                    mem_total_bytes=values["node_memory_MemTotal_bytes"],
                    mem_available_bytes=values["node_memory_MemAvailable_bytes"],
                    load1=values["node_load1"],
                )
            )
        assert {k: rec[k] for k in ("t", "mem_used_mib", "mem_total_mib", "load1")} in [
            {k: c[k] for k in ("t", "mem_used_mib", "mem_total_mib", "load1")} for c in candidates
        ]
    cpu = [r["cpu_pct"] for r in hosts if r["cpu_pct"] is not None]
    assert len(cpu) >= LOAD_S - 4 and all(0 <= x <= 100 for x in cpu)


def test_leak_found_from_prometheus_data_alone(recording: Recording) -> None:
    from traceanalyzer.analysis import analyze
    from traceanalyzer.loader import load_capture
    from traceanalyzer.model import AnalysisOptions

    files = sorted(p.name for p in recording.capture.glob("*.jsonl"))
    assert files == sorted(
        ["requests.jsonl", "gpu.jsonl", "server.jsonl"] + (["host.jsonl"] if recording.node else [])
    )
    analysis = analyze(
        load_capture([recording.capture], cache=False),
        AnalysisOptions(window_s=1.0, warmup_s=1.0, cooldown_s=1.0),
    )
    leaks = [f for f in analysis.findings if f.rule == "memory_leak" and f.evidence["series"][:3] == "GPU"]
    assert leaks, [f"{f.rule}: {f.message}" for f in analysis.findings] + [n.reason for n in analysis.notes]
    evidence = leaks[0].evidence
    # 300 MiB/s plus 2 MiB per finished request (about 15 requests/s here), as the sampler's capture shows.
    assert 250 <= evidence["slope_mib_per_s"] <= 450, evidence
    assert evidence["time_to_exhaustion_s"] is not None and 0 < evidence["time_to_exhaustion_s"] < 120
    assert leaks[0].severity in ("warning", "critical")
    assert analysis.resources.gpu_util_mean is not None


def test_saved_responses_import_to_the_same_records(recording: Recording, tmp_path: Path) -> None:
    saved = sorted(p.name for p in recording.responses.glob("*.json"))
    assert "dcgm.0001.json" in saved and "engine.0001.json" in saved
    result = import_prometheus(
        PrometheusImportOptions(
            out=tmp_path, responses=(str(recording.responses),), scrape_interval_s=1.0, progress=False
        )
    )
    assert result.requests == 0 and set(result.files) >= {"gpu", "server"}
    for name in ("gpu.jsonl", "server.jsonl"):
        live = [r for r in _read(recording.capture / name) if r["type"] != "meta"]
        from_files = [r for r in _read(tmp_path / name) if r["type"] != "meta"]
        assert from_files == live


def test_window_split_into_several_queries_gives_the_same_records(recording: Recording) -> None:
    split = recording.split
    assert split.parts >= 4 and split.requests >= 4 * 2
    for name in ("gpu.jsonl", "server.jsonl"):
        whole = [r for r in _read(recording.capture / name) if r["type"] != "meta"]
        parts = [r for r in _read(split.files[name.split(".")[0]]) if r["type"] != "meta"]
        assert parts == whole


def test_query_error_shows_prometheus_text(recording: Recording) -> None:
    error = recording.bad_query
    assert error is not None and error.exit_code == 2
    message = str(error)
    assert message.startswith("Prometheus refused query 'broken': bad_data:") and "parse error" in message
