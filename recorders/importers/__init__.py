"""Importers of other benchmark tools' exports (AIPerf, GuideLLM, inference-perf, EvalScope, llmperf, SGLang
bench_serving, vLLM bench serve, GenAI-Perf), by name.

Each tool is one module (see :mod:`recorders.importers.base` for what it provides); ``import`` asks each
registered source in turn whether it recognises a file (``detect``), so a directory of another tool's output
is imported without naming the tool::

    result = import_export(["artifacts/run1"], "capture/")        # detects AIPerf
    result = import_export(["benchmarks.json"], "capture/", tool="guidellm")

The records written are trace schema v1 plus one ``totals`` record per tool summary (docs/schema.md,
"peer summaries"), which the parity stage of the analysis reads.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from recorders.importers.base import ImportContext, Source, WrittenFile, write_records
from recorders.tracefile import default_host, new_run_id
from traceanalyzer.errors import UsageError

#: Registered sources: tool name -> module. Detection asks them in this order.
SOURCES: dict[str, str] = {
    "aiperf": "recorders.importers.aiperf",
    "guidellm": "recorders.importers.guidellm",
    "inference-perf": "recorders.importers.inference_perf",
    "evalscope": "recorders.importers.evalscope",
    "llmperf": "recorders.importers.llmperf",
    "sglang": "recorders.importers.sglang",
    "vllm-bench": "recorders.importers.vllm_bench",
    "genai-perf": "recorders.importers.genai_perf",
}

#: Directories never searched for exports (caches, version control, virtual environments).
_SKIP_DIRS = frozenset({".traceanalyzer-cache", ".git", ".venv", "__pycache__", "node_modules"})
_MAX_FILES = 10_000


def source(name: str) -> Source:
    """The source registered as ``name``; an unknown name lists the known ones."""
    module = SOURCES.get(name.lower())
    if module is None:
        raise UsageError(f"unknown tool {name!r}; known tools: {', '.join(SOURCES)}")
    return cast(Source, importlib.import_module(module))


def expand(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Every file named or below a named directory (sorted, hidden caches skipped)."""
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
                files.extend(Path(root) / n for n in sorted(names))
                if len(files) > _MAX_FILES:
                    break
        else:
            raise UsageError(f"{path}: no such file or directory")
    return files


def claims(files: Sequence[Path], tool: str | None = None) -> dict[str, list[Path]]:
    """Files each tool recognises as its export (only ``tool`` when given), tools without files left out."""
    found: dict[str, list[Path]] = {}
    names = [tool.lower()] if tool else list(SOURCES)
    for name in names:
        src = source(name)
        mine = [f for f in files if src.detect(f)]
        if mine:
            found[name] = mine
    return found


def _what_was_found(files: Sequence[Path]) -> str:
    if not files:
        return "no files"
    shown = ", ".join(f.name for f in files[:8])
    return f"{len(files)} file(s): {shown}{', ...' if len(files) > 8 else ''}"


def known_layouts() -> str:
    """One line per tool: what its export looks like."""
    return "; ".join(f"{name}: {source(name).FILES}" for name in SOURCES)


def detect(paths: Iterable[str | os.PathLike[str]], tool: str | None = None) -> tuple[str, list[Path]]:
    """The tool whose export ``paths`` hold and its files.

    Nothing recognised, or exports of two tools, is a :class:`UsageError` naming what was found.
    """
    given = list(paths)
    files = expand(given)
    found = claims(files, tool)
    where = ", ".join(str(p) for p in given)
    if not found:
        wanted = f"a {tool} export" if tool else "a known benchmark export"
        raise UsageError(f"{where}: not {wanted}; found {_what_was_found(files)}. Known: {known_layouts()}")
    if len(found) > 1:
        listed = ", ".join(f"{name} ({', '.join(p.name for p in fs[:3])})" for name, fs in found.items())
        raise UsageError(f"{where}: exports of several tools: {listed}; import one tool at a time")
    name, mine = next(iter(found.items()))
    return name, mine


@dataclass(frozen=True)
class ImportResult:
    """What one import wrote: the tool, the files read, the trace files written and notes for the user."""

    tool: str
    inputs: list[Path]
    outputs: list[WrittenFile]
    run: str
    notes: list[str] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(f.records.get(kind, 0) for f in self.outputs)


def import_export(
    paths: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    tool: str | None = None,
    run: str | None = None,
    host: str | None = None,
    start_ns: int | None = None,
    overwrite: bool = False,
    on_read: Callable[[int], None] | None = None,
) -> ImportResult:
    """Detect (or take) the tool, read its files and write trace files into ``out_dir``.

    Raises :class:`UsageError` for unknown layouts and output files that exist (unless ``overwrite``), and
    :class:`BadInputError` (file and line or field) for malformed exports. ``on_read(n)`` is called as
    records are read (for a progress display).
    """
    name, files = detect(paths, tool)
    src = source(name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    existing = sorted(str(p) for p in out.glob(f"{name}_*.jsonl"))
    if existing and not overwrite:
        raise UsageError(f"output files exist: {', '.join(existing)} (pass --overwrite to replace them)")
    for stale in existing:
        Path(stale).unlink()
    ctx = ImportContext(run=run or new_run_id(), host=host or default_host(), start_ns=start_ns)
    records = []  # read all first: a bad file must not leave half a capture
    for record in src.read(files, ctx):
        records.append(record)
        if on_read is not None and len(records) % 1000 == 0:
            on_read(len(records))
    config: dict[str, Any] = {"tool": name, "inputs": [str(f) for f in files], "tool_config": ctx.config}
    outputs = write_records(records, out, tool=name, run=ctx.run, host=ctx.host, config=config)
    return ImportResult(tool=name, inputs=files, outputs=outputs, run=ctx.run, notes=list(ctx.notes))
