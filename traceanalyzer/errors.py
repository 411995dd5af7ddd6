"""Errors a user can cause. The CLI turns each into one line on stderr and its exit code."""

from __future__ import annotations


class TraceAnalyzerError(Exception):
    """Base of the errors a user can cause; ``exit_code`` is what the CLI exits with."""

    exit_code = 2


class BadInputError(TraceAnalyzerError):
    """A trace, prompt, SLO or other input file is malformed. The message names the file, line and problem."""

    def __init__(self, problem: str, *, path: str | None = None, line: int | None = None) -> None:
        self.problem = problem
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{problem}")


class UsageError(TraceAnalyzerError):
    """Options that do not fit together or name something that does not exist."""


class SourceUnreachableError(TraceAnalyzerError):
    """A recorder could not reach what it records (no NVML driver, endpoint down at start)."""

    exit_code = 3
