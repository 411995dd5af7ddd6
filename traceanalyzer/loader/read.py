"""Reading a capture's files: one typed query per group of files, and the careful way for those that fail.

Every file is first *prepared*: a gzip stream its writer never finished (killed) is decompressed to a
temporary file, and a plain file is checked for a partial last line. Files without such a line are read
together, plain ones in one typed query and gzip ones in another. Files whose group query failed, and those
ending in a partial line, are read one by one with the flagging pass. Finally the bad rows of each file are
named (strict: the first raises :class:`BadInputError`) or counted and skipped (lenient).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from traceanalyzer.errors import BadInputError
from traceanalyzer.loader import careful
from traceanalyzer.loader.capture import FileInventory
from traceanalyzer.loader.chunkfile import ChunkSpool
from traceanalyzer.loader.fast import ReadError
from traceanalyzer.loader.files import (
    TraceFile,
    count_lines,
    gunzip,
    gzip_unfinished,
    peek_types,
    read_tail,
)
from traceanalyzer.loader.scan import Scan, scan_with_retry
from traceanalyzer.schema import RECORD_TYPES


@dataclass
class FileResult:
    """One file read: its tables' batches, its inventory entry and the warnings it raised."""

    batches: dict[str, list[pa.RecordBatch]]
    inventory: FileInventory
    warnings: list[str]
    pieces: list[int] = field(default_factory=list)
    """Chunk spool piece of each ``requests`` batch (see :class:`~traceanalyzer.loader.scan.Scan`)."""


@dataclass
class _File:
    """A file being read: where DuckDB reads it from, and what was found wrong so far."""

    tf: TraceFile
    lenient: bool
    path: Path
    gzip: bool
    truncated: bool = False
    problems: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def problem(self, kind: str, message: str, line: int | None = None, *, always: bool = False) -> None:
        """Raise (strict) or count and warn (lenient, or ``always`` for what is skipped in any mode)."""
        if not (self.lenient or always):
            raise BadInputError(message, path=self.tf.display, line=line)
        self.problems[kind] = self.problems.get(kind, 0) + 1
        where = f"{self.tf.display}:{line}" if line is not None else self.tf.display
        self.warnings.append(f"{where}: {message}")

    def gunzip_to(self, tmpdir: Path) -> None:
        """Read the gzip stream up to where it stops (cut short or corrupt) into a plain temporary file."""
        dest = tmpdir / f"{len(list(tmpdir.iterdir()))}.jsonl"
        result = gunzip(self.tf.path, dest)
        if result.error is not None:
            self.problem(careful.BAD_GZIP, result.error)
        elif result.truncated:
            self.warnings.append(
                f"{self.tf.display}: gzip stream cut short (its writer was stopped); read up to there"
            )
        self.path, self.gzip = dest, False
        self.truncated = _truncated_tail(dest)


def _truncated_tail(path: Path) -> bool:
    """Whether a plain file ends in a partial line (no newline and not parseable): a writer was killed."""
    tail = read_tail(path)
    if tail is None or not tail.strip():
        return False
    problem = careful.check_line(tail)
    return problem is not None and problem[0] in (careful.NOT_JSON, careful.NOT_UTF8)


def _prepare(tf: TraceFile, *, lenient: bool, tmpdir: Path) -> _File:
    f = _File(tf, lenient, tf.path, tf.gzip)
    if tf.gzip and gzip_unfinished(tf.path):
        f.gunzip_to(tmpdir)
    elif not tf.gzip:
        f.truncated = _truncated_tail(tf.path)
    return f


def _read_one(con: duckdb.DuckDBPyConnection, f: _File, tmpdir: Path, spool: ChunkSpool | None) -> Scan:
    """One file on its own: typed pass, flagging pass if that fails, decompressing a broken gzip first."""
    typed = not f.truncated
    while True:
        try:
            guess = peek_types(f.tf)
            return scan_with_retry(
                con, [f.path], [f.tf.display], gzip=f.gzip, guess=guess, typed=typed, spool=spool
            )[0]
        except ReadError as exc:
            if f.gzip:  # decompress here, so that DuckDB and the careful reader see the very same lines
                f.gunzip_to(tmpdir)
                typed = typed and exc.io and not f.truncated
            elif typed:
                typed = False
            else:
                found = careful.first_problem(f.path, gzip=False)
                if found is not None:
                    f.problem(found.kind, found.message, found.line)
                else:
                    f.problem(careful.UNREADABLE_FILE, f"could not be read ({str(exc).splitlines()[0]})")
                return Scan()


def _finish(f: _File, scan: Scan) -> FileResult:
    """Account for the truncated last line and the bad rows of one file; its inventory entry."""
    skipped = 0
    bad = scan.bad_rows
    if f.truncated:
        if bad and bad[-1] == scan.rows - 1:
            bad = bad[:-1]
        skipped += 1
        message = "truncated last line skipped (its writer was stopped mid-line)"
        f.problem(careful.TRUNCATED, message, count_lines(f.path), always=True)
    elif scan.rows == 0 and not f.problems:
        f.problem(careful.EMPTY_FILE, "empty file: no records")
    if bad:
        found = careful.locate(f.path, gzip=f.gzip, rows=bad, first_only=not f.lenient)
        if not f.lenient:
            first = found[0] if found else None
            message = first.message if first else "a line could not be read as a trace record"
            raise BadInputError(message, path=f.tf.display, line=first.line if first else None)
        for kind, n in careful.count_by_kind(found).items():
            f.problems[kind] = f.problems.get(kind, 0) + n
        if len(found) < len(bad):  # rows the line scan did not reach: counted all the same
            f.problems[careful.UNREADABLE] = f.problems.get(careful.UNREADABLE, 0) + len(bad) - len(found)
        skipped += len(bad)
        shown = "; ".join(f"line {p.line}: {p.message}" for p in found[:3])
        more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
        f.warnings.append(f"{f.tf.display}: skipped {len(bad)} bad line(s): {shown}{more}")
    records = sum(n for t, n in scan.types.items() if t in RECORD_TYPES)
    inventory = FileInventory(f.tf.display, records, skipped, f.problems, dict(sorted(scan.types.items())))
    return FileResult(scan.batches, inventory, f.warnings, scan.pieces)


def read_files(
    con: duckdb.DuckDBPyConnection,
    files: list[TraceFile],
    *,
    lenient: bool,
    tmpdir: Path,
    spool: ChunkSpool | None = None,
) -> list[FileResult]:
    """Read every file of a capture; results in the order of ``files``. With a ``spool``, the chunk columns
    of request rows go there as they are read (:mod:`~traceanalyzer.loader.chunkfile`).

    Raises :class:`BadInputError` at the first bad line unless ``lenient``.
    """
    prepared = []
    for tf in files:
        with _os_errors(tf):
            prepared.append(_prepare(tf, lenient=lenient, tmpdir=tmpdir))
    scans: dict[int, Scan] = {}
    for gzip in (False, True):
        group = [i for i, f in enumerate(prepared) if f.gzip == gzip and not f.truncated and f.tf.size > 0]
        if not group:
            continue
        guess: set[str] = set().union(*(peek_types(prepared[i].tf) for i in group))
        paths = [prepared[i].path for i in group]
        displays = [prepared[i].tf.display for i in group]
        try:
            found = scan_with_retry(con, paths, displays, gzip=gzip, guess=guess, typed=True, spool=spool)
        except ReadError:
            continue  # some file of the group is bad or unreadable: read them one by one
        scans.update(zip(group, found, strict=True))
    results = []
    for i, f in enumerate(prepared):
        with _os_errors(f.tf):
            scan = scans.get(i)
            if scan is None:
                scan = _read_one(con, f, tmpdir, spool) if f.tf.size > 0 else Scan()
            results.append(_finish(f, scan))
    return results


@contextmanager
def _os_errors(tf: TraceFile) -> Iterator[None]:
    """A file that cannot be read (gone, no permission) is bad input in any mode."""
    try:
        yield
    except OSError as exc:
        raise BadInputError(f"cannot read: {exc.strerror or exc}", path=tf.display) from None
