"""``import langfuse`` against a local stand-in of the Langfuse public API, and on export files."""

from __future__ import annotations

import csv
import gzip
import json
import os
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recorders.langfuse_import import ImportOptions, import_langfuse
from recorders.langfuse_import.api import Retry
from tests.langfuse.langfuse_server import PUBLIC, SECRET, fake_langfuse, generations, write_jsonl
from traceanalyzer.analysis import analyze
from traceanalyzer.cli import main
from traceanalyzer.errors import BadInputError, SourceUnreachableError, UsageError
from traceanalyzer.loader import load_capture
from traceanalyzer.metrics.stats import describe

T0_MS = 1_772_366_400_000  # 2026-03-01T12:00:00Z
FROM, TO = "2026-03-01T12:00:00Z", "2026-03-01T13:00:00Z"
FAST = Retry(attempts=3, backoff_s=0.05, max_wait_s=2.0)


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", PUBLIC)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", SECRET)


def _ns(text: str) -> int:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return round(moment.timestamp() * 1000) * 1_000_000


def _records(path: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines[0]["type"] == "meta"
    return lines[1:]


def _options(tmp_path: Path, url: str, **kw: Any) -> ImportOptions:
    kw = {"retry": FAST, "from_time": FROM, "to_time": TO, **kw}
    return ImportOptions(out_dir=str(tmp_path / "out"), url=url, progress=False, **kw)


def test_v2_cursor_pages_become_request_records(tmp_path: Path, keys: None) -> None:
    served = generations(23, T0_MS)
    served.append({**generations(1, T0_MS + 7_200_000)[0], "id": "outside"})  # after --to
    with fake_langfuse(served) as lf:
        result = import_langfuse(_options(tmp_path, lf.url, page_size=5))
    assert (result.api, result.pages, result.requests, result.errors) == ("v2", 5, 23, 4)
    cursors = [q.get("cursor") for path, q in lf.requests]
    assert cursors[0] is None and all(cursors[1:]) and len(set(cursors)) == 5
    assert lf.requests[0][1]["fromStartTime"] == "2026-03-01T12:00:00.000Z"
    records = {r["id"]: r for r in _records(result.path)}
    assert set(records) == {f"gen-{i:03d}" for i in range(23)}
    first = records["gen-000"]
    assert first["t_send"] == _ns(served[0]["startTime"])
    assert first["t_first"] - first["t_send"] == 100_000_000
    assert first["t_end"] == _ns(served[0]["endTime"])
    assert (first["model"], first["session_id"], first["response_id"]) == (
        "llama-3-8b",
        "chat-0",
        "chatcmpl-0",
    )
    assert (first["prompt_tokens"], first["output_tokens"], first["chunks_us"]) == (90, 20, [])
    assert first["source"] == {"tool": "langfuse", "api": "v2"}
    assert (first["langfuse_trace_id"], first["name"], first["environment"]) == (
        "trace-000",
        "llm-generation",
        "production",
    )
    assert records["gen-002"]["output_tokens"] == 22  # output + output_reasoning_tokens
    assert "session_id" not in records["gen-001"]
    failed = records["gen-004"]
    assert failed["error"] == {"class": "rate_limited", "status": 429, "message": served[4]["statusMessage"]}
    assert failed["t_first"] is None


def test_imported_capture_analyzes_with_the_served_ttfts(tmp_path: Path, keys: None) -> None:
    served = generations(23, T0_MS)
    with fake_langfuse(served) as lf:
        result = import_langfuse(_options(tmp_path, lf.url, page_size=7))
    analysis = analyze(load_capture([result.path.parent], cache=False))
    ok = [o for o in served if o["level"] != "ERROR"]
    by_hand = [(_ns(o["completionStartTime"]) - _ns(o["startTime"])) / 1e9 for o in ok]
    assert analysis.latency.ttft_s.count == len(ok) == 19
    want = describe(np.array(by_hand))
    assert analysis.latency.ttft_s.p50 == pytest.approx(want.p50, abs=1e-9)
    assert analysis.latency.ttft_s.p95 == pytest.approx(want.p95, abs=1e-9)
    assert analysis.latency.ttft_s.mean == pytest.approx(float(np.mean(by_hand)), abs=1e-9)

    # TPOT from the first and the last token: (end - completion start) / (output tokens - 1).
    def output(o: dict[str, Any]) -> int:
        return int(o["usageDetails"]["output"]) + int(o["usageDetails"].get("output_reasoning_tokens", 0))

    tpot = [(_ns(o["endTime"]) - _ns(o["completionStartTime"])) / 1e9 / (output(o) - 1) for o in ok]
    assert analysis.latency.tpot_s.count == 19
    assert analysis.latency.tpot_s.p50 == pytest.approx(describe(np.array(tpot)).p50, abs=1e-12)
    assert set(analysis.breakdown["model"]) == {"gpt-4o", "llama-3-8b"}
    assert set(analysis.errors) == {"rate_limited"}


def test_v1_page_numbers_when_v2_is_missing(tmp_path: Path, keys: None) -> None:
    served = generations(12, T0_MS)
    with fake_langfuse(served, v2=False) as lf:
        result = import_langfuse(_options(tmp_path, lf.url, page_size=5, environment="production"))
    assert (result.api, result.pages, result.requests) == ("v1", 3, 12)
    assert [q.get("page") for p, q in lf.requests if p == "/api/public/observations"] == ["1", "2", "3"]
    assert all(q.get("environment") == "production" for _, q in lf.requests)
    records = {r["id"]: r for r in _records(result.path)}
    assert records["gen-001"]["model"] == "gpt-4o"
    assert records["gen-001"]["output_tokens"] == 21
    assert all("session_id" not in r for r in records.values())  # v1 has no session id


def test_rate_limit_waits_retry_after(tmp_path: Path, keys: None) -> None:
    with fake_langfuse(generations(4, T0_MS)) as lf:
        lf.script = [(429, {"Retry-After": "1"}), (503, {})]
        result = import_langfuse(_options(tmp_path, lf.url))
    assert result.requests == 4
    assert result.waits_s == pytest.approx(1.0 + 0.1)  # Retry-After, then the second backoff step
    assert len(lf.requests) == 3


def test_401_says_which_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", PUBLIC)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "wrong")
    message = "answered 401 Unauthorized: check LANGFUSE_PUBLIC_KEY and LANG"
    with fake_langfuse(generations(2, T0_MS)) as lf, pytest.raises(UsageError, match=message):
        import_langfuse(_options(tmp_path, lf.url))


def test_cli_unreachable_exits_3_and_missing_keys_exit_2(
    tmp_path: Path, keys: None, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    with fake_langfuse([]) as lf:
        url = lf.url
    with pytest.raises(SourceUnreachableError):
        import_langfuse(_options(tmp_path, url))
    monkeypatch.delenv("LANGFUSE_SECRET_KEY")
    with pytest.raises(SystemExit) as info:
        main(["import", "langfuse", "--url", url, "--from", FROM, "--to", TO, "--out", str(tmp_path / "o")])
    assert info.value.code == 2
    assert (
        capsys.readouterr().err.strip()
        == "error: import langfuse needs the project's API keys: set LANGFUSE_SECRET_KEY"
    )


def test_cli_reads_the_api(tmp_path: Path, keys: None, capsys: Any) -> None:
    with fake_langfuse(generations(6, T0_MS)) as lf, pytest.raises(SystemExit) as info:
        main(
            [
                *("import", "langfuse", "--url", lf.url, "--from", "1772366400", "--to", TO),
                *("--out", str(tmp_path / "o"), "--model", "gpt-4o", "--quiet"),
            ]
        )
    assert info.value.code == 0
    out = capsys.readouterr()
    assert "4 requests (1 failed) from Langfuse (API v2, 1 pages)" in out.out
    assert "left out: 2 other model" in out.err
    assert SECRET not in (tmp_path / "o" / "langfuse.jsonl").read_text(encoding="utf-8")


def _snake(o: dict[str, Any]) -> dict[str, Any]:
    """A generation as the blob-storage export writes it: snake_case, times 'YYYY-MM-DD HH:MM:SS.ffffff'."""

    def t(v: str | None) -> str | None:
        return None if v is None else v.replace("T", " ").replace("Z", "000")

    return {
        "id": o["id"],
        "trace_id": o["traceId"],
        "type": o["type"],
        "start_time": t(o["startTime"]),
        "completion_start_time": t(o["completionStartTime"]),
        "end_time": t(o["endTime"]),
        "level": o["level"],
        "status_message": o["statusMessage"],
        "provided_model_name": o["model"],
        "usage_details": o["usageDetails"],
        "session_id": o["sessionId"],
        "latency": 1234,  # unit differs between export paths: not used
    }


def test_export_files_api_json_jsonl_and_blob_jsonl_csv(tmp_path: Path) -> None:
    served = generations(10, T0_MS)
    api_shape = [{**o, "providedModelName": o["model"]} for o in served]
    (tmp_path / "page.json").write_text(json.dumps({"data": api_shape[:5], "meta": {}}), encoding="utf-8")
    write_jsonl(tmp_path / "obs.jsonl", api_shape[5:])
    blob = [_snake(o) for o in served]
    with gzip.open(tmp_path / "blob.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in blob)
    with open(tmp_path / "blob.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(blob[0]))
        writer.writeheader()
        for r in blob:
            writer.writerow(
                {k: json.dumps(v) if isinstance(v, dict) else ("" if v is None else v) for k, v in r.items()}
            )
    outputs = {}
    for name, files in {
        "api": ["page.json", "obs.jsonl"],
        "blob-jsonl": ["blob.jsonl.gz"],
        "blob-csv": ["blob.csv"],
    }.items():
        result = import_langfuse(
            ImportOptions(
                out_dir=str(tmp_path / name), files=[str(tmp_path / f) for f in files], progress=False
            )
        )
        assert (result.api, result.requests, result.errors) == ("files", 10, 2)
        outputs[name] = {
            r["id"]: (
                r["t_send"],
                r["t_first"],
                r["t_end"],
                r["model"],
                r["output_tokens"],
                r.get("session_id"),
            )
            for r in _records(result.path)
        }
    assert outputs["api"] == outputs["blob-jsonl"] == outputs["blob-csv"]
    assert outputs["api"]["gen-001"][:3] == (
        _ns(served[1]["startTime"]),
        _ns(served[1]["completionStartTime"]),
        _ns(served[1]["endTime"]),
    )


def test_bad_export_file_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "obs.jsonl"
    bad.write_text(json.dumps(generations(1, T0_MS)[0]) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(BadInputError, match=rf"^{bad}:2: not JSON"):
        import_langfuse(ImportOptions(out_dir=str(tmp_path / "o"), files=[str(bad)], progress=False))
    bad.write_text(
        json.dumps({**generations(1, T0_MS)[0], "startTime": "yesterday"}) + "\n", encoding="utf-8"
    )
    with pytest.raises(BadInputError, match=r"obs.jsonl:1: observation 'gen-000': field 'startTime'"):
        import_langfuse(ImportOptions(out_dir=str(tmp_path / "o2"), files=[str(bad)], progress=False))


def test_unfinished_and_other_observations_are_counted_not_dropped(tmp_path: Path) -> None:
    rows = generations(3, T0_MS)
    rows[0]["endTime"] = None
    rows[1]["type"] = "SPAN"
    write_jsonl(tmp_path / "obs.jsonl", rows)
    result = import_langfuse(
        ImportOptions(out_dir=str(tmp_path / "o"), files=[str(tmp_path / "obs.jsonl")], progress=False)
    )
    assert result.requests == 1
    assert result.skipped == {"no end time (generation not finished)": 1, "not a generation (SPAN)": 1}


def test_times_must_be_rfc3339_or_unix_seconds(tmp_path: Path, keys: None) -> None:
    with pytest.raises(UsageError, match="--from 'last tuesday'"):
        import_langfuse(_options(tmp_path, "http://127.0.0.1:9", from_time="last tuesday"))
    with pytest.raises(UsageError, match="--to must be after --from"):
        import_langfuse(_options(tmp_path, "http://127.0.0.1:9", to_time="1772366400"))
    assert datetime(2026, 3, 1, 12, tzinfo=UTC).timestamp() == T0_MS / 1000


def test_sigterm_keeps_what_was_read(tmp_path: Path, keys: None) -> None:
    with fake_langfuse(generations(12, T0_MS)) as lf:
        lf.on_request = lambda n: os.kill(os.getpid(), signal.SIGTERM) if n == 2 else None
        result = import_langfuse(_options(tmp_path, lf.url, page_size=5))
    assert result.stopped and (result.pages, result.requests) == (2, 10)
    assert len(_records(result.path)) == 10
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
