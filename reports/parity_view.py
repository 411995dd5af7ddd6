"""The report's "Parity with TOOL" sections: one per imported tool run, before the appendices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from traceanalyzer.model import Analysis

#: How each tool spells its own name.
TOOL_TITLES: dict[str, str] = {
    "aiperf": "AIPerf",
    "guidellm": "GuideLLM",
    "vllm": "vLLM bench serve",
    "sglang": "SGLang bench_serving",
    "genai-perf": "GenAI-Perf",
    "inference-perf": "inference-perf",
    "llmperf": "LLMPerf",
    "evalscope": "EvalScope perf",
}


def with_parity_sections(sections: Sequence[Any], analysis: Analysis) -> tuple[Any, ...]:
    """``sections`` with a "Parity with TOOL" entry per imported tool run, placed before the appendices."""
    tools = analysis.parity.tools
    if not tools:
        return tuple(sections)
    kind = type(sections[0])
    added = [
        kind(
            f"parity-{i}",
            f"Parity with {TOOL_TITLES.get(t.tool, t.tool)}{f' ({t.label})' if t.label else ''}",
        )
        for i, t in enumerate(tools, start=1)
    ]
    cut = next((i for i, s in enumerate(sections) if s.id == "inventory"), len(sections))
    return (*sections[:cut], *added, *sections[cut:])
