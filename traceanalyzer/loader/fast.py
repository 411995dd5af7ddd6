"""The fast reader: DuckDB ``read_json`` over trace files, streamed as Arrow record batches.

The query reads the fields of the record types the files hold with explicit types (no sampling, no Python work
per record) and adds two columns: ``__code``, the index of the row's ``type`` in
:data:`~traceanalyzer.schema.RECORD_TYPES` (-1 for an unknown type), and ``__bad``, true for a row that is
not a JSON object, has ``v`` other than the integer 1 or lacks a required field.

Two passes, both vectorized. The *typed* pass reads every field with its own DuckDB type and raises at the
first line that is not JSON or holds a value DuckDB cannot convert (text in a number field, an object where
a string or list is expected). Only when it raises (or the file ends in a partial line) does the *flagging*
pass run: it reads with ``ignore_errors`` (a broken line becomes a row of nulls), reads the other fields as
JSON and converts them with ``TRY_CAST``, and sets ``__bad`` on every row with a value that did not convert.
Both accept exactly what DuckDB's JSON cast accepts. List elements and map values that did not convert
arrive as nulls and are flagged by :func:`bad_elements`. Rows come in line order, blank lines left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from traceanalyzer.schema import KIND_PARTS, RECORD_TYPES, Field, union_fields

BAD = "__bad"
CODE = "__code"
FILE = "__file"
#: Rows per Arrow batch streamed from DuckDB (with 500 chunk offsets a row, 2 million offsets: the chunk
#: columns of one batch are what the loader holds in memory at a time).
BATCH_ROWS = 1 << 12


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


#: DuckDB type of each kind's value.
_SQL_TYPE = {
    "string": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "int_list": "BIGINT[]",
    "str_list": "VARCHAR[]",
    "float_map": "MAP(VARCHAR, DOUBLE)",
    "json": "JSON",
}


def _part_sql(raw: str, key: str, kind: str) -> str:
    """SQL of one member of an object-valued field (``error.status``, ``clock.wall_ns``)."""
    path = _lit(f"$.{key}")
    if kind == "int":
        return f"TRY_CAST({raw} -> {path} AS BIGINT)"
    # A string member as itself, another scalar as its JSON text, null (or absent) as NULL.
    return (
        f"CASE json_type({raw}, {path}) WHEN 'VARCHAR' THEN {raw} ->> {path} WHEN 'NULL' THEN NULL "
        f"ELSE CAST({raw} -> {path} AS VARCHAR) END"
    )


@dataclass(frozen=True)
class _FieldSql:
    """How one field is read (``read_type``), its output columns and helper flags (inner query) and the
    predicate, over those, that makes a row bad (outer query; empty when nothing can be wrong)."""

    read_type: str
    outputs: dict[str, str]
    flags: dict[str, str]
    problem: str


def _field_sql(f: Field, *, required: bool, typed: bool) -> _FieldSql:
    """The SQL of one field. ``typed``: read with the field's own type, so a value DuckDB cannot convert
    raises (the first pass); otherwise read as JSON and cast with TRY_CAST, so it becomes NULL and, being
    present, flags its row (the second pass). Both accept exactly what DuckDB's JSON cast accepts."""
    raw = _q(f.name)
    if f.kind == "string" or f.bulk or (typed and f.kind in _SQL_TYPE):
        # A bulk list read with ignore_errors turns a value of the wrong type into NULL: hence required.
        read = _SQL_TYPE[f.kind]
        value = f"CAST({raw} AS VARCHAR)" if f.kind == "json" else raw
        return _FieldSql(read, {f.name: value}, {}, f"{raw} IS NULL" if required else "")
    if f.kind in KIND_PARTS:
        outputs, checks = {}, [f"json_type({raw}) <> 'OBJECT'"]
        for suffix, key, typ in KIND_PARTS[f.kind]:
            part_kind = "int" if pa.types.is_integer(typ) else "string"
            expr = _part_sql(raw, key, part_kind)
            outputs[f"{f.name}_{suffix}"] = f"CASE WHEN json_type({raw}) = 'OBJECT' THEN {expr} END"
            present = f"coalesce(json_type({raw}, {_lit('$.' + key)}), 'NULL') <> 'NULL'"
            if f.kind == "error" and key == "class":
                checks.append(f"NOT {present}")
            elif part_kind == "int":
                checks.append(f"({present} AND {expr} IS NULL)")
        flag, present_flag = f"__w_{f.name}", f"__p_{f.name}"
        flags = {flag: f"coalesce({raw} IS NOT NULL AND ({' OR '.join(checks)}), false)"}
        if not required:
            return _FieldSql("JSON", outputs, flags, flag)
        flags[present_flag] = f"{raw} IS NOT NULL"
        return _FieldSql("JSON", outputs, flags, f"(NOT {present_flag} OR {flag})")
    outputs = {f.name: f"TRY_CAST({raw} AS {_SQL_TYPE[f.kind]})"}
    if f.kind == "json":
        return _FieldSql(
            "JSON", {f.name: f"CAST({raw} AS VARCHAR)"}, {}, f"{raw} IS NULL" if required else ""
        )
    if required:  # missing, null and unconvertible all leave the value NULL
        return _FieldSql("JSON", outputs, {}, f"{raw} IS NULL")
    flag = f"__p_{f.name}"
    return _FieldSql("JSON", outputs, {flag: f"{raw} IS NOT NULL"}, f"({flag} AND {raw} IS NULL)")


@lru_cache(maxsize=64)
def _query_template(types: frozenset[str], typed: bool) -> str:
    """The query for a file holding records of ``types`` (rows of other types keep only ``type``).

    Two levels so that each value is converted once: the inner query reads and converts, the outer one
    combines the per-field predicates of the row's type into ``__bad``.
    """
    reads: dict[str, str] = {"type": "VARCHAR", "v": "JSON"}
    inner: dict[str, str] = {}
    problems: dict[str, list[str]] = {}
    for name in sorted(types, key=list(RECORD_TYPES).index):
        rt = RECORD_TYPES[name]
        problems[name] = []
        for f in rt.fields:
            sql = _field_sql(union_fields()[f.name], required=f.required, typed=typed)
            reads[f.name] = sql.read_type
            inner.update(sql.outputs)
            inner.update(sql.flags)
            if sql.problem:
                problems[name].append(sql.problem)
    outputs = [n for n in inner if not n.startswith("__")]
    columns = "{" + ", ".join(f"{_lit(n)}: {_lit(t)}" for n, t in reads.items()) + "}"
    codes = " ".join(f"WHEN {_lit(name)} THEN {i}" for i, name in enumerate(RECORD_TYPES))
    cases = " ".join(f"WHEN {_lit(t)} THEN ({' OR '.join(p) or 'false'})" for t, p in problems.items())
    # The version's JSON text is exactly "1" for the integer 1 (not 1.0, "1" or true).
    bad = f'("type" IS NULL OR NOT __v_ok OR coalesce(CASE "type" {cases} ELSE false END, true))'
    inner_sql = ", ".join(f"{expr} AS {_q(n)}" for n, expr in inner.items())
    options = (
        "format='newline_delimited', records=true, auto_detect=false, filename=true, "
        f"ignore_errors={'false' if typed else 'true'}, compression=@COMPRESSION@, columns={columns}"
    )
    return (
        f'SELECT "type", {", ".join(_q(n) for n in outputs)}, '
        f'CAST(CASE "type" {codes} ELSE -1 END AS TINYINT) AS {CODE}, {bad} AS {BAD}, filename AS {FILE} '
        f"FROM (SELECT \"type\", filename, coalesce(CAST(v AS VARCHAR) = '1', false) AS __v_ok, {inner_sql} "
        f"FROM read_json(@SOURCE@, {options}))"
    )


def build_query(
    paths: Sequence[Path], *, gzip: bool, types: Iterable[str] = RECORD_TYPES, typed: bool = False
) -> str:
    """The SQL reading ``paths`` into the columns of ``types`` plus ``type``, ``__code``, ``__bad`` and
    ``__file`` (the path a row came from)."""
    template = _query_template(frozenset(types), typed)
    source = "[" + ", ".join(_lit(str(p)) for p in paths) + "]"
    return template.replace("@SOURCE@", source).replace("@COMPRESSION@", _lit("gzip" if gzip else "none"))


class ReadError(Exception):
    """DuckDB could not read the files: the typed pass met a bad line, or a gzip stream is broken (``io``)."""

    def __init__(self, message: str, *, io: bool) -> None:
        super().__init__(message)
        self.io = io


def read_batches(
    con: duckdb.DuckDBPyConnection,
    paths: Sequence[Path],
    *,
    gzip: bool,
    types: Iterable[str] = RECORD_TYPES,
    typed: bool = False,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[pa.RecordBatch]:
    """Stream the rows of trace files in file and line order (blank lines skipped), with the columns of
    ``types``.

    ``typed`` (the first pass) raises :class:`ReadError` at the first line that is not JSON or holds a value
    that cannot be converted; otherwise such lines come as rows with ``__bad`` set.
    """
    sql = build_query(paths, gzip=gzip, types=types, typed=typed)
    try:
        yield from con.sql(sql).to_arrow_reader(batch_rows)
    except duckdb.Error as exc:
        raise ReadError(str(exc), io=isinstance(exc, duckdb.IOException)) from exc
    except (OSError, pa.ArrowException) as exc:  # the same errors, raised while streaming batches
        message = str(exc)
        raise ReadError(message, io=message.startswith("IO Error")) from exc


#: Kinds whose elements (list items, map values) must not be null: a null there is a value of the wrong type.
_ELEMENT_KINDS = ("int_list", "str_list", "float_map")


def bad_elements(batch: pa.RecordBatch) -> pa.Array | None:
    """Rows whose list or map column holds a null element (an element of the wrong type), or None if none."""
    mask: np.ndarray | None = None
    for f in union_fields().values():
        if f.kind not in _ELEMENT_KINDS or f.name not in batch.schema.names:
            continue
        arr = batch.column(f.name)
        if arr.null_count == len(arr):
            continue
        values = arr.items if isinstance(arr, pa.MapArray) else arr.values  # the whole child, not sliced
        if values.null_count == 0:
            continue
        offsets = arr.offsets.to_numpy()
        positions = pc.indices_nonzero(pc.is_null(values)).to_numpy()
        positions = positions[(positions >= offsets[0]) & (positions < offsets[-1])]
        if positions.size == 0:
            continue
        if mask is None:
            mask = np.zeros(batch.num_rows, dtype=bool)
        mask[np.searchsorted(offsets, positions, side="right") - 1] = True
    return None if mask is None else pa.array(mask)
