"""The Python API on every bundled sample: the CLI gives the same summary, ``requests_frame()`` agrees
with it, and an analysis survives ``to_json`` / ``from_json``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import traceanalyzer as ta
from traceanalyzer.cli import main

SAMPLES = Path(__file__).parents[2] / "sample_traces"
NAMES = sorted(p.name for p in SAMPLES.iterdir() if p.is_dir())
_CACHE: dict[str, ta.Analysis] = {}


def analysis_of(name: str) -> ta.Analysis:
    """The API's analysis of a sample (once per session; no cache written beside the sample)."""
    if name not in _CACHE:
        _CACHE[name] = ta.analyze(SAMPLES / name, cache=False)
    return _CACHE[name]


def test_every_sample_is_covered():
    assert len(NAMES) >= 8 and {"ramp-oom", "regression-baseline", "regression-candidate"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_cli_and_api_write_the_same_summary(name, tmp_path, capsys):
    out = tmp_path / "summary.json"
    with pytest.raises(SystemExit) as exit_info:
        main(["analyze", str(SAMPLES / name), "--no-cache", "--json", str(out)])
    assert exit_info.value.code == 0
    capsys.readouterr()
    cli_text = out.read_text(encoding="utf-8")
    assert json.loads(cli_text)["requests"]["total"] > 0
    assert analysis_of(name).to_json() == cli_text


@pytest.mark.parametrize("name", NAMES)
def test_requests_frame_agrees_with_the_summary(name):
    analysis = analysis_of(name)
    frame = analysis.requests_frame()
    summary = json.loads(analysis.to_json())
    assert len(frame) == summary["requests"]["total"]
    assert int(frame["ok"].sum()) == summary["requests"]["ok"]
    assert frame["t_send"].dt.tz is not None and str(frame["t_send"].dt.tz) == "UTC"
    assert frame["id"].notna().all()
    ok = frame[frame["ok"]]
    qs = [50, 90, 95, 99, 99.9]
    keys = ["p50", "p90", "p95", "p99", "p99_9"]
    for column, section in (("ttft_s", "ttft"), ("tpot_s", "tpot"), ("e2e_s", "e2e")):
        values = ok[column].dropna().to_numpy()
        assert len(values) == summary[section]["count"]
        if len(values):
            expected = np.percentile(values, qs, method="linear")
            assert [summary[section][k] for k in keys] == pytest.approx(expected, rel=1e-12, abs=1e-12)
            assert summary[section]["mean"] == pytest.approx(values.mean(), rel=1e-12)
    failed = frame[~frame["ok"]]
    by_class = failed["error_class"].value_counts()
    for cls, stats in summary["errors"].items():
        assert int(by_class.get(cls, 0)) <= stats["count"]  # aggregated importer failures add to it
    # the first send is the capture's zero
    assert frame["t_send"].min() == pd.Timestamp(analysis.capture.t0_ns, unit="ns", tz="UTC")
    assert frame["t_send_s"].min() == 0.0


@pytest.mark.parametrize("name", NAMES)
def test_windows_frame_holds_the_series(name):
    analysis = analysis_of(name)
    windows = analysis.windows_frame()
    ts = analysis.timeseries
    assert len(windows) == len(ts.start_s) > 0
    assert windows["qps"].tolist() == pytest.approx(list(ts.qps))
    assert windows["sent"].sum() == analysis.requests.total
    assert (windows["t_start"].diff().dropna() == pd.Timedelta(seconds=ts.window_s)).all()
    p95 = [np.nan if v is None else v for v in ts.ttft_p95_s]
    np.testing.assert_allclose(windows["ttft_p95_s"].to_numpy(dtype=float), p95)
    for cls, counts in ts.errors.items():
        assert windows[f"errors_{cls}"].tolist() == list(counts)
    for gpu in ts.gpus:
        assert f"gpu_util_pct:{gpu.key}" in windows.columns


@pytest.mark.parametrize("name", NAMES)
def test_json_round_trips(name, tmp_path):
    analysis = analysis_of(name)
    text = analysis.to_json()
    # a plain summary: every summary key comes back
    from_summary = ta.Analysis.from_json(text)
    assert from_summary.to_json() == text
    assert from_summary.capacity.good_requests == analysis.capacity.good_requests
    assert [lv.failed for lv in from_summary.capacity.levels] == [
        lv.failed for lv in analysis.capacity.levels
    ]
    # the full document: the analysis itself, from text and from a file
    full = analysis.to_json(full=True)
    data = json.loads(full)
    assert {k: v for k, v in data.items() if k != "analysis"} == json.loads(text)
    path = tmp_path / "analysis.json"
    path.write_text(full, encoding="utf-8")
    for source in (full, path, str(path)):
        restored = ta.Analysis.from_json(source)
        assert restored == analysis
        assert restored.to_json(full=True) == full
    with pytest.raises(ta.UsageError, match="per-request data"):
        from_summary.requests_frame()


def test_compare_from_captures_equals_compare_of_analyses():
    base, cand = analysis_of("regression-baseline"), analysis_of("regression-candidate")
    comparison = ta.compare(base, cand)
    by_paths = ta.compare(SAMPLES / "regression-baseline", SAMPLES / "regression-candidate", cache=False)
    assert comparison.to_dict() | {"baseline": "", "candidate": ""} == by_paths.to_dict() | {
        "baseline": "",
        "candidate": "",
    }
    assert (by_paths.baseline_name, by_paths.candidate_name) == (
        "regression-baseline",
        "regression-candidate",
    )
    assert comparison.regressions, "the bundled candidate is a regression"
    assert comparison.metric("ttft_p95").test is not None  # per-request tests ran
    # read back from summaries: the same metrics, latency tests skipped
    saved = ta.compare(ta.Analysis.from_json(base.to_json()), ta.Analysis.from_json(cand.to_json()))
    assert [(m.key, m.baseline, m.candidate) for m in saved.metrics] == [
        (m.key, m.baseline, m.candidate) for m in comparison.metrics
    ]
    assert saved.metric("ttft_p95").test is None


def test_from_json_rejects_other_documents(tmp_path):
    bad = tmp_path / "other.json"
    bad.write_text('{"schema": "something/else@1"}', encoding="utf-8")
    with pytest.raises(ta.BadInputError, match=r"other\.json"):
        ta.Analysis.from_json(bad)
    with pytest.raises(ta.BadInputError, match="not JSON"):
        ta.Analysis.from_json(b"{nope")
    broken = json.loads(analysis_of("leak").to_json())
    del broken["ttft"]
    with pytest.raises(ta.BadInputError, match="ttft"):
        ta.Analysis.from_json(json.dumps(broken))
