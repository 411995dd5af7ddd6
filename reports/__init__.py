"""Renderers: Analysis (or Comparison) -> HTML (jinja2), PDF (WeasyPrint), JSON; charts (matplotlib).

    from reports import RenderOptions, plan_outputs, write_outputs
    plan = plan_outputs(["report.html", "report.pdf"])       # fails fast on an unknown extension
    write_outputs(analysis, plan, RenderOptions(title="Soak 01"))

Renderers are registered by name (``html``, ``pdf``, ``json``) and chosen from the output file's extension.
"""

from __future__ import annotations

from reports.registry import (
    Renderer,
    RenderOptions,
    get_renderer,
    known_formats,
    plan_outputs,
    register,
    renderer_for_path,
    write_outputs,
)

__all__ = [
    "RenderOptions",
    "Renderer",
    "get_renderer",
    "known_formats",
    "plan_outputs",
    "register",
    "renderer_for_path",
    "write_outputs",
]
