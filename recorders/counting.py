"""A progress counter for work of unknown length (spans exported, generations imported): a rich spinner with
a count and the elapsed time on stderr, nothing when stderr is not a terminal or when it is turned off."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


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
