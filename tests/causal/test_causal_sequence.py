"""The causal error sequence on constructed window grids: onsets, isolated errors, ordering, first strike."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from causal_frames import frames, healthy

from traceanalyzer.causal import CausalOptions, error_sequence, interpret

N = 60


def _zeros() -> np.ndarray:
    return np.zeros(N, dtype=int)


def test_stray_error_does_not_become_the_first_strike_of_a_later_cascade() -> None:
    cols = healthy(N, seed=1)
    five = _zeros()
    five[3] = 1  # one stray 500 early on
    oom = _zeros()
    oom[30:] = 12  # OOM from window 30 on
    five[36:] = 70  # then a 5xx cascade
    cols["kv_cache_pct"] = np.r_[np.full(20, 30.0), np.linspace(30, 99, 10), np.full(30, 99.0)]
    windows, counts = frames(N, errors={"server_5xx": five, "oom": oom}, **cols)
    result = error_sequence(windows, counts)
    assert result.sequence == ("oom", "server_5xx")
    assert result.first_strike is not None
    assert result.first_strike.error_class == "oom"
    assert result.first_strike.category == "memory"
    assert result.first_strike.onset_s == 300.0
    five_seq = result.classes["server_5xx"]
    assert five_seq.onset_s == 360.0
    assert five_seq.isolated_count == 1
    assert five_seq.count == 1 + 70 * 24
    oom_seq = result.classes["oom"]
    assert oom_seq.isolated_count == 0 and oom_seq.persistent_count == 12 * 30
    assert oom_seq.episodes == ((300.0, 600.0),)
    kv = {i.name: i for i in oom_seq.indicators}["kv_cache_pct"]
    assert kv.baseline == pytest.approx(30, abs=1)
    assert kv.value is not None and kv.value > 90
    assert kv.trend == "rising" and kv.change is not None and kv.change > 1.5
    followed = result.first_strike.evidence["followed_by"]
    assert followed == [{"class": "server_5xx", "onset_s": 360.0, "after_s": 60.0}]
    assert result.first_strike.evidence["load"]["concurrency"] == pytest.approx(16, abs=2)


def test_onset_needs_consecutive_hot_windows_and_skips_windows_without_requests() -> None:
    cols = healthy(N, seed=2)
    t = _zeros()
    t[[10, 11]] = 20  # two hot windows: not persistent
    t[[40, 42]] = 20  # hot, empty, hot ...
    t[43] = 20  # ... hot: three hot windows with requests in a row
    cols["ok"][41] = 0
    windows, counts = frames(N, errors={"timeout": t}, **cols)
    result = error_sequence(windows, counts)
    seq = result.classes["timeout"]
    assert seq.onset_window == 40
    assert seq.isolated_count == 40
    assert result.first_strike is not None and result.first_strike.category == "queueing"
    strict = error_sequence(windows, counts, options=CausalOptions(onset_windows=4))
    assert strict.classes["timeout"].onset_s is None
    assert strict.sequence == () and strict.first_strike is None


def test_share_threshold_is_relative_to_requests_in_the_window() -> None:
    cols = healthy(N, seed=3)
    cols["ok"] = np.full(N, 100.0)
    low = _zeros()
    low[20:] = 3  # 3 % of ~100 requests: below the 5 % default
    windows, counts = frames(N, errors={"client_4xx": low}, **cols)
    assert error_sequence(windows, counts).classes["client_4xx"].onset_s is None
    lowered = error_sequence(windows, counts, options=CausalOptions(onset_share=0.02))
    assert lowered.classes["client_4xx"].onset_s == 200.0
    assert lowered.first_strike is not None and lowered.first_strike.category == "interface_limits"


def test_same_window_onsets_are_ordered_by_first_failure_time() -> None:
    cols = healthy(N, seed=4)
    a, b = _zeros(), _zeros()
    a[20:] = 10
    b[20:] = 10
    windows, counts = frames(N, errors={"oom": a, "timeout": b}, **cols)
    failures = pd.DataFrame({"t_s": [201.0, 200.5], "error_class": ["oom", "timeout"]})
    result = error_sequence(windows, counts, failures=failures)
    assert result.sequence == ("timeout", "oom")
    assert result.first_strike is not None and result.first_strike.error_class == "timeout"
    assert "Out-of-memory errors followed" in result.first_strike.explanation


def test_mass_5xx_first_is_unrecoverable_and_aborted_never_strikes() -> None:
    cols = healthy(N, seed=5)
    five, aborted = _zeros(), _zeros()
    five[50:] = 200
    aborted[:] = 50  # a recorder stopping repeatedly says nothing about the service
    windows, counts = frames(N, errors={"server_5xx": five, "aborted": aborted}, **cols)
    result = error_sequence(windows, counts)
    assert result.sequence == ("server_5xx",)
    assert result.first_strike is not None and result.first_strike.category == "unrecoverable"
    assert result.first_strike.evidence["peak_5xx_share"] > 0.5
    assert result.classes["aborted"].onset_s is None


def test_healthy_run_has_no_sequence() -> None:
    windows, counts = frames(N, **healthy(N, seed=6))
    result = error_sequence(windows, counts)
    assert result.sequence == () and result.first_strike is None and result.classes == {}


@pytest.mark.parametrize(
    ("cls", "category"),
    [
        ("rate_limited", "interface_limits"),
        ("context_length", "interface_limits"),
        ("client_4xx", "interface_limits"),
        ("timeout", "queueing"),
        ("oom", "memory"),
        ("server_5xx", "server_errors"),
        ("connection", "unreachable"),
        ("stream_broken", "stream_broken"),
    ],
)
def test_interpretation_categories(cls: str, category: str) -> None:
    got, text = interpret(cls)
    assert got == category
    assert text.endswith(".") and "struck first" in text


def test_a_few_ooms_just_before_a_5xx_mass_are_its_trigger() -> None:
    cols = healthy(N, seed=7)
    oom, five = _zeros(), _zeros()
    oom[[27, 29]] = 1  # two OOMs, never persistent on their own ...
    five[29:] = 150  # ... then the engine dies: 500 for everything
    windows, counts = frames(N, errors={"oom": oom, "server_5xx": five}, **cols)
    failures = pd.DataFrame({"t_s": [275.0, 290.5, 291.0], "error_class": ["oom", "oom", "server_5xx"]})
    for given in (failures, None):
        result = error_sequence(windows, counts, failures=given)
        assert result.sequence == ("oom", "server_5xx")
        strike = result.first_strike
        assert strike is not None and strike.error_class == "oom" and strike.category == "memory"
        assert strike.onset_s == 270.0
        assert strike.evidence["triggered"] == "server_5xx"
        assert "a mass of 5xx errors" in strike.explanation
        oom_seq = result.classes["oom"]
        assert oom_seq.triggered == "server_5xx" and oom_seq.isolated_count == 0
        assert oom_seq.load["concurrency"] is not None


def test_an_oom_long_before_a_5xx_mass_is_isolated_not_its_trigger() -> None:
    cols = healthy(N, seed=8)
    oom, five = _zeros(), _zeros()
    oom[5] = 1
    five[40:] = 150
    windows, counts = frames(N, errors={"oom": oom, "server_5xx": five}, **cols)
    result = error_sequence(windows, counts)
    assert result.sequence == ("server_5xx",)
    assert result.first_strike is not None and result.first_strike.category == "unrecoverable"
    assert result.classes["oom"].onset_s is None and result.classes["oom"].isolated_count == 1
