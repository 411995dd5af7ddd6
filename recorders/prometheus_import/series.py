"""The ``query_range`` response of the Prometheus HTTP API, parsed into :class:`Series`.

A response is ``{"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {labels},
"values": [[unix_seconds, "value"], ...]}, ...]}}`` (Prometheus, Thanos, Mimir and VictoriaMetrics all
answer this shape). Values are strings: ``"NaN"``, ``"+Inf"`` and ``"-Inf"`` are kept as floats here and
left out by the mappings (a reading that is not a finite number is null). A step where a series had no
sample (not scraped yet, stale, target down) has no point at all. An error response
(``{"status": "error", "errorType": ..., "error": ...}``) raises :class:`QueryError` with Prometheus' own
text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from traceanalyzer.errors import BadInputError

Labels = tuple[tuple[str, str], ...]


class QueryError(Exception):
    """Prometheus answered a query with an error; ``str(err)`` is its ``errorType: error`` text."""


@dataclass
class Series:
    """One series of a matrix result: its metric name (None for a computed expression), its other labels
    and its points ``(t_ms, value)`` in time order (epoch milliseconds, the API's resolution)."""

    name: str | None
    labels: dict[str, str]
    points: list[tuple[int, float]] = field(default_factory=list)

    @property
    def key(self) -> tuple[str | None, Labels]:
        """The series identity: name and sorted labels."""
        return self.name, tuple(sorted(self.labels.items()))


def _value(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise ValueError(f"value {raw!r} is not a number")
    return float(raw)  # float() reads "NaN", "+Inf", "-Inf" as Prometheus writes them


def parse_response(body: bytes | str, *, where: str) -> list[Series]:
    """The series of one ``query_range`` response. ``where`` names the file or query in messages.

    QueryError for an error response; BadInputError for a body that is not a matrix response.
    """
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise BadInputError(f"not JSON ({exc})", path=where, line=line) from None
    if not isinstance(doc, dict) or "status" not in doc:
        raise BadInputError("not a Prometheus API response (no 'status')", path=where)
    if doc["status"] != "success":
        raise QueryError(f"{doc.get('errorType') or 'error'}: {doc.get('error') or 'no error text'}")
    data = doc.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        kind = data.get("resultType") if isinstance(data, dict) else None
        raise BadInputError(
            f"expected a query_range response (resultType 'matrix'), got {kind!r}", path=where
        )
    out = []
    for i, item in enumerate(data.get("result") or []):
        try:
            labels = dict(item["metric"])
            points = [(round(float(t) * 1000), _value(v)) for t, v in item["values"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise BadInputError(f"result {i}: malformed series ({exc})", path=where) from None
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
            raise BadInputError(f"result {i}: label values must be strings", path=where)
        name = labels.pop("__name__", None)
        points.sort()
        out.append(Series(name, labels, points))
    return out


def merge(parts: Iterable[list[Series]]) -> list[Series]:
    """The series of several responses of one query (window parts) joined by identity, points in time
    order; a time given twice (parts that overlap) keeps one point."""
    merged: dict[tuple[str | None, Labels], Series] = {}
    for part in parts:
        for series in part:
            into = merged.setdefault(series.key, Series(series.name, series.labels))
            into.points.extend(series.points)
    for series in merged.values():
        series.points.sort(key=lambda p: p[0])
        deduped: list[tuple[int, float]] = []
        for point in series.points:
            if deduped and deduped[-1][0] == point[0]:
                continue
            deduped.append(point)
        series.points = deduped
    return list(merged.values())
