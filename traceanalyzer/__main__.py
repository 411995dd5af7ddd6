"""``python -m traceanalyzer``: the same as the ``traceanalyzer`` command."""

from __future__ import annotations

from traceanalyzer.cli import main

if __name__ == "__main__":
    main()
