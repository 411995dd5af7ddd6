"""``make demo``: render the report of a bundled sample capture and print its console summary.

Runs the same commands a user would type (``traceanalyzer analyze`` and ``traceanalyzer report``) on
``sample_traces/ramp-oom`` (a step ramp until the simulated GPU runs out of memory, then a 5xx cascade), in
English and in Simplified Chinese (``--lang zh-CN``), and says where the files are.
"""

from __future__ import annotations

import sys
from pathlib import Path

from traceanalyzer.cli import cli

ROOT = Path(__file__).resolve().parent.parent
CAPTURE = ROOT / "sample_traces" / "ramp-oom"
OUT = ROOT / "demo"


def _run(args: list[str]) -> int:
    print(f"$ traceanalyzer {' '.join(args)}", flush=True)
    try:
        rv = cli.main(args=args, prog_name="traceanalyzer", standalone_mode=False)
    except SystemExit as exc:  # pragma: no cover - click's own exits
        return int(exc.code or 0)
    return rv if isinstance(rv, int) else 0


def main() -> int:
    if not CAPTURE.is_dir():
        print(
            f"error: the sample capture {CAPTURE} is missing; re-record it with sample_traces/record.sh",
            file=sys.stderr,
        )
        return 2
    OUT.mkdir(exist_ok=True)
    rel = CAPTURE.relative_to(ROOT)
    html, pdf, summary = OUT / "report.html", OUT / "report.pdf", OUT / "summary.json"
    zh_html, zh_pdf = OUT / "report.zh-CN.html", OUT / "report.zh-CN.pdf"
    rc = _run(["analyze", str(rel)])
    rc = rc or _run(
        [
            "report",
            str(rel),
            "-o",
            str(html.relative_to(ROOT)),
            "-o",
            str(pdf.relative_to(ROOT)),
            "--json",
            str(summary.relative_to(ROOT)),
        ]
    )
    rc = rc or _run(
        [
            "report",
            str(rel),
            "--lang",
            "zh-CN",
            "-o",
            str(zh_html.relative_to(ROOT)),
            "-o",
            str(zh_pdf.relative_to(ROOT)),
        ]
    )
    if rc == 0:
        print("\nThe demo report of the ramp-oom sample capture:")
        for path in (html, pdf, summary, zh_html, zh_pdf):
            print(f"  {path}")
        print("Open the HTML in a browser; the PDF is the same report for stakeholders (also in Chinese).")
    return rc


if __name__ == "__main__":
    sys.exit(main())
