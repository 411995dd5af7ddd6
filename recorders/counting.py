"""Helpers of the exporter and the importers: a progress counter for work of unknown length (a rich spinner
with a count and the elapsed time on stderr, nothing when stderr is not a terminal or when it is turned off),
and a clean stop on SIGINT / SIGTERM."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def progress_counter(label: str, enabled: bool) -> Iterator[Callable[[int], None]]:
    """``with progress_counter("spans", True) as advance: advance(n)``."""
    from rich.console import Console

    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield lambda n: None
        return
    from rich.progress import MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn(label), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda n: bar.advance(task, n)


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """While inside, the first SIGINT or SIGTERM sets the yielded event (the work in hand stops at its next
    step and reports what it did); a second one acts as usual. Only in the main thread (elsewhere the event is
    never set)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous: dict[signal.Signals, Any] = {}

    def on_signal(signum: int, frame: object) -> None:
        stop.set()
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, on_signal)
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
