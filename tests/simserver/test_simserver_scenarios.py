"""Each bundled scenario's failure mode shows up under a few seconds of real load on a loopback server.

Timelines are compressed further with overrides so the whole file runs in well under a minute; the checks
are on what happened (error classes and their order, gauges), never on wall-clock durations.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from prometheus_client.parser import text_string_to_metric_families
from simload import Outcome, load

from recorders.simserver.scenario import bundled_scenarios
from recorders.simserver.testing import SimServerHandle, run_simserver

pytestmark = pytest.mark.slow


def _scrape(url: str) -> dict[str, float]:
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


@contextmanager
def _sampling(sim: SimServerHandle, every_s: float = 0.5) -> Iterator[list[dict[str, float]]]:
    """Scrape both metric endpoints every ``every_s`` seconds while the block runs."""
    samples: list[dict[str, float]] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            samples.append({**_scrape(sim.metrics_url), **_scrape(sim.dcgm_url)})
            stop.wait(every_s)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join(10)


def _tpot(outcomes: list[Outcome], keep: Callable[[Outcome], bool]) -> float:
    """Mean time per output token of the successful requests ``keep`` selects."""
    per = [
        (o.chunks[-1] - o.chunks[0]) / (len(o.chunks) - 1)
        for o in outcomes
        if o.ok and len(o.chunks) > 2 and keep(o)
    ]
    assert per, "no successful requests in the selection"
    return sum(per) / len(per)


def test_ramp_oom_gives_oom_errors_before_5xx() -> None:
    overrides = {"faults.oom_fatal_after_s": 1.5, "faults.recover_after_s": 60.0}
    with run_simserver("ramp-oom", overrides=overrides) as sim, _sampling(sim) as samples:
        outcomes = load(sim.base_url, sim.model, [(1.0, 4), (1.0, 8), (4.0, 32)], max_tokens=100)
    ooms = [o for o in outcomes if o.oom]
    server_errors = [o for o in outcomes if not o.oom and (o.code or 0) >= 500]
    assert ooms and server_errors
    assert min(o.t_end for o in ooms) < min(o.t_end for o in server_errors)
    assert all(o.stage == 2 for o in ooms), "no OOM at low concurrency"
    assert any(o.in_stream and o.oom and o.chunks for o in ooms), "some OOMs strike mid-stream"
    assert all(o.code == 500 for o in ooms)
    assert max(s["vllm:kv_cache_usage_perc"] for s in samples) > 0.5
    fb = [s["DCGM_FI_DEV_FB_USED"] for s in samples]
    assert max(fb) > fb[0] + 10_000  # memory follows KV use toward the total


def test_queue_timeout_grows_the_queue_and_times_out_without_oom() -> None:
    with (
        run_simserver("queue-timeout", overrides={"engine.queue_timeout_s": 1.5}) as sim,
        _sampling(sim) as samples,
    ):
        outcomes = load(sim.base_url, sim.model, [(0.5, 4), (4.0, 16)], max_tokens=40)
    timeouts = [o for o in outcomes if o.error and o.code == 504]
    assert timeouts and all("timed out" in o.error["message"] for o in timeouts if o.error)
    assert all(o.stage == 1 for o in timeouts)
    assert not any(o.oom for o in outcomes)
    assert max(s["vllm:num_requests_waiting"] for s in samples) >= 4
    assert max(s["vllm:num_requests_running"] for s in samples) <= 4
    # a client TTFT timeout below the server's strikes first
    with run_simserver("queue-timeout") as sim:
        client_side = load(sim.base_url, sim.model, [(2.5, 16)], max_tokens=40, ttft_timeout=1.0)
    assert any(o.timed_out for o in client_side)


def test_cpu_bound_keeps_gpu_idle_while_latency_climbs() -> None:
    with run_simserver("cpu-bound") as sim, _sampling(sim) as samples:
        outcomes = load(sim.base_url, sim.model, [(2.0, 2), (3.0, 24)], max_tokens=40)
    assert all(o.ok for o in outcomes)
    assert _tpot(outcomes, lambda o: o.stage == 1) > 1.5 * _tpot(outcomes, lambda o: o.stage == 0)
    busy = [s["DCGM_FI_DEV_GPU_UTIL"] for s in samples if s["vllm:num_requests_running"] > 0]
    assert busy and max(busy) < 30


def test_leak_fb_used_creeps_up() -> None:
    with (
        run_simserver("leak", overrides={"gpu.leak_mib_per_s": 300.0}) as sim,
        _sampling(sim, 0.4) as samples,
    ):
        outcomes = load(sim.base_url, sim.model, [(3.0, 4)], max_tokens=40)
    assert all(o.ok for o in outcomes)
    fb = [s["DCGM_FI_DEV_FB_USED"] for s in samples if s["vllm:num_requests_running"] > 0]
    assert len(fb) >= 4
    assert fb[-1] - fb[0] > 300  # MiB
    assert sum(b >= a for a, b in itertools.pairwise(fb)) >= len(fb) - 2  # steadily, not in one jump


def test_regression_slows_decode_and_drops_the_sm_clock() -> None:
    overrides = {"faults.regression_at_s": 1.5}
    with run_simserver("regression", overrides=overrides) as sim, _sampling(sim) as samples:
        outcomes = load(sim.base_url, sim.model, [(4.5, 4)], max_tokens=40)
    start = outcomes[0].t_send
    before = _tpot(outcomes, lambda o: o.t_end < start + 1.3)
    after = _tpot(outcomes, lambda o: o.t_send > start + 2.0)
    assert after > 1.8 * before
    clocks = [s["DCGM_FI_DEV_SM_CLOCK"] for s in samples if s["DCGM_FI_DEV_GPU_UTIL"] > 5]
    assert 1980 in clocks and 1200 in clocks


def test_mixed_4xx_gives_context_length_bad_params_and_429() -> None:
    overrides = {"faults.context_length_fraction": 0.15, "faults.bad_request_fraction": 0.15}
    with run_simserver("mixed-4xx", overrides=overrides) as sim:
        outcomes = load(sim.base_url, sim.model, [(4.0, 12)], max_tokens=40)
        time.sleep(1.5)  # let the rate limiter's bucket refill: the next request must meet the length check
        too_long = load(sim.base_url, sim.model, [(0.5, 1)], max_tokens=1000, prompt="x" * 400)
    messages = [o.error["message"] for o in outcomes if o.error]
    codes = {o.code for o in outcomes}
    assert {200, 400, 429} <= codes
    assert any("maximum context length" in m for m in messages)
    assert any("maximum context length" not in m and "Rate limit" not in m for m in messages if m)
    assert all(o.code == 400 and "maximum context length" in o.error["message"] for o in too_long if o.error)
    assert any(o.error for o in too_long)
    assert not any((o.code or 0) >= 500 for o in outcomes)


def test_every_bundled_scenario_is_listed_and_loads() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "traceanalyzer", "sim", "scenarios"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names = set(bundled_scenarios())
    assert {"steady", "ramp-oom", "queue-timeout", "cpu-bound", "leak", "regression", "mixed-4xx"} <= names
    for name in names:
        line = next(line for line in listed.splitlines() if line.startswith(name + " "))
        assert len(line.split(None, 1)[1]) > 20  # a real description
