"""Trace schema v1: the record types, their fields and the Arrow tables they load into.

This module is the single source of truth for the loader. Each record ``type`` is described once by a
:class:`RecordType`: its fields (JSON name, kind, whether required) and the Capture table it fills. The Arrow
schema of every table, the DuckDB columns of the fast reader and the per-line checks of the careful reader
are all derived from these descriptions (docs/schema.md documents them for people).

Field kinds and what each accepts (``null`` is always accepted unless the field is required):

========== ============================================ =====================================================
kind       JSON value                                   Arrow column(s)
========== ============================================ =====================================================
string     any scalar; numbers/booleans keep their text string
int        an integer in the int64 range                int64
float      any number                                   float64
bool       ``true`` / ``false``                         bool
int_list   an array of integers                         list<int64>
str_list   an array of scalars                          list<string>
json       any value                                    string (the value as compact JSON text)
float_map  an object of name -> number                  map<string, float64>
error      ``{"class", "status", "message"}``           error_class, error_status (int64), error_message
clock      ``{"wall_ns", "mono_ns"}``                   clock_wall_ns, clock_mono_ns (int64)
========== ============================================ =====================================================

Times are integer nanoseconds since the Unix epoch, in fields named ``t`` or ``t_*``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property
from typing import Literal, cast, get_args

import pyarrow as pa

SCHEMA_VERSION = 1

Kind = Literal[
    "string", "int", "float", "bool", "int_list", "str_list", "json", "float_map", "error", "clock"
]

#: Arrow type of the single column of each scalar-like kind.
KIND_ARROW: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "int_list": pa.list_(pa.int64()),
    "str_list": pa.list_(pa.string()),
    "json": pa.string(),
    "float_map": pa.map_(pa.string(), pa.float64()),
}

#: Columns an object-valued kind expands into: (column suffix, JSON key, Arrow type).
KIND_PARTS: dict[str, tuple[tuple[str, str, pa.DataType], ...]] = {
    "error": (
        ("class", "class", pa.string()),
        ("message", "message", pa.string()),
        ("status", "status", pa.int64()),
    ),
    "clock": (("wall_ns", "wall_ns", pa.int64()), ("mono_ns", "mono_ns", pa.int64())),
}


@dataclass(frozen=True)
class Field:
    """One field of a record type.

    ``bulk`` marks the one large field (``chunks_us``) that the fast reader parses with DuckDB's typed list
    reader instead of the exact JSON-typed path; it must be ``required`` so a wrongly typed value (read as
    null) is still caught as a problem.
    """

    name: str
    kind: Kind
    required: bool = False
    bulk: bool = False

    def columns(self) -> list[tuple[str, pa.DataType]]:
        """The output columns of this field, in order."""
        if self.kind in KIND_PARTS:
            return [(f"{self.name}_{suffix}", typ) for suffix, _, typ in KIND_PARTS[self.kind]]
        return [(self.name, KIND_ARROW[self.kind])]


@dataclass(frozen=True)
class RecordType:
    """A record ``type``: its fields, the Capture table it loads into and extra columns the loader adds."""

    name: str
    table: str
    fields: tuple[Field, ...]
    extra: tuple[tuple[str, pa.DataType], ...] = ()
    #: Output columns in table order; fields' columns are placed here by name (default: fields order + extra).
    order: tuple[str, ...] = ()

    @cached_property
    def schema(self) -> pa.Schema:
        cols = dict(c for f in self.fields for c in f.columns())
        cols.update(self.extra)
        names = self.order or tuple(cols)
        if set(names) != set(cols):
            raise AssertionError(f"{self.name}: order {sorted(names)} != columns {sorted(cols)}")
        return pa.schema([(n, cols[n]) for n in names])

    @property
    def field_names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)

    @property
    def time_columns(self) -> tuple[str, ...]:
        """Columns holding epoch-nanosecond instants (``t`` and ``t_*``), shifted by clock offsets."""
        return tuple(n for n in self.schema.names if n == "t" or n.startswith("t_"))


def _fields(*specs: str) -> tuple[Field, ...]:
    """Fields from lines ``"name name ...: kind"``; ``kind!`` marks them required, a trailing ``bulk`` the
    one large list read with DuckDB's typed reader."""
    out: list[Field] = []
    for spec in specs:
        names, _, rest = spec.partition(":")
        word, *flags = rest.split()
        kind = word.rstrip("!")
        if kind not in get_args(Kind):
            raise ValueError(f"unknown field kind {kind!r} in {spec!r}")
        required, bulk = word.endswith("!"), "bulk" in flags
        out += [Field(n, cast(Kind, kind), required=required, bulk=bulk) for n in names.split()]
    return tuple(out)


REQUEST = RecordType(
    "request",
    "requests",
    _fields(
        "run host worker: string",
        "id: string!",
        "response_id model api scenario prompt_id stage: string",
        "in_flight prompt_tokens max_tokens: int",
        "t_send: int!",
        "t_headers t_first: int",
        "t_end: int!",
        "chunks_us: int_list! bulk",
        "chunk_tokens: int_list",
        "output_tokens: int",
        "tokens_source finish_reason: string",
        "status: int",
        "error: error",
        "text: string",
        "expected: str_list",
        "warmup: bool",
        "session_id: string",
        "turn session_turns cached_tokens history_chars: int",
        "stream: bool",
    ),
    extra=(("source_file", pa.string()),),
    order=(
        *("run", "host", "worker", "id", "response_id", "model", "api", "scenario", "prompt_id", "stage"),
        *("in_flight", "prompt_tokens", "max_tokens", "t_send", "t_headers", "t_first", "t_end", "chunks_us"),
        *("chunk_tokens", "output_tokens", "tokens_source", "finish_reason", "status", "error_class"),
        *("error_message", "error_status", "text", "expected", "warmup", "source_file"),
        *("session_id", "turn", "session_turns", "cached_tokens", "history_chars", "stream"),
    ),
)
GPU = RecordType(
    "gpu",
    "gpu",
    _fields(
        "host: string",
        "t gpu: int!",
        "uuid name: string",
        "util_pct mem_util_pct mem_used_mib mem_total_mib power_w temp_c sm_clock_mhz: float",
        "source: string",
    ),
)
HOST = RecordType(
    "host", "host", _fields("host: string", "t: int!", "cpu_pct mem_used_mib mem_total_mib load1: float")
)
SERVER = RecordType(
    "server",
    "server",
    _fields(
        "host: string",
        "t: int!",
        "engine: string",
        "running waiting kv_cache_pct preemptions: float",
        "metrics: float_map",
    ),
)
LOAD = RecordType(
    "load", "load", _fields("host: string", "t: int!", "users rps fail_per_s: float", "source: string")
)
LOAD_ENDPOINT = RecordType(
    "load_endpoint",
    "load_endpoint",
    _fields(
        "host: string",
        "t: int!",
        "method name: string",
        "pseudo: bool",
        "rps fail_per_s: float",
        "requests_total failures_total: int",
        "source: string",
    ),
)
EVENT = RecordType("event", "event", _fields("host run: string", "t: int!", "name: string!", "detail: json"))
FAILURES = RecordType(
    "failures",
    "failures",
    _fields(
        "host: string",
        "t_first t_last: int",
        "class: string!",
        "status: int",
        "count: int!",
        "name message source: string",
    ),
)
TOTALS = RecordType(
    "totals",
    "totals",
    _fields("host source: string", "name: string!", "requests: int!", "failures: int", "detail: json"),
)
META = RecordType(
    "meta",
    "meta",
    _fields("recorder: string!", "tool_version run host: string", "t: int", "clock: clock", "config: json"),
    extra=(("path", pa.string()),),
    order=(
        "path",
        "recorder",
        "tool_version",
        "run",
        "host",
        "t",
        "clock_wall_ns",
        "clock_mono_ns",
        "config",
    ),
)

#: Every known record type by its ``type`` value, in Capture attribute order.
RECORD_TYPES: dict[str, RecordType] = {
    rt.name: rt for rt in (REQUEST, GPU, HOST, SERVER, LOAD, LOAD_ENDPOINT, EVENT, FAILURES, TOTALS, META)
}

#: The Capture table of each record type, by table name.
TABLE_SCHEMAS: dict[str, pa.Schema] = {rt.table: rt.schema for rt in RECORD_TYPES.values()}

#: Fields every record has, whatever its type.
COMMON_FIELDS: tuple[Field, ...] = (Field("type", "string", required=True), Field("v", "int", required=True))


@cache
def union_fields() -> dict[str, Field]:
    """Every field name used by any record type, with its one kind (a name has the same kind everywhere)."""
    out: dict[str, Field] = {f.name: f for f in COMMON_FIELDS}
    for rt in RECORD_TYPES.values():
        for f in rt.fields:
            seen = out.get(f.name)
            if seen is not None and (seen.kind, seen.bulk) != (f.kind, f.bulk):
                raise AssertionError(
                    f"field {f.name!r} has kind {f.kind} in {rt.name} but {seen.kind} elsewhere"
                )
            out.setdefault(f.name, Field(f.name, f.kind, bulk=f.bulk))
    return out
