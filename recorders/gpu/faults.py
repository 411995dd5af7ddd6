"""Faults seen while sampling, turned into ``event`` records once per change, not once per tick.

A GPU that is lost, or an endpoint that is down, fails on every tick; one event per tick would bury the
trace (36,000 events in an hour at 10 Hz). :class:`FaultLog` writes ``<what>_failed`` when a fault starts
(or its message changes) and ``<what>_recovered`` with the number of failed samples when it clears. Sampling
itself always goes on; the failed field or record is simply null or absent for those ticks.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

Emit = Callable[[str, dict[str, Any]], None]


@dataclass
class _Fault:
    what: str
    detail: dict[str, Any]
    count: int = 1


@dataclass
class FaultLog:
    """Tracks faults by key and emits an event when one starts and when it clears.

    ``emit(name, detail)`` writes the event (the recorder passes its trace writer's ``event``).
    """

    emit: Emit
    _active: dict[Hashable, _Fault] = field(default_factory=dict, init=False, repr=False)

    def fail(self, key: Hashable, what: str, message: str, **detail: Any) -> None:
        """Report that ``key`` failed on this tick with ``message``; an event only when it is new."""
        fault = self._active.get(key)
        if fault is not None and fault.detail.get("error") == message:
            fault.count += 1
            return
        if fault is not None:  # the same thing now fails differently: close the old one first
            self.ok(key)
        full = {**detail, "error": message}
        self._active[key] = _Fault(what, full)
        self.emit(f"{what}_failed", full)

    def ok(self, key: Hashable) -> None:
        """Report that ``key`` worked on this tick; emits ``<what>_recovered`` when it had been failing."""
        fault = self._active.pop(key, None)
        if fault is not None:
            self.emit(f"{fault.what}_recovered", {**fault.detail, "failed_samples": fault.count})

    def active(self, prefix: tuple[Hashable, ...] = ()) -> Iterator[Hashable]:
        """Keys failing now; with ``prefix``, only tuple keys that start with it."""
        for key in list(self._active):
            if not prefix or (isinstance(key, tuple) and key[: len(prefix)] == prefix):
                yield key

    def settle(self, prefix: tuple[Hashable, ...], failing: set[Hashable]) -> None:
        """Mark every active key that starts with ``prefix`` and is not in ``failing`` as recovered."""
        for key in self.active(prefix):
            if key not in failing:
                self.ok(key)

    def gpu_errors(self, gpu: int, uuid: str | None, errors: dict[str, str], *, source: str) -> None:
        """Report one GPU's failed readings on this tick (``errors``: field -> error message).

        One ``gpu_read_failed`` event per GPU and message, listing the fields it hit; messages that no
        longer occur for this GPU are marked recovered.
        """
        by_message: dict[str, list[str]] = {}
        for field_name, message in errors.items():
            by_message.setdefault(message, []).append(field_name)
        failing: set[Hashable] = set()
        for message, fields in by_message.items():
            key = ("gpu", gpu, message)
            failing.add(key)
            self.fail(key, "gpu_read", message, gpu=gpu, uuid=uuid, fields=fields, source=source)
        self.settle(("gpu", gpu), failing)
