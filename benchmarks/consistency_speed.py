"""Speed of the output-consistency stage at soak scale: sampled embedding, per backend, against the full one.

Builds requests tables of N successful answers, every answer a distinct text of 20-40 words (as when a
service samples with temperature > 0), spread over P prompts (default: 10,000 and 1,000,000 answers,
50 prompts), and times ``measure_consistency`` on each with an empty embedding cache:

- per backend (``torch``, ``onnx``) with the default embedding budget (``--sample``): seconds for the
  stage, answers/s (every answer analysed: exact match over all of them, similarity on the sample) and
  embedded/s (texts the model embedded);
- on the smallest N, with the first backend, also the full computation (``--consistency-sample all``) and
  how far the sample's mean cosine is from the full one, beside its 95 % interval.

Model load (and, for ONNX, the one-off export) is done once per backend beforehand and printed apart.
First the backends embed the same 640 texts in alternating batches of 64, so that on a shared machine
both see the same load: that comparison, texts/s per backend, is the fair one; the stage timings that
follow run one after another.

    nice -n 10 .venv/bin/python benchmarks/consistency_speed.py [--answers 10000 1000000] [--prompts 50]
        [--sample 2000] [--backends onnx torch] [--no-full]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from traceanalyzer.consistency import ConsistencyResult, measure_consistency
from traceanalyzer.consistency.embed import encode, load_backend, resolve_model
from traceanalyzer.consistency.sampling import DEFAULT_SAMPLE

_VOCABULARY = (
    "the model server keeps attention keys values every request cache grows entry token sequence when full "
    "scheduler pauses some requests runs out memory larger batches raise throughput also time decode step "
    "prefill processes whole prompt once long prompts delay first continuous batching admits new between "
    "instead waiting batch finish latency queue depth gpu utilisation memory bandwidth kernel launch"
)
WORDS = np.array(_VOCABULARY.split())


def build_requests(answers: int, prompts: int, seed: int = 1) -> pa.Table:
    """``answers`` successful requests over ``prompts`` prompts on two hosts, every text distinct."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(20, 41, size=answers)
    words = WORDS[rng.integers(0, len(WORDS), size=int(lengths.sum()))]
    ends = np.cumsum(lengths)
    texts = [
        " ".join(words[end - length : end]).capitalize() + f" ({n})."
        for n, (end, length) in enumerate(zip(ends.tolist(), lengths.tolist(), strict=True))
    ]
    n = np.arange(answers)
    prompt_ids = pc.binary_join_element_wise("prompt-", pa.array((n % prompts).astype(str)), "")
    return pa.table(
        {
            "id": pc.binary_join_element_wise("req-", pa.array(n.astype(str)), ""),
            "prompt_id": prompt_ids,
            "host": pc.binary_join_element_wise("host-", pa.array((n % 2).astype(str)), ""),
            "t_send": pa.array(1_700_000_000_000_000_000 + n * 10_000_000, pa.int64()),
            "error_class": pa.nulls(answers, pa.string()),
            "text": pa.array(texts),
        }
    )


def interleaved(models: dict[str, Any], texts: list[str], batch: int = 64) -> dict[str, float]:
    """Texts/s of each backend, embedding ``texts`` in alternating batches."""
    seconds = dict.fromkeys(models, 0.0)
    for start in range(0, len(texts), batch):
        for backend, model in models.items():
            started = time.perf_counter()
            encode(model, texts[start : start + batch])
            seconds[backend] += time.perf_counter() - started
    return {backend: len(texts) / spent for backend, spent in seconds.items()}


def _run(requests: pa.Table, backend: str, sample: int | None) -> tuple[ConsistencyResult, float]:
    with tempfile.TemporaryDirectory(prefix="consistency-bench-") as tmp:
        started = time.perf_counter()
        result = measure_consistency(requests, cache_dir=Path(tmp), sample=sample, backend=backend)
        return result, time.perf_counter() - started


def _row(label: str, result: ConsistencyResult, seconds: float) -> str:
    assert result.model is not None and result.mean_cosine is not None
    low, high = result.mean_cosine_ci95 or (float("nan"), float("nan"))
    return (
        f"{label:<22} {result.answers:>9} {result.embedded:>8} {seconds:>8.1f} "
        f"{result.answers / seconds:>10.0f} {result.model.embedded / seconds:>10.1f} "
        f"{result.mean_cosine:>8.4f}  [{low:.4f}, {high:.4f}]"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--answers", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--prompts", type=int, default=50)
    parser.add_argument("--sample", type=int, default=DEFAULT_SAMPLE, help="embedding budget (answers)")
    parser.add_argument("--backends", nargs="+", default=["onnx", "torch"], choices=["torch", "onnx"])
    parser.add_argument("--no-full", action="store_true", help="skip the full computation")
    args = parser.parse_args(argv)

    model_ref = resolve_model(None)
    with tempfile.TemporaryDirectory(prefix="consistency-bench-model-") as tmp:
        models = {}
        for backend in args.backends:
            started = time.perf_counter()
            models[backend] = load_backend(model_ref, backend, Path(tmp))
            print(f"{backend}: model load (ONNX: with its export): {time.perf_counter() - started:.1f} s")
        speeds = interleaved(models, build_requests(640, 10, seed=5).column("text").to_pylist())
        print("interleaved batches: " + ", ".join(f"{b} {v:.1f} texts/s" for b, v in speeds.items()))

        tables = {}
        for answers in sorted(args.answers):
            started = time.perf_counter()
            tables[answers] = build_requests(answers, args.prompts)
            print(
                f"{answers} answers, {args.prompts} prompts: built in {time.perf_counter() - started:.1f} s"
            )

        print(
            f"\n{'run':<22} {'answers':>9} {'embedded':>8} {'seconds':>8} {'answers/s':>10} "
            f"{'embedded/s':>10} {'mean cos':>8}  95 % interval"
        )
        runs = {}
        for backend in args.backends:
            for answers, requests in tables.items():
                result, seconds = runs[backend, answers] = _run(requests, backend, args.sample)
                print(_row(f"{backend} sample {args.sample}", result, seconds), flush=True)
        smallest = min(tables)
        if not args.no_full:
            sampled = runs[args.backends[0], smallest][0]
            full, seconds = _run(tables[smallest], args.backends[0], None)
            print(_row(f"{args.backends[0]} all", full, seconds))
            assert sampled.mean_cosine is not None and full.mean_cosine is not None
            low, high = sampled.mean_cosine_ci95 or (float("nan"), float("nan"))
            print(
                f"\n{smallest} answers: sample mean cosine {sampled.mean_cosine:.4f} "
                f"[{low:.4f}, {high:.4f}], full {full.mean_cosine:.4f}, "
                f"difference {sampled.mean_cosine - full.mean_cosine:+.4f}"
            )
            print(
                f"share above threshold {sampled.share_above_threshold:.4f} (sample) vs "
                f"{full.share_above_threshold:.4f} (full); min cosine {sampled.min_cosine:.4f} (over the "
                f"sample) vs {full.min_cosine:.4f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
