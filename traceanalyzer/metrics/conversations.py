"""Multi-turn chat sessions: latency and tokens by turn, the cost of context, the prefix cache's effect,
session outcomes and key-information recall (summary key ``conversations``).

Requests belong to a conversation when they carry ``session_id``; ``turn`` is 0-based (by send order within
the session where the records carry no turn, as traces imported from Langfuse). Over them:

- by turn: requests, prompt tokens p50 (usage), cached share = sum of ``cached_tokens`` / sum of
  ``prompt_tokens`` over the turn's successful requests reporting both, TTFT p50 / p95, TPOT p50, E2E p95
  (successful requests), error rate (failed / requests), recall (below);
- the cost of context: a Theil-Sen line of TTFT (ms) against uncached prompt tokens (``prompt_tokens -
  cached_tokens``, in thousands; ``cached_tokens`` counts as 0 where not reported), whose slope is the prefill
  cost per 1k uncached tokens (``ttft_per_1k_uncached_tokens_ms``), with its interval and Kendall's tau; the
  Theil-Sen slopes of TTFT and of prompt tokens against the turn (the history's growth per turn);
- the cache: overall cached share from usage; without any ``cached_tokens``, from the engine's prefix-cache
  counters (``vllm:prefix_cache_hits`` / ``vllm:prefix_cache_queries``, last minus first sample), and by turn
  from how the hits rose between scrapes against the prompt tokens each turn sent meanwhile (non-negative
  least squares, :func:`_counter_shares_by_turn`);
- sessions: a session is complete when every turn it planned (``session_turns``, else the turns sent)
  succeeded; completion rate over all sessions; session duration from its first ``t_send`` to its last
  ``t_end``; broken sessions (a failed turn) with the turn and error class they broke on;
  context-length failures by turn;
- recall: a turn whose prompt gave ``expected`` items counts as recalled when its answer holds them all
  (substring or regex, as in the consistency stage).

Findings (stable ids): ``context_growth`` (TTFT p95 of the later half of the turns above the TTFT SLO while
the earlier half holds it), ``cache_ineffective`` (histories are resent but at most 20 % of the prompt tokens
of turns after the first came from the cache), ``context_overflow`` (context-length failures, from turn k
on).
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa

from traceanalyzer.conversation_results import ConversationsResult, LineFit, SessionRef, TurnRow
from traceanalyzer.diagnosis.stats import trend
from traceanalyzer.metrics.context import StageContext
from traceanalyzer.metrics.stats import describe, quantiles
from traceanalyzer.model import Analysis, Finding

CACHE_INEFFECTIVE_SHARE = 0.2
"""Cached share of later turns' prompt tokens at or below which the cache is called ineffective."""
MAX_BROKEN = 20
MAX_SLOWEST = 5
MAX_POINTS = 600
_COLUMNS = ("session_id", "turn", "session_turns", "prompt_tokens", "cached_tokens", "history_chars")


def _column(table: pa.Table, name: str) -> pd.Series:
    if name not in table.column_names:
        return pd.Series([None] * table.num_rows, dtype=object)
    return table.column(name).to_pandas()


def _in_session(ctx: StageContext) -> np.ndarray:
    """Per row of ``ctx.requests``: whether its request belongs to a conversation (has ``session_id``)."""
    table = ctx.request_table
    if "session_id" not in table.column_names:
        return np.zeros(len(ctx.requests), dtype=bool)
    valid = np.asarray(table.column("session_id").is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    return valid[ctx.requests["row"].to_numpy()]


def _frame(ctx: StageContext, in_session: np.ndarray) -> pd.DataFrame:
    """The conversation requests (rows of ``ctx.requests`` where ``in_session``): the shared per-request
    frame plus the conversation columns."""
    columns = ["row", "send_s", "end_s", "ttft_s", "tpot_s", "e2e_s", "ok", "error_class"]
    conv = ctx.requests.loc[in_session, columns].copy()
    # only the conversation rows' strings are read (``requests.row`` indexes ``request_table``)
    table = ctx.request_table.take(pa.array(conv["row"].to_numpy()))
    for name in (*_COLUMNS, "error_message", "text", "expected"):
        conv[name] = _column(table, name).to_numpy()
    turn = pd.to_numeric(conv["turn"], errors="coerce")
    if turn.isna().any():
        # imported production traces (Langfuse) know the chat id but not the turn: number by send order
        order = conv.groupby("session_id")["send_s"].rank(method="first") - 1
        conv["turn"] = turn.where(turn.notna(), order)
        ctx.note("conversations", "turns numbered by send order within each session where records carry none")
    return conv


def _fit(x: np.ndarray, y: np.ndarray) -> LineFit | None:
    order = np.argsort(x, kind="stable")
    t = trend(x[order], y[order])
    if t is None:
        return None
    return LineFit(t.slope, t.slope_low, t.slope_high, t.intercept, t.tau, t.p_value, t.n)


def _share(cached: pd.Series, prompt: pd.Series) -> float | None:
    both = cached.notna() & prompt.notna()
    total = float(prompt[both].sum())
    return float(cached[both].sum()) / total if both.any() and total > 0 else None


def _recall(group: pd.DataFrame) -> tuple[int, int]:
    """(turns with expected items, turns whose answer held them all)."""
    from traceanalyzer.consistency.exact import contains_all

    asked = hits = 0
    for expected, text in zip(group["expected"], group["text"], strict=True):
        if expected is None or len(expected) == 0:
            continue
        asked += 1
        hits += bool(isinstance(text, str) and contains_all(text, list(expected)))
    return asked, hits


def _turn_row(turn: int, group: pd.DataFrame) -> TurnRow:
    ok = group[group["ok"]]
    ttft = quantiles(ok["ttft_s"].to_numpy(dtype=float), (0.5, 0.95))
    (tpot,) = quantiles(ok["tpot_s"].to_numpy(dtype=float), (0.5,))
    (e2e,) = quantiles(ok["e2e_s"].to_numpy(dtype=float), (0.95,))
    (tokens,) = quantiles(pd.to_numeric(ok["prompt_tokens"]).to_numpy(dtype=float), (0.5,))
    asked, hits = _recall(group)
    return TurnRow(
        turn=turn,
        requests=len(group),
        ok=len(ok),
        prompt_tokens_p50=tokens,
        cached_share=_share(pd.to_numeric(ok["cached_tokens"]), pd.to_numeric(ok["prompt_tokens"])),
        ttft_p50_s=ttft[0],
        ttft_p95_s=ttft[1],
        tpot_p50_s=tpot,
        e2e_p95_s=e2e,
        error_rate=(len(group) - len(ok)) / len(group),
        recall=hits / asked if asked else None,
    )


def _counters(ctx: StageContext) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(sample times in seconds since the origin, cumulative prefix-cache hits, queries) from the engine's
    scrapes, in time order; None with fewer than two samples carrying both counters."""
    table: pa.Table = ctx.capture.server
    if not table.num_rows or "metrics" not in table.column_names:
        return None
    rows: list[tuple[float, float, float]] = []
    for t, metrics in zip(table.column("t").to_pylist(), table.column("metrics").to_pylist(), strict=True):
        values = dict(metrics or [])
        h = next((v for k, v in values.items() if "prefix_cache_hits" in k), None)
        q = next((v for k, v in values.items() if "prefix_cache_queries" in k), None)
        if h is not None and q is not None and t is not None:
            rows.append(((t - ctx.t0_ns) / 1e9, h, q))
    if len(rows) < 2:
        return None
    t_s, hits, queries = (np.array(c, dtype=float) for c in zip(*sorted(rows), strict=True))
    return t_s, hits, queries


def _counter_share(counters: tuple[np.ndarray, np.ndarray, np.ndarray] | None) -> float | None:
    """Cached share from the engine's prefix-cache counters: (last - first) hits / (last - first) queries."""
    if counters is None:
        return None
    _, hits, queries = counters
    if queries[-1] <= queries[0]:
        return None
    return float((hits[-1] - hits[0]) / (queries[-1] - queries[0]))


def _counter_shares_by_turn(
    counters: tuple[np.ndarray, np.ndarray, np.ndarray] | None, ctx: StageContext, frame: pd.DataFrame
) -> dict[int, float]:
    """Cached share per turn from the engine's counters, when the responses do not report cached tokens.

    Between two scrapes the hits rose by ``sum over turns k of share_k * P_k`` (``P_k``: prompt tokens of the
    successful turn-k requests sent in that interval; requests outside conversations form one more column).
    The shares are the non-negative least-squares solution over all intervals (a counter reset drops its
    interval), capped at 1; a turn with too few tokens to be determined is left out.
    """
    if counters is None:
        return {}
    from scipy.optimize import nnls

    t_s, hits, _ = counters
    ok = ctx.requests[ctx.requests["ok"]]
    sent = ok["send_s"].to_numpy(dtype=float)
    tokens = pd.to_numeric(
        pd.Series(_column(ctx.request_table, "prompt_tokens").to_numpy()[ok["row"]])
    ).to_numpy(dtype=float)
    turns = frame.set_index("row")["turn"].reindex(ok["row"]).to_numpy(dtype=float)
    interval = np.searchsorted(t_s, sent, side="right") - 1
    keep = (interval >= 0) & (interval < t_s.size - 1) & np.isfinite(tokens)
    labels = sorted({int(k) for k in turns[keep & np.isfinite(turns)]})
    column = {k: i for i, k in enumerate(labels)}
    matrix = np.zeros((t_s.size - 1, len(labels) + 1))
    for i, k, n in zip(interval[keep], turns[keep], tokens[keep], strict=True):
        matrix[i, column[int(k)] if np.isfinite(k) else len(labels)] += n
    delta = np.diff(hits)
    valid = delta >= 0
    if valid.sum() < len(labels) + 1:
        return {}
    solution, _ = nnls(matrix[valid], delta[valid])
    totals = matrix[valid].sum(axis=0)
    return {k: min(1.0, float(solution[column[k]])) for k in labels if totals[column[k]] > 0}


def _sessions(frame: pd.DataFrame) -> tuple[list[SessionRef], int]:
    """Every session as a :class:`SessionRef`, and how many completed."""
    out: list[SessionRef] = []
    completed = 0
    for sid, group in frame.sort_values(["send_s"]).groupby("session_id", sort=False):
        planned_values = pd.to_numeric(group["session_turns"]).dropna()
        planned = int(planned_values.max()) if len(planned_values) else None
        duration = float(group["end_s"].max() - group["send_s"].min())
        failed = group[~group["ok"]]
        if failed.empty:
            completed += len(group) >= (planned or len(group))
            out.append(SessionRef(str(sid), len(group), planned, duration))
            continue
        first = failed.sort_values("turn").iloc[0]
        message = first["error_message"]
        out.append(
            SessionRef(
                str(sid),
                len(group),
                planned,
                duration,
                broke_at=int(first["turn"]),
                error_class=str(first["error_class"]),
                message=None if message is None or pd.isna(message) else str(message)[:300],
            )
        )
    return out, completed


def _findings(ctx: StageContext, frame: pd.DataFrame, result: ConversationsResult) -> list[Finding]:
    findings: list[Finding] = []
    span = (float(frame["send_s"].min()), float(frame["end_s"].max()))
    slo = ctx.options.slo.ttft_p95_s
    turns = sorted(int(t) for t in frame["turn"].dropna().unique())
    ok = frame[frame["ok"]]
    if slo is not None and len(turns) >= 2:
        middle = turns[(len(turns) - 1) // 2]
        (early,) = quantiles(ok[ok["turn"] <= middle]["ttft_s"].to_numpy(dtype=float), (0.95,))
        (late,) = quantiles(ok[ok["turn"] > middle]["ttft_s"].to_numpy(dtype=float), (0.95,))
        if early is not None and late is not None and early <= slo < late:
            findings.append(
                Finding(
                    "context_growth",
                    "warning",
                    *span,
                    f"TTFT p95 of turns after {middle} is {late:.2f} s, above the {slo:g} s objective that "
                    f"turns up to {middle} hold ({early:.2f} s): the resent history costs prefill time.",
                    {
                        "early_turns_ttft_p95_s": early,
                        "late_turns_ttft_p95_s": late,
                        "split_after_turn": middle,
                    },
                )
            )
    later = ok[(pd.to_numeric(ok["turn"]) > 0) & (pd.to_numeric(ok["history_chars"]).fillna(0) > 0)]
    share = _share(pd.to_numeric(later["cached_tokens"]), pd.to_numeric(later["prompt_tokens"]))
    source = "usage"
    if share is None and result.cached_share_source == "server_metrics":
        share, source = result.cached_share, "server_metrics"
    if share is not None and len(later) and share <= CACHE_INEFFECTIVE_SHARE:
        findings.append(
            Finding(
                "cache_ineffective",
                "warning",
                *span,
                f"{len(later)} turns resent their history, yet only {share:.0%} of their prompt tokens came "
                "from the prefix cache: every turn pays prefill for the whole conversation.",
                {"cached_share": share, "source": source, "turns": len(later)},
            )
        )
    if result.context_length_failures_by_turn:
        first = min(int(k) for k in result.context_length_failures_by_turn)
        count = sum(result.context_length_failures_by_turn.values())
        findings.append(
            Finding(
                "context_overflow",
                "warning",
                *span,
                f"{count} conversation turns failed because the context window was full, from turn "
                f"{first} on.",
                {
                    "first_turn": first,
                    "failures": count,
                    "by_turn": dict(result.context_length_failures_by_turn),
                },
            )
        )
    return findings


def conversations_stage(ctx: StageContext, analysis: Analysis) -> Analysis:
    """The ``conversations`` result and its findings (module docstring); None without conversations."""
    in_session = _in_session(ctx)
    if not in_session.any():
        return analysis
    frame = _frame(ctx, in_session)
    frame["turn"] = pd.to_numeric(frame["turn"])
    rows = tuple(_turn_row(int(cast(float, turn)), group) for turn, group in frame.groupby("turn", sort=True))
    counters = _counters(ctx)
    if all(r.cached_share is None for r in rows):
        by_counter = _counter_shares_by_turn(counters, ctx, frame)
        rows = tuple(dataclasses.replace(r, cached_share=by_counter.get(r.turn)) for r in rows)
    ok = frame[frame["ok"]]
    prompt = pd.to_numeric(ok["prompt_tokens"]).to_numpy(dtype=float)
    cached = pd.to_numeric(ok["cached_tokens"]).fillna(0).to_numpy(dtype=float)
    ttft_ms = ok["ttft_s"].to_numpy(dtype=float) * 1000
    turn = ok["turn"].to_numpy(dtype=float)
    share = _share(pd.to_numeric(ok["cached_tokens"]), pd.to_numeric(ok["prompt_tokens"]))
    source: str | None = "usage" if share is not None else None
    if share is None:
        share = _counter_share(counters)
        source = "server_metrics" if share is not None else None
    sessions, completed = _sessions(frame)
    overflow = frame[frame["error_class"] == "context_length"]
    by_turn_overflow = {str(int(cast(float, t))): int(n) for t, n in overflow.groupby("turn").size().items()}
    recall_asked, recall_hits = _recall(frame)
    durations = describe([s.duration_s for s in sessions])
    result = ConversationsResult(
        sessions=len(sessions),
        turns=len(frame),
        by_turn=rows,
        ttft_fit=_fit((prompt - cached) / 1000, ttft_ms),
        ttft_by_turn=_fit(turn, ttft_ms),
        prompt_growth=_fit(turn, prompt),
        cached_share=share,
        cached_share_source=source,
        session_completion_rate=completed / len(sessions) if sessions else None,
        session_duration=_stats_dict(durations),
        context_length_failures_by_turn=by_turn_overflow,
        completed=completed,
        broken=tuple(sorted((s for s in sessions if s.broke_at is not None), key=lambda s: s.broke_at or 0))[
            :MAX_BROKEN
        ],
        slowest=tuple(sorted(sessions, key=lambda s: -s.duration_s))[:MAX_SLOWEST],
        recall_rate=recall_hits / recall_asked if recall_asked else None,
        recall_turns=recall_asked,
        ttft_points=_points((prompt - cached) / 1000, ttft_ms),
    )
    findings = _findings(ctx, frame, result)
    return dataclasses.replace(analysis, conversations=result, findings=(*analysis.findings, *findings))


def _points(x: np.ndarray, y: np.ndarray) -> tuple[tuple[float, float], ...]:
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size > MAX_POINTS:
        pick = np.linspace(0, x.size - 1, MAX_POINTS).astype(np.int64)
        x, y = x[pick], y[pick]
    return tuple((round(float(a), 4), round(float(b), 3)) for a, b in zip(x, y, strict=True))


def _stats_dict(stats: Any) -> dict[str, Any]:
    return {f.name: getattr(stats, f.name) for f in dataclasses.fields(stats)}
