"""Renderers: Analysis -> HTML (jinja2), PDF (WeasyPrint), charts (matplotlib)."""

from __future__ import annotations
