"""Test-wide set-up: keep every tool's caches in a temp dir and away from the network."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_ROOT = Path(tempfile.mkdtemp(prefix="traceanalyzer-tests-"))
for var, sub in (("XDG_CACHE_HOME", "cache"), ("MPLCONFIGDIR", "mpl"), ("HF_HOME", "hf")):
    os.environ.setdefault(var, str(_ROOT / sub))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
