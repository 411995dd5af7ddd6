"""DCGM backend: the exporter's recorded text format, served over real loopback HTTP."""

from __future__ import annotations

import asyncio

import pytest

from recorders.gpu import GpuRecorderOptions, record_gpu, record_gpu_async
from recorders.gpu.dcgm import dcgm_records
from recorders.gpu.prometheus import parse_text
from traceanalyzer.errors import SourceUnreachableError

SECOND = 1_000_000_000


def test_one_record_per_gpu_from_the_exporter_format(fixture_text):
    records = dcgm_records(parse_text(fixture_text("dcgm_metrics.txt")), 7)
    assert records == [
        {
            "type": "gpu",
            "t": 7,
            "gpu": 0,
            "uuid": "GPU-927d7444-b45a-7c49-8402-5e686e46a026",
            "name": "NVIDIA H100 80GB HBM3",
            "util_pct": 97.0,
            "mem_util_pct": 48.0,
            "mem_used_mib": 74463.0,
            "mem_total_mib": 81559.0,  # used + free + reserved
            "power_w": 612.482,
            "temp_c": 64.0,
            "sm_clock_mhz": 1980.0,
            "source": "dcgm",
        },
        {
            "type": "gpu",
            "t": 7,
            "gpu": 1,
            "uuid": "GPU-1c2b08c1-f602-d290-4519-863bc0c96079",
            "name": "NVIDIA H100 80GB HBM3",
            "util_pct": 0.0,
            "mem_util_pct": 0.0,
            "mem_used_mib": 10.0,
            "mem_total_mib": 81559.0,
            "power_w": 71.106,
            "temp_c": 31.0,
            "sm_clock_mhz": 345.0,
            "source": "dcgm",
        },
    ]


def test_mig_instances_are_separate_records(fixture_text):
    records = dcgm_records(parse_text(fixture_text("dcgm_mig_metrics.txt")), 7)
    assert [(r["gpu"], r["gpu_instance"], r["util_pct"], r["mem_total_mib"]) for r in records] == [
        (0, "1", 50.0, 40448.0),
        (0, "2", 0.0, 40448.0),
    ]


def test_scrapes_on_the_grid_and_survives_garbage_and_timeouts(
    tmp_path, fake_clock, endpoint_plan, fixture_text, read_trace
):
    good = fixture_text("dcgm_metrics.txt")
    html = "<html><body>502 Bad Gateway</body></html>"
    # 2-4 s: an HTML error page; 4-5 s: answers after 2 s, past the 0.5 s timeout.
    url = endpoint_plan("/metrics", good, [(2, 4, html, 200, 0.0), (4, 5, good, 200, 2.0)])
    options = GpuRecorderOptions(
        out=tmp_path / "gpu.jsonl", backend="dcgm", url=url, interval_s=1.0, duration_s=7.0, timeout_s=0.5
    )
    summary = asyncio.run(record_gpu_async(options, control=fake_clock.control()))
    records = read_trace(tmp_path / "gpu.jsonl")
    ticks_with_gpus = sorted({(r["t"] - fake_clock.wall0) // SECOND for r in records if r["type"] == "gpu"})
    assert ticks_with_gpus == [0, 1, 5, 6]
    events = [(e["name"], e["detail"]["error"]) for e in records if e["type"] == "event"]
    assert events[0][0] == "scrape_failed" and events[0][1].startswith("not Prometheus text")
    assert events[1] == ("scrape_recovered", events[0][1])
    assert events[2] == ("scrape_failed", "timed out after 0.5 s")
    assert events[3] == ("scrape_recovered", "timed out after 0.5 s")
    assert summary.records["gpu"] == 8 and summary.records["event"] == 4


def test_an_exporter_that_is_down_at_start(tmp_path, metrics_server):
    url = metrics_server.url("/nothing-here")
    with pytest.raises(SourceUnreachableError, match=r"cannot scrape the DCGM exporter at .*: HTTP 404"):
        record_gpu(GpuRecorderOptions(out=tmp_path / "gpu.jsonl", backend="dcgm", url=url, duration_s=1.0))
    assert not (tmp_path / "gpu.jsonl").exists()


def test_an_endpoint_that_is_not_an_exporter(tmp_path, metrics_server, fixture_text):
    url = metrics_server.set("/metrics", fixture_text("vllm_v1_metrics.txt"))
    with pytest.raises(SourceUnreachableError, match="serves no DCGM_FI_"):
        record_gpu(GpuRecorderOptions(out=tmp_path / "gpu.jsonl", backend="dcgm", url=url, duration_s=1.0))
