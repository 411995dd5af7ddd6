"""Scenarios of the simulated server: typed parameters, loaded from small TOML files.

A scenario file sets only what differs from the defaults below; every section and key is optional::

    name = "queue-timeout"
    description = "Small batch, long queue: requests time out waiting, no OOM."
    [engine]
    max_batch = 6
    queue_timeout_s = 6.0

Bundled scenarios live in ``recorders/simserver/scenarios/*.toml``; :func:`load_scenario` takes a bundled
name or a path. Overrides (``--set engine.max_batch=8``) are applied on top, key by key, with the same type
checks, so a test can compress a failure mode further without writing a file.

Units are in the names: ``_ms`` milliseconds, ``_s`` seconds, ``_mib`` MiB, ``_w`` watts, ``_c`` degrees
Celsius, ``_mhz`` MHz; ``_fraction`` is a share in [0, 1]; token counts are plain integers.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from traceanalyzer.errors import BadInputError, UsageError


@dataclass(frozen=True)
class ModelConfig:
    """What the API serves: the model name, its context limit and the natural answer length."""

    name: str = "sim-llama-3-8b"
    max_model_len: int = 8192  # prompt + max_tokens may not exceed this (400 context-length error)
    default_max_tokens: int = 256  # when the request does not set max_tokens
    max_tokens_limit: int = 4096  # a larger max_tokens is a 400 bad-request error
    answer_sentences_min: int = 3  # natural answer length (end of sequence after this many sentences)
    answer_sentences_max: int = 7


@dataclass(frozen=True)
class EngineConfig:
    """The continuous-batching engine model (see :mod:`recorders.simserver.engine` for the formulas)."""

    max_batch: int = 64  # running sequences at most
    kv_cache_tokens: int = 131072  # KV cache capacity, tokens
    kv_policy: str = "preempt"  # KV full: "preempt" (vLLM recompute) or "oom" (CUDA out-of-memory errors)
    prefill_ms: float = 6.0  # fixed GPU cost of an iteration that prefills
    prefill_ms_per_1k: float = 25.0  # GPU prefill time per 1,000 prompt tokens
    decode_ms: float = 14.0  # GPU decode step at batch 1
    decode_ms_per_seq: float = 0.12  # added per running sequence
    cpu_ms: float = 0.8  # CPU time of every iteration (scheduling); the GPU idles meanwhile
    cpu_ms_per_seq: float = 0.02  # CPU per running sequence (detokenization, output processing)
    tokenize_ms_per_1k: float = 0.4  # CPU tokenization of arriving prompts, stalls the next iteration
    jitter: float = 0.0  # sigma of a seeded log-normal factor on each iteration's time (0 = exact)
    queue_timeout_s: float = 0.0  # a request waiting longer fails with a timeout (0 = never)
    max_queue: int = 0  # more waiting requests are refused with 503 (0 = unbounded)
    prefix_cache_tokens: int = 0  # prefix cache capacity, tokens (0 = no prefix caching; see prefix_cache)
    prefix_block_tokens: int = 16  # cached prefixes count in whole blocks of this many tokens


@dataclass(frozen=True)
class TimingConfig:
    """``mode = "fixed"`` bypasses the engine: token i of every request at arrival + ttft + i * gap."""

    mode: str = "engine"  # "engine" or "fixed"
    ttft_ms: float = 100.0
    gap_ms: float = 20.0


@dataclass(frozen=True)
class RateLimitConfig:
    """A token bucket on requests and a cap on requests in flight; both answer 429."""

    rps: float = 0.0  # sustained requests per second (0 = no limit)
    burst: int = 0  # bucket size (0 = max(1, rps))
    max_concurrent: int = 0  # requests in flight at most (0 = no limit)


@dataclass(frozen=True)
class FaultConfig:
    """Failure modes switched on by scenario. Times count from the first request the server receives."""

    oom_fatal_after_s: float = 0.0  # the engine dies this long after its first OOM: 500s (0 = never)
    recover_after_s: float = 0.0  # a dead engine restarts after this long (0 = stays dead)
    regression_at_s: float = 0.0  # decode steps get slower from this time on (0 = never)
    regression_factor: float = 1.0  # decode GPU time multiplier after the regression
    regression_sm_clock_mhz: float = 0.0  # SM clock after the regression (0 = unchanged)
    context_length_fraction: float = 0.0  # share of requests refused as too long (seeded)
    bad_request_fraction: float = 0.0  # share of requests refused with a parameter error (seeded)
    stream_error_fraction: float = 0.0  # share of streams that break with an error event after some text
    error_delay_ms: float = 0.0  # error responses (4xx, 429, 5xx before a stream) wait this long: keeps
    # closed-loop clients from spinning on instant errors


@dataclass(frozen=True)
class GpuConfig:
    """The simulated GPU: memory, power, temperature and clock models (one GPU, index 0)."""

    name: str = "NVIDIA H100 80GB HBM3"
    uuid: str = ""  # empty: derived from the seed
    memory_total_mib: float = 81559.0
    weights_mib: float = 15316.0
    runtime_mib: float = 1400.0  # CUDA context, graphs, allocator slack
    memory_utilization: float = 0.90  # preallocated share (vLLM's gpu_memory_utilization)
    kv_prealloc: bool = True  # KV pool allocated at start (vLLM); False: memory follows KV usage
    activation_mib_per_seq: float = 18.0  # transient memory per running sequence
    leak_mib_per_s: float = 0.0  # memory that is never freed, per second since the first request
    leak_mib_per_request: float = 0.0  # ... and per finished request
    idle_power_w: float = 72.0
    max_power_w: float = 690.0
    ambient_c: float = 30.0
    temp_c_per_w: float = 0.075  # steady-state rise per watt
    temp_tau_s: float = 12.0  # thermal time constant
    max_sm_clock_mhz: float = 1980.0
    idle_sm_clock_mhz: float = 345.0


@dataclass(frozen=True)
class Scenario:
    """One complete parameter set of the simulated server."""

    name: str = "custom"
    description: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    timing: TimingConfig = field(default_factory=TimingConfig)
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)
    faults: FaultConfig = field(default_factory=FaultConfig)
    gpu: GpuConfig = field(default_factory=GpuConfig)
    source: str = ""  # the file it came from

    def to_dict(self) -> dict[str, Any]:
        """All parameters as plain data (for the truth file's meta line and ``--show``)."""
        return dataclasses.asdict(self)


_SECTIONS: dict[str, type] = {
    "model": ModelConfig,
    "engine": EngineConfig,
    "timing": TimingConfig,
    "rate_limit": RateLimitConfig,
    "faults": FaultConfig,
    "gpu": GpuConfig,
}
_CHOICES = {("engine", "kv_policy"): ("preempt", "oom"), ("timing", "mode"): ("engine", "fixed")}
_PACKAGE = "recorders.simserver.scenarios"


def bundled_scenarios() -> dict[str, str]:
    """Bundled scenario names with their one-line description, in name order."""
    out: dict[str, str] = {}
    for entry in sorted(resources.files(_PACKAGE).iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".toml"):
            data = tomllib.loads(entry.read_text(encoding="utf-8"))
            out[entry.name[: -len(".toml")]] = str(data.get("description", ""))
    return out


def _coerce(section: str, key: str, value: Any, default: Any, where: str) -> Any:
    """Check ``value`` against the type of the field's default; ints are accepted for floats."""
    ok: bool
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        raise BadInputError(
            f"{section}.{key} must be {type(default).__name__}, got {value!r}",
            path=where,
        )
    choices = _CHOICES.get((section, key))
    if choices is not None and value not in choices:
        raise BadInputError(f"{section}.{key} must be one of {', '.join(choices)}, got {value!r}", path=where)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        raise BadInputError(f"{section}.{key} must not be negative, got {value!r}", path=where)
    return value


def _apply(scenario: Scenario, data: Mapping[str, Any], where: str) -> Scenario:
    """Return ``scenario`` with the sections and keys of ``data`` replaced (unknown keys are errors)."""
    top: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("name", "description"):
            if not isinstance(value, str):
                raise BadInputError(f"{key} must be a string", path=where)
            top[key] = value
            continue
        cls = _SECTIONS.get(key)
        if cls is None or not isinstance(value, Mapping):
            known = ", ".join(["name", "description", *_SECTIONS])
            raise BadInputError(f"unknown scenario key {key!r} (known: {known})", path=where)
        current = getattr(scenario, key)
        defaults = {f.name: getattr(current, f.name) for f in dataclasses.fields(cls)}
        changes: dict[str, Any] = {}
        for sub, sub_value in value.items():
            if sub not in defaults:
                raise BadInputError(
                    f"unknown key {key}.{sub} (known: {', '.join(defaults)})",
                    path=where,
                )
            changes[sub] = _coerce(key, sub, sub_value, defaults[sub], where)
        top[key] = dataclasses.replace(current, **changes)
    return dataclasses.replace(scenario, **top)


def parse_set_option(option: str) -> tuple[str, Any]:
    """Parse one ``section.key=value`` override; the value is read as TOML, else taken as a string."""
    key, sep, raw = option.partition("=")
    key = key.strip()
    if not sep or "." not in key:
        raise UsageError(f"--set wants section.key=value, got {option!r}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key, value


def nest_overrides(overrides: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Turn ``{"engine.max_batch": 8}`` (or already nested mappings) into ``{"engine": {"max_batch": 8}}``."""
    items = overrides.items() if isinstance(overrides, Mapping) else overrides
    nested: dict[str, Any] = {}
    for key, value in items:
        if isinstance(value, Mapping):
            nested.setdefault(key, {}).update(value)
            continue
        section, dot, sub = key.partition(".")
        if not dot:
            nested[key] = value
        else:
            nested.setdefault(section, {})[sub] = value
    return nested


def load_scenario(
    name_or_path: str | Path = "steady",
    overrides: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
) -> Scenario:
    """Load a bundled scenario by name, or a TOML file by path, then apply ``overrides``.

    A ``.toml`` suffix or a directory part makes it a path; a bare name is a bundled scenario unless only a
    file of that name exists.

    Raises :class:`UsageError` for an unknown name and :class:`BadInputError` (naming the file) for a bad
    file or key.
    """
    text: str
    where = str(name_or_path)
    path = Path(name_or_path)
    if (
        path.suffix == ".toml"
        or len(path.parts) > 1
        or (path.is_file() and str(path) not in bundled_scenarios())
    ):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise BadInputError(f"cannot read scenario file: {exc.strerror}", path=where) from exc
    else:
        entry = resources.files(_PACKAGE).joinpath(f"{name_or_path}.toml")
        if not entry.is_file():
            known = ", ".join(bundled_scenarios())
            raise UsageError(
                f"unknown scenario {str(name_or_path)!r} (bundled: {known}; or give a .toml path)"
            )
        text = entry.read_text(encoding="utf-8")
        where = f"<bundled {name_or_path}.toml>"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInputError(f"not valid TOML: {exc}", path=where) from exc
    scenario = _apply(Scenario(name=path.stem, source=where), data, where)
    if overrides:
        scenario = _apply(scenario, nest_overrides(overrides), "--set")
    return scenario
