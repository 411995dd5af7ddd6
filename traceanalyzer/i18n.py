"""The language of reports and of the console summary: gettext catalogs through Babel, and Babel's numbers.

Languages: ``en`` (the default, the source texts) and ``zh-CN`` (Simplified Chinese). The catalog is
``traceanalyzer/locale/<locale>/LC_MESSAGES/traceanalyzer.po``; it is compiled in memory when a language is
first used (Babel's ``read_po`` and ``write_mo``), so no compiled ``.mo`` file is committed or can go
stale. A message without a translation falls back to its English text.

The language is a context, not an argument threaded through every formatter::

    with language("zh-CN"):
        title = _("Summary and verdict")      # -> 概要与结论

Module-level tables of texts mark them with :func:`N_` (extracted, not translated at import) and translate
at use with :func:`_`. ``make translations`` re-extracts the messages and updates the catalog
(``babel.cfg``); ``tests/reports/test_i18n.py`` lists every message the catalog does not translate.
"""

from __future__ import annotations

import contextlib
import functools
import gettext
import io
import os
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from traceanalyzer.errors import UsageError

if TYPE_CHECKING:
    from babel import Locale

DOMAIN = "traceanalyzer"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
ENV_VAR = "TRACEANALYZER_LANG"
DEFAULT = "en"

LANGUAGES: dict[str, str] = {"en": "en", "zh-CN": "zh_CN"}
"""Language tag (what ``--lang`` takes, what ``<html lang>`` says) -> Babel locale identifier."""

_ALIASES = {"zh": "zh-CN", "zh-hans": "zh-CN", "zh-hans-cn": "zh-CN", "zh-cn": "zh-CN", "zh_cn": "zh-CN"}

_current: ContextVar[str] = ContextVar("traceanalyzer_language", default=DEFAULT)


def normalize(lang: str | None) -> str:
    """The language tag for ``lang`` (``zh``, ``zh_CN``, ``zh-Hans`` -> ``zh-CN``; ``en-US`` -> ``en``);
    ``None`` or empty: :envvar:`TRACEANALYZER_LANG`, else English. An unknown language is a usage error."""
    raw = (lang or os.environ.get(ENV_VAR) or DEFAULT).strip()
    key = raw.lower()
    if key in _ALIASES:
        return _ALIASES[key]
    if key == "en" or key.startswith(("en-", "en_")):
        return "en"
    for tag in LANGUAGES:
        if tag.lower() == key:
            return tag
    raise UsageError(f"unknown language {raw!r}; known: {', '.join(LANGUAGES)}")


def catalog_path(lang: str) -> Path:
    """The ``.po`` file of a language (English has none: its texts are the messages)."""
    return LOCALE_DIR / LANGUAGES[lang] / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalog of ``lang`` (English: the messages themselves)."""
    if lang == DEFAULT:
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with catalog_path(lang).open("rb") as po:
        catalog = read_po(po, locale=LANGUAGES[lang], domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog)  # fuzzy and empty translations are left out: they fall back to English
    buf.seek(0)
    return gettext.GNUTranslations(buf)


@contextlib.contextmanager
def language(lang: str | None) -> Iterator[str]:
    """Render in ``lang`` inside the block (see :func:`normalize`); yields the language tag."""
    tag = normalize(lang)
    token = _current.set(tag)
    try:
        yield tag
    finally:
        _current.reset(token)


def current() -> str:
    """The language tag in effect."""
    return _current.get()


def _(message: str) -> str:
    """``message`` in the current language (English when the catalog lacks it)."""
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for ``n`` in the current language."""
    return translations(_current.get()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it (translate at use with :func:`_`)."""
    return message


@functools.cache
def _locale(lang: str) -> Locale:
    from babel import Locale

    return Locale.parse(LANGUAGES[lang])


def babel_locale() -> Locale:
    """The Babel locale of the current language."""
    return _locale(_current.get())


def decimal(value: float, digits: int = 0, *, signed: bool = False) -> str:
    """``value`` with thousands separators and exactly ``digits`` decimals, in the current locale."""
    from decimal import Decimal

    from babel.numbers import format_decimal

    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    if signed:
        pattern = f"+{pattern};-{pattern}"
    # the float's exact value, so that rounding agrees with Python's own formatting (73.035 -> 73.03)
    return format_decimal(Decimal(value), format=pattern, locale=babel_locale())


def percent_sign(number: str) -> str:
    """A number followed by the locale's percent sign: ``23.7 %`` (English, a no-break space) or ``23.7%``
    (Chinese, as Babel's zh_CN percent pattern writes it)."""
    symbol = babel_locale().number_symbols["latn"]["percentSign"]
    return f"{number}\u00a0{symbol}" if _current.get() == DEFAULT else f"{number}{symbol}"


def utc_datetime(when: datetime, seconds: bool = True) -> str:
    """An instant as ``2026-11-21 12:38:48 UTC`` (Babel, ISO-like in every locale, for tables)."""
    from babel.dates import format_datetime

    pattern = "yyyy-MM-dd HH:mm:ss" if seconds else "yyyy-MM-dd HH:mm"
    return format_datetime(when.astimezone(UTC), pattern, tzinfo=UTC, locale=babel_locale()) + " UTC"


def long_date(when: datetime) -> str:
    """A date as a reader writes it: ``November 21, 2026`` / ``2026年11月21日``."""
    from babel.dates import format_date

    return format_date(when.astimezone(UTC).date(), "long", locale=babel_locale())
