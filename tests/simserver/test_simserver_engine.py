"""The engine model in model time: exact schedules from hand-computed formulas, no sleeping."""

from __future__ import annotations

import itertools

import pytest

from recorders.simserver.engine import MS, Engine, Failure, FixedTiming, S, Sequence, Token
from recorders.simserver.scenario import load_scenario

# Easy numbers: iteration = cpu 1 ms + decode (10 + 1 * batch) ms [+ prefill 5 + 2 ms per 1k tokens].
_BASE = {
    "engine.cpu_ms": 1.0,
    "engine.cpu_ms_per_seq": 0.0,
    "engine.tokenize_ms_per_1k": 0.0,
    "engine.decode_ms": 10.0,
    "engine.decode_ms_per_seq": 1.0,
    "engine.prefill_ms": 5.0,
    "engine.prefill_ms_per_1k": 2000.0,  # 2 ms per prompt token: easy to see
}


def _engine(**overrides: object) -> Engine:
    return Engine(load_scenario("steady", {**_BASE, **overrides}), seed=1)


def _run_all(engine: Engine, *seqs: Sequence) -> list[Token | Failure]:
    """Submit ``seqs`` at their arrival times and run the engine until it is idle."""
    for seq in seqs:
        engine.submit(seq, seq.arrival_ns)
    return engine.tick(max(seq.arrival_ns for seq in seqs)) + _run(engine, 600 * S)


def _run(engine: Engine, until: int) -> list[Token | Failure]:
    """Drive the engine deadline by deadline, as the server's scheduler does."""
    events: list[Token | Failure] = []
    while engine.deadline is not None and engine.deadline <= until:
        events += engine.tick(engine.deadline)
    return events


def test_single_request_schedule_is_absolute_and_exact() -> None:
    engine = _engine()
    seq = Sequence("a", prompt_tokens=10, n_out=3, arrival_ns=0)
    assert engine.submit(seq, 0) is None
    events = engine.tick(0)  # plans the first iteration at the arrival
    assert events == []
    # prefill iteration: cpu 1 + decode (10 + 1) + prefill (5 + 2 * 10) = 37 ms
    assert engine.deadline == 37 * MS
    events = _run(engine, 10 * S)
    times = [e.t_ns for e in events if isinstance(e, Token)]
    assert times == [37 * MS, (37 + 12) * MS, (37 + 24) * MS]  # then decode steps of 1 + 11 ms
    assert [e.last for e in events if isinstance(e, Token)] == [False, False, True]
    assert engine.running == [] and engine.kv_used == 0 and engine.deadline is None


def test_continuous_batching_admits_between_steps_and_decode_grows_with_batch() -> None:
    engine = _engine()
    first = Sequence("a", prompt_tokens=1, n_out=10, arrival_ns=0)
    engine.submit(first, 0)
    engine.tick(0)  # iteration 0..(1 + 11 + 5 + 2) = 19 ms
    late = Sequence("b", prompt_tokens=1, n_out=2, arrival_ns=5 * MS)
    engine.submit(late, 5 * MS)  # arrives mid-iteration: joins at the next step
    events = engine.tick(19 * MS)
    assert [(e.seq.rid, e.t_ns) for e in events] == [("a", 19 * MS)]
    # next iteration has both: cpu 1 + decode (10 + 2 * 1) + prefill of b (5 + 2 * 1) = 20 ms
    assert engine.deadline == 39 * MS
    events = engine.tick(39 * MS)
    assert {e.seq.rid for e in events} == {"a", "b"}
    assert late.first_token_ns == 39 * MS  # TTFT of b = 34 ms


def test_max_batch_queues_the_rest() -> None:
    engine = _engine(**{"engine.max_batch": 2})
    seqs = [Sequence(str(i), prompt_tokens=1, n_out=1, arrival_ns=0) for i in range(3)]
    for seq in seqs:
        engine.submit(seq, 0)
    engine.tick(0)
    assert len(engine.running) == 2 and len(engine.waiting) == 1
    _run(engine, 10 * S)
    assert all(seq.finished for seq in seqs)
    assert seqs[2].first_token_ns is not None and seqs[2].first_token_ns > seqs[0].first_token_ns  # type: ignore[operator]


def test_preemption_when_kv_runs_out() -> None:
    engine = _engine(**{"engine.kv_cache_tokens": 12})
    a = Sequence("a", prompt_tokens=4, n_out=8, arrival_ns=0)
    b = Sequence("b", prompt_tokens=4, n_out=8, arrival_ns=0)
    events = _run_all(engine, a, b)
    assert engine.preemptions >= 1
    assert not any(isinstance(e, Failure) for e in events)
    assert a.emitted == 8 and b.emitted == 8  # a preempted request recomputes and still finishes


def test_kv_policy_oom_fails_inside_the_stream_then_engine_dies_and_recovers() -> None:
    engine = _engine(
        **{
            "engine.kv_cache_tokens": 12,
            "engine.kv_policy": "oom",
            "faults.oom_fatal_after_s": 1.0,
            "faults.recover_after_s": 2.0,
        }
    )
    events = _run_all(engine, Sequence("a", 4, 8, 0), Sequence("b", 4, 8, 0))
    failures = [e for e in events if isinstance(e, Failure)]
    assert len(failures) == 1 and failures[0].error.outcome == "oom"
    assert failures[0].seq.emitted > 0  # after some text
    assert "CUDA out of memory" in failures[0].error.message
    # one second after the first OOM the next plan kills the engine: everything gets a 500
    t = failures[0].t_ns + S
    c = Sequence("c", prompt_tokens=1, n_out=3, arrival_ns=t)
    assert engine.submit(c, t) is None
    dead = engine.tick(t)
    assert [(e.seq.rid, e.error.status, e.error.outcome) for e in dead if isinstance(e, Failure)] == [
        ("c", 500, "server_error")
    ]
    assert engine.dead(t + S)
    refused = engine.submit(Sequence("d", 1, 1, t + S), t + S)
    assert refused is not None and refused.status == 500
    assert not engine.dead(t + 2 * S)  # restarted
    assert engine.submit(Sequence("e", 1, 1, t + 2 * S), t + 2 * S) is None


def test_queue_timeout_fails_waiting_requests_only() -> None:
    engine = _engine(**{"engine.max_batch": 1, "engine.queue_timeout_s": 0.05})
    a = Sequence("a", prompt_tokens=1, n_out=20, arrival_ns=0)
    events = _run_all(engine, a, Sequence("b", prompt_tokens=1, n_out=1, arrival_ns=0))
    failures = [e for e in events if isinstance(e, Failure)]
    assert [(f.seq.rid, f.error.status, f.error.outcome) for f in failures] == [("b", 504, "queue_timeout")]
    assert 50 * MS <= failures[0].t_ns < 80 * MS  # noticed at the first step boundary past the limit
    assert "timed out" in failures[0].error.message
    assert a.emitted == 20


def test_regression_slows_decode_from_the_set_time() -> None:
    engine = _engine(**{"faults.regression_at_s": 1.0, "faults.regression_factor": 3.0})
    seq = Sequence("a", prompt_tokens=1, n_out=200, arrival_ns=0)
    engine.submit(seq, 0)
    tokens = [e for e in engine.tick(0) + _run(engine, 60 * S) if isinstance(e, Token)]
    gaps = [b.t_ns - a.t_ns for a, b in itertools.pairwise(tokens)]
    assert gaps[1] == 12 * MS  # 1 + 11
    assert gaps[-1] == 34 * MS  # 1 + 3 * 11
    assert engine.regressed(2 * S) and not engine.regressed(S // 2)


def test_cpu_time_leaves_the_gpu_idle() -> None:
    engine = _engine(**{"engine.cpu_ms": 30.0})
    engine.submit(Sequence("a", prompt_tokens=1, n_out=100, arrival_ns=0), 0)
    engine.tick(0)
    _run(engine, 2 * S)
    # steps of 30 ms CPU + 11 ms GPU: utilization 11 / 41
    assert engine.busy_fraction(2 * S) == pytest.approx(11 / 41, abs=0.02)


def test_leak_grows_memory_and_ends_in_oom() -> None:
    engine = _engine(**{"gpu.leak_mib_per_s": 1000.0})
    engine.submit(Sequence("a", 1, 1, 0), 0)
    engine.tick(0)
    _run(engine, S)
    before = engine.memory_used_mib(S)
    assert engine.memory_used_mib(3 * S) == pytest.approx(before + 2000, rel=1e-6)
    late = 20 * S  # 0.1 * 81559 MiB of headroom is gone after ~8 s
    seq = Sequence("b", 1, 1, late)
    engine.submit(seq, late)
    failures = [e for e in engine.tick(late) if isinstance(e, Failure)]
    assert failures and failures[0].error.outcome == "oom"


def test_jitter_is_deterministic_for_a_seed() -> None:
    def schedule(seed: int) -> list[int]:
        engine = Engine(load_scenario("steady", {**_BASE, "engine.jitter": 0.2}), seed=seed)
        engine.submit(Sequence("a", 1, 30, 0), 0)
        return [e.t_ns for e in engine.tick(0) + _run(engine, 60 * S)]

    assert schedule(3) == schedule(3)
    assert schedule(3) != schedule(4)


def test_fixed_timing() -> None:
    fixed = FixedTiming(load_scenario("fixed-timing"), seed=1)
    seq = Sequence("a", 1, 3, arrival_ns=5 * MS)
    fixed.submit(seq, 5 * MS)
    assert fixed.deadline == 105 * MS
    assert fixed.tick(104 * MS) == []  # never early
    events = fixed.tick(10 * S)
    assert [e.t_ns for e in events] == [105 * MS, 125 * MS, 145 * MS]
    assert fixed.running == []
