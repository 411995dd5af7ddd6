"""Reports in English and Simplified Chinese: every bundled sample renders in both languages, the Chinese
report speaks the glossary's words, the catalog translates every message, findings are said again from their
evidence, and trace text stays escaped and legible in every language.

HTML is rendered for every sample in both languages; PDFs (the slow part) for one sample in Chinese and one
generated capture in English.
"""

from __future__ import annotations

import html
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from click.testing import CliRunner
from markupsafe import escape
from pypdf import PdfReader

from reports import RenderOptions
from reports.fonts import find_cjk_font
from reports.html_report import render_html
from reports.pdf_report import html_to_pdf
from tests.reports.conftest import analyze_dir
from tests.reports.report_captures import Profile, write_capture
from traceanalyzer.analysis import STAGES, analyze
from traceanalyzer.cli import cli, main
from traceanalyzer.compare import compare
from traceanalyzer.consistency.stage import consistency_stage
from traceanalyzer.console import render_text
from traceanalyzer.explain import finding_message, first_strike_explanation
from traceanalyzer.i18n import LANGUAGES, catalog_path, language, normalize
from traceanalyzer.loader import load_capture
from traceanalyzer.model import Analysis, AnalysisOptions

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_traces"
CAPTURES = sorted(p.name for p in SAMPLES.iterdir() if p.is_dir() and any(p.rglob("*.jsonl.gz")))

HEADING_TERMS = (
    "用户感知层",
    "系统产能层",
    "稳定性与边界层",
    "首字时间",
    "响应时间分布",
    "吞吐量",
    "最大并发承载量",
    "错误率",
    "响应时间波动",
    "错误顺序",
    "第一击",
    "资源利用率",
    "输出一致性",
    "鲁棒性",
)
"""Glossary terms (docs/glossary.md) every Chinese report has in its headings."""
BODY_TERMS = (
    "每个输出 token 的时间",
    "每秒生成 token 数",
    "单请求 TPS",
    "集群 TPS",
    "每秒请求数",
    "稳定 QPS",
    "峰值 QPS",
    "完全一致率",
    "语义相似度",
    "长时间运行稳定性",
)
"""Glossary terms every Chinese report has somewhere (tables, the definitions appendix)."""
ENGLISH_HEADINGS = ("Summary and verdict", "Layer 1:", "Causal error sequence", "Appendix B", "Contents")

ZH_HOSTILE = "<script>alert('第一击')</script></style>模型&"
"""Mixed-script markup that must only ever appear escaped."""
ZH_PROFILE = Profile(
    requests=240,
    rate=16.0,
    error_share=0.1,
    error_class="server_5xx",
    error_message="服务端内部错误：显存不足",
    model="通义千问-7B",
    scenario="中文问答",
    host="压测机-1",
    stages=("预热阶段", "高峰阶段"),
    text="北京是中华人民共和国的首都。",
    gpu_host="推理节点",
    gpu_name="H100",
)
"""A capture whose trace strings (model, scenario, host, stages, error message) are Chinese."""
QUICK = Profile(requests=120, rate=20.0, telemetry=False, text="")
"""A small capture without answers (the consistency stage has nothing to embed)."""


FAST_STAGES = [s for s in STAGES if s is not consistency_stage]
_ANALYSES: dict[str, Analysis] = {}


def sample_analysis(name: str) -> Analysis:
    """A bundled sample, analyzed once per session without the consistency stage (module docstring)."""
    if name not in _ANALYSES:
        capture = load_capture([SAMPLES / name], cache=False)
        _ANALYSES[name] = analyze(capture, AnalysisOptions(), stages=FAST_STAGES)
    return _ANALYSES[name]


def headings(document: str) -> str:
    found = re.findall(r"<h[1-3][^>]*>(.*?)</h[1-3]>", document, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", h)) for h in found)


def test_the_samples_are_all_here() -> None:
    assert {"ramp-oom", "steady-soak", "regression-baseline", "locust-run"} <= set(CAPTURES)


@pytest.mark.parametrize("name", CAPTURES)
def test_every_sample_renders_in_both_languages(name: str) -> None:
    analysis = sample_analysis(name)
    english = render_html(analysis, RenderOptions(lang="en"))
    chinese = render_html(analysis, RenderOptions(lang="zh-CN"))
    assert '<html lang="en">' in english and '<html lang="zh-CN">' in chinese
    heads = headings(chinese)
    assert [t for t in HEADING_TERMS if t not in heads] == []
    text = html.unescape(re.sub(r"<[^>]+>", " ", chinese))
    assert [t for t in BODY_TERMS if t not in text] == []
    assert [h for h in ENGLISH_HEADINGS if h in heads] == []
    assert all(h in headings(english) for h in ENGLISH_HEADINGS)
    # the same numbers in both: Babel's zh_CN and en share digits and separators
    assert f"{analysis.requests.total:,}" in english and f"{analysis.requests.total:,}" in chinese


def test_findings_and_first_strikes_are_said_again_from_their_evidence() -> None:
    rules = set()
    for name in CAPTURES:
        analysis = sample_analysis(name)
        with language("en"):
            for f in analysis.findings:
                assert finding_message(f) == f.message, (name, f.rule)
                rules.add(f.rule)
            if analysis.first_strike is not None:
                assert first_strike_explanation(analysis.first_strike) == analysis.first_strike.explanation
        with language("zh-CN"):
            for f in analysis.findings:
                said = finding_message(f)
                assert said != f.message and re.search("[\u4e00-\u9fff]", said), (name, f.rule, said)
            if analysis.first_strike is not None:
                assert "第一击" in first_strike_explanation(analysis.first_strike)
    assert {"error_burst", "unstable", "queueing", "memory_leak"} <= rules


def test_the_catalog_translates_every_message() -> None:
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    extracted = {
        msg if isinstance(msg, str) else msg[0]
        for _, _, msg, _, _ in extract_from_dir(str(ROOT), method_map, options_map)
    }
    extracted.discard("")
    placeholder = re.compile(r"\{\w+\}|%\(\w+\)s")
    for lang in LANGUAGES:
        if lang == "en":
            continue
        with catalog_path(lang).open("rb") as po:
            catalog = read_po(po)
        translated = {}
        for m in catalog:
            if m.id and m.string and not m.fuzzy:
                key = m.id if isinstance(m.id, str) else m.id[0]
                translated[key] = m.string if isinstance(m.string, str) else m.string[0]
        untranslated = sorted(extracted - set(translated))
        assert untranslated == [], f"{lang}: untranslated messages (run make translations): {untranslated}"
        assert sorted(set(translated) - extracted) == [], f"{lang}: obsolete messages"
        wrong = [
            k
            for k, v in translated.items()
            if sorted(placeholder.findall(k)) != sorted(placeholder.findall(v))
        ]
        assert wrong == [], f"{lang}: placeholders differ: {wrong}"


def test_language_names_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert normalize("zh") == normalize("zh_CN") == normalize("ZH-cn") == "zh-CN"
    assert normalize("en-US") == "en"
    monkeypatch.setenv("TRACEANALYZER_LANG", "zh-CN")
    assert normalize(None) == "zh-CN"
    from traceanalyzer.errors import UsageError

    with pytest.raises(UsageError, match="known: en, zh-CN"):
        normalize("fr")


def test_console_summary_in_chinese() -> None:
    analysis = sample_analysis("ramp-oom")
    text = render_text(analysis, lang="zh-CN")
    for part in ("第一层：用户感知层", "第二层：系统产能层", "第三层：稳定性与边界层", "第一击", "oom"):
        assert part in text, part
    assert "Layer 1" not in text
    assert "Layer 1" in render_text(analysis)


def test_comparison_in_chinese() -> None:
    comparison = compare(
        sample_analysis("regression-baseline"),
        sample_analysis("regression-candidate"),
        names=("基线运行", "候选运行"),
    )
    document = render_html(comparison, RenderOptions(lang="zh-CN"))
    assert '<html lang="zh-CN">' in document
    heads = headings(document)
    for term in ("运行对比", "主要指标", "响应时间分布", "容差与检验"):
        assert term in heads or term in document, term
    assert "Headline metrics" not in heads and "基线运行" in document


def test_cli_takes_lang_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = write_capture(tmp_path / "capture", QUICK, seed=3)
    monkeypatch.setenv("TRACEANALYZER_LANG", "zh-CN")
    result = CliRunner().invoke(cli, ["analyze", str(capture), "--no-cache"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "第一层：用户感知层" in result.stdout and "Layer 1" not in result.stdout
    english = CliRunner().invoke(cli, ["analyze", str(capture), "--no-cache", "--lang", "en"])
    assert "Layer 1" in english.stdout
    with pytest.raises(SystemExit) as exc:
        main(["report", str(capture), "-o", str(tmp_path / "r.html"), "--lang", "fr"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown language 'fr'; known: en, zh-CN" in err and "Traceback" not in err
    assert not (tmp_path / "r.html").exists()


def test_without_a_cjk_font_the_report_is_written_with_one_hint(tmp_path: Path) -> None:
    capture = write_capture(tmp_path / "capture", QUICK, seed=4)
    conf = tmp_path / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?>\n<fontconfig><cachedir>' + str(tmp_path / "fc") + "</cachedir></fontconfig>\n"
    )
    env = {**os.environ, "FONTCONFIG_FILE": str(conf)}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "traceanalyzer",
            "report",
            str(capture),
            "--no-cache",
            "--lang",
            "zh-CN",
            "-o",
            str(tmp_path / "r.html"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("fonts-noto-cjk") == 1, out.stderr
    assert '<html lang="zh-CN">' in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_chinese_and_mixed_script_trace_strings_stay_escaped(tmp_path: Path) -> None:
    profile = Profile(
        requests=160,
        rate=16.0,
        error_share=0.1,
        error_message=f"上游返回 {ZH_HOSTILE}",
        model=f"模型-{ZH_HOSTILE}",
        scenario=f"场景-{ZH_HOSTILE}",
        host=f"主机-{ZH_HOSTILE}",
        stages=(f"阶段1:{ZH_HOSTILE}",),
        telemetry=False,
    )
    analysis = analyze_dir(write_capture(tmp_path / "capture", profile, seed=12))
    escaped = str(escape(ZH_HOSTILE))
    for lang in ("en", "zh-CN"):
        document = render_html(analysis, RenderOptions(lang=lang, title=f"标题 {ZH_HOSTILE}"))
        assert ZH_HOSTILE not in document and "<script" not in document.lower(), lang
        assert document.count("</style>") == document.count("<style"), lang
        for prefix in ("模型-", "场景-", "主机-", "上游返回 "):
            assert prefix + escaped in document, (lang, prefix)


def _fonts(reader: PdfReader) -> dict[str, bool]:
    """Base font name -> whether the PDF embeds the font's program."""
    fonts: dict[str, bool] = {}
    for page in reader.pages:
        resources = page.get("/Resources")
        font_dict = resources.get_object().get("/Font") if resources else None
        for ref in font_dict.get_object().values() if font_dict else ():
            font = ref.get_object()
            descendants = font.get("/DescendantFonts")
            inner = descendants.get_object()[0].get_object() if descendants else font
            descriptor = inner.get("/FontDescriptor")
            d = descriptor.get_object() if descriptor else {}
            fonts[str(font.get("/BaseFont"))] = any(k in d for k in ("/FontFile", "/FontFile2", "/FontFile3"))
    return fonts


def _pdf_text(data: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(data))
    return reader, "\n".join(page.extract_text() or "" for page in reader.pages)


needs_cjk_font = pytest.mark.skipif(
    find_cjk_font() is None,
    reason="no CJK font installed (Debian: apt-get install fonts-noto-cjk; .ci/run does)",
)


@needs_cjk_font
def test_chinese_pdf_has_the_glossary_terms_in_an_embedded_cjk_font() -> None:
    document = render_html(sample_analysis("ramp-oom"), RenderOptions(lang="zh-CN"))
    reader, text = _pdf_text(html_to_pdf(document))
    flat = "".join(text.split())
    missing = [t for t in HEADING_TERMS if t.replace(" ", "") not in flat]
    assert not missing, missing
    assert "第2页" in flat  # the print footer speaks Chinese too
    fonts = _fonts(reader)
    cjk = [name for name, embedded in fonts.items() if "CJK" in name and embedded]
    assert cjk, fonts


@needs_cjk_font
def test_english_pdf_shows_chinese_trace_text(tmp_path: Path) -> None:
    analysis = analyze_dir(write_capture(tmp_path / "capture", ZH_PROFILE, seed=5))
    reader, text = _pdf_text(html_to_pdf(render_html(analysis, RenderOptions(lang="en"))))
    flat = "".join(text.split())
    for shown in (
        ZH_PROFILE.model,
        ZH_PROFILE.scenario,
        ZH_PROFILE.host,
        *ZH_PROFILE.stages,
        ZH_PROFILE.error_message,
    ):
        assert "".join(shown.split()) in flat, shown  # extracted text equals the trace's: no missing glyph
    assert "Summary and verdict" in text
    assert any("CJK" in name and embedded for name, embedded in _fonts(reader).items())
