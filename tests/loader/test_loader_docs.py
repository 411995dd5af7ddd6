"""docs/schema.md and traceanalyzer/schema.py say the same thing, and every example in the doc loads."""

from __future__ import annotations

import re
from pathlib import Path

from traceanalyzer.loader import load_capture
from traceanalyzer.schema import RECORD_TYPES

DOC = Path(__file__).resolve().parents[2] / "docs" / "schema.md"
_SECTION = re.compile(r"^## `(\w+)`", re.M)
_ROW = re.compile(r"^\| `(\w+)` \| [^|]+ \| (yes)? ?\|", re.M)


def _sections() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    marks = list(_SECTION.finditer(text))
    return {
        m.group(1): text[m.end() : marks[i + 1].start() if i + 1 < len(marks) else len(text)]
        for i, m in enumerate(marks)
    }


def test_every_record_type_is_documented_field_by_field() -> None:
    sections = _sections()
    assert set(sections) == set(RECORD_TYPES)
    for name, rt in RECORD_TYPES.items():
        rows = {m.group(1): m.group(2) == "yes" for m in _ROW.finditer(sections[name])}
        assert rows == {f.name: f.required for f in rt.fields}, name


def test_every_example_loads_strictly(tmp_path: Path) -> None:
    blocks = re.findall(r"```json\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    lines = [line for block in blocks for line in block.splitlines() if line.strip()]
    path = tmp_path / "examples.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    capture = load_capture([path], cache=False)
    for rt in RECORD_TYPES.values():
        assert getattr(capture, rt.table).num_rows >= 1, f"docs/schema.md has no {rt.name} example"
    assert capture.inventory.skipped_lines == 0 and capture.inventory.unknown_types == {}
    failed = capture.requests.filter(capture.requests.column("error_class").is_valid())
    assert failed.column("error_class").to_pylist() == ["context_length"]
