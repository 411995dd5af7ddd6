"""The conversations stage's findings and session outcomes on hand-made captures (exact numbers)."""

from __future__ import annotations

from typing import Any

from analysis_traces import MS, T0, S, build_capture, request

from traceanalyzer.analysis import analyze
from traceanalyzer.model import AnalysisOptions


def _turn(sid: str, turn: int, t_send: int, ttft_ms: int, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "session_id": sid,
        "turn": turn,
        "session_turns": 4,
        "prompt_tokens": 1000 * (turn + 1),
        "history_chars": 4000 * turn,
    }
    fields.update(extra)
    error = fields.pop("error", None)
    chunks = () if error else (ttft_ms * 1000, ttft_ms * 1000 + 20_000)
    return request(f"{sid}-{turn}", t_send, chunks, error=error, **fields)


def test_growth_uncached_history_and_overflow_are_found() -> None:
    rows = []
    for s in range(3):
        t = T0 + s * 10 * S
        rows += [_turn(f"s{s}", k, t + k * 2 * S, 300 + 600 * k, cached_tokens=0) for k in range(3)]
        rows.append(_turn(f"s{s}", 3, t + 6 * S, 0, error=("context_length", 400)))
    rows.append(_turn("ok", 0, T0 + 40 * S, 200, cached_tokens=0, session_turns=1))
    analysis = analyze(build_capture(requests=rows), AnalysisOptions())
    conv = analysis.conversations
    assert conv is not None
    assert (conv.sessions, conv.turns, conv.completed) == (4, 13, 1)
    assert conv.context_length_failures_by_turn == {"3": 3}
    assert [b.broke_at for b in conv.broken] == [3, 3, 3]
    assert [r.turn for r in conv.by_turn] == [0, 1, 2, 3] and conv.by_turn[3].error_rate == 1.0
    assert conv.prompt_growth is not None and conv.prompt_growth.slope == 1000
    assert conv.ttft_fit is not None and abs(conv.ttft_fit.slope - 600) < 1e-6  # ms per 1k uncached tokens
    rules = {f.rule: f for f in analysis.findings}
    assert rules["context_growth"].evidence["late_turns_ttft_p95_s"] > 1.0
    assert rules["cache_ineffective"].evidence["cached_share"] == 0.0
    assert rules["context_overflow"].evidence["first_turn"] == 3


def test_a_capture_without_conversations_has_none() -> None:
    analysis = analyze(build_capture(requests=[request("a", T0, (100 * MS // 1000,))]), AnalysisOptions())
    assert analysis.conversations is None
    assert not [f for f in analysis.findings if f.rule.startswith(("context_", "cache_"))]
