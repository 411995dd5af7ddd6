"""A cache of parsed captures, so a second load of the same files skips parsing.

Where: ``<capture dir>/.traceanalyzer-cache/<entry>/`` (for a list of files, beside the first file). One entry
per set of files, holding each table as an uncompressed Arrow IPC file (memory-mapped on load, so a warm load
reads only what the analysis touches), ``requests`` without its chunk columns and per-request strings, those
in ``chunks.arrow`` (the
loader's spool file, moved into the entry, in pieces of bounded size: see
:mod:`~traceanalyzer.loader.chunkfile`), and ``manifest.json`` with the inventory, the order of the chunk
pieces and the stamp it is valid for:
every file's path, size and modification time, the loader version and the table schemas. Any mismatch means
a re-parse that replaces the entry. A directory that cannot be written is no error: the load goes on without
a cache.

The entry is written by a background thread (:func:`store_later`), so the analysis of a first load runs while
its cache is written; :func:`wait` (called by :func:`load` and at interpreter exit) joins pending writes.

Why Arrow IPC rather than Parquet: writing it costs a copy (Parquet's encoding doubled the cold load time of
a 200,000-request capture), and reading it back is a memory map, not a decode.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from traceanalyzer.loader.capture import Inventory
from traceanalyzer.loader.chunkfile import (
    REQUEST_LEVEL_SCHEMA,
    ChunkFile,
    SpooledChunks,
    attach,
    write_chunk_file,
)
from traceanalyzer.loader.files import CACHE_DIR_NAME, TraceFile
from traceanalyzer.schema import TABLE_SCHEMAS

#: Bump when the loader's output for the same input changes.
LOADER_VERSION = 3

log = logging.getLogger("traceanalyzer.loader")

# The standard cache-directory tag (https://bford.info/cachedir/): backup tools skip the directory.
_TAG = "Signature: 8a477f597d28d172789f06886806bc55\n# traceanalyzer: parsed captures; safe to delete.\n"


def cache_root(paths: Sequence[str | os.PathLike[str]]) -> Path:
    """The cache directory of a capture: inside the first directory given, else beside the first file."""
    first = Path(paths[0])
    return (first if first.is_dir() else first.parent) / CACHE_DIR_NAME


def spool_dir(root: Path) -> Path | None:
    """Where a first load spools chunk columns so that the cache entry can take the file as it is: the cache
    directory, or None when it cannot be made."""
    try:
        root.mkdir(exist_ok=True)
    except OSError:
        return None
    return root if os.access(root, os.W_OK) else None


def _stamp(files: Sequence[TraceFile]) -> dict[str, Any]:
    schemas = hashlib.sha256("".join(str(s) for s in TABLE_SCHEMAS.values()).encode()).hexdigest()[:16]
    listing = [[f.display, str(f.path.resolve()), f.size, f.mtime_ns] for f in files]
    return {"loader": LOADER_VERSION, "schemas": schemas, "files": listing}


def _entry(root: Path, stamp: Mapping[str, Any]) -> Path:
    names = json.dumps([f[:2] for f in stamp["files"]]).encode()
    return root / hashlib.sha256(names).hexdigest()[:20]


_pending: list[threading.Thread] = []
_pending_lock = threading.Lock()


def wait() -> None:
    """Wait until every cache entry being written in the background is written."""
    while True:
        with _pending_lock:
            if not _pending:
                return
            thread = _pending.pop()
        thread.join()


def store_later(
    root: Path,
    files: Sequence[TraceFile],
    tables: Mapping[str, pa.Table],
    inventory: Inventory,
    *,
    strict_ok: bool,
    chunks: SpooledChunks | None = None,
) -> None:
    """:func:`store` in a background thread (not a daemon: the interpreter waits for it before exiting)."""
    thread = threading.Thread(
        target=store,
        args=(root, files, dict(tables), inventory),
        kwargs={"strict_ok": strict_ok, "chunks": chunks},
        name="traceanalyzer-cache-writer",
    )
    with _pending_lock:
        _pending.append(thread)
    thread.start()


def load(
    root: Path, files: Sequence[TraceFile], *, lenient: bool
) -> tuple[dict[str, pa.Table], Inventory] | None:
    """The cached tables and inventory of exactly these files, or None.

    An entry made by a lenient load that skipped bad lines is not used by a strict load (which must fail).
    """
    wait()
    stamp = _stamp(files)
    entry = _entry(root, stamp)
    try:
        manifest = json.loads((entry / "manifest.json").read_text(encoding="utf-8"))
        if manifest.get("stamp") != stamp or not (lenient or manifest.get("strict_ok")):
            return None
        tables = {}
        for name, schema in TABLE_SCHEMAS.items():
            with pa.memory_map(str(entry / f"{name}.arrow")) as source:
                table = pa.ipc.open_file(source).read_all()
            if name == "requests":
                if not table.schema.equals(REQUEST_LEVEL_SCHEMA):
                    return None
                order = [int(i) for i in manifest["chunk_order"]]
                table = attach(table, ChunkFile(entry / "chunks.arrow").columns(order))
            if not table.schema.equals(schema):
                return None
            tables[name] = table
        return tables, Inventory.from_dict(manifest["inventory"])
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException):
        return None


def store(
    root: Path,
    files: Sequence[TraceFile],
    tables: Mapping[str, pa.Table],
    inventory: Inventory,
    *,
    strict_ok: bool,
    chunks: SpooledChunks | None = None,
) -> bool:
    """Write (or replace) the cache entry of these files; False, silently, when the place is not writable.

    ``chunks``: the loader's spool file holding the chunk columns of ``tables["requests"]``, moved into the
    entry (removed when the entry is not written); without it they are written from the table.
    """
    stamp = _stamp(files)
    entry = _entry(root, stamp)
    tmp: Path | None = None
    try:
        root.mkdir(exist_ok=True)
        tag = root / "CACHEDIR.TAG"
        if not tag.exists():
            tag.write_text(_TAG, encoding="utf-8")
        tmp = Path(tempfile.mkdtemp(prefix=f"{entry.name}.tmp-", dir=root))
        if chunks is not None:
            shutil.move(chunks.path, tmp / "chunks.arrow")
            order = chunks.order
        else:
            order = write_chunk_file(tmp / "chunks.arrow", tables["requests"])
        for name, table in tables.items():
            if name == "requests":
                table = table.select(REQUEST_LEVEL_SCHEMA.names)
            with (
                pa.OSFile(str(tmp / f"{name}.arrow"), "wb") as sink,
                pa.ipc.new_file(sink, table.schema) as writer,
            ):
                writer.write_table(table)
        manifest = {
            "stamp": stamp,
            "strict_ok": strict_ok,
            "inventory": inventory.to_dict(),
            "chunk_order": list(order),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        old = None
        if entry.exists():
            old = entry.rename(root / f"{entry.name}.old-{os.getpid()}")
        tmp.rename(entry)
        tmp = None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return True
    except (OSError, pa.ArrowException) as exc:
        log.debug("capture cache not written in %s: %s", root, exc)
        return False
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if chunks is not None:
            chunks.path.unlink(missing_ok=True)
