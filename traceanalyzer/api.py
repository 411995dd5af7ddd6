"""The Python API: ``load``, ``analyze``, ``compare``, ``render`` (re-exported by :mod:`traceanalyzer`).

These four functions are the one way in: the ``analyze``, ``report`` and ``compare`` commands call them too.

    import traceanalyzer as ta
    analysis = ta.analyze("captures/soak-01", window_s=30)
    analysis.requests_frame()                      # one row per request (pandas)
    ta.render(analysis, ["report.html", "report.pdf"], title="Soak 01")

Analysis options are keyword arguments named as the fields of :class:`~traceanalyzer.model.AnalysisOptions`
(``window_s``, ``warmup_s``, ``soak``, ...), or one ``AnalysisOptions``; an option added there is accepted
here unchanged. Heavy modules (pyarrow, DuckDB, pandas, the renderers) are imported when a function runs, so
``import traceanalyzer`` stays cheap.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from traceanalyzer.errors import UsageError

if TYPE_CHECKING:
    from traceanalyzer.compare import Comparison, Tolerance
    from traceanalyzer.loader import Capture
    from traceanalyzer.model import Analysis, AnalysisOptions, SloThresholds

__all__ = ["Source", "analyze", "compare", "load", "render"]

PathLike: TypeAlias = "str | os.PathLike[str]"
Source: TypeAlias = "Capture | str | os.PathLike[str] | Sequence[str | os.PathLike[str]]"
"""What :func:`analyze` and :func:`compare` accept: a loaded capture, or the paths :func:`load` takes."""


def load(
    paths: PathLike | Sequence[PathLike],
    *,
    lenient: bool = False,
    clock_offsets: Mapping[str, int] | None = None,
    cache: bool = True,
) -> Capture:
    """Load a capture: directories (every ``*.jsonl`` / ``*.jsonl.gz`` below them) and trace files.

    ``lenient``: skip and count bad lines instead of raising :class:`~traceanalyzer.errors.BadInputError` at
    the first; ``clock_offsets``: host name -> nanoseconds added to every time recorded on that host;
    ``cache``: keep the parsed tables beside the capture (``<capture>/.traceanalyzer-cache``) so a second load
    skips parsing. Another benchmark tool's export (AIPerf, GuideLLM, ...; docs/imports.md) is imported on
    the fly into the capture cache. Returns typed Arrow tables, one per record type, and the inventory of what
    was read.
    """
    from traceanalyzer.loader import load_capture
    from traceanalyzer.peer_import import load_with_imports

    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    return load_with_imports(load_capture, items, lenient=lenient, clock_offsets=clock_offsets, cache=cache)


def analysis_options(
    options: AnalysisOptions | None = None,
    *,
    slo: SloThresholds | Mapping[str, float | None] | PathLike | None = None,
    **overrides: Any,
) -> AnalysisOptions:
    """``options`` (default: :class:`~traceanalyzer.model.AnalysisOptions`) with ``overrides`` applied.

    ``overrides`` are named as the fields of ``AnalysisOptions``; an unknown name is a
    :class:`~traceanalyzer.errors.UsageError` listing the known ones. ``slo`` is a ``SloThresholds``, a
    mapping of its field names, or the path of a TOML file with an ``[slo]`` table.
    """
    from traceanalyzer.model import AnalysisOptions, SloThresholds

    base = options or AnalysisOptions()
    known = {f.name for f in dataclasses.fields(AnalysisOptions)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise UsageError(
            f"unknown analysis option(s) {', '.join(unknown)}; known options: {', '.join(sorted(known))}"
        )
    if slo is not None:
        if isinstance(slo, SloThresholds):
            overrides["slo"] = slo
        elif isinstance(slo, Mapping):
            slo_known = {f.name for f in dataclasses.fields(SloThresholds)}
            bad = sorted(set(slo) - slo_known)
            if bad:
                raise UsageError(
                    f"unknown SLO(s) {', '.join(bad)}; known SLOs: {', '.join(sorted(slo_known))}"
                )
            overrides["slo"] = dataclasses.replace(base.slo, **dict(slo))
        else:
            from traceanalyzer.slo import load_slo_file

            overrides["slo"] = load_slo_file(str(slo))
    floats = {f.name for f in dataclasses.fields(AnalysisOptions) if f.type == "float"}
    for name, value in overrides.items():
        if name in floats and isinstance(value, int) and not isinstance(value, bool):
            overrides[name] = float(value)  # window_s=10 means 10.0 s, as on the command line
    result = dataclasses.replace(base, **overrides) if overrides else base
    if result.window_s <= 0:
        raise UsageError(f"--window must be positive, not {result.window_s:g}")
    return result


def _paths(source: PathLike | Sequence[PathLike]) -> list[PathLike]:
    return [source] if isinstance(source, str | os.PathLike) else list(source)


def with_embedding_cache(options: AnalysisOptions, paths: PathLike | Sequence[PathLike]) -> AnalysisOptions:
    """``options`` with the embedding cache beside the capture at ``paths``, unless one is set already."""
    if options.embedding_cache_dir is not None:
        return options
    from traceanalyzer.consistency import default_cache_dir

    cache_dir = default_cache_dir([str(p) for p in _paths(paths)])
    return dataclasses.replace(options, embedding_cache_dir=str(cache_dir))


def analyze(
    source: Source,
    options: AnalysisOptions | None = None,
    *,
    slo: SloThresholds | Mapping[str, float | None] | PathLike | None = None,
    lenient: bool = False,
    clock_offsets: Mapping[str, int] | None = None,
    cache: bool = True,
    **overrides: Any,
) -> Analysis:
    """Analyze a capture: every stage of :data:`traceanalyzer.analysis.STAGES`, one typed result.

    ``source`` is a :class:`~traceanalyzer.loader.Capture` from :func:`load` or the paths :func:`load`
    takes; ``lenient``, ``clock_offsets`` and ``cache`` are passed to :func:`load` when it is paths (the
    embedding cache then lives beside the capture too). ``options`` and the keyword ``overrides`` (fields of
    :class:`~traceanalyzer.model.AnalysisOptions`: ``window_s=30``, ``warmup_s=60``, ``soak=True``, ...)
    say how to analyze; ``slo`` is a ``SloThresholds``, a mapping of its fields or a TOML file.

    The result keeps its per-request data, so :meth:`~traceanalyzer.model.Analysis.requests_frame` works.
    """
    from traceanalyzer.analysis import analyze as run_stages
    from traceanalyzer.loader import Capture

    if clock_offsets is not None:
        overrides["clock_offsets_ns"] = dict(clock_offsets)
    opts = analysis_options(options, slo=slo, **overrides)
    if isinstance(source, Capture):
        if clock_offsets is not None:
            raise UsageError(
                "clock_offsets apply while loading: pass them to load(), or give analyze() paths"
            )
        return run_stages(source, opts)
    capture = load(source, lenient=lenient, clock_offsets=opts.clock_offsets_ns or None, cache=cache)
    return run_stages(capture, with_embedding_cache(opts, source) if cache else opts)


def run_names(
    baseline: object, candidate: object, names: tuple[str | None, str | None] = (None, None)
) -> tuple[str, str]:
    """Display names of two runs: those given, else the last part of a path, else baseline / candidate;
    two equal names are told apart with ``(baseline)`` / ``(candidate)``."""

    def name(source: object, given: str | None, fallback: str) -> str:
        if given:
            return given
        if isinstance(source, str | os.PathLike):
            return Path(os.fspath(source).rstrip("/")).name or fallback
        return fallback

    first, second = name(baseline, names[0], "baseline"), name(candidate, names[1], "candidate")
    if first == second:
        return f"{first} (baseline)", f"{second} (candidate)"
    return first, second


def compare(
    baseline: Analysis | Source,
    candidate: Analysis | Source,
    options: AnalysisOptions | None = None,
    *,
    tolerance: Tolerance | Mapping[str, float] | None = None,
    names: tuple[str | None, str | None] = (None, None),
    slo: SloThresholds | Mapping[str, float | None] | PathLike | None = None,
    lenient: bool = False,
    clock_offsets: Mapping[str, int] | None = None,
    cache: bool = True,
    **overrides: Any,
) -> Comparison:
    """Compare a candidate run with a baseline: every headline metric, its delta, significance and verdict.

    Each side is an :class:`~traceanalyzer.model.Analysis` or what :func:`analyze` takes (then both are
    analyzed with the same options). Per-request significance tests (Mann-Whitney U on TTFT, TPOT, E2E) need
    the per-request data an analysis keeps; an analysis read back with ``Analysis.from_json`` has none, and
    its latency changes beyond tolerance are reported as ``changed``. ``tolerance`` is a
    :class:`~traceanalyzer.compare.Tolerance` or a mapping of its fields (``{"latency": 0.05}``);
    ``names`` label the runs (default: the last part of each path, else ``baseline`` / ``candidate``).
    """
    from traceanalyzer.compare import Tolerance, request_samples
    from traceanalyzer.compare import compare as compare_analyses
    from traceanalyzer.model import Analysis

    def side(source: Analysis | Source) -> Analysis:
        if isinstance(source, Analysis):
            return source
        return analyze(
            source, options, slo=slo, lenient=lenient, clock_offsets=clock_offsets, cache=cache, **overrides
        )

    base, cand = side(baseline), side(candidate)
    base_samples, cand_samples = request_samples(base), request_samples(cand)
    samples = None if base_samples is None or cand_samples is None else (base_samples, cand_samples)
    if tolerance is None or isinstance(tolerance, Tolerance):
        tol = tolerance
    else:
        known = {f.name for f in dataclasses.fields(Tolerance)}
        bad = sorted(set(tolerance) - known)
        if bad:
            raise UsageError(f"unknown tolerance(s) {', '.join(bad)}; known: {', '.join(sorted(known))}")
        tol = Tolerance(**dict(tolerance))
    return compare_analyses(
        base, cand, samples=samples, tolerance=tol, names=run_names(baseline, candidate, names)
    )


Output: TypeAlias = "str | os.PathLike[str] | tuple[str, str | os.PathLike[str]]"
"""An output of :func:`render`: a path (the format follows its extension) or ``(format name, path)``."""


def render(
    document: Analysis | Comparison,
    outputs: str | os.PathLike[str] | Sequence[Output],
    *,
    title: str | None = None,
    on_written: Callable[[Path, float], None] | None = None,
    **options: Any,
) -> list[Path]:
    """Render an analysis or a comparison into files; the format follows each extension (``.html``,
    ``.pdf``, ``.json``), or give ``(format name, path)`` pairs in a list. Returns the paths written.

    Every output is checked before anything is rendered (an unknown extension or a missing directory is a
    :class:`~traceanalyzer.errors.UsageError`). ``title``: the report title (default: from the capture);
    further keyword ``options`` are fields of :class:`reports.RenderOptions`; ``on_written(path, seconds)``
    is called after each file.
    """
    from reports import RenderOptions, plan_outputs, write_outputs

    items: list[Output] = [outputs] if isinstance(outputs, str | os.PathLike) else list(outputs)
    known = {f.name for f in dataclasses.fields(RenderOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise UsageError(f"unknown render option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    plan = plan_outputs(items)
    return write_outputs(document, plan, RenderOptions(title=title, **options), on_written=on_written)
