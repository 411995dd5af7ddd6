"""The summary of every bundled sample, value for value, against the summaries stored beside this test.

The stored summaries were written by the in-memory loader (every chunk offset in the heap) that preceded the
streaming one (and rewritten by it when later metrics and keys were added, the streaming path then giving
the very same values); the chunk-level metrics (ITL, cluster TPS, E2E from the last chunk) must not move by a
digit.
Regenerate them only for a deliberate change of a metric: ``python tests/samples/test_sample_summaries.py``.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from traceanalyzer.analysis import analyze
from traceanalyzer.loader import load_capture
from traceanalyzer.model import AnalysisOptions
from traceanalyzer.summary import summary

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_traces"
STORED = Path(__file__).parent / "summaries"
CAPTURES = sorted(p.name for p in SAMPLES.iterdir() if p.is_dir() and any(p.rglob("*.jsonl.gz")))


def plain(result: dict[str, Any], root: Path) -> dict[str, Any]:
    """A summary made JSON-plain (tuples as lists), paths relative to ``root``, and without what depends on
    the machine rather than the capture: where the embedding model lives and how many of its vectors came
    from the embedding cache."""
    data: dict[str, Any] = json.loads(json.dumps(result).replace(str(root) + "/", "sample_traces/"))
    model = (data.get("consistency") or {}).get("model")
    if model:
        model["path"] = "<model>"
        model["embedded"] = model["embedded"] + model.pop("from_cache")
    return data


def sample_summary(name: str) -> dict[str, Any]:
    """The summary of one bundled sample (an uncached load)."""
    return plain(summary(analyze(load_capture([SAMPLES / name], cache=False), AnalysisOptions())), SAMPLES)


#: SLOs judged on a value of the ``consistency`` section.
EMBEDDING_SLOS = ("consistency_cosine",)


def embedding_tolerant(expected: dict[str, Any]) -> dict[str, Any]:
    """``expected`` with the floats of the ``consistency`` section, and of the SLO rows judged on them,
    compared to 1e-5 (relative): they come from a neural network's float32 arithmetic, whose last bits
    differ with the CPU's vector instructions (an Intel and an AMD machine differ in the ninth digit); every
    other number, the chunk-level ones first, is compared exactly."""

    def approx(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: approx(v) for k, v in value.items()}
        if isinstance(value, list):
            return [approx(v) for v in value]
        if isinstance(value, float):
            return pytest.approx(value, rel=1e-5, abs=1e-9)
        return value

    slo = [approx(row) if row.get("name") in EMBEDDING_SLOS else row for row in expected.get("slo") or []]
    return {**expected, "consistency": approx(expected.get("consistency"))} | (
        {"slo": slo} if "slo" in expected else {}
    )


@pytest.mark.parametrize("name", CAPTURES)
def test_sample_summary_is_unchanged(name: str) -> None:
    expected = json.loads((STORED / f"{name}.json").read_text(encoding="utf-8"))
    assert sample_summary(name) == embedding_tolerant(expected)


def test_sample_summary_from_the_cache_is_unchanged(tmp_path: Path) -> None:
    """A cached load (chunk offsets mapped from the cache entry) gives the very same summary."""
    name = "ramp-oom"  # streamed answers, failures, resources: small enough to analyze twice
    copy = tmp_path / name
    shutil.copytree(SAMPLES / name, copy)
    expected = json.loads((STORED / f"{name}.json").read_text(encoding="utf-8"))
    for _ in range(2):  # the first load writes the cache, the second reads it
        got = plain(summary(analyze(load_capture([copy]), AnalysisOptions())), tmp_path)
        assert got == embedding_tolerant(expected)


if __name__ == "__main__":
    STORED.mkdir(exist_ok=True)
    for sample in sys.argv[1:] or CAPTURES:
        data = sample_summary(sample)
        (STORED / f"{sample}.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        print("wrote", STORED / f"{sample}.json")
