"""The PDF report read back: its text holds the verdict and the key numbers, and its pages render."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from reports import formatting
from traceanalyzer.model import Analysis


def pdf_text(data: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    return reader, " ".join(text.split())


def test_pdf_text_has_verdict_and_key_numbers(hostile_analysis: Analysis, hostile_pdf: bytes) -> None:
    assert hostile_pdf.startswith(b"%PDF-")
    reader, text = pdf_text(hostile_pdf)
    assert len(reader.pages) >= 8
    assert "FAIL" in text and "SLOs missed" in text
    lat = hostile_analysis.latency
    for value in (
        formatting.count(hostile_analysis.requests.total),
        formatting.latency(lat.ttft_s.p95),
        formatting.latency(lat.e2e_s.p95),
        formatting.pct(hostile_analysis.stability.error_rate, 2),
    ):
        assert value.replace("\u00a0", " ") in text.replace("\u00a0", " "), value
    assert "Appendix B: metric definitions" in text
    assert "<script>alert(1)</script>" in text  # trace text printed as text, not interpreted
    assert "Page 2 of" in text  # page numbers from the print CSS


def test_pdf_pages_render(hostile_pdf: bytes, tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed; the page count is checked by the text test")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(hostile_pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "20", str(pdf), str(tmp_path / "page")], check=True, timeout=120
    )
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == len(PdfReader(io.BytesIO(hostile_pdf)).pages)
    assert all(p.stat().st_size > 1000 for p in pages)
