"""``LLMUser`` in conversation mode, in a real headless Locust against the simulated chat server."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from recorders.simserver.testing import run_simserver
from tests.locust.locust_testkit import LOCUSTFILES, locust_env, read_jsonl, run_locust

pytestmark = pytest.mark.slow

CONVERSATIONS = [
    {"id": "three", "system": "Be brief.", "turns": ["Hello there.", "Tell me more.", "Thanks, bye."]},
    {"id": "two", "turns": ["What is latency?", "And throughput?"]},
]


def test_llmuser_runs_whole_conversations_with_the_history(tmp_path: Path) -> None:
    conv_file = tmp_path / "conversations.jsonl"
    conv_file.write_text("".join(json.dumps(c) + "\n" for c in CONVERSATIONS), encoding="utf-8")
    with run_simserver(
        "chat", seed=4, truth=tmp_path / "truth.jsonl", overrides={"engine.decode_ms": 2.0}
    ) as sim:
        env = locust_env(CONVERSATION_FILE=str(conv_file), SIM_MODEL=sim.model)
        args = [
            "--headless",
            "-u",
            "2",
            "-r",
            "2",
            "-t",
            "3s",
            "-H",
            sim.base_url,
            "--llm-trace-dir",
            "traces",
        ]
        run = run_locust(["-f", str(LOCUSTFILES / "chat_locustfile.py"), *args], cwd=tmp_path, env=env)
        assert run.returncode == 0, run.output
        (trace,) = (tmp_path / "traces").glob("*.jsonl")
        records = [r for r in read_jsonl(trace) if r["type"] == "request" and r["error"] is None]
        truth = sim.truth_for(r["response_id"] for r in records)
    sessions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        sessions[r["session_id"]].append(r)
        seen = truth[r["response_id"]]
        assert (seen["session_id"], seen["turn"], seen["cached_tokens"]) == (
            r["session_id"],
            r["turn"],
            r["cached_tokens"],
        )
    complete = [turns for turns in sessions.values() if len(turns) == turns[0]["session_turns"]]
    assert len(complete) >= 4
    for turns in complete:
        turns.sort(key=lambda r: r["turn"])
        assert [r["turn"] for r in turns] == list(range(len(turns)))
        assert all(r["cached_tokens"] > 0 for r in turns[1:])  # each turn found the one before cached
        assert all(b["history_chars"] > a["history_chars"] for a, b in itertools.pairwise(turns))
