"""Prometheus text of the simulated server: vLLM engine metrics (``/metrics``) and DCGM-exporter GPU
metrics (``/metrics/dcgm``), both from the engine model's state at scrape time.

GPU model (one GPU, index 0), evaluated at each scrape:

- ``GPU_UTIL`` % = share of the last second with a kernel running (the engine's GPU phases).
- ``FB_USED`` MiB = the engine's memory model (weights, runtime, KV pool or KV in use, activations, leak);
  ``FB_FREE = total - used``.
- ``POWER_USAGE`` W = ``idle + (max - idle) * util^0.8 * (0.5 + 0.5 * min(1, running / max_batch))`` plus
  seeded noise of +-1.5 %.
- ``GPU_TEMP`` C: first-order lag toward ``ambient + temp_c_per_w * power`` with time constant ``temp_tau_s``,
  ``T += (target - T) * (1 - exp(-dt / tau))``.
- ``SM_CLOCK`` MHz = the idle clock below 2 % utilisation, else the boost clock (or the regression's clock
  once a latency regression has started).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from recorders.simserver.scenario import Scenario
from recorders.tracefile import Clock

# vLLM's buckets for TTFT and request latency (seconds).
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)  # fmt: skip
E2E_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
               480.0, 960.0, 1920.0, 7680.0)  # fmt: skip


class EngineState(Protocol):
    """What telemetry reads from an engine (``Engine`` or ``FixedTiming``)."""

    running: list
    preemptions: int

    @property
    def waiting(self) -> object: ...  # a sized collection

    @property
    def kv_usage(self) -> float: ...

    def memory_used_mib(self, now: int) -> float: ...

    def busy_fraction(self, now: int, window_ns: int = ...) -> float: ...

    def regressed(self, now: int) -> bool: ...


class _EngineGauges(Collector):
    def __init__(self, engine: EngineState, model: str) -> None:
        self.engine = engine
        self.model = model

    def collect(self) -> Iterator[Metric]:
        labels = ["model_name"]
        e = self.engine
        for name, doc, value in (
            ("vllm:num_requests_running", "Number of requests in model execution batches.", len(e.running)),
            ("vllm:num_requests_waiting", "Number of requests waiting to be processed.", len(e.waiting)),  # type: ignore[arg-type]
            ("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", e.kv_usage),
        ):
            gauge = GaugeMetricFamily(name, doc, labels=labels)
            gauge.add_metric([self.model], float(value))
            yield gauge
        preempt = CounterMetricFamily(
            "vllm:num_preemptions", "Cumulative number of preemption from the engine.", labels=labels
        )
        preempt.add_metric([self.model], float(e.preemptions))
        yield preempt


class GpuModel(Collector):
    """The simulated GPU's DCGM fields; state (temperature) advances at each scrape."""

    FIELDS = (
        ("DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz)."),
        ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C)."),
        ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W)."),
        ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %)."),
        ("DCGM_FI_DEV_MEM_COPY_UTIL", "Memory utilization (in %)."),
        ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB)."),
        ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB)."),
    )

    def __init__(
        self, scenario: Scenario, engine: EngineState, clock: Clock, seed: int, hostname: str
    ) -> None:
        self.cfg = scenario.gpu
        self.regression_clock_mhz = scenario.faults.regression_sm_clock_mhz
        self.max_batch = scenario.engine.max_batch
        self.engine = engine
        self.clock = clock
        self._rng = random.Random(seed ^ 0x5EED)
        uuid = self.cfg.uuid or _uuid_from_seed(seed)
        self.labels = {
            "gpu": "0",
            "UUID": uuid,
            "pci_bus_id": "00000000:18:00.0",
            "device": "nvidia0",
            "modelName": self.cfg.name,
            "Hostname": hostname,
        }
        self._temp_c = self.cfg.ambient_c + self.cfg.temp_c_per_w * self.cfg.idle_power_w
        self._last_ns = clock.mono_ns()

    def sample(self) -> dict[str, float]:
        """One reading of every field, advancing the thermal state to now."""
        g = self.cfg
        now = self.clock.mono_ns()
        util = self.engine.busy_fraction(now)
        batch_share = min(1.0, len(self.engine.running) / max(1, self.max_batch))
        power = g.idle_power_w + (g.max_power_w - g.idle_power_w) * util**0.8 * (0.5 + 0.5 * batch_share)
        power *= 1.0 + self._rng.uniform(-0.015, 0.015)
        dt_s = max(0, now - self._last_ns) / 1e9
        self._last_ns = now
        target = g.ambient_c + g.temp_c_per_w * power
        self._temp_c += (target - self._temp_c) * (1.0 - math.exp(-dt_s / max(g.temp_tau_s, 1e-3)))
        if util < 0.02:
            clock_mhz = g.idle_sm_clock_mhz
        elif self.regression_clock_mhz and self.engine.regressed(now):
            clock_mhz = self.regression_clock_mhz
        else:
            clock_mhz = g.max_sm_clock_mhz
        used = min(self.engine.memory_used_mib(now), g.memory_total_mib)
        return {
            "DCGM_FI_DEV_SM_CLOCK": round(clock_mhz),
            "DCGM_FI_DEV_GPU_TEMP": round(self._temp_c),
            "DCGM_FI_DEV_POWER_USAGE": round(power, 3),
            "DCGM_FI_DEV_GPU_UTIL": round(util * 100),
            "DCGM_FI_DEV_MEM_COPY_UTIL": round(util * 55),
            "DCGM_FI_DEV_FB_FREE": round(g.memory_total_mib - used),
            "DCGM_FI_DEV_FB_USED": round(used),
        }

    def collect(self) -> Iterator[Metric]:
        values = self.sample()
        names = list(self.labels)
        label_values = list(self.labels.values())
        for name, doc in self.FIELDS:
            family = GaugeMetricFamily(name, doc, labels=names)
            family.add_metric(label_values, float(values[name]))
            yield family


def _uuid_from_seed(seed: int) -> str:
    h = random.Random(seed).getrandbits(128)
    hexa = f"{h:032x}"
    return f"GPU-{hexa[:8]}-{hexa[8:12]}-{hexa[12:16]}-{hexa[16:20]}-{hexa[20:]}"


class Telemetry:
    """The two registries and the per-request instruments the server updates."""

    def __init__(
        self, scenario: Scenario, engine: EngineState, clock: Clock, seed: int, hostname: str
    ) -> None:
        model = scenario.model.name
        self.vllm = CollectorRegistry(auto_describe=True)
        labels = ["model_name"]
        self.ttft = Histogram(
            "vllm:time_to_first_token_seconds",
            "Histogram of time to first token in seconds.",
            labels,
            buckets=TTFT_BUCKETS,
            registry=self.vllm,
        ).labels(model)
        self.e2e = Histogram(
            "vllm:e2e_request_latency_seconds",
            "Histogram of end to end request latency in seconds.",
            labels,
            buckets=E2E_BUCKETS,
            registry=self.vllm,
        ).labels(model)
        self.prompt_tokens = Counter(
            "vllm:prompt_tokens", "Number of prefill tokens processed.", labels, registry=self.vllm
        ).labels(model)
        self.generation_tokens = Counter(
            "vllm:generation_tokens", "Number of generation tokens processed.", labels, registry=self.vllm
        ).labels(model)
        self.prefix_queries = Counter(
            "vllm:prefix_cache_queries",
            "Prefix cache queries, in terms of number of queried tokens.",
            labels,
            registry=self.vllm,
        ).labels(model)
        self.prefix_hits = Counter(
            "vllm:prefix_cache_hits",
            "Prefix cache hits, in terms of number of cached tokens.",
            labels,
            registry=self.vllm,
        ).labels(model)
        self._success = Counter(
            "vllm:request_success",
            "Count of successfully processed requests.",
            ["model_name", "finished_reason"],
            registry=self.vllm,
        )
        self._model = model
        self.vllm.register(_EngineGauges(engine, model))
        self.gpu = GpuModel(scenario, engine, clock, seed, hostname)
        self.dcgm = CollectorRegistry(auto_describe=True)
        self.dcgm.register(self.gpu)

    def success(self, finished_reason: str) -> None:
        self._success.labels(self._model, finished_reason).inc()

    def vllm_text(self) -> bytes:
        return generate_latest(self.vllm)

    def dcgm_text(self) -> bytes:
        return generate_latest(self.dcgm)
