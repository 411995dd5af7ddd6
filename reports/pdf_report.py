"""The PDF renderer: the HTML report laid out for print by WeasyPrint (page size, running header, page
numbers, a title page; tables and charts are not split across pages, see ``static/report.css``).

WeasyPrint may fetch nothing: the HTML is self-contained, and the URL fetcher refuses every request, so no
text from a trace can make the renderer reach a file or the network.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from reports.html_report import render_html, require_report_extra
from reports.registry import Document, Renderer, RenderOptions, register


def _refuse(url: str, *args: Any, **kwargs: Any) -> NoReturn:
    raise ValueError(f"reports load no external resources (asked for {url[:80]!r})")


def html_to_pdf(html: str) -> bytes:
    """Lay ``html`` out as a PDF with WeasyPrint."""
    require_report_extra()
    import weasyprint

    from reports.fonts import warn_if_slow_subsetting

    warn_if_slow_subsetting(html)
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    pdf = weasyprint.HTML(string=html, url_fetcher=_refuse).write_pdf()
    assert pdf is not None
    return bytes(pdf)


@register
class PdfRenderer(Renderer):
    """PDF through WeasyPrint (module docstring)."""

    name = "pdf"
    output_file_extensions = (".pdf",)

    def render(self, document: Document, options: RenderOptions) -> bytes:
        return html_to_pdf(render_html(document, options))
