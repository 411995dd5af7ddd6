"""Memory grows with requests, not with chunk offsets: analyzing a capture with 10x the chunks of another
(same requests) raises the peak resident memory of the analyzing process by far less than 10x.

Each analysis runs in its own subprocess (``load_capture`` without cache, ``analyze``, the summary) and
reports its peak RSS; the test compares the two peaks as a ratio, never absolute sizes or times.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

REQUESTS = 200_000
FEW, MANY = 10, 100

CAPTURE_SQL = """
COPY (
    SELECT 'request' AS type, 1 AS v, 'req-' || i AS id,
           1700000000000000000 + i * 50000000 AS t_send,
           1700000000000000000 + i * 50000000 + 100000000 AS t_first,
           1700000000000000000 + i * 50000000 + ($chunks::BIGINT * 20000 + 200000) * 1000 AS t_end,
           list_transform(range($chunks), lambda j: 100000 + j * 20000 + hash(i + j) % 5000) AS chunks_us,
           $chunks AS output_tokens,
           CASE WHEN i % 97 = 5 THEN {'class': 'stream_broken', 'status': NULL, 'message': 'cut'} END AS error
    FROM range($n) t(i)
) TO '{path}' (FORMAT JSON)
"""

CHILD = """
import json, resource, sys
from traceanalyzer.analysis import analyze
from traceanalyzer.loader import load_capture
from traceanalyzer.summary import summary
result = analyze(load_capture([sys.argv[1]], cache=False))
text = json.dumps(summary(result))
print(json.dumps({"peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "itl": result.latency.itl_s.count}))
"""


def _capture(path: Path, chunks: int) -> Path:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(CAPTURE_SQL.replace("{path}", str(path)), {"chunks": chunks, "n": REQUESTS})
    con.close()
    return path


def _peak(path: Path) -> tuple[int, int]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return int(out["peak_kib"]), int(out["itl"])


@pytest.mark.slow
def test_peak_memory_grows_far_less_than_the_chunk_offsets(tmp_path: Path) -> None:
    few_peak, few_gaps = _peak(_capture(tmp_path / "few.jsonl", FEW))
    many_peak, many_gaps = _peak(_capture(tmp_path / "many.jsonl", MANY))
    ok = REQUESTS - len(range(5, REQUESTS, 97))
    assert (few_gaps, many_gaps) == (ok * (FEW - 1), ok * (MANY - 1))  # every offset was analyzed
    ratio = many_peak / few_peak
    # 10x the offsets (2 million -> 20 million, 144 MB more as int64): the peak stays within 1.25x
    assert ratio < 1.25, f"peak RSS {few_peak} KiB -> {many_peak} KiB ({ratio:.2f}x) for 10x the chunks"
