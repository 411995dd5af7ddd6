"""Test-wide set-up: keep every tool's caches in a temp dir and away from the network."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_ROOT = Path(tempfile.mkdtemp(prefix="traceanalyzer-tests-"))
for var, sub in (("XDG_CACHE_HOME", "cache"), ("MPLCONFIGDIR", "mpl"), ("HF_HOME", "hf")):
    os.environ.setdefault(var, str(_ROOT / sub))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Install Arize Phoenix (for the real OpenTelemetry backend test) in the background while the other
    tests run, when that test is selected and its environment is not ready yet (it takes minutes)."""
    if any(item.nodeid.startswith("tests/export/test_otel_phoenix.py") for item in session.items):
        from tests.export.phoenix_kit import install_in_background

        install_in_background()
