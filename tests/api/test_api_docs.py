"""docs/api.md runs: every ```python block, in order, in one namespace, in a directory holding copies of the
bundled samples it reads."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "api.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_the_walk_through_runs(tmp_path, monkeypatch, capsys):
    text = DOC.read_text(encoding="utf-8")
    blocks = BLOCK.findall(text)
    assert len(blocks) >= 8
    for name in ("regression-baseline", "regression-candidate"):
        shutil.copytree(ROOT / "sample_traces" / name, tmp_path / "sample_traces" / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict[str, object] = {"__name__": "api_walk_through"}
    for number, block in enumerate(blocks, 1):
        try:
            exec(compile(block, f"docs/api.md block {number}", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message says which block broke
            pytest.fail(f"docs/api.md block {number} failed: {exc!r}\n{block}")
    out = capsys.readouterr().out
    assert "request records" in out and "TTFT p95" in out
    for made in (
        "ttft.png",
        "baseline.pdf",
        "baseline.html",
        "compare.html",
        "summary.json",
        "restored.html",
    ):
        assert (tmp_path / made).stat().st_size > 1000, made
    assert (tmp_path / "baseline.pdf").read_bytes().startswith(b"%PDF")
