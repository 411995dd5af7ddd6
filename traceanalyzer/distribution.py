"""The name this project is installed under, and its installed version.

The import package is ``traceanalyzer``; the distribution (what pip installs, what a wheel is called) is
``llm-traceanalyzer``, because the package index already holds an unrelated ``traceanalyzer``. A capture host
installs the recorders from this checkout or from its wheel (``make wheel``), never by the bare name.
"""

from __future__ import annotations

DISTRIBUTION = "llm-traceanalyzer"
"""The distribution name in pyproject.toml."""

INSTALL = "pip install 'PATH_TO_CHECKOUT_OR_WHEEL[{extra}]'"
"""How to add an extra, for messages: this checkout or the wheel ``make wheel`` builds (see README)."""


def installed_version() -> str:
    """The installed version of :data:`DISTRIBUTION` (``0+unknown`` when running from a bare source tree)."""
    try:
        from importlib.metadata import version

        return version(DISTRIBUTION)
    except Exception:  # pragma: no cover - only without an installed distribution
        return "0+unknown"


def install_hint(extra: str) -> str:
    """The command that adds ``extra`` (``record``, ``report``, ``consistency``)."""
    return INSTALL.format(extra=extra)
