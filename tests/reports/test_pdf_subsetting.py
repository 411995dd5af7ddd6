"""The hint for a slow PDF: CJK text without HarfBuzz's font subsetter (reports/fonts.py)."""

from __future__ import annotations

import pytest
from weasyprint.text import ffi

from reports import fonts


@pytest.fixture
def no_subsetter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ffi, "harfbuzz_subset", None)
    monkeypatch.setattr(fonts, "_subset_warned", [])


def test_the_subsetter_is_found_as_weasyprint_found_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert fonts.harfbuzz_subsetter() is (ffi.harfbuzz_subset is not None)
    monkeypatch.setattr(ffi, "harfbuzz_subset", None)
    assert fonts.harfbuzz_subsetter() is False


def test_cjk_text_without_the_subsetter_gets_one_hint(
    no_subsetter: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fonts.warn_if_slow_subsetting("<p>第一层：用户感知层</p>")
    assert fonts.warn_if_slow_subsetting("<p>模型</p>")
    err = capsys.readouterr().err
    assert err.count("libharfbuzz-subset0") == 1, err


def test_latin_text_gets_no_hint(no_subsetter: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert not fonts.warn_if_slow_subsetting("<p>Summary and verdict</p>")
    assert capsys.readouterr().err == ""


def test_with_the_subsetter_there_is_no_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(ffi, "harfbuzz_subset", object())
    monkeypatch.setattr(fonts, "_subset_warned", [])
    assert not fonts.warn_if_slow_subsetting("<p>第一层</p>")
    assert capsys.readouterr().err == ""
