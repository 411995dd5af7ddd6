"""Charts: downsampling for display, panels left out with a reason, trace text escaped by matplotlib."""

from __future__ import annotations

import dataclasses

import numpy as np

from reports.charts import timeline
from reports.charts.base import display_grid
from traceanalyzer.model import Analysis, WindowSeries


def test_display_grid_groups_windows() -> None:
    ts = WindowSeries(window_s=10.0, start_s=tuple(range(0, 100, 10)), length_s=(10.0,) * 9 + (4.0,))
    grid = display_grid(ts, duration_s=94.0, max_points=4)
    assert grid.k == 3 and grid.left.tolist() == [0.0, 30.0, 60.0, 90.0]
    assert grid.seconds.tolist() == [30.0, 30.0, 30.0, 4.0]
    values = (1.0, None, 3.0, 4.0, 5.0, 6.0, None, None, None, 10.0)
    mean, worst = grid.reduce(values, "mean"), grid.reduce(values, "max")
    assert mean[[0, 1, 3]].tolist() == [2.0, 5.0, 10.0] and np.isnan(mean[2])  # a bucket without values: gap
    assert worst[[0, 1, 3]].tolist() == [3.0, 6.0, 10.0] and np.isnan(worst[2])
    assert grid.reduce((1, 2, 3, 4, 5, 6, 7, 8, 9, 10), "sum").tolist() == [6.0, 15.0, 24.0, 10.0]


def test_long_runs_are_drawn_in_few_points(hostile_analysis: Analysis) -> None:
    n = 40_000
    ts = dataclasses.replace(
        hostile_analysis.timeseries,
        start_s=tuple(float(i) for i in range(n)),
        length_s=(1.0,) * n,
        qps=tuple(float(i % 7) for i in range(n)),
    )
    grid = display_grid(ts, float(n), 600)
    assert grid.left.size <= 600 and grid.unit == "h"


def test_panels_without_data_are_left_out_with_a_reason(hostile_analysis: Analysis) -> None:
    bare = dataclasses.replace(
        hostile_analysis,
        timeseries=dataclasses.replace(
            hostile_analysis.timeseries,
            gpu_util_pct=(None,) * len(hostile_analysis.timeseries.start_s),
            gpu_mem_used_mib=(None,) * len(hostile_analysis.timeseries.start_s),
            gpus=(),
        ),
    )
    result = timeline(bare)
    assert "gpu" in result.missing and "GPU" in result.missing["gpu"]
    assert result.chart is not None and "<svg" in result.chart.svg
    assert "latency" not in result.missing
