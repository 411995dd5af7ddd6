"""The ``request`` records of a capture, as the recorder wrote them (every field kept, ``session_id`` and
``turn`` of conversations included), with ``run`` and ``host`` taken from the file's ``meta`` line when a
record leaves them out (docs/schema.md). Bad lines stop the export with the file and line named; a partial
last line (a recorder killed mid-write) is skipped and counted, as the loader does."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from traceanalyzer.errors import BadInputError
from traceanalyzer.loader.careful import check_record
from traceanalyzer.loader.files import discover, iter_lines


@dataclass
class ReadStats:
    """What reading found besides the requests: files read, partial last lines skipped."""

    files: int = 0
    partial_lines: int = 0


def iter_requests(
    paths: Sequence[str | os.PathLike[str]], stats: ReadStats | None = None
) -> Iterator[dict[str, Any]]:
    """Every ``request`` record of the capture at ``paths`` (directories or trace files), in file order."""
    stats = stats if stats is not None else ReadStats()
    for tf in discover(paths):
        stats.files += 1
        inherited: dict[str, Any] = {}
        for number, raw in enumerate(iter_lines(tf.path, gzip=tf.gzip), start=1):
            if not raw.strip():
                continue
            if not raw.endswith(b"\n"):
                stats.partial_lines += 1
                break
            try:
                obj = json.loads(raw)
            except ValueError as exc:
                raise BadInputError(f"not a JSON line ({exc})", path=tf.display, line=number) from None
            problem = check_record(obj)
            if problem is not None:
                raise BadInputError(problem[1], path=tf.display, line=number)
            if obj["type"] == "meta":
                inherited = {k: obj[k] for k in ("run", "host") if obj.get(k) is not None}
            elif obj["type"] == "request":
                for key, value in inherited.items():
                    if obj.get(key) is None:
                        obj[key] = value
                yield obj
