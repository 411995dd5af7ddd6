"""Typed results of the conversations stage (:mod:`traceanalyzer.metrics.conversations`) and their
summary@1 form (``to_summary``, the contract's ``conversations`` key)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TurnRow:
    """Latency and tokens of every conversation request at one turn (0-based); seconds, fractions."""

    turn: int
    requests: int
    ok: int
    prompt_tokens_p50: float | None
    cached_share: float | None
    """Cached / prompt tokens summed over the turn's successful requests that reported both."""
    ttft_p50_s: float | None
    ttft_p95_s: float | None
    tpot_p50_s: float | None
    e2e_p95_s: float | None
    error_rate: float | None
    recall: float | None = None
    """Share of the turn's answers holding every ``expected`` item (None when no turn request had any)."""

    def to_summary(self) -> dict[str, Any]:
        return {
            "turn": self.turn,
            "requests": self.requests,
            "prompt_tokens_p50": self.prompt_tokens_p50,
            "cached_share": self.cached_share,
            "ttft_p50": self.ttft_p50_s,
            "ttft_p95": self.ttft_p95_s,
            "tpot_p50": self.tpot_p50_s,
            "e2e_p95": self.e2e_p95_s,
            "error_rate": self.error_rate,
            "ok": self.ok,
            "recall": self.recall,
        }


@dataclass(frozen=True)
class LineFit:
    """A Theil-Sen line ``intercept + slope * x`` with the slope's 95 % interval, Kendall's tau between x and
    y, its two-sided p-value and the points used."""

    slope: float
    slope_low: float
    slope_high: float
    intercept: float
    tau: float
    p_value: float
    points: int

    def to_summary(self) -> dict[str, Any]:
        return {
            "slope": self.slope,
            "slope_low": self.slope_low,
            "slope_high": self.slope_high,
            "intercept": self.intercept,
            "tau": self.tau,
            "p_value": self.p_value,
            "points": self.points,
        }


@dataclass(frozen=True)
class SessionRef:
    """One conversation: its chat id, turns sent and planned, how long it ran, and where it broke."""

    session_id: str
    turns: int
    planned: int | None
    duration_s: float
    broke_at: int | None = None
    error_class: str | None = None
    message: str | None = None

    def to_summary(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "turns": self.turns,
            "planned": self.planned,
            "duration": self.duration_s,
            "broke_at": self.broke_at,
            "error_class": self.error_class,
            "message": self.message,
        }


@dataclass(frozen=True)
class ConversationsResult:
    """What the conversations stage measured (see :mod:`traceanalyzer.metrics.conversations`)."""

    sessions: int
    turns: int
    """Requests that belong to a conversation (one per turn sent)."""
    by_turn: tuple[TurnRow, ...]
    ttft_fit: LineFit | None
    """TTFT (ms) against uncached prompt tokens (thousands): the slope is ms per 1k uncached tokens."""
    ttft_by_turn: LineFit | None
    """TTFT (ms) against the turn number."""
    prompt_growth: LineFit | None
    """Prompt tokens against the turn number: tokens the history grows by per turn."""
    cached_share: float | None
    cached_share_source: str | None
    """``usage`` (the responses' cached_tokens) or ``server_metrics`` (the engine's prefix-cache counters)."""
    session_completion_rate: float | None
    session_duration: Mapping[str, Any] = field(default_factory=dict)
    """Statistics of session durations (first send to last end), seconds, in the summary's stats shape."""
    context_length_failures_by_turn: Mapping[str, int] = field(default_factory=dict)
    completed: int = 0
    broken: tuple[SessionRef, ...] = ()
    """Sessions with a failed turn, by the turn they broke at (at most 20)."""
    slowest: tuple[SessionRef, ...] = ()
    """The longest sessions, longest first (at most 5)."""
    recall_rate: float | None = None
    """Share of turns with ``expected`` items whose answer held them all."""
    recall_turns: int = 0
    ttft_points: tuple[tuple[float, float], ...] = ()
    """(uncached prompt tokens in thousands, TTFT ms) of at most 600 successful turns, evenly picked in record
    order: what the report draws behind the fitted line (never used for a statistic)."""

    def to_summary(self) -> dict[str, Any]:
        fit = self.ttft_fit
        return {
            "sessions": self.sessions,
            "turns": self.turns,
            "by_turn": [row.to_summary() for row in self.by_turn],
            "ttft_per_1k_uncached_tokens_ms": None if fit is None else fit.slope,
            "ttft_fit": None if fit is None else fit.to_summary(),
            "ttft_per_turn_ms": None if self.ttft_by_turn is None else self.ttft_by_turn.to_summary(),
            "prompt_tokens_per_turn": None if self.prompt_growth is None else self.prompt_growth.slope,
            "cached_share": self.cached_share,
            "cached_share_source": self.cached_share_source,
            "session_completion_rate": self.session_completion_rate,
            "sessions_completed": self.completed,
            "session_duration": dict(self.session_duration),
            "context_length_failures_by_turn": dict(self.context_length_failures_by_turn),
            "broken_sessions": [s.to_summary() for s in self.broken],
            "slowest_sessions": [s.to_summary() for s in self.slowest],
            "recall": {"turns": self.recall_turns, "rate": self.recall_rate},
        }


def _fit(data: Mapping[str, Any] | None) -> LineFit | None:
    return None if data is None else LineFit(**data)


def _session(data: Mapping[str, Any]) -> SessionRef:
    return SessionRef(**{("duration_s" if k == "duration" else k): v for k, v in data.items()})


def conversations_from_summary(data: Mapping[str, Any] | None) -> ConversationsResult | None:
    """The :class:`ConversationsResult` that :meth:`ConversationsResult.to_summary` wrote ``data`` from, as
    far as the summary holds it (the prompt-growth fit keeps only its slope; no TTFT points)."""
    if data is None:
        return None
    growth = data["prompt_tokens_per_turn"]
    nan = float("nan")
    return ConversationsResult(
        sessions=data["sessions"],
        turns=data["turns"],
        by_turn=tuple(
            TurnRow(
                turn=r["turn"],
                requests=r["requests"],
                ok=r["ok"],
                prompt_tokens_p50=r["prompt_tokens_p50"],
                cached_share=r["cached_share"],
                ttft_p50_s=r["ttft_p50"],
                ttft_p95_s=r["ttft_p95"],
                tpot_p50_s=r["tpot_p50"],
                e2e_p95_s=r["e2e_p95"],
                error_rate=r["error_rate"],
                recall=r["recall"],
            )
            for r in data["by_turn"]
        ),
        ttft_fit=_fit(data["ttft_fit"]),
        ttft_by_turn=_fit(data["ttft_per_turn_ms"]),
        prompt_growth=None if growth is None else LineFit(growth, nan, nan, nan, nan, nan, 0),
        cached_share=data["cached_share"],
        cached_share_source=data["cached_share_source"],
        session_completion_rate=data["session_completion_rate"],
        session_duration=dict(data["session_duration"]),
        context_length_failures_by_turn=dict(data["context_length_failures_by_turn"]),
        completed=data["sessions_completed"],
        broken=tuple(_session(s) for s in data["broken_sessions"]),
        slowest=tuple(_session(s) for s in data["slowest_sessions"]),
        recall_rate=data["recall"]["rate"],
        recall_turns=data["recall"]["turns"],
    )
