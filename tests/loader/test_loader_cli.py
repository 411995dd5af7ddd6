"""Bad input through the command line: one line naming file and line, exit code 2, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

TRACEANALYZER = Path(sys.executable).with_name("traceanalyzer")
META = json.dumps({"type": "meta", "v": 1, "recorder": "test", "run": "r", "host": "h"})
GOOD = json.dumps({"type": "request", "v": 1, "id": "q1", "t_send": 1, "t_end": 2, "chunks_us": [1]})

CASES = {
    "not JSON": ([META, GOOD, "{oops"], ":3: not JSON"),
    "missing field": (
        [META, json.dumps({"type": "request", "v": 1, "id": "q", "chunks_us": []})],
        ":2: missing",
    ),
    "wrong type": ([META, GOOD.replace('"t_end": 2', '"t_end": "late"')], ":2: field 't_end'"),
    "schema version": ([META, GOOD.replace('"v": 1', '"v": 3')], ":2: unknown schema version v=3"),
    "empty file": ([], ": empty file"),
    "no records": ([META], ": no trace records"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_analyze_bad_input_exits_2_with_one_line(tmp_path: Path, case: str) -> None:
    lines, expected = CASES[case]
    path = tmp_path / "requests.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    result = subprocess.run(
        [str(TRACEANALYZER), "analyze", str(path), "--no-cache"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {path}{expected}")
    assert result.stdout == ""
