"""docs/metrics.md covers every metric stage, SLO and summary section the analysis produces."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from traceanalyzer.model import SloThresholds

ROOT = Path(__file__).parents[2]
METRICS_DOC = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")


def test_every_metric_module_is_named_in_the_metric_definitions():
    modules = sorted(
        p.stem
        for p in (ROOT / "traceanalyzer" / "metrics").glob("*.py")
        if p.stem not in {"__init__", "stats"}
    )
    missing = [m for m in modules if f"metrics/{m}.py" not in METRICS_DOC]
    assert not missing


def test_every_slo_is_documented():
    for f in dataclasses.fields(SloThresholds):
        name = f.name.removesuffix("_s")
        assert name in METRICS_DOC, name


def test_contract_metrics_are_defined():
    terms = (
        "TTFT", "TPOT", "ITL", "E2E", "QPS", "offered QPS", "cluster TPS", "goodput", "SLO attainment",
        "error rate", "RTV", "QPS fluctuation", "GPU memory fluctuation", "steady state", "saturation knee",
        "max sustainable load", "Exact-match rate",
    )  # fmt: skip
    for term in terms:
        assert term in METRICS_DOC, term
