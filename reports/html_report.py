"""The HTML renderer: one self-contained file (inline CSS, charts as inline SVG, no script, no network).

Templates live in ``reports/templates`` (jinja2, autoescape on: every text that came from a trace is
escaped; only our own chart SVG is marked safe). The CSS in ``reports/static/report.css`` serves the screen
and, through its print rules, the PDF (:mod:`reports.pdf_report`).
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import TYPE_CHECKING, Any

from reports.registry import Document, Renderer, RenderOptions, register
from traceanalyzer.distribution import install_hint
from traceanalyzer.errors import UsageError

if TYPE_CHECKING:
    import jinja2

INSTALL_HINT = f"reports need the 'report' extra: {install_hint('report')}"


def require_report_extra() -> None:
    """Fail with the install hint when jinja2, matplotlib or WeasyPrint is missing."""
    import importlib.util

    missing = [m for m in ("jinja2", "matplotlib", "weasyprint") if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"{INSTALL_HINT} (missing: {', '.join(missing)})")


@functools.cache
def environment() -> jinja2.Environment:
    """The jinja2 environment: package templates, autoescape on, strict undefined, our filters."""
    require_report_extra()
    import jinja2

    from reports.formatting import FILTERS

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return env


@functools.cache
def stylesheet() -> str:
    return resources.files("reports").joinpath("static", "report.css").read_text(encoding="utf-8")


def render_template(name: str, context: dict[str, Any]) -> str:
    """Render ``templates/<name>`` with the stylesheet inlined."""
    from markupsafe import Markup

    return environment().get_template(name).render(css=Markup(stylesheet()), **context)


def render_html(document: Document, options: RenderOptions) -> str:
    """The HTML of a report (an ``Analysis``) or a comparison (a ``Comparison``), memoised per options."""
    from traceanalyzer.compare import Comparison

    key = (id(document), "html")
    cached = options.memo.get(key)
    if cached is not None:
        return cached.decode("utf-8")
    if isinstance(document, Comparison):
        from reports.compare_view import compare_context

        text = render_template("compare.html.j2", compare_context(document, options))
    else:
        from reports.view import report_context

        text = render_template("report.html.j2", report_context(document, options))
    options.memo[key] = text.encode("utf-8")
    return text


@register
class HtmlRenderer(Renderer):
    """Self-contained HTML (module docstring)."""

    name = "html"
    output_file_extensions = (".html", ".htm")

    def render(self, document: Document, options: RenderOptions) -> bytes:
        return render_html(document, options).encode("utf-8")
