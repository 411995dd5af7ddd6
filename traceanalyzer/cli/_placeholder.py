"""Shared text for commands whose implementation has not landed yet."""

from __future__ import annotations

from traceanalyzer.errors import UsageError


def not_built(command: str, issue: str) -> UsageError:
    return UsageError(f"'traceanalyzer {command}' is not built yet ({issue}).")
