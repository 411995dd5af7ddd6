"""The engine model: continuous batching on a simulated GPU, in model time (integer monotonic ns).

Pure and synchronous: the server calls :meth:`Engine.submit` when a request arrives and :meth:`Engine.tick`
when the clock reaches :attr:`Engine.deadline`; tests drive it with made-up times, no sleeping.

One iteration, planned at its start ``s``:

1. Requests that waited longer than ``queue_timeout_s`` fail with a timeout (504).
2. Admission, first come first served, while ``running < max_batch``: a request needs
   ``prompt_tokens + tokens already generated + 1`` KV tokens (a preempted request recomputes its output).
   No room: ``kv_policy = "preempt"`` leaves it waiting; ``"oom"`` fails it with CUDA out of memory. A GPU
   whose memory (leak included) cannot hold the request fails it with out of memory too.
3. Every running sequence needs one more KV token. Short of room: ``"preempt"`` sends the newest ones back
   to the head of the queue (``num_preemptions``); ``"oom"`` fails them (an error event after some text).
4. Duration: ``cpu = cpu_ms + cpu_ms_per_seq * B + tokenize_ms_per_1k * T / 1000`` (T: prompt tokens that
   arrived since the last plan; the GPU idles while the CPU works) and
   ``gpu = (decode_ms + decode_ms_per_seq * B) * r + [P > 0] * (prefill_ms + prefill_ms_per_1k * P / 1000)``,
   with B the batch size, P the prefilled tokens (prompt tokens less those found in the prefix cache, see
   :mod:`.prefix_cache`) and r the regression factor once it applies. With
   ``jitter`` > 0 both are multiplied by a seeded log-normal factor. The iteration ends at ``s + cpu + gpu``.
5. At the end, every sequence in the batch emits one token (a new one its first token: TTFT = end -
   arrival). The next iteration starts at that same instant, so the schedule is absolute and never drifts.

OOM cascade: ``oom_fatal_after_s`` after its first out-of-memory failure the engine dies; every request in it
and every new one fails with a 500 until ``recover_after_s`` has passed (never, if 0), then it starts afresh.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from dataclasses import dataclass
from typing import Any

from recorders.simserver import errors
from recorders.simserver.errors import ApiError
from recorders.simserver.scenario import Scenario

MS = 1_000_000  # ns per millisecond
S = 1_000_000_000  # ns per second
_BUSY_HISTORY_NS = 30 * S


@dataclass(eq=False, slots=True)
class Sequence:
    """One request inside the engine. ``n_out`` tokens will be emitted unless it fails or is aborted."""

    rid: str
    prompt_tokens: int
    n_out: int
    arrival_ns: int
    fail_at: int | None = None  # an injected error replaces this token index (>= 1: after some text)
    cached: int = 0  # prompt tokens found in the prefix cache: not prefilled
    emitted: int = 0
    kv: int = 0
    first_token_ns: int | None = None
    finished: bool = False
    owner: Any = None  # the server's per-request state


@dataclass(slots=True, eq=False)  # not frozen: made for every token, and a frozen one costs 3x to create
class Token:
    """Token ``index`` of ``seq`` is due at ``t_ns``; ``last`` when it ends the answer."""

    seq: Sequence
    index: int
    t_ns: int
    last: bool


@dataclass(frozen=True, slots=True)
class Failure:
    """``seq`` fails at ``t_ns`` with ``error``."""

    seq: Sequence
    error: ApiError
    t_ns: int


Event = Token | Failure


class _GpuMemory:
    """Framebuffer use in MiB (the same numbers DCGM reports and the OOM decisions use).

    ``kv_mib_per_token = (total * memory_utilization - weights - runtime) / kv_cache_tokens``;
    ``used = runtime + weights + KV + activation_mib_per_seq * running + leak`` where KV is the whole pool
    when preallocated, else the tokens in use, and ``leak = leak_mib_per_s * seconds since the first request +
    leak_mib_per_request * finished requests``.
    """

    def __init__(self, scenario: Scenario) -> None:
        self.gpu = scenario.gpu
        self.kv_tokens = max(1, scenario.engine.kv_cache_tokens)
        pool = (
            self.gpu.memory_total_mib * self.gpu.memory_utilization
            - self.gpu.weights_mib
            - self.gpu.runtime_mib
        )
        self.kv_mib_per_token = max(pool, 0.0) / self.kv_tokens

    def used_mib(self, kv_used: int, running: int, leak_s: float, finished: int) -> float:
        g = self.gpu
        kv = self.kv_tokens if g.kv_prealloc else kv_used
        leak = g.leak_mib_per_s * leak_s + g.leak_mib_per_request * finished
        return (
            g.runtime_mib
            + g.weights_mib
            + kv * self.kv_mib_per_token
            + g.activation_mib_per_seq * running
            + leak
        )

    def need_mib(self, tokens: int) -> float:
        """Memory one more running sequence of ``tokens`` KV tokens takes."""
        kv = 0.0 if self.gpu.kv_prealloc else tokens * self.kv_mib_per_token
        return kv + self.gpu.activation_mib_per_seq


class _Model:
    """State and gauges both timing models share (what telemetry reads)."""

    def __init__(self, scenario: Scenario) -> None:
        self.faults = scenario.faults
        self.memory = _GpuMemory(scenario)
        self.capacity = max(1, scenario.engine.kv_cache_tokens)
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.kv_used = 0  # KV tokens in use
        self.preemptions = 0
        self.ooms = 0
        self.finished_requests = 0
        self.t_first_arrival: int | None = None

    @property
    def kv_usage(self) -> float:
        """KV cache in use, fraction 0..1 (vLLM's ``kv_cache_usage_perc``)."""
        return min(1.0, self.kv_used / self.capacity)

    def memory_used_mib(self, now: int) -> float:
        """Framebuffer in use at ``now``, MiB (see :class:`_GpuMemory`)."""
        leak_s = 0.0 if self.t_first_arrival is None else max(0, now - self.t_first_arrival) / S
        return self.memory.used_mib(self.kv_used, len(self.running), leak_s, self.finished_requests)

    @staticmethod
    def _emit(seq: Sequence, t: int, events: list[Event]) -> bool:
        """``seq`` emits its next token at ``t``; True when that token ends the answer."""
        index = seq.emitted
        seq.emitted += 1
        if seq.first_token_ns is None:
            seq.first_token_ns = t
        last = seq.emitted >= seq.n_out
        events.append(Token(seq, index, t, last))
        return last


class Engine(_Model):
    """Continuous batching with a KV cache, a queue, faults and GPU-busy bookkeeping (see module doc)."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        super().__init__(scenario)
        self.cfg = scenario.engine
        self.deadline: int | None = None  # end of the iteration in progress (None: idle)
        self.iterations = 0
        self.dead_since: int | None = None
        self._first_oom: int | None = None  # since the last (re)start
        self._batch: list[Sequence] = []
        self._tokenize_tokens = 0
        self._rng = random.Random(seed)
        self._busy: deque[tuple[int, int]] = deque()  # GPU kernel intervals (start, end), ns

    # -- the server's side ----------------------------------------------------------------------------------
    def submit(self, seq: Sequence, now: int) -> ApiError | None:
        """Queue ``seq`` (arrived at ``now``), or return why it is refused at once."""
        if self.dead_since is not None and not self._revive(now):
            return errors.engine_dead()
        if self.cfg.max_queue and len(self.waiting) >= self.cfg.max_queue:
            return errors.overloaded(len(self.waiting))
        if self.t_first_arrival is None:
            self.t_first_arrival = now
        self.waiting.append(seq)
        self._tokenize_tokens += seq.prompt_tokens
        return None

    def abort(self, seq: Sequence) -> None:
        """Drop ``seq`` (client gone); its KV is freed at once."""
        if seq.finished:
            return
        seq.finished = True
        if seq in self.running:
            self.running.remove(seq)
            self.kv_used -= seq.kv
        elif seq in self.waiting:
            self.waiting.remove(seq)
        seq.kv = 0

    def tick(self, now: int) -> list[Event]:
        """Advance model time to ``now``: finish every iteration that ended by then, plan the next ones.

        When idle, an iteration is planned at ``now`` (the server calls this right after a submit).
        """
        events: list[Event] = []
        if self.deadline is None:
            self._plan(now, events)
        while self.deadline is not None and self.deadline <= now:
            end = self.deadline
            self._finish_iteration(end, events)
            self._plan(end, events)
        return events

    def dead(self, now: int) -> bool:
        """Whether the engine is dead at ``now`` (a health check answers 503 then)."""
        return self.dead_since is not None and not self._revive(now)

    # -- gauges ----------------------------------------------------------------------------------------------
    def busy_fraction(self, now: int, window_ns: int = S) -> float:
        """Share of ``[now - window, now]`` with a GPU kernel running (DCGM's GPU_UTIL / 100)."""
        lo = now - window_ns
        busy = 0
        for start, end in self._busy:
            if end > lo and start < now:
                busy += min(end, now) - max(start, lo)
        return min(1.0, busy / window_ns)

    def regressed(self, now: int) -> bool:
        at = self.faults.regression_at_s
        return at > 0 and self.t_first_arrival is not None and now >= self.t_first_arrival + at * S

    # -- the model -------------------------------------------------------------------------------------------
    def _revive(self, now: int) -> bool:
        """Restart a dead engine once ``recover_after_s`` has passed; True if it is alive now."""
        wait = self.faults.recover_after_s
        if self.dead_since is None:
            return True
        if wait > 0 and now >= self.dead_since + wait * S:
            self.dead_since = None
            self._first_oom = None
            return True
        return False

    def _finish_iteration(self, end: int, events: list[Event]) -> None:
        for seq in self._batch:
            if seq.finished:
                continue
            if self._emit(seq, end, events):
                self._release(seq)
                self.finished_requests += 1
        self._batch = []
        self.deadline = None

    def _release(self, seq: Sequence) -> None:
        seq.finished = True
        self.running.remove(seq)
        self.kv_used -= seq.kv
        seq.kv = 0

    def _fail(self, seq: Sequence, error: ApiError, s: int, events: list[Event]) -> None:
        if seq in self.running:
            self._release(seq)
        else:
            seq.finished = True
        events.append(Failure(seq, error, s))

    def _out_of_memory(self, seq: Sequence, need_tokens: int, s: int, events: list[Event]) -> None:
        used = self.memory_used_mib(s)
        free = self.memory.gpu.memory_total_mib - used
        tried = max(self.memory.need_mib(need_tokens), 2.0 * 1024)
        self._fail(seq, errors.out_of_memory(tried, self.memory.gpu.memory_total_mib, free), s, events)
        self.ooms += 1
        if self._first_oom is None:
            self._first_oom = s

    def _fatal(self, s: int) -> bool:
        fatal_after = self.faults.oom_fatal_after_s
        return fatal_after > 0 and self._first_oom is not None and s >= self._first_oom + fatal_after * S

    def _die(self, s: int, events: list[Event]) -> None:
        for seq in [*self.running, *self.waiting]:
            seq.finished = True
            events.append(Failure(seq, errors.engine_dead(), s))
        self.running.clear()
        self.waiting.clear()
        self.kv_used = 0
        self.dead_since = s

    def _expire_queue(self, s: int, events: list[Event]) -> None:
        limit = int(self.cfg.queue_timeout_s * S)
        if limit <= 0 or not self.waiting:
            return
        keep: deque[Sequence] = deque()
        for seq in self.waiting:
            if seq.first_token_ns is None and s - seq.arrival_ns >= limit:
                self._fail(seq, errors.queue_timeout((s - seq.arrival_ns) / S), s, events)
            else:
                keep.append(seq)
        self.waiting = keep

    def _admit(self, s: int, events: list[Event]) -> int:
        """Move waiting sequences into the batch; returns the prefilled tokens."""
        prefill = 0
        while self.waiting and len(self.running) < self.cfg.max_batch:
            seq = self.waiting[0]
            if seq.arrival_ns > s:
                break
            need = seq.prompt_tokens + seq.emitted + 1
            gpu_total = self.memory.gpu.memory_total_mib
            short_of_memory = self.memory_used_mib(s) + self.memory.need_mib(need) > gpu_total
            if not short_of_memory and self.kv_used + need > self.capacity:
                if self.cfg.kv_policy != "oom" and self.running:
                    break  # wait for KV to free up
                short_of_memory = True
            self.waiting.popleft()
            if short_of_memory:
                self._out_of_memory(seq, need, s, events)
                continue
            self.kv_used += need
            seq.kv = need
            self.running.append(seq)
            prefill += max(0, need - 1 - seq.cached)
        return prefill

    def _grow(self, decoding: list[Sequence], s: int, events: list[Event]) -> None:
        """Give every decoding sequence one more KV token, preempting or failing the newest if short."""
        while decoding and self.kv_used + len(decoding) > self.capacity:
            victim = decoding.pop()
            if self.cfg.kv_policy == "oom":
                self._out_of_memory(victim, victim.kv + 1, s, events)
                continue
            self.running.remove(victim)
            self.kv_used -= victim.kv
            victim.kv = 0
            self.waiting.appendleft(victim)
            self.preemptions += 1
        for seq in decoding:
            seq.kv += 1
        self.kv_used += len(decoding)

    def _plan(self, s: int, events: list[Event]) -> None:
        if self.dead_since is not None and not self._revive(s):
            return
        if self._fatal(s):
            self._die(s, events)
            return
        self._expire_queue(s, events)
        decoding = list(self.running)
        prefill = self._admit(s, events)
        self._grow(decoding, s, events)
        for seq in list(self.running):
            if seq.fail_at is not None and seq.emitted >= seq.fail_at:
                self._fail(seq, errors.stream_failure(), s, events)
        if not self.running:
            if self.waiting and self.waiting[0].arrival_ns > s:
                self._plan(self.waiting[0].arrival_ns, events)
            return
        c = self.cfg
        batch = len(self.running)
        cpu_ms = c.cpu_ms + c.cpu_ms_per_seq * batch + c.tokenize_ms_per_1k * self._tokenize_tokens / 1000
        self._tokenize_tokens = 0
        decode_ms = c.decode_ms + c.decode_ms_per_seq * batch
        if self.regressed(s):
            decode_ms *= self.faults.regression_factor
        gpu_ms = decode_ms + (c.prefill_ms + c.prefill_ms_per_1k * prefill / 1000 if prefill else 0.0)
        if c.jitter > 0:
            factor = math.exp(self._rng.gauss(0.0, c.jitter))
            cpu_ms *= factor
            gpu_ms *= factor
        gpu_start = s + round(cpu_ms * MS)
        end = gpu_start + max(1, round(gpu_ms * MS))
        self._busy.append((gpu_start, end))
        while self._busy and self._busy[0][1] < s - _BUSY_HISTORY_NS:
            self._busy.popleft()
        self.deadline = end
        self._batch = list(self.running)
        self.iterations += 1


class FixedTiming(_Model):
    """``timing.mode = "fixed"``: token i of every request at ``arrival + ttft + i * gap``, no engine effects.

    For measuring a client's timing error: the schedule is known exactly from the arrival time alone.
    Offers the same interface as :class:`Engine` (the telemetry shows every request in flight as running).
    """

    def __init__(self, scenario: Scenario, seed: int) -> None:
        super().__init__(scenario)
        self.ttft_ns = round(scenario.timing.ttft_ms * MS)
        self.gap_ns = max(1, round(scenario.timing.gap_ms * MS))
        self._heap: list[tuple[int, int, Sequence]] = []
        self._order = 0

    @property
    def deadline(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def submit(self, seq: Sequence, now: int) -> ApiError | None:
        if self.t_first_arrival is None:
            self.t_first_arrival = now
        self.running.append(seq)
        self.kv_used += seq.prompt_tokens
        self._push(seq.arrival_ns + self.ttft_ns, seq)
        return None

    def _push(self, t: int, seq: Sequence) -> None:
        self._order += 1
        heapq.heappush(self._heap, (t, self._order, seq))

    def abort(self, seq: Sequence) -> None:
        if not seq.finished:
            seq.finished = True
            self.running.remove(seq)
            self.kv_used -= seq.prompt_tokens + seq.emitted

    def tick(self, now: int) -> list[Event]:
        events: list[Event] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            t, _, seq = heapq.heappop(heap)
            if seq.finished:
                continue
            if seq.fail_at is not None and seq.emitted >= seq.fail_at:
                self.abort(seq)
                events.append(Failure(seq, errors.stream_failure(), t))
                continue
            self.kv_used += 1
            if self._emit(seq, t, events):
                self.abort(seq)
                self.finished_requests += 1
            else:
                self._push(t + self.gap_ns, seq)
        return events

    def dead(self, now: int) -> bool:
        return False

    def busy_fraction(self, now: int, window_ns: int = S) -> float:
        return 1.0 if self.running else 0.0

    def regressed(self, now: int) -> bool:
        return False
