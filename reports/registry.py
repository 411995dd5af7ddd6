"""Renderers registered by name; the format of an output file follows from its extension.

A renderer turns one document, an :class:`~traceanalyzer.model.Analysis` or a
:class:`~traceanalyzer.compare.Comparison`, into the bytes of one file. Renderers format and never compute
a metric: every number they show is a field of the document.

    renderer = renderer_for_path("report.pdf")      # -> the "pdf" renderer
    write_outputs(analysis, ["report.html", "report.pdf"], RenderOptions(title="Soak 01"))

Heavy dependencies (jinja2, matplotlib, WeasyPrint) are imported when a renderer first renders, so resolving
names and checking output paths stays cheap and happens before any analysis runs.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, TypeAlias

from traceanalyzer import progress
from traceanalyzer.errors import UsageError

if TYPE_CHECKING:
    from traceanalyzer.compare import Comparison
    from traceanalyzer.model import Analysis

Document: TypeAlias = "Analysis | Comparison"


@dataclass
class RenderOptions:
    """What a renderer needs besides the document.

    ``title``: the report's title (``None``: derived from the capture); ``generated_at``: the time printed on
    the title page (UTC); ``lang``: the language of every fixed text. ``memo`` holds work several renderers
    of one call share (the HTML the PDF is made from), keyed by the document's ``id``; it lives as long as
    this object.
    """

    title: str | None = None
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    lang: str = "en"
    """The report's language (``en``, ``zh-CN``; :func:`traceanalyzer.i18n.normalize` reads aliases)."""
    memo: dict[tuple[int, str], bytes] = field(default_factory=dict)
    trace_url: str | None = None
    """URL template linking request ids to a tracing tool (``--trace-url``, :mod:`reports.trace_links`)."""


class Renderer(abc.ABC):
    """Turns a document into the bytes of one output file."""

    name: ClassVar[str]
    """Registered name (``html``, ``pdf``, ``json``)."""
    output_file_extensions: ClassVar[tuple[str, ...]]
    """Extensions (with the dot, lower case) that select this renderer; the first is the canonical one."""

    @abc.abstractmethod
    def render(self, document: Document, options: RenderOptions) -> bytes:
        """The file's content."""


_RENDERERS: dict[str, type[Renderer]] = {}


def register(cls: type[Renderer]) -> type[Renderer]:
    """Class decorator: make ``cls`` available under ``cls.name`` and its extensions."""
    _RENDERERS[cls.name] = cls
    return cls


def _load_builtin() -> None:
    """Import the built-in renderers (each registers itself)."""
    from reports import html_report, json_report, pdf_report  # noqa: F401


def known_formats() -> dict[str, tuple[str, ...]]:
    """Registered renderer name -> the extensions that select it."""
    _load_builtin()
    return {name: cls.output_file_extensions for name, cls in sorted(_RENDERERS.items())}


def _known_text() -> str:
    return ", ".join(f"{name} ({', '.join(exts)})" for name, exts in known_formats().items())


def get_renderer(name: str) -> Renderer:
    """The renderer registered as ``name``; an unknown name fails with the list of known ones."""
    _load_builtin()
    cls = _RENDERERS.get(name.lower())
    if cls is None:
        raise UsageError(f"unknown report format {name!r}; known formats: {_known_text()}")
    return cls()


def renderer_for_path(path: str | Path) -> Renderer:
    """The renderer chosen by the extension of ``path`` (case-insensitive)."""
    _load_builtin()
    suffix = Path(path).suffix.lower()
    for cls in _RENDERERS.values():
        if suffix in cls.output_file_extensions:
            return cls()
    what = f"extension {suffix!r}" if suffix else "no extension"
    raise UsageError(
        f"cannot tell the report format of {str(path)!r} ({what}); known formats: {_known_text()}"
    )


def plan_outputs(
    outputs: Iterable[str | os.PathLike[str] | tuple[str, str | os.PathLike[str]]],
) -> list[tuple[Renderer, Path]]:
    """Resolve every output to its renderer before any work, so a bad name fails fast.

    An output is a path (the format follows its extension) or ``(format name, path)``. Two outputs naming the
    same file, or a file in a directory that does not exist, are usage errors.
    """
    plan: list[tuple[Renderer, Path]] = []
    for item in outputs:
        if isinstance(item, tuple):
            plan.append((get_renderer(item[0]), Path(item[1])))
        else:
            plan.append((renderer_for_path(Path(item)), Path(item)))
    seen: set[Path] = set()
    for _, path in plan:
        resolved = path.resolve()
        if resolved in seen:
            raise UsageError(f"output {str(path)!r} is named twice")
        seen.add(resolved)
        if not path.parent.is_dir():
            raise UsageError(f"cannot write {str(path)!r}: directory {str(path.parent)!r} does not exist")
    return plan


def write_outputs(
    document: Document,
    outputs: Sequence[tuple[Renderer, Path] | str | Path],
    options: RenderOptions | None = None,
    *,
    on_written: Callable[[Path, float], None] | None = None,
) -> list[Path]:
    """Render ``document`` into every output; returns the paths written.

    ``outputs`` holds paths or the ``(renderer, path)`` pairs of :func:`plan_outputs`. Each file is written
    to a temporary name first and renamed, so a failed render never leaves half a report.
    ``on_written(path, seconds)`` is called after each file.
    """
    import time

    opts = options or RenderOptions()
    plan = [item if isinstance(item, tuple) else (renderer_for_path(item), Path(item)) for item in outputs]
    written: list[Path] = []
    with progress.phase("rendering (files)", total=len(plan)) as advance:
        for renderer, path in plan:
            started = time.perf_counter()
            data = renderer.render(document, opts)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
            written.append(path)
            advance(1)
            if on_written is not None:
                on_written(path, time.perf_counter() - started)
    return written
