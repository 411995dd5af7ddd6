"""Hypothesis strategies for trace records of every type, and the table rows the loader must make of them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

from traceanalyzer.schema import KIND_PARTS, RECORD_TYPES

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
TIMES = st.integers(min_value=0, max_value=2**62)
FLOATS = st.floats(allow_nan=False, allow_infinity=False, width=64)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | FLOATS | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)

_SCALAR = {"string": TEXT, "int": INT64, "float": FLOATS, "bool": st.booleans(), "json": JSON_VALUES}
_SPECIAL = {
    "int_list": st.lists(st.integers(0, 10**12), max_size=20),
    "str_list": st.lists(TEXT, max_size=4),
    "float_map": st.dictionaries(TEXT, FLOATS, max_size=4),
    "error": st.fixed_dictionaries(
        {"class": st.sampled_from(["oom", "timeout", "server_5xx"])},
        optional={"status": st.none() | st.integers(100, 599), "message": st.none() | TEXT},
    ),
    "clock": st.fixed_dictionaries({"wall_ns": TIMES, "mono_ns": TIMES}),
}


def _value(kind: str, name: str) -> st.SearchStrategy[Any]:
    if name == "t" or name.startswith("t_"):
        return TIMES
    return _SCALAR[kind] if kind in _SCALAR else _SPECIAL[kind]


@st.composite
def records(draw: st.DrawFn, type_name: str) -> dict[str, Any]:
    """One record of ``type_name`` (without ``v``: the writer adds it). Optional fields are left out,
    set to null or given a value."""
    rec: dict[str, Any] = {"type": type_name}
    for f in RECORD_TYPES[type_name].fields:
        strategy = _value(f.kind, f.name)
        if f.required:
            rec[f.name] = draw(strategy)
        else:
            choice = draw(st.sampled_from(("absent", "null", "value", "value")))
            if choice != "absent":
                rec[f.name] = None if choice == "null" else draw(strategy)
    return rec


#: Record types a recorder writes as data (``meta`` is written by the writer itself).
DATA_TYPES = [name for name in RECORD_TYPES if name != "meta"]

any_record = st.sampled_from(DATA_TYPES).flatmap(records)


def expected_row(rec: Mapping[str, Any], *, source: str, run: str, host: str) -> dict[str, Any]:
    """The table row the loader must make of ``rec`` written to the file ``source`` (meta run / host)."""
    rt = RECORD_TYPES[rec["type"]]
    row: dict[str, Any] = {}
    for f in rt.fields:
        value = rec.get(f.name)
        if f.kind in KIND_PARTS:
            for suffix, key, _ in KIND_PARTS[f.kind]:
                row[f"{f.name}_{suffix}"] = None if value is None else value.get(key)
        elif f.kind == "json":
            row[f.name] = None if value is None else value  # compared after json.loads
        elif f.kind == "float_map":
            row[f.name] = None if value is None else sorted(value.items())
        else:
            row[f.name] = value
    if "host" in row and row["host"] is None:
        row["host"] = host
    if "run" in row and row["run"] is None:
        row["run"] = run
    if "source_file" in rt.schema.names:
        row["source_file"] = source
    return row


def actual_row(row: Mapping[str, Any], type_name: str) -> dict[str, Any]:
    """A loaded row made comparable with :func:`expected_row`: JSON text parsed, maps as sorted pairs."""
    out = dict(row)
    for f in RECORD_TYPES[type_name].fields:
        if f.kind == "json" and out.get(f.name) is not None:
            out[f.name] = json.loads(out[f.name])
        if f.kind == "float_map" and out.get(f.name) is not None:
            out[f.name] = sorted(out[f.name])
    return out
