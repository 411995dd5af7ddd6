"""Arrow's memory pool for loading and analysis: the system allocator, unless the user chose one.

pyarrow's default pool on Linux (mimalloc) hands freed pages back to the operating system eagerly and faults
them in again on the next allocation. Where a page fault is expensive (virtual machines), that dominated the
loader: copying the request-level columns off the reader's batches of a 1,000,000-request capture took 2.4 s
with mimalloc and 0.07 s with the system allocator, and a first analyze of 1,000,000 x 100 chunk offsets
went from 12.4 s to about 9 s (``benchmarks/analyze_scale.py``). An ``ARROW_DEFAULT_MEMORY_POOL`` set in the
environment (``system``, ``jemalloc``, ``mimalloc``) is left as it is.
"""

from __future__ import annotations

import os

import pyarrow as pa

ENV = "ARROW_DEFAULT_MEMORY_POOL"


def use_system_pool() -> None:
    """Make the system allocator pyarrow's default pool (once per process; a no-op when ``ENV`` is set)."""
    if os.environ.get(ENV) or pa.default_memory_pool().backend_name == "system":
        return
    pa.set_memory_pool(pa.system_memory_pool())
