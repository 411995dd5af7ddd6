"""``traceanalyzer compare``: compare a candidate run against a baseline.

Both captures are analyzed with the same options; every headline metric is shown side by side with its
delta, tested for significance and judged against the tolerance (``traceanalyzer.compare``). The verdict is
printed; ``-o`` renders the comparison (``.html``, ``.pdf``, ``.json``).
"""

from __future__ import annotations

import click

from traceanalyzer.cli.language import language_option
from traceanalyzer.cli.options import CaptureSettings, analysis_options
from traceanalyzer.cli.report import echo_written
from traceanalyzer.compare import Comparison, Tolerance


def verdict_line(comparison: Comparison) -> str:
    """One line per regression, or that there is none."""
    regressions = comparison.regressions
    if not regressions:
        improved = len(comparison.improvements)
        return "no regression beyond tolerance" + (
            f" ({improved} significant improvements)" if improved else ""
        )
    parts = []
    for m in regressions:
        change = f"{m.change * 100:+.1f} %" if m.change is not None else f"{m.delta:+.4g}"
        p = f", p={m.test.p_value:.2g}" if m.test is not None else ""
        parts.append(f"{m.key} ({change}{p})")
    return f"{len(regressions)} regression(s): " + ", ".join(parts)


@click.command(
    epilog=f"""\b
Examples:
  traceanalyzer compare captures/baseline captures/candidate -o compare.html
  traceanalyzer compare base/ cand/ -o compare.pdf --tolerance latency=0.05 --tolerance error_rate=0.2%

\b
Tolerance defaults: latency {Tolerance.latency:g} (relative), throughput {Tolerance.throughput:g} (relative),
error_rate {Tolerance.error_rate:g} (absolute), attainment {Tolerance.attainment:g} (absolute),
variability {Tolerance.variability:g} (absolute), resources {Tolerance.resources:g} (relative),
alpha {Tolerance.alpha:g}.
"""
)
@click.argument("baseline")
@click.argument("candidate")
@click.option(
    "-o",
    "--output",
    "outputs",
    multiple=True,
    metavar="FILE",
    help="Write the comparison to FILE (.html, .pdf, .json). Repeatable.",
)
@click.option(
    "--tolerance",
    "tolerances",
    multiple=True,
    metavar="NAME=VALUE",
    help="Change that counts as a regression, e.g. latency=0.05, error_rate=0.2%, alpha=0.05; a bare VALUE "
    "sets latency and throughput. Repeatable.",
)
@click.option("--title", help="Report title.")
@click.option("--baseline-name", help="Name of the baseline in the report (default: its directory name).")
@click.option("--candidate-name", help="Name of the candidate in the report (default: its directory name).")
@click.option("--fail-on-regression", is_flag=True, help="Exit with code 1 when a regression is flagged.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@analysis_options
@language_option
def compare(
    baseline: str,
    candidate: str,
    outputs: tuple[str, ...],
    tolerances: tuple[str, ...],
    title: str | None,
    baseline_name: str | None,
    candidate_name: str | None,
    fail_on_regression: bool,
    quiet: bool,
    settings: CaptureSettings,
    lang: str = "en",
) -> int:
    """Compare two captures: every headline metric with its delta, significance and regressions flagged."""
    from reports import plan_outputs
    from traceanalyzer import progress
    from traceanalyzer.api import compare as compare_runs
    from traceanalyzer.api import render, run_names
    from traceanalyzer.compare import parse_tolerance

    plan_outputs(outputs)  # fail on a bad output before the analyses run
    tolerance = parse_tolerance(tolerances)
    names = run_names(baseline, candidate, (baseline_name, candidate_name))
    with progress.shown(enabled=not quiet):
        base, cand = settings.load([baseline]), settings.load([candidate])
        comparison = compare_runs(base, cand, settings.options, tolerance=tolerance, names=names)
    click.echo(verdict_line(comparison))
    for warning in comparison.warnings:
        click.echo(f"note: {warning}", err=True)
    with progress.shown(enabled=not quiet):
        render(comparison, outputs, title=title, lang=lang, on_written=echo_written)
    return 1 if fail_on_regression and comparison.regressions else 0
