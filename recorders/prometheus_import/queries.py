"""The PromQL queries of ``import prometheus``: one per exporter, built from the recorders' own mappings.

| name       | query                                                                           | records |
| ---------- | ------------------------------------------------------------------------------- | ------- |
| ``dcgm``   | ``{__name__=~"DCGM_FI_DEV_GPU_UTIL|...", SEL}`` (the DCGM fields of ``record gpu``) | gpu     |
| ``engine`` | ``{__name__=~"vllm:.+|sglang:.+|tgi_.+|nv_.+", __name__!~".+_bucket|.+_created",  | server  |
|            | quantile="", SEL}`` (the series ``record server`` keeps)                         |         |
| ``node``   | ``{__name__=~"node_memory_MemTotal_bytes|node_memory_MemAvailable_bytes|        | host    |
|            | node_load1", SEL}``                                                             |         |
| ``node_cpu`` | ``100 * (1 - sum by (instance) (rate(node_cpu_seconds_total{mode=~"idle|iowait", | host    |
|            | SEL}[W])) / sum by (instance) (rate(node_cpu_seconds_total{SEL}[W])))``         |         |

``SEL`` is ``--selector`` (extra label matchers such as ``cluster="a",namespace="llm"``); ``W`` the rate
window. ``--queries FILE.toml`` adds named queries whose results go into ``server.metrics``::

    [queries]
    gateway_queue = 'sum(gateway_queue_depth{route="/v1/chat/completions"})'
    batch_size = 'avg by (instance) (vllm:num_requests_running)'
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from recorders.gpu.dcgm import DCGM_INPUTS
from recorders.server_metrics import ENGINE_PREFIXES
from traceanalyzer.errors import BadInputError, UsageError

DCGM, ENGINE, NODE, NODE_CPU = "dcgm", "engine", "node", "node_cpu"
DEFAULT_NAMES = (DCGM, ENGINE, NODE, NODE_CPU)
NODE_MEM_TOTAL = "node_memory_MemTotal_bytes"
NODE_MEM_AVAILABLE = "node_memory_MemAvailable_bytes"
NODE_LOAD1 = "node_load1"
NODE_CPU_SECONDS = "node_cpu_seconds_total"
NODE_INPUTS = (NODE_MEM_TOTAL, NODE_MEM_AVAILABLE, NODE_LOAD1)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_:-]*$")
_MATCHER = re.compile(r"""^\s*[A-Za-z_][A-Za-z0-9_]*\s*(=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*$""")


@dataclass(frozen=True)
class Query:
    """One named PromQL query. ``extra``: from ``--queries`` (its series go into ``server.metrics``)."""

    name: str
    promql: str
    extra: bool = False


def engine_name_regex() -> str:
    """The metric-name regex of every engine ``record server`` recognises (from its prefixes)."""
    return "|".join(re.escape(prefix) + ".+" for prefix in ENGINE_PREFIXES.values())


def check_selector(selector: str | None) -> str:
    """``--selector`` as matchers to append inside braces (``, a="b"``), or ``""``; UsageError when it is
    not a comma-separated list of ``label<op>"value"`` matchers."""
    if not selector or not selector.strip():
        return ""
    text = selector.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    matchers = _split_matchers(text)
    for matcher in matchers:
        if not _MATCHER.match(matcher):
            raise UsageError(
                f'--selector: {matcher.strip()!r} is not a label matcher such as job="dcgm" or '
                'instance=~"gpu-.*"'
            )
    return ", " + ", ".join(m.strip() for m in matchers)


def _split_matchers(text: str) -> list[str]:
    """Split on commas outside double-quoted values."""
    out: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            out.append("".join(current))
            current = []
            continue
        current.append(ch)
    if "".join(current).strip():
        out.append("".join(current))
    return out


def default_queries(selector: str, rate_window_s: float) -> list[Query]:
    """The exporter queries, ``selector`` as :func:`check_selector` returns it."""
    window = f"{max(1, round(rate_window_s * 1000))}ms"
    dcgm = "|".join(sorted(DCGM_INPUTS))
    node = "|".join(NODE_INPUTS)
    cpu_sel = f"{NODE_CPU_SECONDS}{{{selector.lstrip(', ')}}}" if selector else NODE_CPU_SECONDS
    idle = f'{NODE_CPU_SECONDS}{{mode=~"idle|iowait"{selector}}}'
    return [
        Query(DCGM, f'{{__name__=~"{dcgm}"{selector}}}'),
        Query(
            ENGINE,
            f'{{__name__=~"{engine_name_regex()}", __name__!~".+_bucket|.+_created", quantile=""{selector}}}',
        ),
        Query(NODE, f'{{__name__=~"{node}"{selector}}}'),
        Query(
            NODE_CPU,
            f"100 * (1 - sum by (instance) (rate({idle}[{window}]))"
            f" / sum by (instance) (rate({cpu_sel}[{window}])))",
        ),
    ]


def load_queries(path: str | Path) -> list[Query]:
    """The ``[queries]`` table of a TOML file: ``name = "PromQL"``; BadInputError naming the file."""
    where = str(path)
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise UsageError(f"cannot read --queries file {where}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadInputError(f"not TOML: {exc}", path=where) from None
    table = doc.get("queries")
    if not isinstance(table, dict) or not table:
        raise BadInputError('needs a [queries] table of name = "PromQL" lines', path=where)
    out = []
    for name, promql in table.items():
        if not _NAME.match(name):
            raise BadInputError(f"query name {name!r}: use letters, digits, _ : -", path=where)
        if name in DEFAULT_NAMES:
            raise BadInputError(f"query name {name!r} is taken by a built-in query", path=where)
        if not isinstance(promql, str) or not promql.strip():
            raise BadInputError(f"query {name!r} must be a non-empty PromQL string", path=where)
        out.append(Query(name, promql.strip(), extra=True))
    return out


def rate_window_s(step_s: float, scrape_interval_s: float) -> float:
    """The range of ``rate()``: ``max(step + scrape interval, 4 x scrape interval)`` (Grafana's
    ``$__rate_interval``), long enough to hold several samples whatever the step."""
    return max(step_s + scrape_interval_s, 4 * scrape_interval_s)
