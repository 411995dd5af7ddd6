"""``traceanalyzer analyze`` on a soak-sized capture: 200,000 successful answers, all distinct, 20 prompts.

Writes the capture (one ``requests.jsonl`` over 24 hours, two client hosts, answers of 20-40 words) into a
temporary directory with the trace writer, then times ``traceanalyzer analyze DIR --json`` on it, cold
(no parsed-capture or embedding cache yet), and prints the consistency part of the summary. An ONNX model
export, when not yet in ``$XDG_CACHE_HOME``, is part of the time.

    nice -n 10 .venv/bin/python benchmarks/consistency_soak_analyze.py [--answers 200000] [--prompts 20]
        [-- extra analyze options, e.g. --consistency-sample all]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from recorders.tracefile import Clock, TraceWriter

BIN = Path(sys.executable).parent
T0 = 1_700_000_000_000_000_000
DAY_NS = 24 * 3600 * 1_000_000_000
_VOCABULARY = (
    "the model server keeps attention keys values every request cache grows entry token sequence when full "
    "scheduler pauses some requests runs out memory larger batches raise throughput decode step prefill "
    "processes whole prompt once long prompts delay first continuous batching admits new"
)
WORDS = np.array(_VOCABULARY.split())


def write_capture(directory: Path, answers: int, prompts: int, seed: int = 1) -> Path:
    """A capture of ``answers`` successful requests to ``prompts`` prompts, every text distinct."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    clock = Clock(mono=lambda: 0, wall_ns=T0, mono_ns=0)
    sends = T0 + np.sort(rng.integers(0, DAY_NS, size=answers))
    with TraceWriter(directory / "requests.jsonl", recorder="http_stream", run="soak", clock=clock) as out:
        for n, t_send in enumerate(sends.tolist()):
            words = WORDS[rng.integers(0, len(WORDS), size=int(rng.integers(20, 41)))]
            chunks = [300_000 + 20_000 * k for k in range(8)]
            out.write(
                {
                    "type": "request",
                    "run": "soak",
                    "host": f"client-{n % 2}",
                    "id": f"req-{n}",
                    "model": "sim",
                    "api": "chat",
                    "scenario": "soak",
                    "prompt_id": f"p{n % prompts:02d}",
                    "in_flight": 8,
                    "prompt_tokens": 100,
                    "max_tokens": 8,
                    "t_send": t_send,
                    "t_headers": t_send + 20_000_000,
                    "t_first": t_send + chunks[0] * 1000,
                    "t_end": t_send + chunks[-1] * 1000 + 1_000_000,
                    "chunks_us": chunks,
                    "output_tokens": 8,
                    "tokens_source": "usage",
                    "status": 200,
                    "finish_reason": "length",
                    "error": None,
                    "text": " ".join(words).capitalize() + f" ({n}).",
                }
            )
    return directory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--answers", type=int, default=200_000)
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("analyze_options", nargs="*", help="extra options for analyze (after --)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="consistency-soak-") as tmp:
        started = time.perf_counter()
        capture = write_capture(Path(tmp) / "capture", args.answers, args.prompts)
        print(
            f"capture of {args.answers} answers, {args.prompts} prompts written in "
            f"{time.perf_counter() - started:.1f} s"
        )
        summary_path = Path(tmp) / "summary.json"
        command = [str(BIN / "traceanalyzer"), "analyze", str(capture), "--json", str(summary_path)]
        started = time.perf_counter()
        proc = subprocess.run([*command, *args.analyze_options], capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        cons = json.loads(summary_path.read_text())["consistency"]
        print(f"analyze: {seconds:.1f} s (whole command, cold: load, every stage, the report summary)")
        keys = (
            "answers",
            "scored_answers",
            "embedded",
            "sampled",
            "exact_match_rate",
            "mean_cosine",
            "mean_cosine_ci95",
            "min_cosine",
            "share_above_threshold",
        )
        for key in keys:
            print(f"  consistency.{key}: {cons[key]}")
        print(f"  consistency.model: {cons['model']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
