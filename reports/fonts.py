"""A CJK font for Chinese text in charts and PDFs, found through fontconfig.

The HTML names a CJK font stack after the Latin one (``static/report.css``); WeasyPrint lays the PDF out with
fontconfig, so any installed CJK font serves it. matplotlib keeps its own font list: :func:`chart_fonts`
adds the CJK font fontconfig reports (``fc-list :lang=zh``) behind DejaVu Sans, so a chart's Chinese title,
axis label or stage name has glyphs (matplotlib falls back glyph by glyph along the family list).

When a report needs CJK glyphs (a Chinese report, or Chinese text from a trace in any report) and no such
font is installed, :func:`warn_if_missing` says once how to install one; the report is still written.

WeasyPrint embeds only the glyphs a PDF uses. It subsets fonts with HarfBuzz's subsetter when the system
has it (``libharfbuzz-subset0``), else with fontTools in Python, which walks every glyph of a CJK font: a
Chinese PDF then takes about a minute instead of seconds (67 s against 10 s for a bundled sample on a
2-core machine). :func:`warn_if_slow_subsetting` says so once.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

CJK_FAMILIES: tuple[str, ...] = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "PingFang SC",
    "Microsoft YaHei",
)
"""The CJK families the stylesheet names, in order of preference."""

SUBSET_HINT = (
    "HarfBuzz's font subsetter is not installed, so the PDF's CJK font is subset in Python and the PDF "
    "takes about a minute; install it (Debian/Ubuntu: apt-get install libharfbuzz-subset0) for seconds"
)

INSTALL_HINT = (
    "no CJK font is installed, so Chinese text in the report's charts and PDF shows as empty boxes; "
    "install one through fontconfig (Debian/Ubuntu: apt-get install fonts-noto-cjk) and render again"
)

_CJK = re.compile("[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]")


def needs_cjk(text: str) -> bool:
    """Whether ``text`` has a character a Latin font lacks (CJK ideographs, kana, full-width forms)."""
    return _CJK.search(text) is not None


@dataclass(frozen=True)
class CjkFont:
    family: str
    path: str


def _fc_list() -> list[CjkFont]:
    """Fonts fontconfig knows that cover Chinese: ``(family, file)`` per font, first family name only."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return []
    try:
        out = subprocess.run(
            [fc_list, ":lang=zh", "family", "file"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    fonts = []
    for line in out.splitlines():
        path, _, families = line.partition(": ")
        if families:
            fonts.append(CjkFont(families.split(",")[0].strip(), path.strip()))
    return fonts


@functools.cache
def find_cjk_font() -> CjkFont | None:
    """The CJK font to use: the first of :data:`CJK_FAMILIES` fontconfig has, else any font it has that
    covers Chinese; ``None`` when there is none."""
    fonts = sorted(_fc_list(), key=lambda f: "bold" in f.path.lower())  # the regular weight first
    for family in CJK_FAMILIES:
        for font in fonts:
            if font.family == family:
                return font
    return fonts[0] if fonts else None


@functools.cache
def chart_fonts() -> tuple[str, ...]:
    """matplotlib's ``font.family`` for the charts: DejaVu Sans (shipped with matplotlib), then the CJK font,
    registered with matplotlib's font manager when its cache predates the font. matplotlib falls back glyph
    by glyph along this list."""
    latin = ("DejaVu Sans",)
    font = find_cjk_font()
    if font is None:
        return latin
    from matplotlib import font_manager

    if font.family not in {f.name for f in font_manager.fontManager.ttflist}:
        try:
            font_manager.fontManager.addfont(font.path)
        except (OSError, RuntimeError, ValueError):
            return latin
    by_file = [f.name for f in font_manager.fontManager.ttflist if f.fname == font.path]
    known = {f.name for f in font_manager.fontManager.ttflist}
    # the family as matplotlib reads the file may differ from fontconfig's first name
    name = font.family if font.family in known else (by_file[0] if by_file else None)
    return latin if name is None else (*latin, name)


_warned: list[bool] = []


def warn_if_missing(text: str, lang: str) -> bool:
    """Say once per process, on stderr, how to install a CJK font when ``text`` (a rendered report) or the
    language needs one and none is installed. Returns whether the font is missing."""
    if not (lang.startswith("zh") or needs_cjk(text)) or find_cjk_font() is not None:
        return False
    if not _warned:
        _warned.append(True)
        print(f"warning: {INSTALL_HINT}", file=sys.stderr)
    return True


_subset_warned: list[bool] = []


def harfbuzz_subsetter() -> bool:
    """Whether WeasyPrint found HarfBuzz's subsetter library."""
    from weasyprint.text import ffi

    return getattr(ffi, "harfbuzz_subset", None) is not None


def warn_if_slow_subsetting(html: str) -> bool:
    """Say once per process, on stderr, how to make a PDF with CJK text fast when HarfBuzz's subsetter is
    missing (module docstring). Returns whether the slow path will be taken for CJK text."""
    if not needs_cjk(html) or harfbuzz_subsetter():
        return False
    if not _subset_warned:
        _subset_warned.append(True)
        print(f"note: {SUBSET_HINT}", file=sys.stderr)
    return True
