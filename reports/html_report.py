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
def environment(lang: str = "en") -> jinja2.Environment:
    """The jinja2 environment of one language: package templates, autoescape on, strict undefined, our
    filters, and jinja2's i18n extension with that language's catalog (``{% trans %}``, ``_()``; new-style
    gettext, so placeholders are escaped like every other value)."""
    require_report_extra()
    import jinja2

    from reports.formatting import FILTERS
    from traceanalyzer.i18n import translations

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.policies["ext.i18n.trimmed"] = True  # as babel.cfg extracts them
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(FILTERS)
    from reports.compare_view import metric_label

    env.filters["metric_label"] = metric_label
    return env


@functools.cache
def stylesheet() -> str:
    return resources.files("reports").joinpath("static", "report.css").read_text(encoding="utf-8")


def render_template(name: str, context: dict[str, Any]) -> str:
    """Render ``templates/<name>`` in the current language (:mod:`traceanalyzer.i18n`) with the stylesheet
    inlined."""
    from markupsafe import Markup

    from traceanalyzer.i18n import current

    lang = current()
    css = Markup(stylesheet() + page_numbers_css())
    return environment(lang).get_template(name).render(css=css, lang=lang, **context)


def page_numbers_css() -> str:
    """The print footer's "Page 3 of 12" in the current language (a CSS ``content`` of counters)."""
    import re

    from traceanalyzer.i18n import _

    parts = re.split(r"(\{page\}|\{pages\})", _("Page {page} of {pages}"))
    content = " ".join(
        "counter(page)"
        if p == "{page}"
        else "counter(pages)"
        if p == "{pages}"
        else '"' + p.replace('"', "") + '"'
        for p in parts
        if p
    )
    return f"\n@page {{ @bottom-right {{ content: {content}; }} }}\n"


def render_html(document: Document, options: RenderOptions) -> str:
    """The HTML of a report (an ``Analysis``) or a comparison (a ``Comparison``), memoised per options."""
    from traceanalyzer.compare import Comparison
    from traceanalyzer.i18n import language

    key = (id(document), f"html:{options.lang}")
    cached = options.memo.get(key)
    if cached is not None:
        return cached.decode("utf-8")
    with language(options.lang):
        if isinstance(document, Comparison):
            from reports.compare_view import compare_context

            text = render_template("compare.html.j2", compare_context(document, options))
        else:
            from reports.view import report_context

            text = render_template("report.html.j2", report_context(document, options))
    from reports.fonts import warn_if_missing

    warn_if_missing(text, options.lang)
    options.memo[key] = text.encode("utf-8")
    return text


@register
class HtmlRenderer(Renderer):
    """Self-contained HTML (module docstring)."""

    name = "html"
    output_file_extensions = (".html", ".htm")

    def render(self, document: Document, options: RenderOptions) -> bytes:
        return render_html(document, options).encode("utf-8")
