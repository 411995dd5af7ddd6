"""The ONNX Runtime embedding backend: the local sentence-transformers model exported once, run without torch.

sentence-transformers' own ONNX backend needs Optimum, whose ONNX package pins transformers below the
version sentence-transformers itself needs; so the model's transformer is exported here with
``torch.onnx.export`` (from the local files, never downloaded), fused with ONNX Runtime's transformer
optimizer when it is a BERT model, and run with ``onnxruntime``. Tokenisation (the model's own tokenizer,
truncated at its ``max_seq_length``), pooling (mean or CLS, from ``1_Pooling/config.json``) and the final
L2 normalisation are those of the sentence-transformers pipeline, so the vectors agree with the PyTorch ones
(a test checks the pairwise cosines within 0.01; measured: about 1e-6).

Only models laid out as Transformer -> Pooling (mean or CLS) -> Normalize are supported;
:class:`BackendUnsupported` says why another cannot use this backend.

Exports are kept in ``<root>/<model cache key>/model.onnx``, where the root is ``$XDG_CACHE_HOME/
traceanalyzer/onnx`` when that is set, else the capture's cache (``embeddings/onnx``), else a temporary
directory for the process; never the home directory. A file is written under a temporary name and renamed.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OPSET = 17


class BackendUnsupported(Exception):
    """The ONNX backend cannot embed with this model here; ``str(exc)`` says why in one line."""


def available() -> bool:
    """Whether onnxruntime is installed."""
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


def export_root(cache_dir: Path | None) -> Path:
    """Where exported models live (see the module docstring)."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg) / "traceanalyzer" / "onnx"
    if cache_dir is not None:
        return cache_dir / "onnx"
    return _process_dir()


@lru_cache(maxsize=1)
def _process_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="traceanalyzer-onnx-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def check_layout(model_path: Path) -> tuple[int, str]:
    """(max_seq_length, pooling mode) of a supported model; raises BackendUnsupported for another."""
    try:
        modules = json.loads((model_path / "modules.json").read_text())
        types = [m["type"] for m in modules]
        pooling_dir = next(m["path"] for m in modules if m["type"] == _POOLING)
        pooling = json.loads((model_path / pooling_dir / "config.json").read_text())
        config = json.loads((model_path / "sentence_bert_config.json").read_text())
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        raise BackendUnsupported(
            f"embedding model {model_path}: not a Transformer -> Pooling sentence-transformers layout"
        ) from None
    if types not in ([_TRANSFORMER, _POOLING, _NORMALIZE], [_TRANSFORMER, _POOLING]):
        raise BackendUnsupported(f"embedding model {model_path}: modules {types} are not supported by ONNX")
    modes = [k for k in ("pooling_mode_mean_tokens", "pooling_mode_cls_token") if pooling.get(k)]
    others = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v and k not in modes]
    if len(modes) != 1 or others:
        raise BackendUnsupported(f"embedding model {model_path}: only mean or CLS pooling runs on ONNX")
    return int(config.get("max_seq_length") or 512), "mean" if modes[0].endswith("mean_tokens") else "cls"


def export(model_path: Path, target: Path) -> None:
    """Export the model's transformer to ``target`` (ONNX, dynamic batch and sequence axes)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_path), local_files_only=True)
    model = AutoModel.from_pretrained(str(model_path), local_files_only=True, attn_implementation="eager")
    model.eval()
    example = tokenizer(["an example", "a longer example sentence"], padding=True, return_tensors="pt")
    names = [name for name in _INPUTS if name in example]

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: Any) -> Any:
            return self.model(**dict(zip(names, inputs, strict=True)), return_dict=False)[0]

    axes = {name: {0: "batch", 1: "sequence"} for name in [*names, "last_hidden_state"]}
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shapes: stages do not print
        torch.onnx.export(
            Hidden(),
            tuple(example[name] for name in names),
            str(tmp),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    if model.config.model_type == "bert":
        from onnxruntime.transformers.optimizer import optimize_model

        optimized = optimize_model(
            str(tmp),
            model_type="bert",
            num_heads=model.config.num_attention_heads,
            hidden_size=model.config.hidden_size,
        )
        optimized.save_model_to_file(str(tmp))
    os.replace(tmp, target)


class OnnxEncoder:
    """Embeds texts like the sentence-transformers model in ``model_path``, with ONNX Runtime.

    ``encode`` takes the arguments of ``SentenceTransformer.encode`` that the analysis uses.
    """

    def __init__(self, model_path: Path, onnx_file: Path) -> None:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        self.max_length, self.pooling = check_layout(model_path)
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_path), local_files_only=True)
        options = ort.SessionOptions()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # the CPU may be shared
        self.session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.dimension = int(self.session.get_outputs()[0].shape[-1])

    def get_embedding_dimension(self) -> int:
        """Length of one vector."""
        return self.dimension

    def encode(self, texts: Sequence[str], batch_size: int = 32, **_: Any) -> np.ndarray:
        """L2-normalised float32 vectors of ``texts``, ``batch_size`` texts per run."""
        out = []
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            encoded = self.tokenizer(
                batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="np"
            )
            feeds = {name: np.asarray(encoded[name], dtype=np.int64) for name in self.inputs}
            hidden = self.session.run(None, feeds)[0].astype(np.float32)
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                mask = feeds["attention_mask"][..., None].astype(np.float32)
                pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out.append(pooled / np.clip(norms, 1e-12, None))
        dimension = self.dimension
        return np.concatenate(out) if out else np.empty((0, dimension), dtype=np.float32)


@lru_cache(maxsize=2)
def load_encoder(model_path: Path, onnx_file: Path) -> OnnxEncoder:
    """The ONNX encoder of ``model_path``, exporting it to ``onnx_file`` first if needed; once per process."""
    check_layout(model_path)
    if not onnx_file.is_file():
        export(model_path, onnx_file)
    return OnnxEncoder(model_path, onnx_file)
