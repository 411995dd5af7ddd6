"""The careful reader: checks single lines in Python and names each problem in words.

The fast reader flags bad rows; this module finds the lines behind them (row ``k`` of the fast reader is the
``k``-th non-blank line) and says what is wrong with each: the problem *kind* (counted in the inventory) and
a message for the user. The rules mirror the fast reader's (docs/schema.md, "Validation").
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from traceanalyzer.loader.files import iter_lines
from traceanalyzer.schema import KIND_PARTS, RECORD_TYPES, SCHEMA_VERSION, Field

NOT_UTF8 = "not UTF-8 text"
NOT_JSON = "not JSON"
NOT_OBJECT = "not a JSON object"
MISSING = "missing required field"
WRONG_TYPE = "wrong type"
BAD_VERSION = "unknown schema version"
UNREADABLE = "unreadable line"
TRUNCATED = "truncated last line"
EMPTY_FILE = "empty file"
BAD_GZIP = "corrupt gzip data"
UNREADABLE_FILE = "unreadable file"

_INT64 = (-(2**63), 2**63 - 1)
_FITS = object()


@dataclass(frozen=True)
class LineProblem:
    """A bad line: ``kind`` is the inventory key, ``message`` the sentence shown to the user."""

    line: int
    kind: str
    message: str


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {json.dumps(text, ensure_ascii=False)}"
    return "an array" if isinstance(value, list) else "an object"


# What DuckDB's JSON cast (both fast passes) accepts, mirrored so that messages name the real problem.
_INT_TEXT = re.compile(r"\s*-?([0-9]+|0[xX][0-9a-fA-F]+)\s*")
_FLOAT_TEXT = re.compile(r"\s*-?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|nan|inf|infinity)", re.I)
_BOOL_TEXT = frozenset({"true", "false", "t", "f", "yes", "no"})


def _is_int(v: Any) -> bool:
    """An integer field takes a number (a fraction is rounded), true/false, or a string holding an integer."""
    if isinstance(v, str):
        if _INT_TEXT.fullmatch(v) is None:
            return False
        text = v.strip()
        return _INT64[0] <= int(text, 16 if text.lstrip("-")[:2] in ("0x", "0X") else 10) <= _INT64[1]
    if isinstance(v, float):
        return math.isfinite(v) and _INT64[0] <= round(v) <= _INT64[1]
    return isinstance(v, int) and _INT64[0] <= v <= _INT64[1]


def _is_number(v: Any) -> bool:
    """A number field takes a number, true/false, or a string holding a number."""
    if isinstance(v, str):
        return _FLOAT_TEXT.fullmatch(v) is not None
    return isinstance(v, int | float)


def _is_bool(v: Any) -> bool:
    """A boolean field takes true/false, a number (0 is false) or one of true/false/t/f/yes/no as text."""
    if isinstance(v, str):
        return v.lower() in _BOOL_TEXT
    return isinstance(v, int | float)


def _kind_problem(f: Field, value: Any) -> tuple[str, str] | None:
    """(what ``value`` should have been, what it is) for field ``f``, or None when it fits."""
    kind = f.kind
    got = _describe(value)
    if kind in ("string", "json"):
        return None
    if kind == "int":
        return None if _is_int(value) else ("an integer", got)
    if kind == "float":
        return None if _is_number(value) else ("a number", got)
    if kind == "bool":
        return None if _is_bool(value) else ("true or false", got)
    if kind in ("int_list", "str_list"):
        expected = "an array of integers" if kind == "int_list" else "an array of strings"
        if not isinstance(value, list):
            return expected, got
        fits = _is_int if kind == "int_list" else (lambda x: x is not None)
        bad = next((x for x in value if x is None or not fits(x)), _FITS)
        return None if bad is _FITS else (expected, f"an array holding {_describe(bad)}")
    if kind == "float_map":
        expected = "an object of name -> number"
        if not isinstance(value, dict):
            return expected, got
        bad_key = next((k for k, x in value.items() if not _is_number(x)), None)
        return (
            None
            if bad_key is None
            else (expected, f"an object whose '{bad_key}' is {_describe(value[bad_key])}")
        )
    if kind in KIND_PARTS:
        if not isinstance(value, dict):
            return "an object", got
        if kind == "error" and value.get("class") is None:
            return "an object with a 'class' (the error class)", "an object without one"
        for _, key, typ in KIND_PARTS[kind]:
            sub = value.get(key)
            if sub is not None and pa.types.is_integer(typ) and not _is_int(sub):
                return f"an object whose '{key}' is an integer", _describe(sub)
        return None
    raise ValueError(kind)


def check_record(obj: Any) -> tuple[str, str] | None:
    """The problem (kind, message) of one parsed line, or None when it is a valid record (or of an unknown
    type, which is counted rather than checked)."""
    if not isinstance(obj, dict):
        return NOT_OBJECT, f"not a JSON object (got {_describe(obj)})"
    if obj.get("type") is None:
        return MISSING, "missing required field 'type'"
    version = obj.get("v")
    if version is None:
        return MISSING, "missing required field 'v' (the schema version)"
    if isinstance(version, bool) or not isinstance(version, int) or version != SCHEMA_VERSION:
        shown = json.dumps(version, ensure_ascii=False)
        return BAD_VERSION, f"unknown schema version v={shown} (this version of traceanalyzer reads v=1)"
    rtype = RECORD_TYPES.get(obj["type"]) if isinstance(obj["type"], str) else None
    if rtype is None:
        return None
    for f in rtype.fields:
        value = obj.get(f.name)
        if value is None:
            if f.required:
                return MISSING, f"missing required field '{f.name}' in a {rtype.name} record"
            continue
        problem = _kind_problem(f, value)
        if problem is not None:
            expected, got = problem
            return WRONG_TYPE, f"field '{f.name}' of a {rtype.name} record must be {expected}, got {got}"
    return None


def check_line(raw: bytes) -> tuple[str, str] | None:
    """The problem (kind, message) of one raw line, or None when it holds a valid record."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return NOT_UTF8, f"not UTF-8 text (byte {exc.start + 1} of the line)"
    try:
        obj = json.loads(text)
    except ValueError as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        where = f" at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        return NOT_JSON, f"not JSON ({detail}{where})"
    return check_record(obj)


def locate(path: Path, *, gzip: bool, rows: Iterable[int], first_only: bool) -> list[LineProblem]:
    """The problems behind the fast reader's bad ``rows`` (0-based indices over non-blank lines), in order.

    A row whose line passes every check here (the two readers disagree on an edge case) is still reported,
    as an unreadable line, so nothing is skipped silently.
    """
    wanted = sorted(set(rows))
    out: list[LineProblem] = []
    if not wanted:
        return out
    pos, row = 0, -1
    for lineno, raw in enumerate(iter_lines(path, gzip=gzip), 1):
        if not raw.strip():
            continue
        row += 1
        if row != wanted[pos]:
            continue
        problem = check_line(raw) or (UNREADABLE, "line could not be read as a trace record")
        out.append(LineProblem(lineno, *problem))
        pos += 1
        if pos == len(wanted) or first_only:
            break
    return out


def first_problem(path: Path, *, gzip: bool) -> LineProblem | None:
    """Scan a whole file line by line for its first problem (used when the fast reader failed outright)."""
    for lineno, raw in enumerate(iter_lines(path, gzip=gzip), 1):
        if raw.strip():
            problem = check_line(raw)
            if problem is not None:
                return LineProblem(lineno, *problem)
    return None


def count_by_kind(problems: Iterable[LineProblem]) -> Mapping[str, int]:
    counts: dict[str, int] = {}
    for p in problems:
        counts[p.kind] = counts.get(p.kind, 0) + 1
    return counts
