"""``traceanalyzer record http`` as users run it: exit codes, secrets, and SIGTERM in the middle of a run."""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from collector_kit import FAST, MisbehavingServer, read_trace, requests_of, truth_by_id, write_prompts

from recorders.simserver.testing import run_simserver

KEY = "sk-test-0123456789abcdefSECRET"


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "traceanalyzer", "record", "http", *args]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_help_lists_every_design_option() -> None:
    out = run_cli("--help").stdout
    options = (
        "--url --model --api --prompts --concurrency --rate --arrival --stages --requests --duration "
        "--max-tokens --timeout --ttft-timeout --extra-body --header --api-key-env --no-text --out --seed "
        "--warmup --workers --grace"
    )
    for option in options.split():
        assert option in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--concurrency", "4", "--rate", "2"], "--concurrency and --rate exclude each other"),
        (["--stages", "60s@x"], "bad stage"),
        (["--duration", "soon"], "bad --duration"),
        (["--extra-body", "[1]"], "--extra-body must be a JSON object"),
        (["--header", "novalue"], "bad --header"),
        (["--api-key-env", "TRACEANALYZER_TEST_UNSET_VAR"], "TRACEANALYZER_TEST_UNSET_VAR"),
        (["--prompts", "builtin:nope"], "unknown prompt set"),
        (["--think-time", "2s"], "only with a conversation prompt file"),
        (["--prompts", "builtin:chat", "--think-time", "exp:later"], "bad --think-time"),
    ],
)
def test_bad_options_exit_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli(
        "--url", "http://127.0.0.1:9/v1", "--model", "m", "--out", str(tmp_path / "o.jsonl"), *args
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_prompt_file_names_file_and_line(tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"id": "a", "prompt": "x"}\n{"id": "b" "prompt": "y"}\n', encoding="utf-8")
    result = run_cli(
        "--url",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
        "--prompts",
        str(prompts),
        "--out",
        str(tmp_path / "o.jsonl"),
    )
    assert result.returncode == 2
    assert f"{prompts}:2: not valid JSON" in result.stderr


def test_unreachable_endpoint_exits_3(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    result = run_cli(
        "--url", f"http://127.0.0.1:{free_port()}/v1", "--model", "m", "--requests", "1", "--out", str(out)
    )
    assert result.returncode == 3, result.stderr
    assert "cannot reach" in result.stderr and not out.exists()


def test_existing_output_is_not_overwritten(misbehaving_server: MisbehavingServer, tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    out.write_text("keep me\n", encoding="utf-8")
    result = run_cli(
        "--url", misbehaving_server.base_url, "--model", "m", "--requests", "1", "--out", str(out)
    )
    assert result.returncode == 2 and "exists" in result.stderr
    assert out.read_text(encoding="utf-8") == "keep me\n"


def test_api_key_is_sent_but_never_written(misbehaving_server: MisbehavingServer, tmp_path: Path) -> None:
    prompts = write_prompts(
        tmp_path / "p.jsonl", [{"id": "echo", "prompt": "echo"}, {"id": "ok", "prompt": "hello"}]
    )
    out = tmp_path / "requests.jsonl.gz"
    result = run_cli(
        "--url", misbehaving_server.base_url, "--model", "m", "--prompts", str(prompts), "--requests", "4",
        "--api-key-env", "COLLECTOR_TEST_KEY", "--header", f"X-Api-Key: {KEY}-2", "--header", "X-Team: infra",
        "--extra-body", f'{{"user": "u1", "api_key": "{KEY}-3"}}', "--out", str(out), "--quiet",
        env={"COLLECTOR_TEST_KEY": KEY},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [s["headers"]["Authorization"] for s in misbehaving_server.seen] == [f"Bearer {KEY}"] * 4
    assert misbehaving_server.seen[0]["headers"]["X-Team"] == "infra"
    written = gzip.decompress(out.read_bytes())
    assert KEY.encode() not in written and KEY not in result.stdout + result.stderr
    records = [json.loads(line) for line in written.decode().splitlines()]
    meta = records[0]["config"]
    assert meta["api_key_env"] == "COLLECTOR_TEST_KEY" and "X-Team: infra" in meta["headers"]
    echoed = [r for r in records if r.get("prompt_id") == "echo"]
    assert echoed and all(
        r["error"]["class"] == "client_4xx" and "<redacted>" in r["error"]["message"] for r in echoed
    )


@pytest.mark.slow
def test_sigterm_mid_run_accounts_for_every_request(tmp_path: Path) -> None:
    out = tmp_path / "requests.jsonl"
    timing = {**FAST, "timing.ttft_ms": 100.0, "timing.gap_ms": 20.0}
    with run_simserver("fixed-timing", truth=tmp_path / "truth.jsonl", overrides=timing) as sim:
        cmd = [
            sys.executable, "-m", "traceanalyzer", "record", "http",
            "--url", sim.base_url, "--model", sim.model, "--concurrency", "8", "--requests", "100000",
            "--duration", "60", "--max-tokens", "40", "--grace", "0.3", "--out", str(out), "--quiet",
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 12):
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 0, stderr
    records = requests_of(out)
    truth = truth_by_id(sim, records)
    assert len({r["id"] for r in records}) == len(records) >= 12
    seen_by_server = {r["response_id"] for r in records}
    assert set(truth) <= seen_by_server  # every request the server saw has its record: none lost
    classes = {(r["error"] or {}).get("class") for r in records}
    assert classes <= {None, "aborted"} and "aborted" in classes
    aborted = [r for r in records if r["error"] is not None]
    assert len(aborted) <= 8  # only what was in flight
    for r in aborted:
        assert truth[r["response_id"]]["outcome"] in ("client_disconnected", "server_stopped")
    stop = [e for e in read_trace(out) if e["type"] == "event"]
    assert stop[-1]["name"] == "stop" and stop[-1]["detail"] == {"reason": "signal SIGTERM"}
    assert "stopped by signal SIGTERM" in stderr
