"""The report's "Parity with TOOL" sections: one per imported tool run, before the appendices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from traceanalyzer.i18n import _

if TYPE_CHECKING:
    from traceanalyzer.model import Analysis


def tool_title(tool: str) -> str:
    """How a tool spells its own name (its importer's ``TITLE``), else the name as imported."""
    from recorders.importers import SOURCES, source

    return source(tool).TITLE if tool in SOURCES else tool


def with_parity_sections(sections: Sequence[Any], analysis: Analysis) -> tuple[Any, ...]:
    """``sections`` with a "Parity with TOOL" entry per imported tool run, placed before the appendices."""
    tools = analysis.parity.tools
    if not tools:
        return tuple(sections)
    kind = type(sections[0])
    added = [
        kind(
            f"parity-{i}",
            _("Parity with %(tool)s") % {"tool": tool_title(t.tool)} + (f" ({t.label})" if t.label else ""),
        )
        for i, t in enumerate(tools, start=1)
    ]
    cut = next((i for i, s in enumerate(sections) if s.id == "inventory"), len(sections))
    return (*sections[:cut], *added, *sections[cut:])
