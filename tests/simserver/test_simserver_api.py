"""The OpenAI-compatible API of the simulated server, through real clients on a loopback port."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from multidict import CIMultiDict
from prometheus_client.parser import text_string_to_metric_families

from recorders.simserver.testing import SimServerHandle, run_simserver


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServerHandle]:
    truth = tmp_path_factory.mktemp("sim") / "truth.jsonl"
    with run_simserver("steady", seed=5, truth=truth, overrides={"engine.decode_ms": 4.0}) as handle:
        yield handle


@pytest.fixture
def client(sim: SimServerHandle) -> openai.OpenAI:
    return openai.OpenAI(base_url=sim.base_url, api_key="unused", max_retries=0)


def _raw_stream(url: str, body: dict[str, Any]) -> tuple[int, CIMultiDict[str], list[bytes], list[int]]:
    """POST with aiohttp; every SSE ``data:`` line and its arrival time (epoch ns)."""

    async def go() -> tuple[int, CIMultiDict[str], list[bytes], list[int]]:
        lines: list[bytes] = []
        times: list[int] = []
        async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
            async for line in resp.content:
                if line.startswith(b"data: "):
                    lines.append(line[6:].strip())
                    times.append(time.time_ns())
            return resp.status, resp.headers.copy(), lines, times

    return asyncio.run(go())


def test_openai_chat_stream_has_role_text_finish_and_usage(
    sim: SimServerHandle, client: openai.OpenAI
) -> None:
    stream = client.chat.completions.create(
        model=sim.model,
        messages=[{"role": "user", "content": "Say something [sim:say=The answer is 42]"}],
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=200,
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("The answer is 42.")
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == sum(
        1 for c in chunks if c.choices and c.choices[0].delta.content
    )
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")


def test_aiohttp_sees_done_and_usage(sim: SimServerHandle) -> None:
    body = {
        "model": sim.model,
        "prompt": "Once upon a time",
        "max_tokens": 7,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    status, headers, lines, _ = _raw_stream(f"{sim.base_url}/completions", body)
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    assert lines[-1] == b"[DONE]"
    events = [json.loads(line) for line in lines[:-1]]
    assert [e["object"] for e in events] == ["text_completion"] * 8
    assert [e["choices"][0]["finish_reason"] for e in events[:-1]][-1] == "length"
    assert events[-1]["usage"]["completion_tokens"] == 7
    assert headers["x-request-id"] == events[0]["id"]


def test_non_streaming_chat_and_completions(sim: SimServerHandle, client: openai.OpenAI) -> None:
    chat = client.chat.completions.create(
        model=sim.model, messages=[{"role": "user", "content": "Tell me about bread"}], max_tokens=16
    )
    assert chat.object == "chat.completion" and chat.choices[0].finish_reason == "length"
    assert chat.usage is not None and chat.usage.completion_tokens == 16
    content = chat.choices[0].message.content
    assert content and len(content.split()) == 16
    done = client.completions.create(model=sim.model, prompt="Tell me about bread", max_tokens=500)
    assert done.choices[0].finish_reason == "stop" and done.usage is not None
    assert 10 < done.usage.completion_tokens < 200


def test_same_prompt_same_answer_and_models_endpoint(sim: SimServerHandle, client: openai.OpenAI) -> None:
    def ask() -> str | None:
        messages: Any = [{"role": "user", "content": "What is a KV cache?"}]
        return client.chat.completions.create(model=sim.model, messages=messages).choices[0].message.content

    assert ask() == ask()
    models = client.models.list()
    assert [m.id for m in models.data] == [sim.model]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"model": "other", "messages": [{"role": "user", "content": "x"}]}, 404, "does not exist"),
        ({"messages": [{"role": "user", "content": "x"}], "temperature": 9}, 400, "temperature"),
        ({"messages": "nope"}, 400, "messages"),
        (
            {"messages": [{"role": "user", "content": "x" * 20000}], "max_tokens": 4000},
            400,
            "maximum context",
        ),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, 400, "max_tokens"),
    ],
)
def test_errors_have_the_openai_shape(
    sim: SimServerHandle, client: openai.OpenAI, body: dict[str, Any], status: int, words: str
) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(**{"model": sim.model, **body})
    assert caught.value.status_code == status
    error = caught.value.body
    assert isinstance(error, dict)  # the openai client unwraps {"error": {...}}
    assert words in error["message"] and error["code"] == status and error["type"]


def test_invalid_json_is_400(sim: SimServerHandle) -> None:
    request = urllib.request.Request(f"{sim.base_url}/chat/completions", data=b"{not json", method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 400
    assert set(json.loads(caught.value.read())["error"]) == {"message", "type", "param", "code"}


def test_prometheus_text_parses(sim: SimServerHandle) -> None:
    def families(url: str) -> dict[str, Any]:
        text = urllib.request.urlopen(url).read().decode()
        return {f.name: f for f in text_string_to_metric_families(text)}

    vllm = families(sim.metrics_url)
    for name in ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc"):
        assert vllm[name].type == "gauge"
        assert vllm[name].samples[0].labels == {"model_name": sim.model}
    assert vllm["vllm:num_preemptions"].type == "counter"
    ttft = vllm["vllm:time_to_first_token_seconds"]
    assert ttft.type == "histogram"
    assert {s.name for s in ttft.samples} >= {
        "vllm:time_to_first_token_seconds_bucket",
        "vllm:time_to_first_token_seconds_count",
    }
    dcgm = families(sim.dcgm_url)
    for name in ("GPU_UTIL", "FB_USED", "FB_FREE", "POWER_USAGE", "GPU_TEMP", "SM_CLOCK"):
        sample = dcgm[f"DCGM_FI_DEV_{name}"].samples[0]
        assert sample.labels["gpu"] == "0" and sample.labels["UUID"].startswith("GPU-")
        assert sample.value >= 0
    used, free = dcgm["DCGM_FI_DEV_FB_USED"].samples[0].value, dcgm["DCGM_FI_DEV_FB_FREE"].samples[0].value
    assert used + free == pytest.approx(81559, abs=1)


def test_health(sim: SimServerHandle) -> None:
    assert urllib.request.urlopen(sim.health_url).status == 200


def test_truth_file_matches_what_the_client_saw(tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    body = {"model": "sim-llama-3-8b", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with run_simserver("steady", seed=2, truth=truth) as sim:
        _, headers, lines, times = _raw_stream(f"{sim.base_url}/chat/completions", body)
        bad = {**body, "model": "missing"}
        bad_status, bad_headers, _, _ = _raw_stream(f"{sim.base_url}/chat/completions", bad)
    records = {
        r["id"]: r for r in sim.truth_records(wait_for=[headers["x-request-id"], bad_headers["x-request-id"]])
    }
    assert set(records) == {headers["x-request-id"], bad_headers["x-request-id"]}
    ok = records[headers["x-request-id"]]
    assert ok["outcome"] == "ok" and ok["status"] == 200 and ok["finish_reason"] == "stop"
    text_times = [
        t
        for line, t in zip(lines, times, strict=True)
        if b'"content":"' in line and b'"content":""' not in line
    ]
    assert len(ok["t_chunks"]) == len(ok["t_sched"]) == len(text_times) == ok["output_tokens"]
    assert all(w >= s for w, s in zip(ok["t_chunks"], ok["t_sched"], strict=True))  # never early
    assert ok["t_received"] <= ok["t_arrival"] <= ok["t_headers"] <= ok["t_chunks"][0]
    # the client saw each chunk after the engine scheduled it (1 ms of slack for the two processes' clock
    # anchors; the server's write stamp is taken after its write, so a preempted server stamps after the read)
    assert all(c >= s - 1_000_000 for c, s in zip(text_times, ok["t_sched"], strict=True))
    missing = records[bad_headers["x-request-id"]]
    assert bad_status == 404 and missing["outcome"] == "not_found" and missing["error"]["status"] == 404


def test_in_stream_error_after_some_text() -> None:
    with run_simserver("steady", overrides={"faults.stream_error_fraction": 1.0}) as sim:
        client = openai.OpenAI(base_url=sim.base_url, api_key="unused", max_retries=0)
        stream = client.chat.completions.create(
            model=sim.model, messages=[{"role": "user", "content": "hello"}], stream=True
        )
        received = []
        with pytest.raises(openai.APIError) as caught:
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    received.append(chunk.choices[0].delta.content)
    assert received, "the error must come after some text"
    assert "Internal server error" in caught.value.message or "error" in caught.value.message.lower()


def test_rate_limit_answers_429_with_retry_after() -> None:
    with run_simserver("steady", overrides={"rate_limit.rps": 1.0, "rate_limit.burst": 1}) as sim:
        body = {"model": sim.model, "messages": [{"role": "user", "content": "x"}], "max_tokens": 1}
        statuses = []
        for _ in range(3):
            status, headers, _, _ = _raw_stream(f"{sim.base_url}/chat/completions", body)
            statuses.append((status, headers.get("retry-after")))
    assert statuses[0] == (200, None)
    assert (429, "1") in statuses[1:]


def test_client_gone_mid_stream_frees_the_engine(tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    body = {"model": "sim-llama-3-8b", "prompt": "hi", "max_tokens": 400, "ignore_eos": True, "stream": True}

    async def hang_up(url: str) -> str:
        async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
            await resp.content.readline()  # the first chunk, then go away
            return resp.headers["x-request-id"]

    with run_simserver("steady", truth=truth) as sim:
        rid = asyncio.run(hang_up(f"{sim.base_url}/completions"))
        deadline = time.monotonic() + 10
        running = 1.0
        while running and time.monotonic() < deadline:
            time.sleep(0.1)
            text = urllib.request.urlopen(sim.metrics_url).read().decode()
            running = next(
                s.value
                for f in text_string_to_metric_families(text)
                for s in f.samples
                if s.name == "vllm:num_requests_running"
            )
    assert running == 0
    record = next(r for r in sim.truth_records(wait_for=[rid]) if r["id"] == rid)
    assert record["outcome"] == "client_disconnected" and 0 < record["output_tokens"] < 400


def test_t_received_is_the_socket_read_that_completed_the_request(tmp_path: Path) -> None:
    """A request sent in two parts, 300 ms apart: ``t_received`` is the read of the second part (after it was
    sent), not of the first; aiohttp starts the handler (``t_arrival``) once the headers are in. A refused
    request has one too."""
    truth = tmp_path / "truth.jsonl"
    fast = {"timing.ttft_ms": 5.0, "timing.gap_ms": 1.0}
    with run_simserver("fixed-timing", truth=truth, overrides=fast) as sim:
        body = json.dumps({"model": sim.model, "prompt": "hi", "max_tokens": 2, "stream": True}).encode()
        head = (
            f"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", sim.port)) as sock:
            sock.sendall(head + body[:10])
            time.sleep(0.3)
            second_part_ns = time.time_ns()
            sock.sendall(body[10:])
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200")
        _raw_stream(f"{sim.base_url}/chat/completions", {"model": "missing", "messages": []})
    first, refused = sim.truth_records()
    # the server's and this process's clocks are anchored apart: a few ms of slack, far below the 300 ms
    assert first["t_arrival"] + 250_000_000 < second_part_ns - 5_000_000 <= first["t_received"]
    assert first["t_received"] <= first["t_headers"]
    assert refused["outcome"] == "not_found" and refused["t_received"] <= refused["t_arrival"]
