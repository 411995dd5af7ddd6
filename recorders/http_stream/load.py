"""Load patterns as arithmetic: durations, stages, ramps, arrival gaps, and how a load splits over workers.

Nothing here touches the clock or the network, so schedules are tested with exact numbers; the asyncio side
that follows these plans lives in :mod:`recorders.http_stream.driver`.

Stage syntax (``--stages``), a comma-separated list, each ``DURATION@LEVEL``:

- ``60s@8``: closed loop, 8 concurrent users for 60 s;
- ``60s@20/s`` (or ``20rps``): open loop, 20 requests/s (arrivals per ``--arrival``) for 60 s;
- ``@32``: no duration (only in last place): runs until ``--duration``, ``--requests`` or a signal.

Ramp syntax, one step ramp that grows until the run's bounds end it: ``+10 users every 5m`` (start at 10
users, add 10 every 5 minutes), with optional ``from N`` (first level) and ``to N`` (the last level, held
until the run ends), and ``rps`` or ``/s`` instead of ``users`` for an open-loop ramp:
``+5 rps every 1m to 50``.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass

from traceanalyzer.errors import UsageError

_UNITS_S = {
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hrs": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*", re.I)
_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_STAGE = re.compile(rf"^\s*(?P<dur>[^@]*?)\s*@\s*{_NUMBER}\s*(?P<unit>users?|u|/s|rps|r/s|req/s)?\s*$", re.I)
_RAMP = re.compile(
    rf"^\s*\+\s*{_NUMBER}\s*(?P<unit>users?|u|/s|rps|r/s|req/s)?\s+every\s+(?P<every>.+?)"
    rf"(?:\s+from\s+(?P<start>{_NUMBER[1:-1]}))?(?:\s+(?:to|up to|until)\s+(?P<limit>{_NUMBER[1:-1]}))?\s*$",
    re.I,
)


def parse_duration(text: str | float | int, *, what: str = "duration") -> float:
    """Seconds from ``"90"`` (a bare number is seconds), ``"90s"``, ``"10m"``, ``"1h30m"``, ``"5 minutes"``,
    ``"250ms"``."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        s = text.strip().lower()
        if not s:
            raise UsageError(f"empty {what}")
        value, pos = 0.0, 0
        while pos < len(s):
            m = _DURATION_PART.match(s, pos)
            if m is None or m.end() == pos:
                raise UsageError(f"bad {what} {text!r}: use e.g. 90, 90s, 10m, 1h30m")
            unit = m.group(2) or "s"
            if unit not in _UNITS_S:
                raise UsageError(f"bad {what} {text!r}: unknown unit {unit!r}")
            value += float(m.group(1)) * _UNITS_S[unit]
            pos = m.end()
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"bad {what} {text!r}: must be a finite number of seconds >= 0")
    return value


def format_duration(seconds: float) -> str:
    """Short form used in stage labels: ``60s``, ``5m``, ``1h``, ``90s``, ``0.5s``."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


@dataclass(frozen=True, slots=True)
class Stage:
    """One load level held for a while: exactly one of ``users`` (closed loop), ``rate`` (open loop) is set.

    ``duration_s`` None means "until the run's own bounds end it". ``label`` is what request records carry
    in ``stage``: ``"<index>:<duration>@<level>"``, e.g. ``"2:60s@16"`` or ``"3:30s@20/s"``.
    """

    index: int
    duration_s: float | None
    users: int | None = None
    rate: float | None = None

    @property
    def label(self) -> str:
        dur = "" if self.duration_s is None else format_duration(self.duration_s)
        level = f"{self.users}" if self.users is not None else f"{self.rate:g}/s"
        return f"{self.index}:{dur}@{level}"

    def detail(self) -> dict[str, object]:
        """The ``detail`` of the stage's ``event`` record."""
        return {"stage": self.label, "duration_s": self.duration_s, "users": self.users, "rate": self.rate}


def _level(value: str, unit: str | None, spec: str) -> tuple[int | None, float | None]:
    is_rate = unit is not None and unit.lower() in ("/s", "rps", "r/s", "req/s")
    if is_rate:
        rate = float(value)
        if rate <= 0:
            raise UsageError(f"bad stage {spec!r}: the rate must be > 0")
        return None, rate
    if not float(value).is_integer() or int(float(value)) < 1:
        raise UsageError(f"bad stage {spec!r}: users must be a whole number >= 1")
    return int(float(value)), None


def parse_stage_list(text: str) -> list[Stage]:
    """Parse ``"60s@8,60s@16,30s@20/s"`` into stages (see the module docstring)."""
    parts = [p for p in text.split(",") if p.strip()]
    if not parts:
        raise UsageError("empty --stages")
    stages: list[Stage] = []
    for i, part in enumerate(parts, start=1):
        m = _STAGE.match(part)
        if m is None:
            raise UsageError(f"bad stage {part.strip()!r}: use DURATION@USERS or DURATION@RATE/s, e.g. 60s@8")
        duration = None if not m.group("dur") else parse_duration(m.group("dur"), what="stage duration")
        if duration is None and i != len(parts):
            raise UsageError(f"bad stage {part.strip()!r}: only the last stage may omit its duration")
        if duration == 0:
            raise UsageError(f"bad stage {part.strip()!r}: the duration must be > 0")
        users, rate = _level(m.group(2), m.group("unit"), part.strip())
        stages.append(Stage(i, duration, users, rate))
    return stages


@dataclass(frozen=True, slots=True)
class Ramp:
    """A step ramp: ``start``, ``start + step``, ... every ``every_s`` seconds, held at ``limit`` if given."""

    step: float
    every_s: float
    start: float
    limit: float | None
    rate: bool

    def stages(self) -> Iterator[Stage]:
        """The ramp's stages, lazily (an unbounded ramp is ended by the run's bounds)."""
        for i in itertools.count(1):
            level = self.start + (i - 1) * self.step
            last = self.limit is not None and level >= self.limit
            if last and self.limit is not None:
                level = self.limit
            duration = None if last else self.every_s
            if self.rate:
                yield Stage(i, duration, rate=level)
            else:
                yield Stage(i, duration, users=int(level))
            if last:
                return


def parse_ramp(text: str) -> Ramp | None:
    """Parse ``"+10 users every 5m [from N] [to N]"``; None when ``text`` is not a ramp."""
    m = _RAMP.match(text)
    if m is None:
        if text.strip().startswith("+"):
            raise UsageError(f"bad ramp {text!r}: use e.g. '+10 users every 5m' or '+5 rps every 1m to 50'")
        return None
    unit = m.group("unit")
    is_rate = unit is not None and unit.lower() in ("/s", "rps", "r/s", "req/s")
    step = float(m.group(1))
    start = float(m.group("start")) if m.group("start") else step
    limit = float(m.group("limit")) if m.group("limit") else None
    every = parse_duration(m.group("every"), what="ramp interval")
    if step <= 0 or every <= 0 or start <= 0:
        raise UsageError(f"bad ramp {text!r}: step, interval and start must be > 0")
    if not is_rate and not (
        step.is_integer() and start.is_integer() and (limit is None or limit.is_integer())
    ):
        raise UsageError(f"bad ramp {text!r}: user counts must be whole numbers")
    if limit is not None and limit < start:
        raise UsageError(f"bad ramp {text!r}: 'to' must be >= the first level")
    return Ramp(step=step, every_s=every, start=start, limit=limit, rate=is_rate)


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """What load to offer: a list of stages, or a ramp. ``staged``: whether records carry a stage label."""

    stage_list: tuple[Stage, ...] = ()
    ramp: Ramp | None = None
    staged: bool = True

    def stages(self) -> Iterator[Stage]:
        if self.ramp is not None:
            return self.ramp.stages()
        return iter(self.stage_list)

    @property
    def bounded(self) -> bool:
        """True when the stages end by themselves (every stage has a duration)."""
        return self.ramp is None and all(s.duration_s is not None for s in self.stage_list)

    @property
    def max_users(self) -> int | None:
        """Most concurrent closed-loop users any stage asks for (None for an unbounded user ramp)."""
        if self.ramp is not None:
            if self.ramp.rate:
                return 0
            return None if self.ramp.limit is None else int(self.ramp.limit)
        return max((s.users or 0 for s in self.stage_list), default=0)


def make_plan(*, concurrency: int | None, rate: float | None, stages: str | None) -> LoadPlan:
    """The plan from the exclusive ``--concurrency`` / ``--rate`` / ``--stages`` (default: 1 user)."""
    given = [
        name for name, v in (("--concurrency", concurrency), ("--rate", rate), ("--stages", stages)) if v
    ]
    if len(given) > 1:
        raise UsageError(f"{' and '.join(given)} exclude each other: give one load pattern")
    if stages:
        ramp = parse_ramp(stages)
        if ramp is not None:
            return LoadPlan(ramp=ramp)
        return LoadPlan(stage_list=tuple(parse_stage_list(stages)))
    if rate is not None:
        if not rate > 0 or not math.isfinite(rate):
            raise UsageError("--rate must be > 0 requests/s")
        return LoadPlan(stage_list=(Stage(1, None, rate=rate),), staged=False)
    users = 1 if concurrency is None else concurrency
    if users < 1:
        raise UsageError("--concurrency must be >= 1")
    return LoadPlan(stage_list=(Stage(1, None, users=users),), staged=False)


# -- arrivals ------------------------------------------------------------------------------------------------
ARRIVALS = ("poisson", "constant")


def arrival_rng(seed: int, worker: int = 0) -> random.Random:
    """The generator of worker ``worker``'s arrival gaps for ``--seed seed`` (its own stream, so a run's
    schedule can be rebuilt from the seed whatever else is drawn at random)."""
    return random.Random(f"{seed}:arrivals:{worker}")


def arrival_gaps(rate: float, arrival: str, rng: random.Random) -> Iterator[float]:
    """Seconds between successive arrivals at ``rate`` requests/s.

    ``constant``: every gap is ``1 / rate``. ``poisson``: gaps are exponential with mean ``1 / rate``
    (``rng.expovariate(rate)``), so arrival counts in any window are Poisson distributed.
    """
    if arrival == "constant":
        gap = 1.0 / rate
        while True:
            yield gap
    elif arrival == "poisson":
        expovariate = rng.expovariate
        while True:
            yield expovariate(rate)
    else:
        raise UsageError(f"unknown arrival {arrival!r}; known: {', '.join(ARRIVALS)}")


# -- splitting a load over worker processes ------------------------------------------------------------------
def split_count(total: int, parts: int, index: int) -> int:
    """Worker ``index``'s share of ``total`` (users or requests): ``total // parts``, one more for the first
    ``total % parts`` workers, so the shares add up to ``total``."""
    return total // parts + (1 if index < total % parts else 0)


def worker_stage(stage: Stage, parts: int, index: int) -> Stage:
    """The part of ``stage`` worker ``index`` of ``parts`` runs: its share of the users, or ``rate / parts``.

    Independent Poisson processes at ``rate / parts`` merge into one at ``rate``; constant arrivals are kept
    evenly spaced by :func:`constant_phase`.
    """
    if parts == 1:
        return stage
    if stage.users is not None:
        return Stage(stage.index, stage.duration_s, users=split_count(stage.users, parts, index))
    assert stage.rate is not None
    return Stage(stage.index, stage.duration_s, rate=stage.rate / parts)


def constant_phase(rate: float, parts: int, index: int) -> float:
    """Seconds worker ``index`` delays its first constant-rate arrival, so ``parts`` workers at
    ``rate / parts`` each interleave into one evenly spaced stream at ``rate`` (total, requests/s)."""
    return index / rate if parts > 1 else 0.0
