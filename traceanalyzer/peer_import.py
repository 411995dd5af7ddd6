"""Peer-tool exports given where a capture is expected: imported on the fly into the capture cache.

``analyze``, ``report`` and ``compare`` (and the Python API) resolve their capture paths through
:func:`resolve_capture_paths` before loading: a directory or file that another benchmark tool wrote (AIPerf,
GuideLLM, inference-perf, EvalScope, llmperf, SGLang bench_serving, vLLM bench serve, GenAI-Perf; see
:mod:`recorders.importers`) is imported once into
``<dir>/.traceanalyzer-cache/imports/<tool>-<key>/`` and that directory is loaded instead. The key covers the
export's files (path, size, modification time) and the importer version, so a changed export is imported
again. Reading files only: no importer opens a socket.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from traceanalyzer.loader import Capture

CACHE_DIR_NAME = ".traceanalyzer-cache"
IMPORTER_VERSION = "1"
_DONE = "import.json"


@dataclass(frozen=True)
class ResolvedPaths:
    """Capture paths to load, and one line per export imported on the fly (for the inventory)."""

    paths: list[str]
    notes: list[str] = field(default_factory=list)


def _key(tool: str, files: Sequence[Path]) -> str:
    listing = []
    for f in files:
        st = f.stat()
        listing.append([str(f.resolve()), st.st_size, st.st_mtime_ns])
    blob = json.dumps([IMPORTER_VERSION, tool, listing]).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _cache_dir(given: Path, tool: str, key: str) -> Path:
    base = given if given.is_dir() else given.parent
    return base / CACHE_DIR_NAME / "imports" / f"{tool}-{key}"


def import_cached(given: Path, tool: str, files: Sequence[Path], *, cache: bool = True) -> tuple[Path, bool]:
    """The trace directory of an export (imported now unless the cache holds it); ``(dir, was_cached)``."""
    from recorders.importers import import_export

    key = _key(tool, files)
    target = _cache_dir(given, tool, key)
    if cache and (target / _DONE).is_file():
        return target, True
    if not cache or not os.access(target.parent.parent.parent, os.W_OK):
        target = Path(tempfile.mkdtemp(prefix=f"traceanalyzer-{tool}-"))
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    result = import_export(files, tmp, tool=tool, run=f"{tool}-{key[:8]}", host=tool, overwrite=True)
    (tmp / _DONE).write_text(
        json.dumps({"tool": tool, "inputs": [str(p) for p in result.inputs], "notes": result.notes}),
        encoding="utf-8",
    )
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target, False


def resolve_capture_paths(paths: Sequence[str | os.PathLike[str]], *, cache: bool = True) -> ResolvedPaths:
    """``paths`` with every peer-tool export replaced by its imported trace directory (see the module
    docstring); trace files and capture directories pass through unchanged."""
    from recorders.importers import claims, expand

    out: list[str] = []
    notes: list[str] = []
    for given in paths:
        path = Path(given)
        if not path.exists():
            out.append(str(given))
            continue
        files = expand([path])
        found = claims(files)
        if not found:
            out.append(str(given))
            continue
        if len(found) > 1:
            from traceanalyzer.errors import UsageError

            raise UsageError(f"{path}: exports of several tools ({', '.join(found)}); give one tool's export")
        tool, mine = next(iter(found.items()))
        target, cached = import_cached(path, tool, mine, cache=cache)
        out.append(str(target))
        if path.is_dir():
            others = [f for f in files if f not in mine and f.name.endswith((".jsonl", ".jsonl.gz"))]
            out.extend(str(f) for f in others)
        how = "from the capture cache" if cached else "on the fly"
        notes.append(f"{path}: a {tool} export ({len(mine)} file(s)), imported {how} into {target}")
    return ResolvedPaths(out, notes)


def load_with_imports(
    load: Callable[..., Capture], paths: Sequence[str | os.PathLike[str]], **kwargs: Any
) -> Capture:
    """``load(resolved paths, **kwargs)`` with the on-the-fly imports named in the inventory's warnings."""
    resolved = resolve_capture_paths(paths, cache=bool(kwargs.get("cache", True)))
    capture = load(resolved.paths, **kwargs)
    if not resolved.notes:
        return capture
    inventory = dataclasses.replace(
        capture.inventory, warnings=[*resolved.notes, *capture.inventory.warnings]
    )
    return dataclasses.replace(capture, inventory=inventory)
