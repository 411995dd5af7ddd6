"""Finding a capture's trace files and reading their raw bytes (plain or gzip, complete or cut short)."""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from traceanalyzer.errors import BadInputError

CACHE_DIR_NAME = ".traceanalyzer-cache"
TRACE_SUFFIXES = (".jsonl", ".jsonl.gz")
_GZIP_MAGIC = b"\x1f\x8b"
_BLOCK = 1 << 20
_PEEK = 1 << 18
_TYPE_RE = re.compile(rb'"type"\s*:\s*"([^"\\]{1,64})"')


@dataclass(frozen=True)
class TraceFile:
    """One trace file: ``display`` is how messages name it, ``path`` where it is, ``gzip`` from its bytes."""

    display: str
    path: Path
    size: int
    mtime_ns: int
    gzip: bool


def _trace_file(path: Path, display: str) -> TraceFile:
    try:
        st = path.stat()
        with open(path, "rb") as fh:
            magic = fh.read(2)
    except OSError as exc:
        raise BadInputError(f"cannot read: {exc.strerror or exc}", path=display) from None
    return TraceFile(display, path, st.st_size, st.st_mtime_ns, magic == _GZIP_MAGIC)


def _below(directory: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, names in os.walk(directory, onerror=None):
        dirs[:] = sorted(d for d in dirs if d != CACHE_DIR_NAME)
        found.extend(Path(root) / n for n in sorted(names) if n.endswith(TRACE_SUFFIXES))
    return found


def discover(paths: Sequence[str | os.PathLike[str]]) -> list[TraceFile]:
    """The trace files of a capture: each file given, and every ``*.jsonl`` / ``*.jsonl.gz`` below each
    directory given (recursively, sorted, the loader's cache directory left out). A file named twice is
    read once."""
    if not paths:
        raise BadInputError("no capture given (a directory or trace files)")
    files: list[TraceFile] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = _below(path)
            if not found:
                raise BadInputError("no *.jsonl or *.jsonl.gz trace files in this directory", path=str(path))
            candidates = [(p, str(p)) for p in found]
        elif path.exists():
            candidates = [(path, str(path))]
        else:
            raise BadInputError("no such file or directory", path=str(path))
        for p, display in candidates:
            key = p.resolve()
            if key not in seen:
                seen.add(key)
                files.append(_trace_file(p, display))
    return files


def read_tail(path: Path) -> bytes | None:
    """The bytes after the last newline of a plain file, or None when it ends with a newline (or is empty)."""
    with open(path, "rb") as fh:
        end = fh.seek(0, os.SEEK_END)
        if end == 0:
            return None
        fh.seek(end - 1)
        if fh.read(1) == b"\n":
            return None
        chunks: list[bytes] = []
        pos = end
        while pos > 0:
            step = min(_BLOCK, pos)
            pos -= step
            fh.seek(pos)
            chunk = fh.read(step)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                chunks.append(chunk[cut + 1 :])
                break
            chunks.append(chunk)
        return b"".join(reversed(chunks))


def count_lines(path: Path) -> int:
    """Number of lines of a plain file (a last line without newline counts)."""
    n = 0
    last = b"\n"
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (last != b"\n")


@dataclass
class GunzipResult:
    """How a gzip file decompressed: ``truncated`` when the stream stops before its end marker (a writer
    killed mid-file), ``error`` when its data is corrupt (what came before is kept)."""

    truncated: bool = False
    error: str | None = None


_FEED = 1 << 14  # input fed to zlib at a time: a corrupt spot loses at most the output of this much input


def _gunzip_stream(path: Path, result: GunzipResult) -> Iterator[bytes]:
    """Decompressed data of every gzip member of ``path``, up to where the stream is cut short or corrupt
    (``result`` says which)."""
    decomp = zlib.decompressobj(wbits=31)
    fed = False
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            for start in range(0, len(block), _FEED):
                piece = block[start : start + _FEED]
                while piece:
                    try:
                        yield decomp.decompress(piece)
                    except zlib.error as exc:
                        result.error = f"corrupt gzip data ({exc})"
                        return
                    fed = True
                    if not decomp.eof:
                        break
                    piece = decomp.unused_data
                    decomp = zlib.decompressobj(wbits=31)
                    fed = False
                    if piece.strip(b"\x00") == b"":  # zero padding after the last member
                        return
    result.truncated = fed and not decomp.eof


def gzip_unfinished(path: Path) -> bool:
    """Whether a gzip file ends with a sync-flush marker instead of a gzip trailer: the trace writer flushes
    each record that way, so a killed writer leaves exactly this ending (which DuckDB cannot read)."""
    with open(path, "rb") as fh:
        end = fh.seek(0, os.SEEK_END)
        if end < 4:
            return True
        fh.seek(end - 4)
        return fh.read(4) == b"\x00\x00\xff\xff"


def gunzip(src: Path, dest: Path) -> GunzipResult:
    """Decompress every gzip member of ``src`` into ``dest``, keeping all data before a cut or corruption."""
    result = GunzipResult()
    with open(dest, "wb") as fout:
        for data in _gunzip_stream(src, result):
            fout.write(data)
    return result


def iter_lines(path: Path, *, gzip: bool) -> Iterator[bytes]:
    """Raw lines (with their newline) of a plain or gzip file; a gzip stream cut short ends the iteration."""
    if not gzip:
        with open(path, "rb") as fh:
            yield from fh
        return
    pending = b""
    for data in _gunzip_stream(path, GunzipResult()):
        *lines, pending = (pending + data).split(b"\n")
        for line in lines:
            yield line + b"\n"
    if pending:
        yield pending


def peek_types(tf: TraceFile) -> set[str]:
    """The record types named in the first and last 256 KiB of a file: the fast reader's guess of which
    columns it must read (a type it missed is found in the ``type`` column and the file read again)."""
    try:
        if tf.gzip:
            head = b"".join(_first_blocks(tf.path, _PEEK))
            tail = b""
        else:
            with open(tf.path, "rb") as fh:
                head = fh.read(_PEEK)
                fh.seek(max(_PEEK, tf.size - _PEEK))
                tail = fh.read(_PEEK)
    except OSError:
        return set()
    return {m.decode("utf-8", "replace") for m in _TYPE_RE.findall(head + b"\n" + tail)}


def _first_blocks(path: Path, limit: int) -> Iterator[bytes]:
    got = 0
    for block in _gunzip_stream(path, GunzipResult()):
        yield block
        got += len(block)
        if got >= limit:
            return
