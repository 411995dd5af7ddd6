"""Number formatting of the reports (hand-checked values)."""

from __future__ import annotations

import pytest

from reports import formatting as f

NB = "\u00a0"


@pytest.mark.parametrize(
    ("func", "value", "expected"),
    [
        (f.ms, 0.0434, f"43.4{NB}ms"),
        (f.latency, 0.0434, f"43.4{NB}ms"),
        (f.latency, 0.85, f"850{NB}ms"),
        (f.latency, 1.3475, f"1.35{NB}s"),
        (f.latency, 12.34, f"12.3{NB}s"),
        (f.pct, 0.2370, f"23.7{NB}%"),
        (f.pct, 0.00003, f"0.0030{NB}%"),
        (f.signed_pct, -0.084, f"-8.4{NB}%"),
        (f.count, 2253, "2,253"),
        (f.duration, 13.97, f"14.0{NB}s"),
        (f.duration, 750, f"12{NB}min 30{NB}s"),
        (f.duration, 86400, f"24{NB}h 0{NB}min"),
        (f.instant, 3723.0, "1:02:03"),
        (f.mib, 79058.0, f"79,058{NB}MiB (77.2{NB}GiB)"),
        (f.pvalue, 2.4e-10, "2.4e-10"),
        (f.pvalue, 0.0123, "0.012"),
        (f.sig, 0.0445239, "0.0445"),
    ],
)
def test_formats(func: object, value: float, expected: str) -> None:
    assert func(value) == expected  # type: ignore[operator]


@pytest.mark.parametrize(
    "func", [f.ms, f.latency, f.pct, f.count, f.duration, f.instant, f.mib, f.sig, f.num]
)
def test_missing_and_nan_values_read_as_a_dash(func: object) -> None:
    assert func(None) == f.MISSING  # type: ignore[operator]
    assert func(float("nan")) == f.MISSING  # type: ignore[operator]


def test_units_and_evidence() -> None:
    assert f.in_unit(0.001, "fraction") == f"0.10{NB}%"
    assert f.in_unit(1.0, "s") == f"1.00{NB}s"
    assert f.delta_in_unit(-0.0051, "s") == f"-5.1{NB}ms"
    grid = f.evidence_grid({"ttft": {"value": 1.0, "trend": "flat"}, "kv": {"value": 2.5}})
    assert grid is not None and grid.columns == ("value", "trend")
    assert grid.rows == (("ttft", ("1.000", "flat")), ("kv", ("2.500", "")))
    assert f.evidence_grid({"a": 1}) is None
    assert f.evidence_value({"stage": "s1", "qps": 12.0}) == f"stage{NB}={NB}s1, qps{NB}={NB}12.00"
