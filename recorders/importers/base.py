"""What every peer-tool importer shares: the source interface, the context it reads with, and the writer.

A source (one module per tool, registered by name in :mod:`recorders.importers`) has

- ``NAME``: the tool's name on the command line (``aiperf``); ``TITLE``: how the tool spells it;
- ``FILES``: a short description of the files it reads, for error messages;
- ``detect(path) -> bool``: whether one file is that tool's export (by content, cheaply);
- ``read(files, ctx) -> Iterator[record]``: the trace records of those files (``request``, ``gpu``,
  ``server``, ``event`` and one ``totals`` record per tool summary, see docs/schema.md, "peer summaries").

A reader never knows about the analysis; :func:`write_records` routes its records into one trace file per
record type, each written with :class:`recorders.tracefile.TraceWriter` (meta first line, flush per record).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from recorders.tracefile import TraceWriter
from traceanalyzer.errors import BadInputError

Record = dict[str, Any]

#: Output file of each record type (``{tool}_{stem}.jsonl``).
FILE_STEMS: dict[str, str] = {
    "request": "requests",
    "gpu": "gpu",
    "server": "server",
    "event": "events",
    "totals": "summary",
}


@dataclass(frozen=True)
class ImportContext:
    """``run`` and ``host`` go into every record; ``start_ns`` anchors tools that stamp requests on a
    process-relative clock (``None``: the tool's file time, and a note says so)."""

    run: str
    host: str
    start_ns: int | None = None
    notes: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    """The tool's run configuration, filled by the reader; goes into ``meta.config`` (secrets redacted)."""


class Source(Protocol):
    """One peer tool's importer module (see the module docstring)."""

    NAME: str
    TITLE: str
    FILES: str

    def detect(self, path: Path) -> bool: ...

    def read(self, files: list[Path], ctx: ImportContext) -> Iterator[Record]: ...


def first_line(path: Path, limit: int = 1 << 20) -> str:
    """The first line of a text file (at most ``limit`` bytes), ``""`` when unreadable."""
    try:
        with open(path, "rb") as fh:
            return fh.readline(limit).decode("utf-8", errors="replace")
    except OSError:
        return ""


def head(path: Path, size: int = 4096) -> str:
    """The first ``size`` bytes of a file as text, ``""`` when unreadable."""
    try:
        with open(path, "rb") as fh:
            return fh.read(size).decode("utf-8", errors="replace")
    except OSError:
        return ""


def json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` of every non-blank line of a JSON Lines file.

    A line that is not a JSON object raises :class:`BadInputError` naming file and line; so does a last
    line cut short (a tool killed while writing), since the tool's own summary would then disagree.
    """
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                cut = "" if line.endswith("\n") else " (the line is cut short: a truncated file)"
                raise BadInputError(f"not JSON: {exc.msg}{cut}", path=str(path), line=number) from None
            if not isinstance(value, dict):
                raise BadInputError("not a JSON object", path=str(path), line=number)
            yield number, value


def json_file(path: Path) -> Any:
    """A whole JSON file; a parse error names file and line."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise BadInputError(
            f"not JSON: {exc.msg} (column {exc.colno})", path=str(path), line=exc.lineno
        ) from None
    except UnicodeDecodeError as exc:
        raise BadInputError(f"not UTF-8 text: {exc.reason}", path=str(path)) from None


def need(value: Any, kind: type | tuple[type, ...], what: str, path: Path, line: int | None = None) -> Any:
    """``value`` when it is of ``kind`` (``bool`` never counts as a number), else a BadInputError naming
    the field."""
    ok = isinstance(value, kind) and not (isinstance(value, bool) and bool not in _kinds(kind))
    if isinstance(value, float) and not math.isfinite(value):
        ok = False
    if not ok:
        names = " or ".join(k.__name__ for k in _kinds(kind))
        got = "nothing" if value is None else f"{type(value).__name__} {json.dumps(value)[:40]}"
        raise BadInputError(f"field {what!r} must be {names}, got {got}", path=str(path), line=line)
    return value


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    records: dict[str, int]


def write_records(
    records: Iterable[Record],
    out_dir: Path,
    *,
    tool: str,
    run: str,
    host: str,
    config: Mapping[str, Any],
    on_record: Callable[[Record], None] | None = None,
) -> list[WrittenFile]:
    """Write records into ``out_dir/{tool}_{stem}.jsonl``, one file per record type, opened on first use.

    Every record gets ``run`` and ``host`` unless it has its own; each is flushed as it is written.
    """
    writers: dict[str, TraceWriter] = {}
    counts: dict[str, Counter[str]] = {}
    try:
        for record in records:
            kind = str(record["type"])
            stem = FILE_STEMS.get(kind, "other")
            writer = writers.get(stem)
            if writer is None:
                writer = TraceWriter(
                    out_dir / f"{tool}_{stem}.jsonl",
                    recorder=f"{tool}-import",
                    config=config,
                    run=run,
                    host=host,
                )
                writers[stem] = writer
                counts[stem] = Counter()
            if kind in ("request", "event"):
                record.setdefault("run", run)
            record.setdefault("host", host)
            writer.write(record)
            counts[stem][kind] += 1
            if on_record is not None:
                on_record(record)
    finally:
        for writer in writers.values():
            writer.close()
    return [WrittenFile(writers[s].path, dict(counts[s])) for s in writers]


def parse_start(text: str) -> int:
    """``--start``: epoch seconds (``1767225600.5``) or an ISO 8601 time (UTC unless it has an offset), in
    ns."""
    from datetime import UTC, datetime

    from traceanalyzer.errors import UsageError

    try:
        return round(float(text) * 1e9)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--start {text!r}: expected epoch seconds or an ISO 8601 time") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return round(stamp.timestamp() * 1e9)


def sub_object(mapping: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``mapping[key]`` when it is a JSON object, else an empty one (optional nested objects)."""
    value = mapping.get(key)
    return value if isinstance(value, dict) else {}
