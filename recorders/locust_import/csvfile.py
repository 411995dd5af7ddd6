"""Reading Locust's CSV files: normalised headers, typed cells, and errors that name the file and row.

Locust writes its CSVs with :mod:`csv` (``\\r\\n`` line ends, quoted cells that may span lines, e.g.
tracebacks in ``_exceptions.csv``), so rows are read with :mod:`csv` too and every row keeps the physical
line it starts on. Column names are matched case-insensitively with runs of spaces collapsed, so
``User count`` (Locust 1.x) and ``User Count`` (2.x) are the same column.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from traceanalyzer.errors import BadInputError

NOT_AVAILABLE = frozenset({"", "N/A", "n/a", "NaN", "nan"})


@functools.lru_cache(maxsize=1024)
def normalise(column: str) -> str:
    """Header key: lower case, surrounding space stripped, inner runs of space collapsed."""
    return " ".join(column.strip().lower().split())


@dataclass(frozen=True)
class CsvRow:
    """One data row: ``number`` counts data rows from 1 (not the header); ``line`` is where it starts."""

    path: Path
    number: int
    line: int
    cells: dict[str, str]

    def fail(self, problem: str) -> BadInputError:
        """A :class:`BadInputError` naming this row's file, row number and line."""
        return BadInputError(f"row {self.number}: {problem}", path=str(self.path), line=self.line)

    def has(self, column: str) -> bool:
        return normalise(column) in self.cells

    def text(self, *columns: str) -> str:
        """The raw text of the first of ``columns`` present in the file (aliases of one column)."""
        for column in columns:
            key = normalise(column)
            if key in self.cells:
                return self.cells[key]
        raise self.fail(f"missing column {columns[0]!r}")

    def integer(self, *columns: str) -> int:
        value = self.text(*columns).strip()
        try:
            return int(value)
        except ValueError:
            try:
                exact = Decimal(value)
            except InvalidOperation:
                exact = Decimal("NaN")
            if exact.is_finite() and exact == exact.to_integral_value():
                return int(exact)
            raise self.fail(f"column {columns[0]!r}: expected a whole number, got {value!r}") from None

    def real(self, *columns: str) -> float:
        value = self.optional_real(*columns)
        if value is None:
            raise self.fail(f"column {columns[0]!r}: expected a number, got {self.text(*columns)!r}")
        return value

    def optional_real(self, *columns: str) -> float | None:
        """A number, or ``None`` for Locust's ``N/A`` and empty cells."""
        value = self.text(*columns).strip()
        if value in NOT_AVAILABLE:
            return None
        try:
            number = float(value)
        except ValueError:
            raise self.fail(f"column {columns[0]!r}: expected a number, got {value!r}") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise self.fail(f"column {columns[0]!r}: expected a finite number, got {value!r}")
        return number


@dataclass(frozen=True)
class CsvTable:
    """A Locust CSV file: its header as written, normalised column keys and rows.

    ``partial_last_row``: line of a last row cut short (writer killed mid-line) and dropped, else ``None``.
    """

    path: Path
    header: list[str]
    rows: list[CsvRow]
    partial_last_row: int | None = None

    @property
    def columns(self) -> list[str]:
        return [normalise(c) for c in self.header]

    def require(self, *columns: str | tuple[str, ...]) -> None:
        """Fail on the header line unless every column (or one of each alias tuple) is present."""
        present = set(self.columns)
        for column in columns:
            names = column if isinstance(column, tuple) else (column,)
            if not any(normalise(n) in present for n in names):
                raise BadInputError(
                    f"header lacks the column {names[0]!r} (found: {', '.join(self.header)})",
                    path=str(self.path),
                    line=1,
                )


def read_header(path: Path) -> list[str] | None:
    """The first CSV record of a file, or ``None`` when it is not readable UTF-8 CSV text."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            return next(csv.reader(fh), None)
    except (UnicodeDecodeError, csv.Error, OSError):
        return None


def _records(path: Path) -> Iterator[tuple[int, list[str]]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh, strict=True)
        start = 1
        try:
            for record in reader:
                yield start, record
                start = reader.line_num + 1
        except csv.Error as exc:
            raise BadInputError(
                f"row starting here is not valid CSV: {exc}", path=str(path), line=start
            ) from None
        except UnicodeDecodeError as exc:
            raise BadInputError(f"not UTF-8 text ({exc.reason})", path=str(path), line=start) from None


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(0, 2)
        if fh.tell() == 0:
            return True
        fh.seek(-1, 2)
        return fh.read(1) in (b"\n", b"\r")


def read_csv(path: Path) -> CsvTable:
    """Read a whole Locust CSV. Blank lines are ignored; a row whose cell count differs from the header's
    fails, except a short last row without a line end (a writer killed mid-line): dropped and reported."""
    header: list[str] | None = None
    rows: list[CsvRow] = []
    keys: list[str] = []
    short: tuple[int, int, int] | None = None  # (row number, line, cells) of a short row, pending
    for line, record in _records(path):
        if short is not None:
            number, short_line, cells = short
            raise BadInputError(
                f"row {number} has {cells} cells, the header has {len(keys)}", path=str(path), line=short_line
            )
        if not record or (len(record) == 1 and not record[0].strip()):
            continue  # a blank line
        if header is None:
            header = record
            keys = [normalise(c) for c in record]
            if len(set(keys)) != len(keys):
                raise BadInputError(f"duplicate column names in header: {record}", path=str(path), line=line)
            continue
        number = len(rows) + 1
        if len(record) != len(header):
            if len(record) < len(header):
                short = (number, line, len(record))
                continue
            raise BadInputError(
                f"row {number} has {len(record)} cells, the header has {len(header)}",
                path=str(path),
                line=line,
            )
        rows.append(CsvRow(path=path, number=number, line=line, cells=dict(zip(keys, record, strict=True))))
    if header is None:
        raise BadInputError("empty file: no CSV header", path=str(path))
    if short is not None:
        number, short_line, cells = short
        if _ends_with_newline(path):
            raise BadInputError(
                f"row {number} has {cells} cells, the header has {len(keys)}", path=str(path), line=short_line
            )
        return CsvTable(path=path, header=header, rows=rows, partial_last_row=short_line)
    return CsvTable(path=path, header=header, rows=rows)
