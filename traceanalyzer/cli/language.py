"""``--lang``: the language of a command's report and console summary (``en``, ``zh-CN``).

Shared by ``analyze``, ``report`` and ``compare``; :envvar:`TRACEANALYZER_LANG` sets the default. The value
is checked when the command line is parsed, so a typo fails before any analysis runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from traceanalyzer.errors import UsageError
from traceanalyzer.i18n import ENV_VAR, LANGUAGES, normalize


def _check(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    try:
        return normalize(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def language_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--lang`` to a command; it receives the language tag as ``lang``."""
    return click.option(
        "--lang",
        envvar=ENV_VAR,
        default=None,
        callback=_check,
        metavar="|".join(LANGUAGES),
        help=f"Language of the report and the console summary (default: ${ENV_VAR}, else en).",
    )(func)
