"""What the loader returns: a capture's typed Arrow tables and the inventory of what was read or skipped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa

from traceanalyzer.schema import TABLE_SCHEMAS


@dataclass(frozen=True)
class FileInventory:
    """One trace file of a capture.

    ``records``: records loaded from it (every known type, ``meta`` included); ``skipped``: lines skipped
    (bad lines under ``lenient``, a truncated last line always); ``problems``: skipped lines (and empty or
    unreadable files) per problem kind, e.g. ``{"not JSON": 2, "truncated last line": 1}``; ``types``:
    records per ``type`` value as read, unknown types included.
    """

    path: str
    records: int = 0
    skipped: int = 0
    problems: dict[str, int] = field(default_factory=dict)
    types: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Inventory:
    """What a capture is made of and everything the loader left out.

    ``skipped_lines``: lines skipped in all files; ``unknown_types``: records of a ``type`` this schema does
    not know, counted and ignored; ``duplicate_request_ids``: request records whose ``(run, id)`` was already
    seen (kept, reported); ``warnings``: one line per thing worth telling the user.
    """

    files: list[FileInventory] = field(default_factory=list)
    skipped_lines: int = 0
    unknown_types: dict[str, int] = field(default_factory=dict)
    duplicate_request_ids: int = 0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the summary's ``inventory`` reads ``files[].path/records/skipped``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Inventory:
        files = [FileInventory(**f) for f in data.get("files", [])]
        return cls(**{**data, "files": files})


def _empty(table: str) -> Callable[[], pa.Table]:
    """A default factory: the table with no rows."""
    return lambda: TABLE_SCHEMAS[table].empty_table()


@dataclass(frozen=True)
class Capture:
    """A loaded capture: one Arrow table per record type (always present, possibly empty) and the inventory.

    Columns and types are those of :data:`traceanalyzer.schema.TABLE_SCHEMAS` (docs/architecture.md, "Loader
    contract"). Times are int64 nanoseconds since the Unix epoch, clock offsets already applied.
    """

    requests: pa.Table = field(default_factory=_empty("requests"))
    gpu: pa.Table = field(default_factory=_empty("gpu"))
    host: pa.Table = field(default_factory=_empty("host"))
    server: pa.Table = field(default_factory=_empty("server"))
    load: pa.Table = field(default_factory=_empty("load"))
    load_endpoint: pa.Table = field(default_factory=_empty("load_endpoint"))
    event: pa.Table = field(default_factory=_empty("event"))
    failures: pa.Table = field(default_factory=_empty("failures"))
    totals: pa.Table = field(default_factory=_empty("totals"))
    meta: pa.Table = field(default_factory=_empty("meta"))
    inventory: Inventory = field(default_factory=Inventory)

    def tables(self) -> dict[str, pa.Table]:
        """Every table by name, in schema order."""
        return {name: getattr(self, name) for name in TABLE_SCHEMAS}
