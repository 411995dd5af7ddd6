"""What every Locust parser needs to know: host and run for the records, the log time zone, pseudo types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo

#: Request types that Locust plugins (and ``LLMUser``'s TTFT entry) fire for measurements, not requests.
DEFAULT_PSEUDO_TYPES: frozenset[str] = frozenset({"METRIC", "TTFT"})

#: ``source`` of every record the importer writes.
SOURCE = "locust"


@dataclass(frozen=True)
class ImportContext:
    host: str
    run: str
    zone: tzinfo | None  # None: this machine's local time
    pseudo_types: frozenset[str] = field(default=DEFAULT_PSEUDO_TYPES)

    def is_pseudo(self, request_type: str) -> bool:
        """Whether a request type (``Type`` / ``Method`` column) is a pseudo type, case-insensitively."""
        return request_type.strip().upper() in self.pseudo_types
