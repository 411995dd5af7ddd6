"""Load patterns as arithmetic: durations, stages, ramps, arrival gaps, and splitting over workers."""

from __future__ import annotations

import itertools
import random
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recorders.http_stream.load import (
    Stage,
    arrival_gaps,
    constant_phase,
    make_plan,
    parse_duration,
    parse_ramp,
    parse_stage_list,
    split_count,
    worker_stage,
)
from traceanalyzer.errors import UsageError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("90s", 90.0),
        ("10m", 600.0),
        ("1h30m", 5400.0),
        ("5 minutes", 300.0),
        ("250ms", 0.25),
        (2.5, 2.5),
    ],
)
def test_durations(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "ten", "5 fortnights", "-3s", "1h 3x"])
def test_bad_durations_name_the_value(text: str) -> None:
    with pytest.raises(UsageError, match="duration"):
        parse_duration(text)


def test_stage_list_with_users_rates_and_an_open_last_stage() -> None:
    stages = parse_stage_list("60s@8, 1m@16 ,30s@20/s,@32")
    assert stages == [
        Stage(1, 60.0, users=8),
        Stage(2, 60.0, users=16),
        Stage(3, 30.0, rate=20.0),
        Stage(4, None, users=32),
    ]
    assert [s.label for s in stages] == ["1:1m@8", "2:1m@16", "3:30s@20/s", "4:@32"]
    assert stages[2].detail() == {"stage": "3:30s@20/s", "duration_s": 30.0, "users": None, "rate": 20.0}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("60s", "DURATION@USERS"),
        ("@8,60s@16", "only the last stage"),
        ("60s@0", "users must be"),
        ("60s@2.5", "users must be"),
        ("0s@4", "must be > 0"),
        ("60s@0/s", "rate must be"),
    ],
)
def test_bad_stages(text: str, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        parse_stage_list(text)


def test_user_ramp_grows_every_interval_and_holds_its_limit() -> None:
    ramp = parse_ramp("+10 users every 5 minutes to 30")
    assert ramp is not None
    assert list(ramp.stages()) == [
        Stage(1, 300.0, users=10),
        Stage(2, 300.0, users=20),
        Stage(3, None, users=30),
    ]
    unbounded = parse_ramp("+4 every 30s from 2")
    assert unbounded is not None
    assert [s.users for s in itertools.islice(unbounded.stages(), 4)] == [2, 6, 10, 14]


def test_rate_ramp() -> None:
    ramp = parse_ramp("+2.5 rps every 1m from 5 to 10")
    assert ramp is not None
    assert [(s.rate, s.duration_s) for s in ramp.stages()] == [(5.0, 60.0), (7.5, 60.0), (10.0, None)]
    assert parse_ramp("60s@8") is None
    with pytest.raises(UsageError, match="bad ramp"):
        parse_ramp("+10 users each 5m")


def test_plans_from_the_three_exclusive_options() -> None:
    assert make_plan(concurrency=None, rate=None, stages=None).stage_list == (Stage(1, None, users=1),)
    closed = make_plan(concurrency=8, rate=None, stages=None)
    assert (closed.staged, closed.max_users, closed.bounded) == (False, 8, False)
    staged = make_plan(concurrency=None, rate=None, stages="10s@4,10s@6")
    assert (staged.staged, staged.max_users, staged.bounded) == (True, 6, True)
    assert make_plan(concurrency=None, rate=None, stages="+1 every 1s").max_users is None
    with pytest.raises(UsageError, match="exclude each other"):
        make_plan(concurrency=4, rate=2.0, stages=None)


def test_constant_gaps_and_seeded_poisson_gaps() -> None:
    assert list(itertools.islice(arrival_gaps(4.0, "constant", random.Random(0)), 3)) == [0.25, 0.25, 0.25]
    gaps = list(itertools.islice(arrival_gaps(170.0, "poisson", random.Random(7)), 20_000))
    assert statistics.fmean(gaps) == pytest.approx(1 / 170, rel=0.03)
    assert statistics.pstdev(gaps) == pytest.approx(1 / 170, rel=0.05)  # exponential: std = mean
    again = list(itertools.islice(arrival_gaps(170.0, "poisson", random.Random(7)), 20_000))
    assert gaps == again


@given(st.integers(0, 10_000), st.integers(1, 64))
def test_worker_shares_add_up(total: int, parts: int) -> None:
    shares = [split_count(total, parts, i) for i in range(parts)]
    assert sum(shares) == total and max(shares) - min(shares) <= 1


def test_worker_stage_split_and_constant_phases() -> None:
    stage = Stage(2, 60.0, users=10)
    assert [worker_stage(stage, 3, i).users for i in range(3)] == [4, 3, 3]
    assert worker_stage(Stage(1, None, rate=30.0), 3, 1) == Stage(1, None, rate=10.0)
    # 3 workers at 10/s each, offset by 1/30 s: one evenly spaced stream at 30/s
    starts = sorted(constant_phase(30.0, 3, i) + k / 10.0 for i in range(3) for k in range(10))
    assert [b - a for a, b in itertools.pairwise(starts)] == pytest.approx([1 / 30] * 29)
