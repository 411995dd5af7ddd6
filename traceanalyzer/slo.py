"""Service-level objectives: the DESIGN section 4 defaults, overridable by a TOML file.

The file has one ``[slo]`` table (or the same keys at top level) with the names of
:class:`traceanalyzer.model.SloThresholds`; a key set to ``false`` switches that SLO off::

    [slo]
    ttft_p95_s = 2.0      # seconds
    tpot_p95_s = 0.08     # seconds
    error_rate = 0.005    # fraction (0.5 %)
    cpu_pct = false       # do not judge CPU
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from traceanalyzer.errors import BadInputError
from traceanalyzer.model import SloThresholds

SLO_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(SloThresholds))


def slo_from_mapping(data: dict[str, Any], *, path: str | None = None) -> SloThresholds:
    """Thresholds from a parsed TOML document: the defaults with the given keys replaced."""
    table = data.get("slo", data)
    if not isinstance(table, dict):
        raise BadInputError("[slo] must be a table", path=path)
    unknown = sorted(set(table) - set(SLO_NAMES))
    if unknown:
        raise BadInputError(f"unknown SLO {', '.join(unknown)} (known: {', '.join(SLO_NAMES)})", path=path)
    values: dict[str, float | None] = {}
    for name, value in table.items():
        if value is False:
            values[name] = None
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            values[name] = float(value)
        else:
            raise BadInputError(
                f"SLO {name} must be a non-negative number or false, not {value!r}", path=path
            )
    return dataclasses.replace(SloThresholds(), **values)


def load_slo_file(path: str | Path) -> SloThresholds:
    """Read an SLO TOML file (module docstring); a missing or malformed file is a ``BadInputError``."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInputError("SLO file not found", path=str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"cannot read SLO file: {exc}", path=str(p)) from None
    except tomllib.TOMLDecodeError as exc:
        raise BadInputError(f"not valid TOML: {exc}", path=str(p)) from None
    return slo_from_mapping(data, path=str(p))
