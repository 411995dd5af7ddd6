"""The ONNX Runtime backend: the bundled model exported locally, agreeing with PyTorch."""

from __future__ import annotations

import gzip
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from traceanalyzer.consistency import embed as embed_module
from traceanalyzer.consistency import measure_consistency, onnx_backend
from traceanalyzer.errors import UsageError

RequestsFactory = Callable[..., pa.Table]
SAMPLES = Path(__file__).parents[2] / "sample_traces"


def _bundled_answers(limit: int) -> list[str]:
    """Distinct answer texts of the bundled sample captures (a seeded choice of ``limit`` of them)."""
    texts: set[str] = set()
    for path in sorted(SAMPLES.glob("*/requests.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            texts.update(t for line in lines if (t := json.loads(line).get("text")))
    assert len(texts) > 100
    return random.Random(0).sample(sorted(texts), min(limit, len(texts)))


@pytest.mark.slow
def test_onnx_agrees_with_pytorch_on_the_bundled_samples_answers(tmp_path: Path) -> None:
    texts = _bundled_answers(100)
    model_ref = embed_module.resolve_model(None)
    torch_vectors = embed_module.embed_texts(texts, model_ref, backend="torch").vectors
    onnx = embed_module.embed_texts(texts, model_ref, cache_dir=tmp_path, backend="onnx")
    assert onnx.backend == "onnx" and onnx.notes == () and onnx.embedded == len(texts)
    difference = np.abs(torch_vectors @ torch_vectors.T - onnx.vectors @ onnx.vectors.T)
    assert float(difference.max()) <= 0.01
    assert np.allclose(np.linalg.norm(onnx.vectors, axis=1), 1.0, atol=1e-5)
    # exported from the local files into the cache root (the tests' XDG_CACHE_HOME), never into $HOME
    exported = list(onnx_backend.export_root(tmp_path).glob("*/model.onnx"))
    assert exported and not str(exported[0]).startswith(str(Path.home() / ".cache"))


@pytest.mark.slow
def test_onnx_vectors_are_cached_apart_from_pytorch_ones(
    make_requests: RequestsFactory, tmp_path: Path
) -> None:
    rows = [{"prompt_id": "p", "text": t} for t in ("Paris is the capital.", "The capital is Paris.", "No.")]
    requests = make_requests(rows)
    first = measure_consistency(requests, cache_dir=tmp_path, backend="onnx")
    again = measure_consistency(requests, cache_dir=tmp_path, backend="onnx")
    by_torch = measure_consistency(requests, cache_dir=tmp_path, backend="torch")
    assert first.model is not None and first.model.backend == "onnx" and first.model.embedded == 3
    assert again.model is not None and (again.model.embedded, again.model.from_cache) == (0, 3)
    assert by_torch.model is not None and by_torch.model.backend == "torch" and by_torch.model.embedded == 3
    assert sorted(p.name.endswith("-onnx") for p in tmp_path.iterdir() if any(p.glob("*.npz"))) == [
        False,
        True,
    ]
    assert first.mean_cosine == pytest.approx(by_torch.mean_cosine, abs=0.01)
    assert first.to_summary()["model"]["backend"] == "onnx"


def test_without_onnxruntime_pytorch_embeds_and_a_note_says_so(
    make_requests: RequestsFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    requests = make_requests([{"prompt_id": "p", "text": t} for t in ("a", "b")])
    result = measure_consistency(requests, cache_dir=tmp_path, backend="onnx")
    assert result.model is not None and result.model.backend == "torch"
    assert any("onnxruntime is not installed" in note for note in result.notes)


def test_a_model_layout_onnx_cannot_run_falls_back_to_pytorch(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "modules.json").write_text(json.dumps([{"path": "", "type": "custom.Module"}]))
    with pytest.raises(onnx_backend.BackendUnsupported, match="Transformer -> Pooling"):
        onnx_backend.check_layout(model_dir)
    model_ref = embed_module.ModelRef("custom", model_dir, "0" * 64)
    assert embed_module._usable_backend("onnx", model_ref)[0] == "torch"
    with pytest.raises(UsageError, match="embedding backend 'tensorrt'"):
        embed_module._usable_backend("tensorrt", model_ref)


def test_exports_go_to_the_xdg_cache_or_the_capture_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert onnx_backend.export_root(tmp_path / "capture") == tmp_path / "xdg" / "traceanalyzer" / "onnx"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert onnx_backend.export_root(tmp_path / "capture") == tmp_path / "capture" / "onnx"
    assert not onnx_backend.export_root(None).is_relative_to(Path.home())
