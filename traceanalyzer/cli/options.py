"""Loading and analysis options shared by ``analyze``, ``report`` and ``compare``.

:func:`analysis_options` adds them to a command, which receives them as one :class:`CaptureSettings`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from traceanalyzer.consistency.sampling import BACKENDS
from traceanalyzer.errors import UsageError
from traceanalyzer.model import AnalysisOptions, SloThresholds

if TYPE_CHECKING:
    from traceanalyzer.loader import Capture

_OFFSET = re.compile(r"^(?P<host>[^=]+)=(?P<value>[+-]?\d+(?:\.\d+)?)\s*(?P<unit>ns|us|µs|ms|s)?$")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, None: 1_000_000_000}


def parse_clock_offsets(specs: tuple[str, ...] | list[str]) -> dict[str, int]:
    """``HOST=+12ms`` options as host -> nanoseconds added to that host's times.

    Units: ns, us, ms, s (seconds when none is given).
    """
    offsets: dict[str, int] = {}
    for spec in specs:
        m = _OFFSET.match(spec.strip())
        if m is None:
            raise UsageError(
                f"--clock-offset {spec!r}: expected HOST=OFFSET with a unit, e.g. gpu-node-1=+12ms"
            )
        offsets[m["host"].strip()] = round(float(m["value"]) * _UNIT_NS[m["unit"]])
    return offsets


@dataclass(frozen=True)
class CaptureSettings:
    """How to load and analyze a capture, from the command line."""

    options: AnalysisOptions
    lenient: bool
    cache: bool

    def load(self, paths: Sequence[str]) -> Capture:
        """Load a capture with these settings (leniency, clock offsets, the parsed-capture cache)."""
        from traceanalyzer.api import load

        offsets = self.options.clock_offsets_ns
        return load(list(paths), lenient=self.lenient, clock_offsets=offsets, cache=self.cache)

    def options_for(self, paths: Sequence[str]) -> AnalysisOptions:
        """The analysis options for the capture at ``paths``: the embedding cache lives beside it."""
        if not self.cache:
            return self.options
        from traceanalyzer.api import with_embedding_cache

        return with_embedding_cache(self.options, paths)


_OPTIONS = [
    click.option("--slo", "slo_file", type=click.Path(dir_okay=False), help="SLO thresholds (TOML, [slo])."),
    click.option(
        "--window", "window_s", type=float, default=10.0, show_default=True, help="Window length (s)."
    ),
    click.option(
        "--warmup",
        "warmup_s",
        type=float,
        default=10.0,
        show_default=True,
        help="Warmup left out of steady state (s).",
    ),
    click.option(
        "--cooldown", "cooldown_s", type=float, default=10.0, show_default=True, help="Cooldown left out (s)."
    ),
    click.option(
        "--soak/--no-soak", default=None, help="Judge as a soak (default: runs of 1 h or more, no stages)."
    ),
    click.option(
        "--lenient", is_flag=True, help="Skip and count bad lines instead of stopping at the first."
    ),
    click.option(
        "--clock-offset",
        "clock_offsets",
        multiple=True,
        metavar="HOST=OFFSET",
        help="Add OFFSET (e.g. +12ms, -3.5s) to every time recorded on HOST. Repeatable.",
    ),
    click.option(
        "--no-cache",
        is_flag=True,
        help="Do not read or write the parsed-capture and embedding caches (<capture>/.traceanalyzer-cache).",
    ),
    click.option(
        "--embedding-model",
        type=click.Path(),
        help="Local sentence-transformers model for consistency (default: the packaged all-MiniLM-L6-v2).",
    ),
    click.option(
        "--similarity-threshold",
        type=float,
        default=0.8,
        show_default=True,
        help="Cosine similarity at or above which two answers count as consistent.",
    ),
    click.option(
        "--consistency-sample",
        metavar="N|all",
        default=str(AnalysisOptions.consistency_sample),
        show_default=True,
        help="Most answers embedded for similarity, sampled per prompt and time slice ('all': every one).",
    ),
    click.option(
        "--embedding-backend",
        type=click.Choice(list(BACKENDS)),
        default=AnalysisOptions.embedding_backend,
        show_default=True,
        help="What runs the embedding model: PyTorch or ONNX Runtime (exported once, kept in the cache).",
    ),
]


def analysis_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the shared options to a command; it receives them as ``settings: CaptureSettings``."""

    @functools.wraps(func)
    def command(
        *args: Any,
        slo_file: str | None,
        window_s: float,
        warmup_s: float,
        cooldown_s: float,
        soak: bool | None,
        lenient: bool,
        clock_offsets: tuple[str, ...],
        no_cache: bool,
        embedding_model: str | None,
        similarity_threshold: float,
        consistency_sample: str,
        embedding_backend: str,
        **kwargs: Any,
    ) -> Any:
        from traceanalyzer.consistency.sampling import parse_sample
        from traceanalyzer.slo import load_slo_file

        if window_s <= 0:
            raise UsageError("--window must be positive")
        options = AnalysisOptions(
            window_s=window_s,
            warmup_s=warmup_s,
            cooldown_s=cooldown_s,
            soak=soak,
            embedding_model=embedding_model,
            similarity_threshold=similarity_threshold,
            consistency_sample=parse_sample(consistency_sample),
            embedding_backend=embedding_backend,
            clock_offsets_ns=parse_clock_offsets(clock_offsets),
            slo=load_slo_file(slo_file) if slo_file else SloThresholds(),
        )
        return func(*args, settings=CaptureSettings(options, lenient, not no_cache), **kwargs)

    for option in reversed(_OPTIONS):
        command = option(command)
    return command
