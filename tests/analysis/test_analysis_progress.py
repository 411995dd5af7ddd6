"""The progress bar: on a terminal, once work takes long enough, the phases show on stderr; off, nothing."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from analysis_traces import T0, S, request, table
from test_analysis_cli import write_capture

from traceanalyzer import progress
from traceanalyzer.analysis import analyze
from traceanalyzer.api import render
from traceanalyzer.cli import main
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


def test_rendering_shows_as_a_phase(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    terminal = _terminal(monkeypatch)
    with progress.shown(enabled=True):
        result = analyze(_capture())
        written = render(result, [tmp_path / "summary.json"])
    assert written == [tmp_path / "summary.json"] and (tmp_path / "summary.json").exists()
    assert "rendering" in terminal.getvalue()


def test_report_quiet_shows_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    capture = write_capture(tmp_path)
    terminal = _terminal(monkeypatch)
    with pytest.raises(SystemExit) as info:
        main(["report", str(capture), "-o", str(tmp_path / "summary.json"), "--quiet"])
    assert info.value.code in (0, None)
    assert "rendering" not in terminal.getvalue() and "stages" not in terminal.getvalue()
