"""A real recorded run: the simulated server's ramp-oom scenario recorded with the collector, the DCGM sampler
and the engine-metrics scraper, then reported as HTML and PDF through the CLI."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

from recorders.simserver.testing import run_simserver, stop_process

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

CLI = [sys.executable, "-m", "traceanalyzer"]


def record_ramp_oom(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    with run_simserver("ramp-oom", seed=3) as sim:
        samplers = [
            subprocess.Popen(
                [
                    *CLI,
                    "record",
                    "gpu",
                    "--backend",
                    "dcgm",
                    "--url",
                    sim.dcgm_url,
                    "--interval",
                    "0.25",
                    "--host",
                    "sim-gpu",
                    "--out",
                    str(out / "gpu.jsonl"),
                ],
                stdout=subprocess.DEVNULL,
            ),
            subprocess.Popen(
                [
                    *CLI,
                    "record",
                    "server",
                    "--url",
                    sim.metrics_url,
                    "--interval",
                    "0.25",
                    "--host",
                    "sim-engine",
                    "--out",
                    str(out / "server.jsonl"),
                ],
                stdout=subprocess.DEVNULL,
            ),
        ]
        try:
            collector = subprocess.run(
                [
                    *CLI,
                    "record",
                    "http",
                    "--url",
                    sim.base_url,
                    "--model",
                    sim.model,
                    "--stages",
                    "3s@4,3s@8,3s@16,3s@32",
                    "--max-tokens",
                    "64",
                    "--duration",
                    "12",
                    "--timeout",
                    "20",
                    "--seed",
                    "3",
                    "--quiet",
                    "--out",
                    str(out / "requests.jsonl"),
                ],
                capture_output=True,
                timeout=90,
            )
        finally:
            for process in samplers:
                stop_process(process)
    assert collector.returncode == 0, collector.stderr.decode(errors="replace")
    return out


def test_recorded_ramp_oom_report(tmp_path: Path) -> None:
    capture = record_ramp_oom(tmp_path / "ramp-oom")
    html, pdf = tmp_path / "report.html", tmp_path / "report.pdf"
    run = subprocess.run(
        [
            *CLI,
            "report",
            str(capture),
            "-o",
            str(html),
            "-o",
            str(pdf),
            "--window",
            "1",
            "--warmup",
            "1",
            "--cooldown",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr
    page = html.read_text(encoding="utf-8")
    assert "First strike" in page and ">oom<" in page
    assert "GPU" in page and "Engine queue and host" in page  # the aligned panels got their samples
    text = " ".join(
        " ".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(pdf.read_bytes())).pages
    )
    assert "First strike: oom" in text
    assert "FAIL" in text and "sim-" in text
