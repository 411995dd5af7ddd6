"""Loading a capture makes the system allocator Arrow's default pool, unless the environment names one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = """
import sys
import pyarrow as pa
from traceanalyzer.loader import load_capture
before = pa.default_memory_pool().backend_name
load_capture([sys.argv[1]], cache=False)
print(before, pa.default_memory_pool().backend_name)
"""


def _pools(path: Path, env_pool: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if env_pool is not None:
        env["ARROW_DEFAULT_MEMORY_POOL"] = env_pool
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, env=env, check=True
    )
    return out.stdout.split()


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    path = tmp_path / "requests.jsonl"
    path.write_text(
        '{"type": "request", "v": 1, "id": "q1", "t_send": 1000, "t_end": 2000, "chunks_us": [1]}\n',
        encoding="utf-8",
    )
    return path


def test_the_system_allocator_after_a_load(capture: Path) -> None:
    _, after = _pools(capture, None)  # (before: pyarrow's own default on this platform)
    assert after == "system"


def test_a_pool_named_in_the_environment_is_kept(capture: Path) -> None:
    assert _pools(capture, "jemalloc") == ["jemalloc", "jemalloc"]
