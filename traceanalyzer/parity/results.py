"""What the parity stage finds: per imported tool, its own summary numbers recomputed and ours beside them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: ``match`` holds when ``rel_diff`` (recomputed vs the tool's value) is at most this.
MATCH_REL_DIFF = 0.001


@dataclass(frozen=True)
class ParityMetric:
    """One number of a tool's summary: ``name`` and ``stat`` are the tool's own keys, values in ``unit``.

    ``recomputed``: the number rebuilt from the imported requests under the tool's definition and statistic;
    ``ours``: the same quantity under our definitions (DESIGN section 4), ``None`` where we have none;
    ``rel_diff``: ``|recomputed - tool_value| / |tool_value|`` (absolute difference when the tool says 0);
    ``tolerance``: the largest ``rel_diff`` that still matches (0.001, or a tool's rounding, stated in
    ``why_different``).
    """

    name: str
    stat: str
    unit: str
    tool_value: float | None
    recomputed: float | None
    ours: float | None
    rel_diff: float | None
    match: bool
    why_different: str
    tolerance: float = MATCH_REL_DIFF


@dataclass(frozen=True)
class ParityCounts:
    """Requests the tool's summary counts and requests imported (of that tool run)."""

    tool: int
    imported: int


@dataclass(frozen=True)
class ParityTool:
    """Parity with one imported tool run (a GuideLLM sweep: one per benchmark, ``label`` tells which)."""

    tool: str
    version: str
    files: tuple[str, ...]
    requests: ParityCounts
    metrics: tuple[ParityMetric, ...] = ()
    label: str = ""
    notes: tuple[str, ...] = ()

    @property
    def matched(self) -> int:
        return sum(1 for m in self.metrics if m.match)

    def to_summary(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "files": list(self.files),
            "requests": {"tool": self.requests.tool, "imported": self.requests.imported},
            "metrics": [
                {
                    "name": m.name,
                    "stat": m.stat,
                    "unit": m.unit,
                    "tool_value": m.tool_value,
                    "recomputed": m.recomputed,
                    "ours": m.ours,
                    "rel_diff": m.rel_diff,
                    "match": m.match,
                    "why_different": m.why_different,
                }
                for m in self.metrics
            ],
            **({"label": self.label} if self.label else {}),
            **({"notes": list(self.notes)} if self.notes else {}),
        }


@dataclass(frozen=True)
class ParityResult:
    """Every imported tool run, in capture order; empty when nothing was imported from a peer tool."""

    tools: tuple[ParityTool, ...] = field(default_factory=tuple)

    def to_summary(self) -> dict[str, Any]:
        """``{TOOL: {...}}``; a second run of the same tool (a sweep's benchmarks) is keyed ``TOOL:label``."""
        out: dict[str, Any] = {}
        for t in self.tools:
            key = t.tool if t.tool not in out else f"{t.tool}:{t.label or len(out)}"
            out[key] = t.to_summary()
        return out


def parity_from_summary(data: Mapping[str, Any]) -> ParityResult:
    """The :class:`ParityResult` that :meth:`ParityResult.to_summary` wrote ``data`` from (``tolerance`` is
    not in the summary: the default comes back)."""
    tools = []
    for key, t in data.items():
        tools.append(
            ParityTool(
                tool=key.split(":", 1)[0],
                version=t["version"],
                files=tuple(t["files"]),
                requests=ParityCounts(tool=t["requests"]["tool"], imported=t["requests"]["imported"]),
                metrics=tuple(ParityMetric(**m) for m in t["metrics"]),
                label=t.get("label", ""),
                notes=tuple(t.get("notes", ())),
            )
        )
    return ParityResult(tools=tuple(tools))
