"""``load_capture``: trace files in, a validated :class:`Capture` out (architecture.md, "Loader contract")."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from traceanalyzer import progress
from traceanalyzer.arrowpool import use_system_pool
from traceanalyzer.errors import BadInputError
from traceanalyzer.loader import cache as capture_cache
from traceanalyzer.loader.capture import Capture, FileInventory, Inventory
from traceanalyzer.loader.careful import TRUNCATED
from traceanalyzer.loader.chunkfile import REQUEST_LEVEL_SCHEMA, ChunkSpool, SpooledChunks, attach, release
from traceanalyzer.loader.files import TraceFile, discover
from traceanalyzer.loader.read import read_files
from traceanalyzer.schema import RECORD_TYPES, TABLE_SCHEMAS

log = logging.getLogger("traceanalyzer.loader")

PathArg = str | os.PathLike[str]


def load_capture(
    paths: Sequence[PathArg] | PathArg,
    *,
    lenient: bool = False,
    clock_offsets: Mapping[str, int] | None = None,
    cache: bool = True,
) -> Capture:
    """Load a capture: directories (every ``*.jsonl`` / ``*.jsonl.gz`` below them) and trace files.

    Records are dispatched by ``type`` into typed Arrow tables. A bad line (not JSON, a missing required
    field, a value of the wrong type, an unknown schema version) or an empty file raises
    :class:`BadInputError` naming the file and line, unless ``lenient``, which skips and counts it per file
    in the inventory. A truncated last line (a writer killed mid-line) is always skipped, counted and warned
    about. Records of an unknown ``type`` are counted and ignored; request ids seen twice in a run are
    counted and warned about. ``clock_offsets`` maps a host name to nanoseconds added to every time field
    (``t``, ``t_*``) of that host's records. ``cache`` keeps the parsed tables beside the capture (see
    :mod:`traceanalyzer.loader.cache`); a second load of unchanged files skips parsing.

    The chunk columns of ``requests`` (``chunks_us``, ``chunk_tokens``) and its per-request strings (ids,
    text, error messages) are memory-mapped from a file (the cache entry's, else a temporary one), never all
    in memory (:mod:`traceanalyzer.loader.chunkfile`).
    """
    use_system_pool()
    given: list[PathArg] = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    files = discover(given)
    root = capture_cache.cache_root(given)
    cached = capture_cache.load(root, files, lenient=lenient) if cache else None
    if cached is not None:
        tables, inventory = cached
        for warning in inventory.warnings:
            log.warning("%s", warning)
    else:
        spool_dir = capture_cache.spool_dir(root) if cache else None
        tables, inventory, chunks = _parse(files, lenient=lenient, spool_dir=spool_dir)
        if cache:
            strict_ok = all(set(f.problems) <= {TRUNCATED} for f in inventory.files)
            capture_cache.store_later(root, files, tables, inventory, strict_ok=strict_ok, chunks=chunks)
    if clock_offsets:
        tables = {name: shift_times(name, table, clock_offsets) for name, table in tables.items()}
    return Capture(**tables, inventory=inventory)


def _parse(
    files: Sequence[TraceFile], *, lenient: bool, spool_dir: Path | None = None
) -> tuple[dict[str, pa.Table], Inventory, SpooledChunks | None]:
    """Read the files; the chunk columns go to a spool file in ``spool_dir`` (kept, for the cache) or in a
    temporary directory (removed once mapped)."""
    batches: dict[str, list[pa.RecordBatch]] = {name: [] for name in TABLE_SCHEMAS}
    pieces: list[int] = []
    entries: list[FileInventory] = []
    warnings: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="traceanalyzer-load-") as tmp,
        duckdb.connect(config=duckdb_config(Path(tmp))) as con,
        progress.phase("reading (requests)") as advance,
    ):
        con.execute("SET enable_progress_bar = false")
        fd, spool_name = tempfile.mkstemp(prefix=".spool-", suffix=".arrow", dir=spool_dir or tmp)
        os.close(fd)
        spool = ChunkSpool(Path(spool_name), on_rows=advance)
        try:
            reading = Path(tmp) / "read"
            reading.mkdir()
            for result in read_files(con, list(files), lenient=lenient, tmpdir=reading, spool=spool):
                for name, found in result.batches.items():
                    batches[name].extend(found)
                pieces.extend(result.pieces)
                entries.append(result.inventory)
                warnings.extend(result.warnings)
            chunk_file = spool.finish()
        except BaseException:
            spool.discard()
            raise
        kept = SpooledChunks(spool.path, tuple(pieces)) if spool_dir is not None else None
        tables = {
            name: pa.Table.from_batches(found, schema=TABLE_SCHEMAS[name])
            for name, found in batches.items()
            if name != "requests"
        }
        request_level = pa.Table.from_batches(batches.pop("requests"), schema=REQUEST_LEVEL_SCHEMA)
        tables["requests"] = attach(request_level, chunk_file.columns(pieces))
        tables = {name: tables[name] for name in TABLE_SCHEMAS}
        duplicates, dup_warnings = duplicate_request_ids(con, tables["requests"])
        release(tables["requests"].column("id"))  # read once here; its pages need not stay

    if not any(tables[rt.table].num_rows for rt in RECORD_TYPES.values() if rt.name != "meta"):
        if kept is not None:
            kept.path.unlink(missing_ok=True)  # no cache entry will take it
        where = (
            files[0].display if len(files) == 1 else f"{files[0].display} and {len(files) - 1} more file(s)"
        )
        raise BadInputError(
            "no trace records (nothing but meta lines, unknown types or skipped lines)", path=where
        )

    unknown: dict[str, int] = {}
    for entry in entries:
        for name, n in entry.types.items():
            if name not in RECORD_TYPES:
                unknown[name] = unknown.get(name, 0) + n
    if unknown:
        listed = ", ".join(f"'{name}' ({n})" for name, n in sorted(unknown.items()))
        warnings.append(f"ignored {sum(unknown.values())} record(s) of unknown type: {listed}")
    warnings.extend(dup_warnings)
    for warning in warnings:
        log.warning("%s", warning)
    inventory = Inventory(
        files=entries,
        skipped_lines=sum(e.skipped for e in entries),
        unknown_types=dict(sorted(unknown.items())),
        duplicate_request_ids=duplicates,
        warnings=warnings,
    )
    return tables, inventory, kept


def duckdb_config(temp_directory: Path | None = None) -> dict[str, str | bool | int | float | list[str]]:
    """DuckDB settings of the loader and the stages: a memory limit (a quarter of the machine's memory, at
    least 1 GiB) and a directory to spill to beyond it (default: ``traceanalyzer-duckdb`` in the system's
    temporary directory, made only when DuckDB spills), so a big capture spills instead of failing."""
    if temp_directory is None:
        temp_directory = Path(tempfile.gettempdir()) / "traceanalyzer-duckdb"
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 4 << 30
    limit_mib = max(1024, total // 4 >> 20)
    return {"memory_limit": f"{limit_mib}MiB", "temp_directory": str(temp_directory)}


def duplicate_request_ids(con: duckdb.DuckDBPyConnection, requests: pa.Table) -> tuple[int, list[str]]:
    """Request records whose ``(run, id)`` was already seen (the extra copies), with one warning per run."""
    if requests.num_rows == 0:
        return 0, []
    keys = pa.table({"run": requests.column("run"), "id": requests.column("id")})
    con.register("request_keys", keys)
    try:
        rows = con.sql(
            "SELECT run, id, count(*) AS n FROM request_keys GROUP BY ALL HAVING n > 1 "
            "ORDER BY run NULLS FIRST, id"
        ).fetchall()
    finally:
        con.unregister("request_keys")
    if not rows:
        return 0, []
    per_run: dict[str | None, list[tuple[str, int]]] = {}
    for run, rid, n in rows:
        per_run.setdefault(run, []).append((rid, n))
    warnings = []
    for run, ids in per_run.items():
        examples = ", ".join(f"'{i}' x{n}" for i, n in ids[:3]) + (", ..." if len(ids) > 3 else "")
        warnings.append(f"run {run}: {len(ids)} request id(s) appear more than once ({examples})")
    return sum(n - 1 for *_, n in rows), warnings


def shift_times(table_name: str, table: pa.Table, clock_offsets: Mapping[str, int]) -> pa.Table:
    """Add each host's clock offset (ns) to every time column (``t``, ``t_*``) of that host's rows."""
    rt = next(rt for rt in RECORD_TYPES.values() if rt.table == table_name)
    if not rt.time_columns or table.num_rows == 0 or "host" not in table.column_names:
        return table
    hosts = pa.array(list(clock_offsets), pa.string())
    offsets = pa.array([int(v) for v in clock_offsets.values()], pa.int64())
    index = pc.index_in(table.column("host"), value_set=hosts)
    if index.null_count == len(index):
        return table
    delta = pc.fill_null(pc.take(offsets, index), 0)
    for name in rt.time_columns:
        position = table.schema.get_field_index(name)
        table = table.set_column(position, name, pc.add(table.column(name), delta))
    return table
