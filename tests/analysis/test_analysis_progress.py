"""The progress bar: on a terminal, once work takes long enough, the phases show on stderr; off, nothing."""

from __future__ import annotations

import io

import pytest
from analysis_traces import T0, S, request, table

from traceanalyzer import progress
from traceanalyzer.analysis import analyze
from traceanalyzer.loader import Capture


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _capture() -> Capture:
    return Capture(requests=table("requests", [request(f"q{i}", T0 + i * S, [1000, 2000]) for i in range(5)]))


def _terminal(monkeypatch: pytest.MonkeyPatch) -> Terminal:
    """stderr as a terminal (set in the test itself: pytest sets its own stderr after fixtures run)."""
    stream = Terminal()
    monkeypatch.setattr("sys.stderr", stream)
    monkeypatch.setattr(progress, "DELAY_S", 0.0)
    return stream


def test_phases_show_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _terminal(monkeypatch)
    progress.configure(enabled=True)
    try:
        analyze(_capture())
    finally:
        progress.stop()
    shown = terminal.getvalue()
    assert "stages" in shown and "reducing chunk offsets" in shown


def test_nothing_shows_when_off(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _terminal(monkeypatch)
    progress.configure(enabled=False)
    analyze(_capture())
    progress.stop()
    assert terminal.getvalue() == ""
