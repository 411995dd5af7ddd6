"""Serving-engine scraper: vLLM / SGLang / TGI names mapped to the server record, over real loopback HTTP."""

from __future__ import annotations

import asyncio
import re

import pytest

from recorders.gpu.prometheus import parse_text
from recorders.server_metrics import ServerRecorderOptions, record_server, record_server_async, server_record
from traceanalyzer.errors import SourceUnreachableError, UsageError

SECOND = 1_000_000_000


def _record(fixture_text, name):
    return server_record(parse_text(fixture_text(name)), 1)


def test_vllm_v1(fixture_text):
    rec = _record(fixture_text, "vllm_v1_metrics.txt")
    assert {
        k: rec[k] for k in ("type", "t", "engine", "running", "waiting", "kv_cache_pct", "preemptions")
    } == {
        "type": "server",
        "t": 1,
        "engine": "vllm",
        "running": 12.0,
        "waiting": 3.0,
        "kv_cache_pct": 43.75,
        "preemptions": 7.0,
    }
    m = rec["metrics"]
    assert m["vllm:prompt_tokens_total"] == 1048576.0
    assert m["vllm:generation_tokens_total"] == 524288.0
    assert m['vllm:request_success_total{finished_reason="stop"}'] == 900.0
    assert m['vllm:request_success_total{finished_reason="abort"}'] == 2.0
    assert m["vllm:time_to_first_token_seconds_sum"] == 180.5
    assert m["vllm:time_to_first_token_seconds_count"] == 1002.0
    assert m['python_gc_objects_collected_total{generation="0"}'] == 12345.0
    assert m["process_resident_memory_bytes"] == 2147483648.0
    assert any(k.startswith("vllm:cache_config_info{block_size=") for k in m)
    # Mapped fields are not repeated; buckets, _created timestamps and NaN are not kept.
    assert not any(
        k.startswith(("vllm:num_requests_running", "vllm:kv_cache_usage_perc", "vllm:num_preemptions"))
        for k in m
    )
    assert not any("_bucket" in k or "_created" in k or "hit_rate" in k for k in m)


def test_vllm_older_names(fixture_text):
    rec = _record(fixture_text, "vllm_v0_metrics.txt")
    assert (rec["engine"], rec["running"], rec["waiting"], rec["kv_cache_pct"], rec["preemptions"]) == (
        "vllm",
        5.0,
        0.0,
        12.5,
        0.0,
    )
    assert rec["metrics"]["vllm:num_requests_swapped"] == 0.0
    assert rec["metrics"]["vllm:e2e_request_latency_seconds_count"] == 20.0


def test_vllm_data_parallel_engines(fixture_text):
    rec = _record(fixture_text, "vllm_dp2_metrics.txt")
    assert (rec["running"], rec["waiting"], rec["kv_cache_pct"], rec["preemptions"]) == (58.0, 4.0, 91.0, 6.0)
    assert rec["metrics"] == {
        'vllm:generation_tokens_total{engine="0"}': 1000.0,
        'vllm:generation_tokens_total{engine="1"}': 900.0,
    }


def test_sglang(fixture_text):
    rec = _record(fixture_text, "sglang_metrics.txt")
    assert (rec["engine"], rec["running"], rec["waiting"], rec["kv_cache_pct"], rec["preemptions"]) == (
        "sglang",
        162.0,
        2826.0,
        28.0,
        48.0,
    )
    assert rec["metrics"]["sglang:num_retracted_reqs"] == 2.0
    assert rec["metrics"]["sglang:gen_throughput"] == pytest.approx(86.50814177726902)
    assert rec["metrics"]["sglang:func_latency_seconds_count"] == 14007.0


def test_tgi(fixture_text):
    rec = _record(fixture_text, "tgi_metrics.txt")
    assert (rec["engine"], rec["running"], rec["waiting"], rec["kv_cache_pct"], rec["preemptions"]) == (
        "tgi",
        16.0,
        4.0,
        None,
        None,
    )
    # prometheus_client normalises counter samples to end in _total.
    assert rec["metrics"]["tgi_request_count_total"] == 1234.0
    assert rec["metrics"]['tgi_batch_inference_count_total{method="decode"}'] == 90000.0
    assert rec["metrics"]["tgi_request_duration_sum"] == 1234.5


def test_an_unknown_exporter_keeps_everything_under_metrics():
    rec = server_record(parse_text("# TYPE queue_depth gauge\nqueue_depth 3\n"), 1)
    assert rec["engine"] is None and rec["running"] is None and rec["metrics"] == {"queue_depth": 3.0}


def test_metrics_match_filters_keys(fixture_text):
    rec = server_record(
        parse_text(fixture_text("vllm_v1_metrics.txt")), 1, keep=re.compile(r"^vllm:.*tokens")
    )
    assert set(rec["metrics"]) == {"vllm:prompt_tokens_total", "vllm:generation_tokens_total"}
    assert rec["running"] == 12.0  # the named fields are always there


def test_scrape_faults_are_events_and_retried(tmp_path, fake_clock, endpoint_plan, fixture_text, read_trace):
    good = fixture_text("vllm_v1_metrics.txt")
    garbage = good.replace("12.0", "twelve")  # one sample that is not a number
    url = endpoint_plan("/metrics", good, [(1, 2, "Internal error", 500, 0.0), (2, 3, garbage, 200, 0.0)])
    options = ServerRecorderOptions(out=tmp_path / "server.jsonl", url=url, interval_s=0.5, duration_s=4.0)
    summary = asyncio.run(record_server_async(options, control=fake_clock.control()))
    records = read_trace(tmp_path / "server.jsonl")
    meta = records[0]
    assert meta["recorder"] == "traceanalyzer.record.server" and meta["config"]["engine_detected"] == "vllm"
    servers = [r for r in records if r["type"] == "server"]
    assert [(r["t"] - fake_clock.wall0) / SECOND for r in servers] == [0.0, 0.5, 3.0, 3.5]
    assert all(r["host"] and r["engine"] == "vllm" and r["running"] == 12.0 for r in servers)
    events = [(e["name"], e["detail"]["error"]) for e in records if e["type"] == "event"]
    assert events[0] == ("scrape_failed", "HTTP 500 Internal Server Error")
    assert events[1] == ("scrape_recovered", "HTTP 500 Internal Server Error")
    assert events[2][0] == "scrape_failed" and events[2][1].startswith("not Prometheus text")
    assert events[3][0] == "scrape_recovered"
    assert summary.info == {"engine": "vllm"} and summary.ticks == 8


def test_an_endpoint_down_at_start_is_exit_code_3(tmp_path, metrics_server):
    url = metrics_server.url("/metrics")  # no route: 404
    with pytest.raises(
        SourceUnreachableError, match=r"^cannot scrape http://127.0.0.1:\d+/metrics: HTTP 404"
    ) as err:
        record_server(ServerRecorderOptions(out=tmp_path / "s.jsonl", url=url, duration_s=1.0))
    assert err.value.exit_code == 3 and not (tmp_path / "s.jsonl").exists()


def test_connection_refused_at_start(tmp_path, metrics_server):
    port = metrics_server.port
    metrics_server.stop()
    with pytest.raises(SourceUnreachableError, match="ClientConnectorError"):
        record_server(ServerRecorderOptions(out=tmp_path / "s.jsonl", url=f"http://127.0.0.1:{port}/metrics"))


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        ({"url": "localhost:8000/metrics"}, "must be an http"),
        ({"metrics_match": "("}, "not a regular expression"),
        ({"duration_s": -1.0}, "--duration must be positive"),
    ],
)
def test_bad_options(tmp_path, opts, message):
    options = {"url": "http://127.0.0.1:9/metrics", **opts}
    with pytest.raises(UsageError, match=message):
        record_server(ServerRecorderOptions(out=tmp_path / "s.jsonl", **options))
