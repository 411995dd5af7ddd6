"""``LLMUser`` sends the client request id in a header (``id_header``, ``x-request-id`` by default) and notes
it in each request record: real Locust, headless for two seconds, against a loopback server that keeps the
headers it got."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.collector.collector_kit import MisbehavingServer
from tests.collector.collector_kit import misbehaving_server as _misbehaving_server
from tests.locust.locust_testkit import LOCUSTFILES, locust_env, records_of, run_locust

pytestmark = pytest.mark.slow
misbehaving_server = _misbehaving_server


def test_llm_user_sends_its_request_ids(misbehaving_server: MisbehavingServer, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"id": "hello", "prompt": "Say hello"}\n', encoding="utf-8")
    args = ["-f", str(LOCUSTFILES / "llm_locustfile.py"), "SimChat", "--headless", "-u", "1", "-r", "1"]
    args += ["-t", "2s", "-H", misbehaving_server.base_url, "--llm-trace-dir", "traces"]
    run = run_locust(args, cwd=tmp_path, env=locust_env(PROMPT_FILE=str(prompts), SIM_MODEL="m"))
    assert run.returncode == 0, run.output
    records = records_of(tmp_path / "traces", "request")
    assert records
    sent = [
        v for s in misbehaving_server.seen for k, v in s["headers"].items() if k.lower() == "x-request-id"
    ]
    assert len(sent) == len(misbehaving_server.seen)
    answered = {r["id"] for r in records if r["error"] is None}
    assert answered and answered <= set(sent) <= {r["id"] for r in records}  # the last may be stopped unsent
    assert {r["id_header"] for r in records} == {"x-request-id"}
