"""The JSON renderer: an analysis as its summary@1 (what ``analyze --json`` writes), a comparison as
``traceanalyzer/compare@1`` (:meth:`traceanalyzer.compare.Comparison.to_dict`)."""

from __future__ import annotations

import json

from reports.registry import Document, Renderer, RenderOptions, register


@register
class JsonRenderer(Renderer):
    """summary@1 for an analysis, compare@1 for a comparison."""

    name = "json"
    output_file_extensions = (".json",)

    def render(self, document: Document, options: RenderOptions) -> bytes:
        from traceanalyzer.compare import Comparison
        from traceanalyzer.summary import summary_json

        if isinstance(document, Comparison):
            text = json.dumps(document.to_dict(), indent=2, allow_nan=False, ensure_ascii=False) + "\n"
        else:
            text = summary_json(document)
        return text.encode("utf-8")
