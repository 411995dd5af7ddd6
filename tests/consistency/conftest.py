"""Fixtures of the consistency tests: requests tables shaped like the loader's (docs/architecture.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pytest

from traceanalyzer.schema import TABLE_SCHEMAS

REQUESTS_SCHEMA = TABLE_SCHEMAS["requests"]
"""The loader's requests table schema (docs/architecture.md, "Loader contract")."""

RequestsFactory = Callable[[Sequence[Mapping[str, Any]]], pa.Table]


def build_requests(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """A requests table from partial rows: ``id`` and ``t_send`` default to the row number, ``host`` to h1,
    ``status`` to 200 (or the error's status); every other column to null."""
    full = []
    for n, row in enumerate(rows):
        record: dict[str, Any] = {name: None for name in REQUESTS_SCHEMA.names}
        record.update(id=f"req-{n:04d}", host="h1", t_send=1_700_000_000_000_000_000 + n * 1_000_000)
        record.update(status=200 if row.get("error_class") is None else row.get("status"))
        record.update(row)
        full.append(record)
    return pa.Table.from_pylist(full, schema=REQUESTS_SCHEMA)


@pytest.fixture
def make_requests() -> RequestsFactory:
    """``make_requests(rows)``: see :func:`build_requests`."""
    return build_requests
