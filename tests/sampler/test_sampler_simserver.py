"""The dcgm backend and the server scraper against the simulated server's real HTTP endpoints, under load."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from recorders.gpu import GpuRecorderOptions, SamplingControl, record_gpu_async
from recorders.server_metrics import ServerRecorderOptions, record_server_async
from recorders.simserver.testing import run_simserver

pytestmark = pytest.mark.slow


async def _load(base_url: str, model: str, requests: int) -> int:
    """Send ``requests`` chat completions, four at a time; returns how many answered 200."""
    ok = 0
    sem = asyncio.Semaphore(4)
    async with aiohttp.ClientSession() as session:

        async def one(i: int) -> None:
            nonlocal ok
            body = {
                "model": model,
                "messages": [{"role": "user", "content": f"count to {i}"}],
                "max_tokens": 24,
            }
            async with sem, session.post(f"{base_url}/chat/completions", json=body) as resp:
                await resp.read()
                ok += resp.status == 200

        await asyncio.gather(*(one(i) for i in range(requests)))
    return ok


def test_gpu_and_server_records_from_the_simulated_server(tmp_path, read_trace):
    with run_simserver("steady", seed=1) as sim:

        async def main():
            gpu = record_gpu_async(
                GpuRecorderOptions(
                    out=tmp_path / "gpu.jsonl",
                    backend="dcgm",
                    url=sim.dcgm_url,
                    interval_s=0.5,
                    duration_s=3.0,
                    host_metrics=True,
                ),
                control=SamplingControl(handle_signals=False),
            )
            server = record_server_async(
                ServerRecorderOptions(
                    out=tmp_path / "server.jsonl", url=sim.metrics_url, interval_s=0.5, duration_s=3.0
                ),
                control=SamplingControl(handle_signals=False),
            )
            return await asyncio.gather(gpu, server, _load(sim.base_url, sim.model, 12))

        gpu_summary, server_summary, answered = asyncio.run(main())

    assert answered == 12
    gpu = read_trace(tmp_path / "gpu.jsonl")
    server = read_trace(tmp_path / "server.jsonl")
    for summary, records, kind in ((gpu_summary, gpu, "gpu"), (server_summary, server, "server")):
        # Every deadline ran or was counted as missed; every tick gave a record unless its scrape failed
        # (possible only when this shared machine stalls the server past the scrape timeout).
        assert summary.ticks + summary.missed_ticks == 6
        written = [r for r in records if r["type"] == kind]
        failed = [r for r in records if r["type"] == "event" and r["name"] == "scrape_failed"]
        assert len(written) == summary.ticks if not failed else 0 < len(written) < summary.ticks

    gpu_records = [r for r in gpu if r["type"] == "gpu"]
    assert [r["type"] for r in gpu].count("host") == gpu_summary.ticks
    for rec in gpu_records:
        assert rec["source"] == "dcgm" and rec["gpu"] == 0 and rec["uuid"].startswith("GPU-")
        assert rec["name"] == "NVIDIA H100 80GB HBM3"
        assert 0 <= rec["util_pct"] <= 100 and rec["power_w"] > 0 and rec["temp_c"] > 0
        assert 0 < rec["mem_used_mib"] <= rec["mem_total_mib"]
    assert max(r["util_pct"] for r in gpu_records) > 0  # the load shows up on the simulated GPU

    assert server[0]["config"]["engine_detected"] == "vllm" and server_summary.info == {"engine": "vllm"}
    records = [r for r in server if r["type"] == "server"]
    for rec in records:
        assert rec["engine"] == "vllm" and rec["preemptions"] is not None
        assert rec["running"] >= 0 and rec["waiting"] >= 0 and 0 <= rec["kv_cache_pct"] <= 100
        assert "vllm:time_to_first_token_seconds_count" in rec["metrics"]
    last = records[-1]["metrics"]
    assert last["vllm:generation_tokens_total"] > 0
    assert 0 < sum(v for k, v in last.items() if k.startswith("vllm:request_success_total")) <= 12
