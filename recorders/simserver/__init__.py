"""A simulated OpenAI-compatible LLM server with a GPU engine model: the recorders' test target.

It behaves like vLLM's OpenAI server on the outside (SSE streaming, errors, ``/metrics``) and like a GPU
serving engine inside (continuous batching, KV cache, queue, faults by scenario), with DCGM-exporter GPU
metrics and an exact ground-truth file. See ``docs/simserver.md``.

``recorders.simserver.testing.run_simserver`` starts one as a subprocess for tests and benchmarks.
"""

from __future__ import annotations

from recorders.simserver.scenario import Scenario, bundled_scenarios, load_scenario

__all__ = ["Scenario", "bundled_scenarios", "load_scenario"]
