"""The public surface: every exported name documented and typed, options mapped onto AnalysisOptions, and
``import traceanalyzer`` cheap."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import traceanalyzer as ta
from traceanalyzer.model import AnalysisOptions

ROOT = Path(__file__).parents[2]


def _public_members(obj: type) -> list[tuple[str, object]]:
    return [
        (name, member)
        for name, member in vars(obj).items()
        if not name.startswith("_")
        and (inspect.isfunction(member) or isinstance(member, property | classmethod))
    ]


def _check_annotated(func: object, where: str) -> None:
    signature = inspect.signature(func)  # type: ignore[arg-type]
    assert signature.return_annotation is not inspect.Signature.empty, f"{where}: no return type"
    for parameter in signature.parameters.values():
        if parameter.name in ("self", "cls"):
            continue
        assert parameter.annotation is not inspect.Parameter.empty, f"{where}({parameter.name}): no type"


@pytest.mark.parametrize("name", ta.__all__)
def test_every_public_name_is_documented_and_typed(name):
    obj = getattr(ta, name)
    doc = inspect.getdoc(obj) or ""
    assert doc and not doc.startswith(f"{name}("), f"{name} has no docstring"
    if inspect.isfunction(obj):
        _check_annotated(obj, name)
        return
    assert inspect.isclass(obj)
    if dataclasses.is_dataclass(obj):
        assert all(f.type is not None for f in dataclasses.fields(obj))
    for member_name, member in _public_members(obj):
        target = member.fget if isinstance(member, property) else member
        target = target.__func__ if isinstance(target, classmethod) else target
        assert inspect.getdoc(target), f"{name}.{member_name} has no docstring"
        _check_annotated(target, f"{name}.{member_name}")


def test_names_resolve_to_their_home_modules():
    from traceanalyzer.api import analyze
    from traceanalyzer.model import Analysis

    assert ta.analyze is analyze and ta.Analysis is Analysis
    importlib.import_module("traceanalyzer.compare")  # the submodule of the same name leaves the function

    assert ta.compare.__module__ == "traceanalyzer.api"
    assert (ROOT / "traceanalyzer" / "py.typed").is_file()
    assert sorted(ta.__all__) == ta.__all__
    assert set(ta.__all__) <= set(dir(ta))
    with pytest.raises(AttributeError):
        _ = ta.no_such_name  # type: ignore[attr-defined]


def test_keyword_options_map_onto_analysis_options():
    from traceanalyzer.api import analysis_options

    options = analysis_options(window_s=30, soak=True, slo={"ttft_p95_s": 0.5})
    assert (options.window_s, options.soak, options.slo.ttft_p95_s) == (30, True, 0.5)
    assert isinstance(options.window_s, float)
    assert options.slo.tpot_p95_s == AnalysisOptions().slo.tpot_p95_s
    base = AnalysisOptions(warmup_s=5)
    assert analysis_options(base, cooldown_s=1) == dataclasses.replace(base, cooldown_s=1)
    with pytest.raises(ta.UsageError, match="window_s"):
        analysis_options(window=30)
    with pytest.raises(ta.UsageError, match="unknown SLO"):
        analysis_options(slo={"ttft": 1})
    with pytest.raises(ta.UsageError, match="positive"):
        analysis_options(window_s=0)


def test_import_is_cheap():
    probe = (
        "import sys, traceanalyzer\n"
        "heavy = ('pyarrow', 'duckdb', 'pandas', 'numpy', 'traceanalyzer.model', 'reports')\n"
        "print('HEAVY', [m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out, out
