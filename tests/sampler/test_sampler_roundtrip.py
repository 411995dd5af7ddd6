"""What the recorders write reads back through the analyzer's loader, values and types intact."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from recorders.gpu import GpuRecorderOptions, record_gpu_async
from recorders.gpu.prometheus import parse_text
from recorders.gpu.testing import h100_boards
from recorders.server_metrics import ServerRecorderOptions, record_server_async, server_record
from recorders.tracefile import TraceWriter
from traceanalyzer.loader import load_capture


def test_gpu_host_server_and_event_records_load(
    tmp_path, fake_clock, install_fake_nvml, endpoint_plan, fixture_text
):
    install_fake_nvml(h100_boards(2))
    asyncio.run(
        record_gpu_async(
            GpuRecorderOptions(out=tmp_path / "gpu.jsonl", interval_s=0.5, duration_s=2.0, host_metrics=True),
            control=fake_clock.control(),
        )
    )
    url = endpoint_plan("/metrics", fixture_text("sglang_metrics.txt"), [(1.0, 1.5, "oops", 503, 0.0)])
    asyncio.run(
        record_server_async(
            ServerRecorderOptions(out=tmp_path / "server.jsonl", url=url, interval_s=0.5, duration_s=2.0),
            control=fake_clock.control(),
        )
    )
    capture = load_capture([tmp_path], cache=False)
    assert capture.inventory.skipped_lines == 0
    gpu = capture.gpu.to_pylist()
    assert len(gpu) == 8 and {r["gpu"] for r in gpu} == {0, 1}
    assert all(r["source"] == "nvml" and r["util_pct"] == 90.0 and r["mem_used_mib"] == 71680.0 for r in gpu)
    assert capture.host.num_rows == 4
    server = capture.server.to_pylist()
    assert len(server) == 3 and all(r["engine"] == "sglang" and r["kv_cache_pct"] == 28.0 for r in server)
    metrics = dict(server[0]["metrics"])
    assert metrics["sglang:gen_throughput"] == 86.50814177726902
    events = capture.event.to_pylist()
    assert [e["name"] for e in events] == ["scrape_failed", "scrape_recovered"]


label_values = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    series=st.dictionaries(
        label_values, st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=1, max_size=5
    ),
    served=st.integers(min_value=0, max_value=10**12),
)
def test_any_labels_and_values_survive_exposition_parse_write_and_load(tmp_path_factory, series, served):
    registry = CollectorRegistry()
    gauge = Gauge("app_queue_depth", "Queue depth per tenant.", ["tenant", "model_name"], registry=registry)
    for tenant, value in series.items():
        gauge.labels(tenant, "m").set(value)
    Counter("app_served", "Requests served.", registry=registry).inc(served)
    record = server_record(parse_text(generate_latest(registry).decode()), 1)

    path = tmp_path_factory.mktemp("rt") / "server.jsonl"
    with TraceWriter(path, recorder="test", host="h") as writer:
        writer.write({**record, "host": "h"})
    (loaded,) = load_capture([path], cache=False).server.to_pylist()
    metrics = dict(loaded["metrics"])
    assert metrics.pop("app_served_total") == served
    assert len(metrics) == len(series)  # one key per tenant: labels are kept, model_name (constant) is not
    assert sorted(metrics.values()) == sorted(series.values())  # exact: repr -> JSON -> DuckDB double
