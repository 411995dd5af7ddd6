"""Real Locust (headless, a few seconds, in subprocesses) against the simulated server with errors on:
a plain locustfile writing CSVs, ``LLMUser`` in one process, and ``LLMUser`` with a master and two workers.

What is checked: the import matches Locust's own request and failure totals (its ``--json-file``, written at
shutdown; the CSVs may miss the last second), error classes agree with the server's ground truth, and
``LLMUser``'s TTFT agrees with the truth within a few ms (generous: the machine is shared).
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from recorders.locust_import import ImportOptions, import_locust
from tests.locust.locust_testkit import (
    LOCUSTFILES,
    RUN_TIME,
    finish,
    free_port,
    locust_env,
    locust_final_totals,
    read_jsonl,
    records_of,
    run_locust,
    start_locust,
)

pytestmark = pytest.mark.slow

#: simulator outcome (truth file) -> our error class
OUTCOME_CLASS = {
    "ok": None,
    "rate_limited": "rate_limited",
    "context_length": "context_length",
    "stream_error": "stream_broken",
}
#: Options of both LLMUser runs: CSVs, Locust's final totals (``final.json``), the trace directory.
LLM_RUN_ARGS = ("--csv", "out/run", "--json-file", "final", "--llm-trace-dir", "traces")
PROMPTS = [
    {"id": "hello", "prompt": "Say hello", "scenario": "short"},
    {"id": "sum", "messages": [{"role": "user", "content": "What is 2+2?"}], "max_tokens": 8},
]


def _truth(sim: Any, records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The server's truth once it holds a record of each of ``records`` (by response id where they have one,
    else by count): the server writes a record a moment after the client may have seen the response end."""
    ids = [r.get("response_id") for r in records]
    return {r["id"]: r for r in sim.truth_records(wait_for=ids, at_least=len(records))}


def _headless(sim: Any, *extra: str) -> list[str]:
    return [
        "--headless",
        "-u",
        "4",
        "-r",
        "4",
        "-t",
        RUN_TIME,
        "-H",
        sim.base_url,
        "--loglevel",
        "INFO",
        *extra,
    ]


def _import(paths: list[Path], out: Path) -> Any:
    return import_locust(paths, out, ImportOptions(timezone="local"))


def _check_against_locust(
    result: Any, out: Path, final: dict[tuple[str, str], tuple[int, int]], kind: str
) -> None:
    """The import's totals are Locust's CSV totals; those trail Locust's final totals by the last second."""
    final_requests = sum(n for (t, _), (n, _) in final.items() if t == kind)
    final_failures = sum(f for (t, _), (_, f) in final.items() if t == kind)
    aggregated = next(r for r in records_of(out, "totals") if r["name"] == "Aggregated")
    assert (aggregated["requests"], aggregated["failures"]) == (
        result.locust_requests,
        result.locust_failures,
    )
    assert 0 <= final_requests - result.locust_requests <= 0.5 * final_requests
    assert 0 <= final_failures - result.locust_failures <= max(10, 0.5 * final_failures)
    failures = records_of(out, "failures")
    assert sum(r["count"] for r in failures) == result.locust_failures
    load = records_of(out, "load")
    assert load[-1]["requests_total"] == result.locust_requests


def _write_prompts(path: Path) -> Path:
    path.write_text("".join(json.dumps(p) + "\n" for p in PROMPTS))
    return path


def test_plain_locustfile_csvs_and_request_log(tmp_path: Path, sim_with_errors: Any) -> None:
    sim = sim_with_errors
    env = locust_env(REQUEST_LOG=str(tmp_path / "requests.csv"), SIM_MODEL=sim.model)
    run_args = ["--csv", "out/run", "--csv-full-history", "--json-file", "final", "--logfile", "locust.log"]
    run = run_locust(
        ["-f", str(LOCUSTFILES / "plain_locustfile.py"), *_headless(sim, *run_args)], cwd=tmp_path, env=env
    )
    assert run.returncode == 1, run.output  # Locust exits 1 when requests failed
    final = locust_final_totals(tmp_path / "final.json")
    result = _import(
        [tmp_path / "out", tmp_path / "locust.log", tmp_path / "requests.csv"], tmp_path / "trace"
    )
    out = tmp_path / "trace"
    _check_against_locust(result, out, final, "POST")
    # The request log has every request: exactly Locust's final totals, METRIC rows left out.
    requests = records_of(out, "request")
    assert (len(requests), sum(1 for r in requests if r["error"])) == final[("POST", "/v1/chat/completions")]
    assert result.pseudo_rows["METRIC (request log)"] == final[("METRIC", "output_tokens")][0]
    # Plain HttpUser failures carry only the status line: 429 -> rate_limited, the context-length 400 ->
    # client_4xx (its message is not in Locust's text), a non-streamed "stream error" 500 -> server_5xx.
    plain_class = {
        "rate_limited": "rate_limited",
        "context_length": "client_4xx",
        "stream_error": "server_5xx",
    }
    expected = Counter(
        plain_class[t["outcome"]] for t in _truth(sim, requests).values() if t["outcome"] != "ok"
    )
    classes = Counter(r["error"]["class"] for r in requests if r["error"])
    assert set(classes) == set(expected) == {"rate_limited", "client_4xx", "server_5xx"}
    assert all(0 <= expected[c] - classes[c] <= 4 for c in expected), (classes, expected)
    by_class = Counter({r["class"]: r["count"] for r in records_of(out, "failures")})
    assert set(by_class) <= set(classes)
    assert all(by_class[c] <= classes[c] for c in by_class)
    assert {"locust.start", "locust.spawn", "locust.shutdown"} <= {
        e["name"] for e in records_of(out, "event")
    }


def _llm_records(trace_dir: Path, user: str) -> list[dict[str, Any]]:
    """Finished requests of one user class (not those Locust stopped in flight)."""
    return [
        r
        for r in records_of(trace_dir, "request")
        if r["locust_user"] == user and (r["error"] is None or r["error"]["class"] != "aborted")
    ]


def _check_llm_records(records: list[dict[str, Any]], truth: dict[str, dict[str, Any]]) -> None:
    """Error classes match the server's outcomes; TTFT matches the server's first chunk within a few ms."""
    matched = [(r, truth[r["response_id"]]) for r in records if r["response_id"] in truth]
    assert len(matched) >= 0.9 * len(records)
    for record, true in matched:
        got = record["error"]["class"] if record["error"] else None
        assert got == OUTCOME_CLASS[true["outcome"]], (record, true)
    seen = Counter(r["error"]["class"] if r["error"] else "ok" for r in records)
    assert {"ok", "rate_limited", "context_length", "stream_broken"} <= set(seen), seen
    # TTFT, client (t_first - t_send) minus server (first chunk scheduled - arrival), ms.
    gaps = sorted(
        ((r["t_first"] - r["t_send"]) - (t["t_sched"][0] - t["t_arrival"])) / 1e6
        for r, t in matched
        if r["error"] is None
    )
    # 0 <= gap: the request's way in plus the first chunk's way out (it cannot be read before the engine
    # scheduled it), a few ms on loopback; only the two processes' clock anchors can make it slightly
    # negative. On a machine shared with other test runs, a request can wait tens of ms for a CPU.
    assert len(gaps) >= 10
    assert gaps[0] > -5.0, gaps
    assert statistics.median(gaps) < 10.0, gaps
    assert gaps[len(gaps) * 3 // 4] < 30.0, gaps
    for r in records:
        if r["error"] is None:
            assert r["chunks_us"] and r["chunks_us"] == sorted(r["chunks_us"])
            assert abs(r["t_first"] - r["t_send"] - r["chunks_us"][0] * 1000) <= 500  # µs rounding
            assert r["tokens_source"] == "usage" and r["output_tokens"] >= len(r["chunks_us"])


def _check_impatient(records: list[dict[str, Any]], final: dict[tuple[str, str], tuple[int, int]]) -> None:
    """ImpatientChat's requests end as client TTFT timeouts (or are refused before that)."""
    classes = Counter(r["error"]["class"] for r in records)
    assert classes["timeout"] >= 1 and set(classes) <= {"timeout", "rate_limited", "context_length"}, classes
    timeout = next(r for r in records if r["error"]["class"] == "timeout")
    assert timeout["error"]["message"] == "no output within the client TTFT timeout of 0.01 s"
    assert timeout["t_first"] is None and 9_000_000 <= timeout["t_end"] - timeout["t_send"] < 1_000_000_000
    assert final[("POST", "/impatient")] == (len(records), len(records))


def _check_llmuser_run(tmp_path: Path, sim: Any, imports: list[Path]) -> list[dict[str, Any]]:
    """Checks shared by the LLMUser runs; returns the SimChat records."""
    final = locust_final_totals(tmp_path / "final.json")
    records = _llm_records(tmp_path / "traces", "SimChat")
    completions = _llm_records(tmp_path / "traces", "SimCompletion")
    impatient = _llm_records(tmp_path / "traces", "ImpatientChat")
    everything = records_of(tmp_path / "traces", "request")
    assert len({r["id"] for r in everything}) == len(everything)
    assert len({r["run"] for r in everything}) == 1
    # LLMUser reports every finished request to Locust once, with its end-to-end time, and a TTFT entry.
    assert (len(records), sum(1 for r in records if r["error"])) == final[("POST", "/chat/completions")]
    assert final[("TTFT", "/chat/completions")][0] == sum(1 for r in records if r["error"] is None)
    assert {r["prompt_id"] for r in records} == {"hello", "sum"}
    assert {r["prompt_id"] for r in completions} == {"SimCompletion-1", "poem"}
    assert {r["api"] for r in completions} == {"completions"} and {r["api"] for r in records} == {"chat"}
    assert any(r["error"] is None and r["text"] for r in completions)
    assert final[("POST", "/completions")] == (len(completions), sum(1 for r in completions if r["error"]))
    assert final[("TTFT", "/completions")][0] == sum(1 for r in completions if r["error"] is None)
    _check_impatient(impatient, final)
    _check_llm_records(records + completions, _truth(sim, records + completions))
    result = _import(imports, tmp_path / "trace")
    _check_against_locust(result, tmp_path / "trace", final, "POST")
    assert result.pseudo_rows == {"TTFT (stats)": 2}  # one TTFT row per endpoint
    # Locust's failure table, imported, has the classes LLMUser recorded (less the last second's).
    recorded = Counter(r["error"]["class"] for r in records + completions + impatient if r["error"])
    imported = Counter()
    for failure in records_of(tmp_path / "trace", "failures"):
        imported[failure["class"]] += failure["count"]
    assert set(imported) <= set(recorded) and all(imported[c] <= recorded[c] for c in imported), (
        imported,
        recorded,
    )
    assert imported["rate_limited"] > 0 and imported["context_length"] > 0
    return records


def test_llmuser_single_process(tmp_path: Path, sim_with_errors: Any) -> None:
    sim = sim_with_errors
    env = locust_env(PROMPT_FILE=str(_write_prompts(tmp_path / "prompts.jsonl")), SIM_MODEL=sim.model)
    run_args = [*LLM_RUN_ARGS, "--llm-run", "single-run"]
    run = run_locust(
        ["-f", str(LOCUSTFILES / "llm_locustfile.py"), *_headless(sim, *run_args)], cwd=tmp_path, env=env
    )
    assert run.returncode == 1, run.output
    (trace_file,) = (tmp_path / "traces").glob("*.jsonl")
    meta = read_jsonl(trace_file)[0]
    assert trace_file.name == f"llm-requests-single-run-{meta['host']}-local.jsonl"
    assert (meta["recorder"], meta["run"], meta["worker"]) == ("locust-llmuser", "single-run", "local")
    assert set(meta["config"]["user_classes"]) == {"SimChat", "SimCompletion", "ImpatientChat"}
    assert meta["max_tokens"] == {"SimChat": 12, "SimCompletion": 12, "ImpatientChat": 128}
    records = _check_llmuser_run(tmp_path, sim, [tmp_path / "out"])
    assert all(r["worker"] == "local" and r["run"] == "single-run" for r in records)


def test_llmuser_master_and_two_workers(tmp_path: Path, sim_with_errors: Any) -> None:
    sim = sim_with_errors
    env = locust_env(PROMPT_FILE=str(_write_prompts(tmp_path / "prompts.jsonl")), SIM_MODEL=sim.model)
    port = str(free_port())
    locustfile = ["-f", str(LOCUSTFILES / "llm_locustfile.py")]
    master_args = [
        "--master",
        "--expect-workers",
        "2",
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        port,
    ]
    run_args = [*LLM_RUN_ARGS, "--logfile", "master.log"]
    master = start_locust([*locustfile, *master_args, *_headless(sim, *run_args)], cwd=tmp_path, env=env)
    workers = [
        start_locust(
            [
                *locustfile,
                "--worker",
                "--master-host",
                "127.0.0.1",
                "--master-port",
                port,
                "--logfile",
                f"w{i}.log",
            ],
            cwd=tmp_path,
            env=env,
        )
        for i in range(2)
    ]
    runs = finish([master, *workers])
    assert [r.returncode for r in runs] == [1, 0, 0], runs[0].output
    metas = [read_jsonl(f)[0] for f in sorted((tmp_path / "traces").glob("*.jsonl"))]
    assert sorted(m["worker"] for m in metas) == ["w0", "w1"]
    assert len({m["run"] for m in metas}) == 1  # the master's run id, sent to the workers
    records = _check_llmuser_run(tmp_path, sim, [tmp_path / "out", tmp_path / "master.log"])
    assert {r["worker"] for r in records} == {"w0", "w1"}
    # The loader merges the workers' files and the import into one capture.
    from traceanalyzer.loader import load_capture

    capture = load_capture([tmp_path / "traces", tmp_path / "trace"], cache=False)
    assert capture.requests.num_rows == len(records_of(tmp_path / "traces", "request"))
    assert set(capture.requests.column("worker").to_pylist()) == {"w0", "w1"}
    assert capture.inventory.duplicate_request_ids == 0
    assert capture.totals.num_rows > 0 and capture.failures.num_rows > 0
    events = {e["name"] for e in records_of(tmp_path / "trace", "event")}
    assert {"locust.start", "locust.worker_ready"} <= events
