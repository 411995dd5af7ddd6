"""``import prometheus`` from saved ``query_range`` responses: several GPUs and hosts, stale and missing
points, NaN and infinite values, counter resets, extra queries, window parts, bad files."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from recorders.prometheus_import import PrometheusImportOptions, import_prometheus
from recorders.prometheus_import.mapping import RecordMapper, counter_rates
from recorders.prometheus_import.series import parse_response
from recorders.prometheus_import.window import Window, split_window
from tests.prometheus_import.conftest import matrix
from traceanalyzer.cli import main
from traceanalyzer.errors import BadInputError, UsageError

S = 1_800_000_000  # a Unix second of the responses
NS = 1_000_000_000


def _import(directory: Path, out: Path, **options: Any) -> dict[str, list[dict[str, Any]]]:
    import_prometheus(
        PrometheusImportOptions(
            out=out, responses=(str(directory),), scrape_interval_s=1.0, progress=False, **options
        )
    )
    records: dict[str, list[dict[str, Any]]] = {}
    for path in out.glob("*.jsonl"):
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        assert lines[0]["type"] == "meta" and lines[0]["recorder"] == "traceanalyzer.import.prometheus"
        records[path.stem] = lines[1:]
    return records


def _dcgm(field: str, host: dict[str, str], gpu: str, uuid: str, points: list[tuple[float, Any]]) -> Any:
    labels = {"__name__": f"DCGM_FI_DEV_{field}", "gpu": gpu, "UUID": uuid, "modelName": "H100", **host}
    labels["job"] = "dcgm"
    return labels, points


HOST_A = {"Hostname": "gpu-a", "instance": "10.0.0.1:9400"}
HOST_B = {"instance": "gpu-b:9400"}  # no Hostname label: the instance names the host


def test_gpus_of_several_hosts_with_missing_stale_and_nan_points(write_responses, tmp_path) -> None:
    body = matrix(
        [
            _dcgm("FB_USED", HOST_A, "0", "GPU-a0", [(S, 1000), (S + 1, 1100), (S + 2, 1200)]),
            _dcgm("FB_FREE", HOST_A, "0", "GPU-a0", [(S, 79000), (S + 1, 78900), (S + 2, 78800)]),
            _dcgm("GPU_UTIL", HOST_A, "0", "GPU-a0", [(S, 50), (S + 1, "NaN"), (S + 2, 70)]),
            # GPU 1 of host A: FB_USED has no point at S+1 (a missed scrape, or stale: the same to the API).
            _dcgm("FB_USED", HOST_A, "1", "GPU-a1", [(S, 2000), (S + 2, 2200)]),
            _dcgm("GPU_UTIL", HOST_A, "1", "GPU-a1", [(S, 10), (S + 1, 20), (S + 2, 30)]),
            # Host B: at S+1 its only reading is infinite, so that step has no record for it.
            _dcgm("POWER_USAGE", HOST_B, "0", "GPU-b0", [(S, 300.5), (S + 1, "+Inf")]),
            _dcgm("GPU_TEMP", HOST_B, "0", "GPU-b0", [(S, 60), (S + 2, 61)]),
        ]
    )
    records = _import(write_responses({"dcgm.json": body}), tmp_path / "out")
    assert set(records) == {"gpu"}
    got = [
        (r["t"], r["host"], r["gpu"], r["uuid"], r["util_pct"], r["mem_used_mib"], r["mem_total_mib"],
         r["power_w"], r["temp_c"])
        for r in records["gpu"]
    ]  # fmt: skip
    t0 = S * NS
    assert got == [
        (t0, "gpu-a", 0, "GPU-a0", 50.0, 1000.0, 80000.0, None, None),
        (t0, "gpu-a", 1, "GPU-a1", 10.0, 2000.0, None, None, None),
        (t0, "gpu-b:9400", 0, "GPU-b0", None, None, None, 300.5, 60.0),
        (t0 + NS, "gpu-a", 0, "GPU-a0", None, 1100.0, 80000.0, None, None),
        (t0 + NS, "gpu-a", 1, "GPU-a1", 20.0, None, None, None, None),
        (t0 + 2 * NS, "gpu-a", 0, "GPU-a0", 70.0, 1200.0, 80000.0, None, None),
        (t0 + 2 * NS, "gpu-a", 1, "GPU-a1", 30.0, 2200.0, None, None, None),
        (t0 + 2 * NS, "gpu-b:9400", 0, "GPU-b0", None, None, None, None, 61.0),
    ]
    assert {r["source"] for r in records["gpu"]} == {"prometheus/dcgm"}
    assert {r["name"] for r in records["gpu"]} == {"H100"}


def _engine(name: str, instance: str, points: list[tuple[float, Any]], **labels: str) -> Any:
    return {"__name__": name, "instance": instance, "job": "vllm", "model_name": "m", **labels}, points


def test_engine_series_of_two_instances_with_counter_reset(write_responses, tmp_path) -> None:
    preemptions = [(S, 0), (S + 1, 2), (S + 2, 4), (S + 3, 1), (S + 4, 3), (S + 5, 3)]  # reset at S+3
    body = matrix(
        [
            # Data parallel on instance a: one series per engine, running summed, KV cache the fullest.
            *[
                _engine(
                    "vllm:num_requests_running", "a:8000", [(S + k, 2 + e) for k in range(6)], engine=str(e)
                )
                for e in (0, 1)
            ],
            _engine("vllm:kv_cache_usage_perc", "a:8000", [(S + k, 0.25) for k in range(6)], engine="0"),
            _engine("vllm:kv_cache_usage_perc", "a:8000", [(S + k, 0.5) for k in range(6)], engine="1"),
            _engine("vllm:num_preemptions_total", "a:8000", preemptions),
            _engine("vllm:num_requests_waiting", "b:8000", [(S + k, k) for k in range(6)]),
            # What record server leaves out, in a file made with a broader query.
            _engine("vllm:e2e_request_latency_seconds_bucket", "b:8000", [(S, 1)], le="0.5"),
            _engine("vllm:prompt_tokens_created", "b:8000", [(S, 1.7e9)]),
            _engine("vllm:some_summary", "b:8000", [(S, 0.2)], quantile="0.5"),
        ]
    )
    records = _import(write_responses({"engine.json": body}), tmp_path / "out")
    servers = records["server"]
    a = [r for r in servers if r["host"] == "a:8000"]
    b = [r for r in servers if r["host"] == "b:8000"]
    assert len(a) == len(b) == 6 and [r["t"] for r in a] == [(S + k) * NS for k in range(6)]
    assert {(r["engine"], r["running"], r["kv_cache_pct"], r["waiting"]) for r in a} == {
        ("vllm", 5.0, 50.0, None)
    }
    assert [r["preemptions"] for r in a] == [0.0, 2.0, 4.0, 1.0, 3.0, 3.0]  # cumulative, as exposed
    # Rate over the 4 s window (step 1 s, scrape interval 1 s); the drop to 1 is a reset worth 1.
    rates = [r["metrics"].get("vllm:num_preemptions_total:rate") for r in a]
    assert rates == pytest.approx([None, 2.0, 2.0, 5 / 3, 7 / 4, 5 / 4])  # type: ignore[arg-type]
    assert [r["waiting"] for r in b] == [float(k) for k in range(6)]
    assert all(r["metrics"] == {} for r in b)  # buckets, _created and quantiles are left out
    assert {r["source"] for r in servers} == {"prometheus/vllm"}


def test_counter_rates_by_hand() -> None:
    points = [(0, 10.0), (1000, 20.0), (2000, 5.0), (3000, 15.0), (10_000, 20.0), (11_000, float("nan"))]
    # window 2 s: at 2 s the reset counts 5; at 10 s nothing earlier is in the window (a gap).
    assert counter_rates(points, 2000) == [None, 10.0, (10 + 5) / 2, (5 + 10) / 2, None, None]
    # The tail of the previous part is used, not rated.
    assert counter_rates([(2000, 5.0)], 2000, tail=[(0, 10.0), (1000, 20.0)]) == [(10 + 5) / 2]


def test_extra_queries_go_to_server_metrics(write_responses, tmp_path) -> None:
    queries = tmp_path / "queries.toml"
    queries.write_text(
        "[queries]\ngateway_queue = 'sum(gateway_queue_depth)'\n"
        "batch = 'avg by (instance, route) (batch_size)'\n"
    )
    directory = write_responses(
        {
            "gateway_queue.json": matrix([({}, [(S, 3), (S + 1, 4)])]),
            "batch.json": matrix(
                [
                    ({"instance": "a:8000", "route": "/chat"}, [(S, 8)]),
                    ({"instance": "a:8000", "route": "/completions"}, [(S, 2)]),
                ]
            ),
            "engine.json": matrix([_engine("vllm:num_requests_running", "a:8000", [(S, 5)])]),
        }
    )
    records = _import(directory, tmp_path / "out", queries_file=queries, host="prom-host")
    by_host = {(r["host"], r["t"]): r for r in records["server"]}
    a = by_host[("a:8000", S * NS)]
    assert a["running"] == 5.0 and a["engine"] == "vllm"
    assert a["metrics"] == {'batch{route="/chat"}': 8.0, 'batch{route="/completions"}': 2.0}
    gateway = [by_host[("prom-host", (S + k) * NS)] for k in (0, 1)]
    assert [g["metrics"] for g in gateway] == [{"gateway_queue": 3.0}, {"gateway_queue": 4.0}]
    assert all(g["engine"] is None and g["running"] is None and g["source"] == "prometheus" for g in gateway)


def test_host_records_from_node_exporter(write_responses, tmp_path) -> None:
    gib = 1 << 30
    n1, n2 = {"instance": "n1:9100"}, {"instance": "n2:9100"}
    node = matrix(
        [
            ({"__name__": "node_memory_MemTotal_bytes", **n1}, [(S, 64 * gib), (S + 1, 64 * gib)]),
            ({"__name__": "node_memory_MemAvailable_bytes", **n1}, [(S, 48 * gib), (S + 1, 40 * gib)]),
            ({"__name__": "node_load1", **n1}, [(S, 1.5), (S + 1, "NaN")]),
            ({"__name__": "node_load1", **n2}, [(S + 1, 0.25)]),
        ]
    )
    cpu = matrix([({"instance": "n1:9100"}, [(S, 37.5)]), ({"instance": "n2:9100"}, [(S + 1, 5.0)])])
    records = _import(write_responses({"node.json": node, "node_cpu.json": cpu}), tmp_path / "out")
    got = [
        (r["host"], r["t"], r["cpu_pct"], r["mem_used_mib"], r["mem_total_mib"], r["load1"])
        for r in records["host"]
    ]
    assert got == [
        ("n1:9100", S * NS, 37.5, 16 * 1024.0, 64 * 1024.0, 1.5),
        ("n1:9100", (S + 1) * NS, None, 24 * 1024.0, 64 * 1024.0, None),
        ("n2:9100", (S + 1) * NS, 5.0, None, None, 0.25),
    ]
    assert {r["source"] for r in records["host"]} == {"prometheus/node"}


def test_window_split_on_one_grid() -> None:
    window = Window.aligned(S + 0.4, S + 30_000.2, 1.0)
    assert (window.start_ms, window.end_ms) == (S * 1000, (S + 30_001) * 1000)
    parts = split_window(window)
    assert [p.points for p in parts] == [11_000, 11_000, 8_002]
    assert parts[0].start_ms == window.start_ms and parts[-1].end_ms == window.end_ms
    for before, after in itertools.pairwise(parts):
        assert after.start_ms == before.end_ms + window.step_ms  # no gap, no step twice
    assert sum(p.points for p in parts) == window.points
    assert split_window(Window(0, 5000, 1000), max_points=6) == [Window(0, 5000, 1000)]


def test_parts_of_a_window_give_the_records_of_the_whole(write_responses, tmp_path) -> None:
    counter = [(S + k, 10 * k if k != 7 else 3) for k in range(12)]  # a reset at S+7
    whole = matrix([_engine("vllm:generation_tokens_total", "a:8000", counter)])
    first = matrix([_engine("vllm:generation_tokens_total", "a:8000", counter[:5])])
    second = matrix([_engine("vllm:generation_tokens_total", "a:8000", counter[5:])])
    one = _import(write_responses({"engine.json": whole}), tmp_path / "one")
    (tmp_path / "responses" / "engine.json").unlink()
    two = _import(write_responses({"engine.0001.json": first, "engine.0002.json": second}), tmp_path / "two")
    assert one["server"] == two["server"] and len(one["server"]) == 12
    # The mapper keeps the counter's last points from one part to the next.
    mapper = RecordMapper(default_host="p", rate_window_ms=4000)
    by_part = [
        r for body in (first, second) for r in mapper.records({"engine": parse_response(body, where="part")})
    ]
    assert by_part == [{k: v for k, v in r.items() if k != "v"} for r in one["server"]]


@pytest.mark.parametrize(
    ("name", "body", "problem"),
    [
        ("dcgm.json", '{"status": "success", "data": {"resultType": "matrix", "result": [', "not JSON"),
        ("dcgm.json", '{"status":"error","errorType":"bad_data","error":"parse error at char 4"}',
         "the saved response is an error: bad_data: parse error at char 4"),
        ("dcgm.json", '{"status": "success", "data": {"resultType": "vector", "result": []}}',
         "expected a query_range response (resultType 'matrix'), got 'vector'"),
        ("dcgm.json", '{"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}}]}}',
         "result 0: malformed series"),
        ("gpus.json", matrix([]), "cannot tell which query this response answers"),
    ],
)  # fmt: skip
def test_bad_saved_file_names_the_file(write_responses, tmp_path, name, body, problem) -> None:
    directory = write_responses({name: body})
    with pytest.raises(BadInputError) as caught:
        _import(directory, tmp_path / "out")
    assert caught.value.path == str(directory / name) and problem in str(caught.value)


def test_cli_bad_file_exits_2_with_one_line(write_responses, tmp_path, capsys) -> None:
    directory = write_responses({"engine.json": "<html>proxy error</html>"})
    with pytest.raises(SystemExit) as exit_:
        main(["import", "prometheus", str(directory), "--out", str(tmp_path / "out")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {directory / 'engine.json'}:1: not JSON")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_nothing_to_import_is_an_error(write_responses, tmp_path) -> None:
    with pytest.raises(UsageError, match="nothing to import"):
        _import(write_responses({"dcgm.json": matrix([])}), tmp_path / "out")
