"""Arrival stamps taken in the connection protocol (``recorders.http_stream.arrivals``): the installed aiohttp
takes the stamping protocol, long bodies are taken in batches without losing a stamp, and a connection that
does not stamp still gives the same records."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from collector_kit import collect, requests_of, truth_by_id

from recorders.http_stream.arrivals import DRAIN_BYTES, ArrivalLog, StampingResponseHandler
from recorders.http_stream.client import Exchange, StreamClient, base_headers, request_body
from recorders.http_stream.prompts import Prompt
from recorders.simserver.testing import SimServerHandle

CLOCK_SLACK_NS = 1_000_000
"""The two processes' clock anchors. A chunk is never read before the engine scheduled it (``t_sched``); the
server's write stamp (``t_chunks``) is taken after the write and bounds a read from above only."""


def test_arrival_log_maps_body_offsets_to_the_read_that_completed_them() -> None:
    log = ArrivalLog.of_reads([10, 20, 30], [b"abc", b"", b"defg"])
    assert (log.ns, log.upto, log.received) == ([10, 30], [3, 7], 7)  # a read with no body bytes adds nothing
    assert log.stamp_of(1) == (10, 0) and log.stamp_of(3) == (10, 0)
    assert log.stamp_of(4) == (30, 1) and log.stamp_of(7, 1) == (30, 1)
    assert log.stamp_of(8) == (None, 2)
    log.add(40, 7)  # no new bytes: ignored
    assert len(log) == 2


def _exchange(url: str, model: str, max_tokens: int) -> tuple[Exchange, type]:
    """One streamed request through :class:`StreamClient`: the exchange, and its connections' protocol."""

    async def run() -> tuple[Exchange, type]:
        async with StreamClient(url=url, api="chat", headers=base_headers({}, None), timeout_s=30) as client:
            body = request_body(
                Prompt(id="p", prompt="Tell me about tides."),
                api="chat",
                model=model,
                max_tokens=max_tokens,
                extra_body={"ignore_eos": True},
            )
            ex = Exchange(time.monotonic_ns())
            await client.exchange(body, ex)
            assert client._session is not None
            connector = client._session.connector
            assert connector is not None
            return ex, connector._factory.func  # type: ignore[attr-defined]

    return asyncio.run(run())


def test_the_installed_aiohttp_takes_the_stamping_protocol(fast_sim: SimServerHandle) -> None:
    ex, protocol = _exchange(fast_sim.base_url, fast_sim.model, max_tokens=150)
    assert protocol is StampingResponseHandler, "aiohttp's connector no longer takes our protocol factory"
    assert ex.failure is None and ex.status == 200
    body = b"".join(ex.reads)
    assert ex.arrivals.received == len(body) > 2 * DRAIN_BYTES  # taken in batches, every byte logged
    # a stamp per socket read (the server writes each token on its own, 5 ms apart, several together when
    # it runs late on a busy machine), the bytes taken from aiohttp in fewer, larger batches
    assert len(ex.arrivals) > len(ex.reads)
    assert ex.arrivals.ns == sorted(ex.arrivals.ns)
    assert ex.t_headers is not None and ex.t_end is not None
    assert ex.t_headers <= ex.arrivals.ns[0] and ex.arrivals.ns[-1] == ex.t_end


def test_long_streams_keep_every_stamp(fast_sim: SimServerHandle, tmp_path: Path) -> None:
    out = tmp_path / "long.jsonl"
    collect(
        fast_sim.base_url,
        fast_sim.model,
        out,
        concurrency=4,
        requests=8,
        max_tokens=200,
        extra_body={"ignore_eos": True},
        no_text=True,
    )
    records = requests_of(out)
    truth = truth_by_id(fast_sim, records)
    assert len(records) == 8
    for rec in records:
        t = truth[rec["response_id"]]
        assert rec["error"] is None and len(rec["chunks_us"]) == len(t["t_chunks"]) == 200
        for us, s, w in zip(rec["chunks_us"], t["t_sched"], t["t_chunks"], strict=True):
            assert s - CLOCK_SLACK_NS <= rec["t_send"] + us * 1000 <= w + 2_000_000_000


def test_a_connection_that_does_not_stamp_gives_the_same_records(
    fast_sim: SimServerHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "recorders.http_stream.client.stamping_connector", lambda **options: aiohttp.TCPConnector(**options)
    )
    ex, protocol = _exchange(fast_sim.base_url, fast_sim.model, max_tokens=12)
    assert protocol is not StampingResponseHandler and ex.failure is None
    # the task stamped each read itself: one stamp per read, every byte logged (the server writes the 12
    # tokens 5 ms apart; on a busy machine several can arrive in one read, so the count of reads varies)
    assert len(ex.arrivals) == len(ex.reads) >= 2
    assert ex.arrivals.received == sum(len(r) for r in ex.reads)
    assert b"".join(ex.reads).count(b'"content":"') - b"".join(ex.reads).count(b'"content":""') == 12
    out = tmp_path / "plain.jsonl"
    result = collect(fast_sim.base_url, fast_sim.model, out, concurrency=2, requests=4, max_tokens=12)
    assert (result.ok, dict(result.errors)) == (4, {})
    records = requests_of(out)
    truth = truth_by_id(fast_sim, records)
    for rec in records:
        t = truth[rec["response_id"]]
        assert len(rec["chunks_us"]) == len(t["t_chunks"]) == 12 and rec["text"]
        for us, s in zip(rec["chunks_us"], t["t_sched"], strict=True):
            assert rec["t_send"] + us * 1000 >= s - CLOCK_SLACK_NS


def test_record_http_loads_no_analysis_code() -> None:
    """A capture host runs the collector without pyarrow, DuckDB or the consistency stage being imported."""
    probe = (
        "import sys\n"
        "from traceanalyzer.cli import main\n"
        "try:\n"
        "    main(['record', 'http', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('pyarrow', 'duckdb', 'pandas', 'traceanalyzer.consistency')\n"
        "print('HEAVY', [m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out, out
