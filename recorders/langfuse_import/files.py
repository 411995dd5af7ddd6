"""Langfuse export files: observations as the public API writes them (a JSON array, a JSON page with
``data``, or JSON Lines) and as the scheduled blob-storage export writes them (snake_case JSONL or CSV,
nested values as JSON strings). ``.gz`` is read too. Yields (line or row number, observation)."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from traceanalyzer.errors import BadInputError


def _open(path: Path) -> IO[str]:
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _stem_suffix(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return name.rsplit(".", 1)[-1] if "." in name else ""


def read_observations(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Every observation of one export file, with its line (JSONL, CSV: row's line) or index (JSON)."""
    kind = _stem_suffix(path)
    try:
        with _open(path) as fh:
            if kind == "csv":
                yield from _csv(fh, path)
            elif kind == "jsonl" or kind == "ndjson":
                yield from _jsonl(fh, path)
            elif kind == "json":
                yield from _json(fh, path)
            else:
                raise BadInputError(
                    "not a Langfuse export file (.json, .jsonl or .csv, optionally .gz)", path=str(path)
                )
    except OSError as exc:
        raise BadInputError(f"cannot read: {exc.strerror or exc}", path=str(path)) from None
    except UnicodeDecodeError:
        raise BadInputError("not UTF-8 text", path=str(path)) from None


def _jsonl(fh: IO[str], path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(fh, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise BadInputError(f"not JSON ({exc})", path=str(path), line=number) from None
        if not isinstance(obj, dict):
            raise BadInputError("not a JSON object", path=str(path), line=number)
        yield number, obj


def _json(fh: IO[str], path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        doc = json.load(fh)
    except ValueError as exc:
        raise BadInputError(f"not JSON ({exc})", path=str(path)) from None
    items = doc.get("data") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise BadInputError(
            "expected a JSON array of observations or an API page with 'data'", path=str(path)
        )
    for index, obj in enumerate(items):
        if not isinstance(obj, dict):
            raise BadInputError(f"item {index} is not a JSON object", path=str(path))
        yield index, obj


def _csv(fh: IO[str], path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(fh)
    if not reader.fieldnames or not ({"id", "start_time", "startTime"} & set(reader.fieldnames)):
        raise BadInputError(
            "CSV without an 'id' and 'start_time' header: not a Langfuse export", path=str(path)
        )
    for row in reader:
        yield reader.line_num, {k: v for k, v in row.items() if k is not None}
