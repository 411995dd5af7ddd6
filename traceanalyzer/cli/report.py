"""``traceanalyzer report``: analyze a capture once and render it into every output asked for.

The format of each ``-o`` file follows from its extension (``.html``, ``.pdf``, ``.json``); ``--json`` writes
the summary@1 whatever its name. Output paths are checked before the analysis runs.

:func:`analysis_options` is the set of loading and analysis options ``report`` and ``compare`` share with
``analyze``; it hands the command one :class:`CaptureSettings`.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from traceanalyzer.cli.analyze import parse_clock_offsets
from traceanalyzer.errors import UsageError
from traceanalyzer.model import AnalysisOptions, SloThresholds

if TYPE_CHECKING:
    from traceanalyzer.loader import Capture


@dataclass(frozen=True)
class CaptureSettings:
    """How to load and analyze a capture, from the command line."""

    options: AnalysisOptions
    lenient: bool
    cache: bool

    def load(self, paths: Sequence[str]) -> Capture:
        from traceanalyzer.loader import load_capture

        offsets = self.options.clock_offsets_ns
        return load_capture(list(paths), lenient=self.lenient, clock_offsets=offsets, cache=self.cache)


_OPTIONS = [
    click.option("--slo", "slo_file", type=click.Path(dir_okay=False), help="SLO thresholds (TOML, [slo])."),
    click.option(
        "--window", "window_s", type=float, default=10.0, show_default=True, help="Window length (s)."
    ),
    click.option(
        "--warmup", "warmup_s", type=float, default=10.0, show_default=True, help="Warmup left out (s)."
    ),
    click.option(
        "--cooldown", "cooldown_s", type=float, default=10.0, show_default=True, help="Cooldown left out (s)."
    ),
    click.option("--soak/--no-soak", default=None, help="Judge as a soak (default: runs of 1 h or more)."),
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
    click.option("--no-cache", is_flag=True, help="Do not read or write the Parquet cache of the capture."),
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
        **kwargs: Any,
    ) -> Any:
        from traceanalyzer.slo import load_slo_file

        if window_s <= 0:
            raise UsageError("--window must be positive")
        options = AnalysisOptions(
            window_s=window_s,
            warmup_s=warmup_s,
            cooldown_s=cooldown_s,
            soak=soak,
            clock_offsets_ns=parse_clock_offsets(clock_offsets),
            slo=load_slo_file(slo_file) if slo_file else SloThresholds(),
        )
        return func(*args, settings=CaptureSettings(options, lenient, not no_cache), **kwargs)

    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def echo_written(path: Path, seconds: float) -> None:
    click.echo(f"wrote {path} ({seconds:.1f} s)", err=True)


@click.command(
    epilog="""\b
Examples:
  traceanalyzer report captures/ramp-oom -o report.html -o report.pdf --json summary.json
  traceanalyzer report client.jsonl gpu.jsonl --clock-offset gpu-node=+12ms -o soak.pdf --title "Soak 01"
"""
)
@click.argument("capture", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    "outputs",
    multiple=True,
    required=True,
    metavar="FILE",
    help="Write the report to FILE; the format follows the extension (.html, .pdf, .json). Repeatable.",
)
@click.option(
    "--json", "json_out", metavar="FILE|-", help="Also write the summary@1 JSON to FILE (or stdout)."
)
@click.option("--title", help="Report title (default: from the capture's model).")
@click.option("--fail-on-slo", is_flag=True, help="Exit with code 1 when an SLO fails.")
@analysis_options
def report(
    capture: tuple[str, ...],
    outputs: tuple[str, ...],
    json_out: str | None,
    title: str | None,
    fail_on_slo: bool,
    settings: CaptureSettings,
) -> int:
    """Analyze a capture and render the report; the format follows each output file's extension."""
    from reports import RenderOptions, get_renderer, plan_outputs, write_outputs
    from traceanalyzer.analysis import analyze

    plan = plan_outputs([*outputs, *([("json", json_out)] if json_out and json_out != "-" else [])])
    result = analyze(settings.load(capture), settings.options)
    render_options = RenderOptions(title=title)
    write_outputs(result, plan, render_options, on_written=echo_written)
    if json_out == "-":
        sys.stdout.write(get_renderer("json").render(result, render_options).decode("utf-8"))
    failed = any(s.passed is False for s in result.slo)
    return 1 if fail_on_slo and failed else 0
