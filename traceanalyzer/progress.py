"""Progress of long work on stderr: a rich bar with the phase (reading, reducing, stages, rendering) and the
rows or steps done.

Off unless a command turns it on (:func:`configure`; ``traceanalyzer analyze`` does unless ``--quiet`` or
``--json -``), and shown only on a terminal and only once the work has taken more than ``DELAY_S`` seconds,
so short captures and piped output stay clean. Library code marks its phases with :func:`phase` and calls
the returned function with the amount done; both cost nothing when progress is off.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

DELAY_S = 2.0
"""Nothing is shown before the work has taken this long."""

_state: dict[str, Any] = {"enabled": False, "since": None, "bar": None}


def configure(*, enabled: bool) -> None:
    """Turn progress display on (stderr must also be a terminal) or off."""
    _state["enabled"] = enabled
    _state["since"] = time.monotonic() if enabled else None


def _noop(done: float) -> None:
    del done


def _bar() -> Any:
    """The live bar, started once the work has run for ``DELAY_S`` (None before, or when off)."""
    if _state["bar"] is None and _state["since"] is not None:
        if time.monotonic() - _state["since"] < DELAY_S or not sys.stderr.isatty():
            return None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        console = Console(stderr=True, force_terminal=True)  # stderr.isatty() said so above
        bar = Progress(*columns, console=console, transient=True)
        bar.start()
        _state["bar"] = bar
    return _state["bar"]


@contextmanager
def phase(description: str, total: float | None = None) -> Iterator[Callable[[float], None]]:
    """A phase of the work: yields ``advance(amount)``; the phase's line goes away when it ends."""
    if not _state["enabled"]:
        yield _noop
        return
    task: list[Any] = []

    def advance(done: float) -> None:
        bar = _bar()
        if bar is None:
            return
        if not task:
            task.append(bar.add_task(description, total=total))
            bar.advance(task[0], done)
            bar.refresh()  # every phase shows at least once, however short
            return
        bar.advance(task[0], done)

    try:
        yield advance
    finally:
        bar = _state["bar"]
        if bar is not None and task:
            bar.remove_task(task[0])


@contextmanager
def shown(*, enabled: bool) -> Iterator[None]:
    """Progress on (see :func:`configure`) for the work inside, and the display ended after it."""
    configure(enabled=enabled)
    try:
        yield
    finally:
        stop()


def stop() -> None:
    """End the display (the command's work is done)."""
    bar = _state["bar"]
    if bar is not None:
        bar.stop()
    _state.update(enabled=False, since=None, bar=None)
