"""The statistics behind the findings, pinned on constructed series."""

from __future__ import annotations

import numpy as np
import pytest

from traceanalyzer.diagnosis.stats import (
    change_points,
    counting_noise_cv,
    lagged_spearman,
    level_change,
    trend,
)


def test_theil_sen_recovers_a_known_slope_and_mann_kendall_calls_it_significant() -> None:
    rng = np.random.default_rng(7)
    t = np.arange(300) * 10.0
    y = 40_000 + 0.5 * t + rng.normal(0, 50, t.size)
    fit = trend(t, y)
    assert fit is not None
    assert fit.slope == pytest.approx(0.5, rel=0.05)
    assert fit.slope_low < 0.5 < fit.slope_high
    assert fit.tau > 0.5 and fit.p_value < 1e-10
    assert fit.rising(0.01)
    assert fit.fitted(1500.0) == pytest.approx(40_000 + 0.5 * 1500, rel=0.002)


def test_theil_sen_resists_outliers_where_least_squares_would_not() -> None:
    t = np.arange(50, dtype=float)
    y = 2.0 * t
    y[[5, 17, 33]] = 10_000.0
    fit = trend(t, y)
    assert fit is not None
    assert fit.slope == pytest.approx(2.0, abs=0.05)


@pytest.mark.parametrize("seed", range(10))
def test_flat_noisy_series_is_not_a_rising_trend(seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(200, dtype=float)
    fit = trend(t, 1000 + rng.normal(0, 30, t.size))
    assert fit is not None
    assert not fit.rising(0.01)


def test_trend_on_too_short_or_constant_series() -> None:
    assert trend(np.arange(3.0), np.arange(3.0)) is None
    flat = trend(np.arange(10.0), np.full(10, 5.0))
    assert flat is not None and flat.slope == 0 and flat.p_value == 1.0 and not flat.rising(0.05)
    with_nan = trend(np.arange(10.0), np.r_[np.arange(8.0), np.nan, np.nan])
    assert with_nan is not None and with_nan.n == 8


def test_lagged_spearman_finds_the_lag_at_which_y_follows_x() -> None:
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.normal(0, 1, 120))
    y = np.r_[np.zeros(2), x[:-2]] + rng.normal(0, 0.05, 120)
    corr = lagged_spearman(x, y, max_lag=4)
    assert corr is not None
    assert corr.lag == 2
    assert corr.rho > 0.95 and corr.p_value < 1e-10


def test_lagged_spearman_negative_and_untestable() -> None:
    x = np.arange(40, dtype=float)
    neg = lagged_spearman(x, -x, sign=-1)
    assert neg is not None and neg.rho == pytest.approx(-1.0)
    assert lagged_spearman(x, np.ones(40)) is None
    assert lagged_spearman(np.arange(4.0), np.arange(4.0)) is None


def test_change_point_recovers_a_step_at_the_right_window() -> None:
    rng = np.random.default_rng(11)
    x = np.r_[rng.normal(1.0, 0.05, 40), rng.normal(1.3, 0.05, 60)]
    cps = change_points(np.log(x))
    assert [cp.index for cp in cps] == [40]
    assert np.exp(cps[0].before) == pytest.approx(1.0, rel=0.03)
    assert np.exp(cps[0].after) == pytest.approx(1.3, rel=0.03)
    assert cps[0].p_value < 0.01


def test_change_points_finds_two_steps_and_skips_nan_windows() -> None:
    rng = np.random.default_rng(5)
    x = np.r_[rng.normal(10, 0.3, 30), rng.normal(14, 0.3, 30), rng.normal(9, 0.3, 30)]
    x[[3, 45, 70]] = np.nan
    cps = change_points(x)
    assert sorted(cp.index for cp in cps) == [30, 60]


@pytest.mark.parametrize("seed", range(10))
def test_no_change_point_on_stationary_noise(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    assert change_points(rng.normal(1.0, 0.1, 120)) == []


def test_level_change_and_counting_noise() -> None:
    change = level_change(np.full(10, 50.0) + np.arange(10) * 0.1, np.full(10, 90.0) + np.arange(10) * 0.1)
    assert (
        change is not None
        and change.p_value < 0.001
        and change.relative_change == pytest.approx(0.8, rel=0.01)
    )
    assert level_change(np.ones(2), np.ones(10)) is None
    assert counting_noise_cv(100) == pytest.approx(0.1)
