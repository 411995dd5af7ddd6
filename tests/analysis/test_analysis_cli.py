"""``traceanalyzer analyze`` end to end: TraceWriter files -> load_capture -> analyze -> console and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from analysis_traces import MS, T0, S

from recorders.tracefile import Clock, TraceWriter
from traceanalyzer.cli import main
from traceanalyzer.cli.options import parse_clock_offsets
from traceanalyzer.errors import UsageError

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "summary.schema.json").read_text(encoding="utf-8"))


def write_capture(directory: Path) -> Path:
    """20 requests (one per second, TTFT 200 ms, 3 chunks) on client-1, one 503 at 20 s; a GPU whose clock is
    100 s behind: its samples stamped -100..-81 s (util 10) and 0..19 s (util 90) on its own clock."""
    clock = Clock(wall_ns=T0, mono_ns=0, mono=lambda: 0)
    with TraceWriter(
        directory / "requests.jsonl", recorder="http_stream", run="r1", host="client-1", clock=clock
    ) as w:
        for i in range(20):
            t = T0 + i * S
            w.write(
                {
                    "type": "request", "run": "r1", "host": "client-1", "id": f"q{i}",
                    "response_id": f"chatcmpl-{i}", "model": "m", "api": "chat", "scenario": "short",
                    "prompt_id": "p1", "in_flight": 1, "prompt_tokens": 10, "max_tokens": 3, "t_send": t,
                    "t_headers": t + 50 * MS, "t_first": t + 200 * MS, "t_end": t + 300 * MS,
                    "chunks_us": [200_000, 240_000, 280_000], "output_tokens": 3, "tokens_source": "usage",
                    "status": 200, "finish_reason": "length", "error": None,
                }
            )  # fmt: skip
        t = T0 + 20 * S
        w.write(
            {
                "type": "request", "run": "r1", "host": "client-1", "id": "q20", "t_send": t,
                "t_end": t + 5 * MS, "chunks_us": [], "status": 503,
                "error": {"class": "server_5xx", "status": 503, "message": "overloaded"},
            }
        )  # fmt: skip
    with TraceWriter(directory / "gpu.jsonl", recorder="gpu", run="r1", host="gpu-node", clock=clock) as w:
        for k in range(20):
            for offset_s, util in ((-100, 10.0), (0, 90.0)):
                w.write(
                    {
                        "type": "gpu", "host": "gpu-node", "t": T0 + (offset_s + k) * S, "gpu": 0,
                        "uuid": "GPU-1", "name": "H100", "util_pct": util, "mem_used_mib": 1000.0,
                        "mem_total_mib": 80000.0, "source": "nvml",
                    }
                )  # fmt: skip
    return directory


def run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return int(info.value.code or 0)


def test_json_summary_written_and_valid(tmp_path, capsys):
    capture = write_capture(tmp_path / "cap")
    out = tmp_path / "summary.json"
    assert run(["analyze", str(capture), "--json", str(out)]) == 0
    console = capsys.readouterr().out
    assert "Verdict" in console and "server_5xx" in console
    summary = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.validate(summary, SCHEMA)
    assert summary["requests"] == {"total": 21, "ok": 20, "failed": 1}
    assert summary["ttft"]["p50"] == pytest.approx(0.2)
    assert summary["itl"]["count"] == 40 and summary["itl"]["p50"] == pytest.approx(0.04)
    assert summary["errors"]["server_5xx"]["first_seen"] == pytest.approx(20.005)
    assert summary["breakdown"]["scenario"]["short"]["requests"] == 20
    assert {f["path"] for f in summary["inventory"]["files"]} == {"requests.jsonl", "gpu.jsonl"} or all(
        f["path"].endswith((".jsonl",)) for f in summary["inventory"]["files"]
    )
    assert summary["resources"]["gpu_util_mean"] == pytest.approx(90.0)


def test_clock_offset_moves_a_hosts_samples_onto_the_client_clock(tmp_path, capsys):
    capture = write_capture(tmp_path / "cap")
    assert (
        run(["analyze", str(capture), "--clock-offset", "gpu-node=+100s", "--json", "-", "--no-cache"]) == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["resources"]["gpu_util_mean"] == pytest.approx(10.0)


def test_json_to_stdout_is_only_json(tmp_path, capsys):
    capture = write_capture(tmp_path / "cap")
    assert run(["analyze", str(capture), "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["schema"] == "traceanalyzer/summary@1"


def test_fail_on_slo_exits_1_only_when_asked(tmp_path, capsys):
    capture = write_capture(tmp_path / "cap")
    assert run(["analyze", str(capture), "--json", "-"]) == 0  # error rate 1/21 fails, but not asked
    assert run(["analyze", str(capture), "--json", "-", "--fail-on-slo"]) == 1
    slo = tmp_path / "slo.toml"
    slo.write_text("[slo]\nerror_rate = 0.1\ntpot_p95_s = 0.1\n", encoding="utf-8")
    assert run(["analyze", str(capture), "--json", "-", "--fail-on-slo", "--slo", str(slo)]) == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--window", "0"], "--window"),
        (["--clock-offset", "gpu-node"], "--clock-offset"),
        (["--slo", "missing.toml"], "SLO file not found"),
        (["--consistency-sample", "lots"], "--consistency-sample"),
    ],
)
def test_bad_options_exit_2_with_one_line(tmp_path, capsys, extra, message):
    capture = write_capture(tmp_path / "cap")
    assert run(["analyze", str(capture), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_missing_capture_exits_2(tmp_path, capsys):
    assert run(["analyze", str(tmp_path / "nothing-here")]) == 2
    assert capsys.readouterr().err.startswith("error:")


def test_bad_line_exits_2_naming_file_and_line(tmp_path, capsys):
    capture = write_capture(tmp_path / "cap")
    with open(capture / "requests.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"type": "request", "v": 1, "id": "x"}\n{"type": "request", "v": 1}\n')
    assert run(["analyze", str(capture), "--no-cache"]) == 2
    assert "requests.jsonl" in capsys.readouterr().err


def test_clock_offset_units():
    assert parse_clock_offsets(["a=+12ms", "b=-3.5s", "c=250us", "d=7ns", "e=2"]) == {
        "a": 12_000_000,
        "b": -3_500_000_000,
        "c": 250_000,
        "d": 7,
        "e": 2_000_000_000,
    }
    with pytest.raises(UsageError):
        parse_clock_offsets(["nohost"])


def test_help_lists_every_option(capsys):
    assert run(["analyze", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--slo", "--window", "--lenient", "--json", "--clock-offset", "--fail-on-slo", "--warmup",
                   "--cooldown", "--no-cache", "--embedding-model", "--similarity-threshold"):  # fmt: skip
        assert option in text
