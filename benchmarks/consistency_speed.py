"""Speed of the output-consistency stage: texts per second, cold (nothing cached) and with the cache.

Builds a requests table of N answers (default 10,000) to P prompts of which a share (default 30 %) are
distinct texts, each 60-120 words, and times ``measure_consistency`` twice on it: first with an empty
embedding cache (every distinct text embedded), then again with the cache the first run filled. The model is
loaded once beforehand and its load time printed apart. ``answers/s`` counts every answer analysed,
``embedded/s`` the distinct texts the model embedded in that run.

    .venv/bin/python benchmarks/consistency_speed.py [--answers 10000] [--distinct 0.3] [--prompts 100]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from traceanalyzer.consistency import measure_consistency
from traceanalyzer.consistency.embed import load_model, resolve_model
from traceanalyzer.schema import TABLE_SCHEMAS

_VOCABULARY = (
    "the model server keeps attention keys values every request cache grows entry token sequence when full "
    "scheduler pauses some requests runs out memory larger batches raise throughput also time decode step "
    "prefill processes whole prompt once long prompts delay first continuous batching admits new between "
    "instead waiting batch finish latency queue depth gpu utilisation memory bandwidth kernel launch"
)
WORDS = _VOCABULARY.split()


def build_requests(answers: int, distinct_share: float, prompts: int, seed: int = 1) -> pa.Table:
    """``answers`` successful requests over ``prompts`` prompts, ``distinct_share`` of them distinct texts."""
    rng = random.Random(seed)
    distinct = max(prompts, round(answers * distinct_share))
    texts = [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(60, 120))).capitalize() + f" ({n})."
        for n in range(distinct)
    ]
    per_prompt = [texts[p::prompts] for p in range(prompts)]
    rows = []
    for n in range(answers):
        prompt = n % prompts
        options = per_prompt[prompt]
        # every distinct text appears at least once, then repeats
        text = options[(n // prompts) % len(options)] if n // prompts < len(options) else rng.choice(options)
        rows.append(
            {
                "id": f"req-{n:06d}",
                "prompt_id": f"prompt-{prompt:03d}",
                "host": f"host-{n % 2}",
                "t_send": 1_700_000_000_000_000_000 + n * 10_000_000,
                "status": 200,
                "text": text,
            }
        )
    schema = TABLE_SCHEMAS["requests"]
    return pa.Table.from_pylist(rows, schema=schema)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--answers", type=int, default=10_000)
    parser.add_argument("--distinct", type=float, default=0.3, help="share of distinct answer texts")
    parser.add_argument("--prompts", type=int, default=100)
    args = parser.parse_args(argv)

    requests = build_requests(args.answers, args.distinct, args.prompts)
    started = time.perf_counter()
    load_model(resolve_model(None).path)
    load_s = time.perf_counter() - started

    print(f"model load: {load_s:.2f} s (once per process, not in the runs below)")
    print(
        f"{'run':<10} {'answers':>8} {'distinct':>9} {'embedded':>9} {'seconds':>8} {'answers/s':>10} "
        f"{'embedded/s':>11}"
    )
    with tempfile.TemporaryDirectory(prefix="consistency-bench-") as tmp:
        for run in ("cold", "cached"):
            started = time.perf_counter()
            result = measure_consistency(requests, cache_dir=Path(tmp))
            seconds = time.perf_counter() - started
            assert result.model is not None
            print(
                f"{run:<10} {result.answers:>8} {result.model.texts:>9} {result.model.embedded:>9} "
                f"{seconds:>8.2f} {result.answers / seconds:>10.0f} {result.model.embedded / seconds:>11.1f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
