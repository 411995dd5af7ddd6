"""Reading GenAI-Perf's artifacts (see the package docstring).

Each request's responses go through the same steps as GenAI-Perf 0.0.16's
``LLMProfileDataParser._preprocess_response``: an SSE message split over two responses is joined to the one
before it, several messages received as one response count as one response whose text is theirs joined, and
responses without text (the role delta, ``[DONE]``, usage-only chunks, comments) are dropped. For chat only
``choices[0].delta.content`` (``message.content`` unstreamed) is text, so reasoning-only chunks are dropped
too. What is left are the request's ``chunks_us``: GenAI-Perf's TTFT, inter-chunk times and request latency
all use these responses.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recorders.errors import classify
from recorders.importers.base import ImportContext, Record, head, json_file, need, sub_object
from traceanalyzer.errors import BadInputError

SOURCE = "genai-perf"
_EXPORT_START = re.compile(r'^\s*\{\s*"experiments"\s*:\s*\[')
_SUMMARY_SUFFIX = "_genai_perf.json"
#: perf_analyzer endpoints of the LLM formats GenAI-Perf times (others: embeddings, rankings, images).
_APIS = {"v1/chat/completions": "chat", "v1/completions": "completions"}

Counter = Callable[[str], int]


def detect_kind(path: Path) -> str | None:
    """``export`` (perf_analyzer's per-request file) or ``summary`` (GenAI-Perf's JSON), else None."""
    if not path.name.endswith(".json"):
        return None
    text = head(path, 4096)
    if path.name.endswith(_SUMMARY_SUFFIX):
        return "summary" if text.lstrip().startswith("{") and '"unit"' in text else None
    if _EXPORT_START.match(text) and '"experiment"' in text:
        return "export"
    return None


def summary_metrics(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every ``{metric: {unit, avg, p1, ..., std}}`` number of the summary as ``{name, stat, unit,
    value}``."""
    out: list[dict[str, Any]] = []
    for name, result in data.items():
        if not isinstance(result, dict) or "unit" not in result:
            continue
        for stat, value in result.items():
            if stat != "unit" and isinstance(value, int | float) and not isinstance(value, bool):
                out.append({"name": name, "stat": stat, "unit": str(result["unit"]), "value": value})
    return out


# --- token counts ----------------------------------------------------------------------------------------


def load_counter(cfg: Mapping[str, Any], ctx: ImportContext) -> tuple[Counter | None, str | None]:
    """GenAI-Perf's own token counter: its tokenizer (``input_config.tokenizer``) loaded from this machine
    only, ``encode(text, add_special_tokens=False)`` as in ``genai_perf/tokenizer.py``. ``(None, None)`` with
    a note when it cannot be loaded."""
    tok = sub_object(cfg, "tokenizer")
    name = tok.get("name")
    if not isinstance(name, str) or not name:
        ctx.notes.append(
            "GenAI-Perf's summary names no tokenizer: token counts left null (GenAI-Perf does not store them)"
        )
        return None, None
    if tok.get("trust_remote_code"):
        ctx.notes.append(
            f"GenAI-Perf's tokenizer {name!r} needs remote code, which the import does not run: token counts "
            "left null"
        )
        return None, None
    if name.startswith((".", "/", "~")) and not Path(name).expanduser().is_dir():
        ctx.notes.append(
            f"GenAI-Perf's tokenizer {name!r} is not on this machine (no such directory): token counts left "
            "null and GenAI-Perf's token-based numbers not recomputed"
        )
        return None, None
    try:
        import transformers
    except ImportError:
        ctx.notes.append(
            f"GenAI-Perf counts tokens with its tokenizer {name!r}; without the transformers package "
            "(pip install 'llm-traceanalyzer[consistency]') token counts are left null"
        )
        return None, None
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            name, revision=str(tok.get("revision") or "main"), local_files_only=True
        )
    except Exception as exc:
        # not in the cache, or a tokenizer class that needs another package: say so and count nothing
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        ctx.notes.append(
            f"GenAI-Perf's tokenizer {name!r} could not be loaded here ({reason}): token counts left null "
            "and GenAI-Perf's token-based numbers not recomputed"
        )
        return None, None
    finally:
        transformers.logging.set_verbosity(verbosity)

    @functools.lru_cache(maxsize=4096)  # prompts repeat; GenAI-Perf caches its counts the same way
    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False))

    return count, name


# --- responses -------------------------------------------------------------------------------------------


def _not_data(msg: str) -> bool:
    """An SSE comment, event, id or retry line (``utils.not_data_sse_field``)."""
    return msg.startswith((":", "event:", "id:", "retry:"))


def _strip_data(msg: str) -> str:
    return msg[len("data:") :].strip() if msg.startswith("data:") else msg.strip()


@dataclass
class _Parsed:
    """One request's responses as GenAI-Perf reads them."""

    content: list[tuple[int, str]] = field(default_factory=list)
    """(timestamp, text) of every response with text, in order."""
    response_id: str | None = None
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    error: str | None = None


class _Where:
    def __init__(self, path: Path, where: str) -> None:
        self.path, self.where = path, where

    def bad(self, problem: str) -> BadInputError:
        return BadInputError(f"{self.where}: {problem}", path=str(self.path))


def _text(obj: Any, api: str, at: _Where) -> str:
    """The text of one parsed response (``_extract_openai_chat_text_output`` / ``..._completion_...``)."""
    if not isinstance(obj, dict):
        return ""
    choices = obj.get("choices", [{}])
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return ""  # a usage-only chunk (``choices: []``) or an error object
    choice = choices[0]
    kind = obj.get("object")
    if api == "completions" or not kind:
        value = choice.get("text")
    elif kind == "chat.completion":
        value = sub_object(choice, "message").get("content")
    elif kind == "chat.completion.chunk":
        value = sub_object(choice, "delta").get("content")
    else:
        raise at.bad(f"unknown OpenAI response object type {kind!r}")
    return value if isinstance(value, str) else ""


def _messages(response: str) -> list[str]:
    return response.strip().split("\n\n")


def parse_responses(stamps: list[int], outputs: list[str], api: str, at: _Where) -> _Parsed:
    """GenAI-Perf's response preprocessing (see the module docstring) plus ids, finish reason and errors."""
    outputs = list(outputs)
    for i in reversed(range(1, len(outputs))):
        response = outputs[i]
        if not response or _not_data(response) or response.startswith("data: "):
            continue
        if "data:" not in outputs[i - 1]:
            raise at.bad(f"response {i} continues an SSE message but response {i - 1} holds none")
        start = response.find("data: ")
        if start == -1:
            outputs[i - 1] += response
            outputs[i] = ""
        else:
            outputs[i - 1] += response[:start]
            outputs[i] = response[start:]
    parsed = _Parsed()
    for i, (stamp, response) in enumerate(zip(stamps, outputs, strict=True)):
        texts: list[str] = []
        messages = _messages(response)
        for k, msg in enumerate(messages):
            if msg.startswith("event:") and "error" in msg.lower():
                parsed.error = parsed.error or "\n".join(messages[k:])[:2000]
                continue
            if not msg or _not_data(msg):
                continue
            body = _strip_data(msg)
            if body == "[DONE]" or not body:
                continue
            try:
                obj = json.loads(body)
            except ValueError:
                raise at.bad(f"response {i} is not JSON after 'data:' ({body[:60]!r})") from None
            texts.append(_text(obj, api, at))
            _note_fields(obj, parsed)
        text = "".join(texts)
        if text:
            parsed.content.append((stamp, text))
    return parsed


def _note_fields(obj: Any, parsed: _Parsed) -> None:
    if not isinstance(obj, dict):
        return
    if parsed.response_id is None and isinstance(obj.get("id"), str):
        parsed.response_id = obj["id"]
    if isinstance(obj.get("usage"), dict):
        parsed.usage = obj["usage"]
    error = obj.get("error")
    if error and parsed.error is None:
        parsed.error = json.dumps(error)[:2000] if not isinstance(error, str) else error[:2000]
    choices = obj.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        reason = choices[0].get("finish_reason")
        if isinstance(reason, str):
            parsed.finish_reason = reason


# --- requests --------------------------------------------------------------------------------------------


def _payload(req: Mapping[str, Any], at: _Where) -> dict[str, Any]:
    inputs = need(req.get("request_inputs"), dict, f"{at.where}.request_inputs", at.path)
    text = need(inputs.get("payload"), str, f"{at.where}.request_inputs.payload", at.path)
    try:
        payload = json.loads(text)
    except ValueError:
        raise at.bad("request_inputs.payload is not a JSON request body") from None
    if not isinstance(payload, dict):
        raise at.bad("request_inputs.payload is not a JSON object")
    return payload


def prompt_text(payload: Mapping[str, Any], api: str) -> str | None:
    """The text GenAI-Perf tokenizes as the input (``_get_input_payload``): chat message contents joined with
    spaces (text parts of multimodal messages of the first message), completions' prompt list joined."""
    if api == "chat":
        messages = payload.get("messages")
        if not isinstance(messages, list) or not messages:
            return None
        contents = [m.get("content") if isinstance(m, dict) else None for m in messages]
        if all(isinstance(c, str) for c in contents):
            return " ".join(str(c) for c in contents)
        first = contents[0]
        if isinstance(first, list):
            return " ".join(
                str(c.get("text")) for c in first if isinstance(c, dict) and c.get("type") == "text"
            )
        return None
    prompt = payload.get("prompt")
    if isinstance(prompt, list):
        return " ".join(str(p) for p in prompt)
    return prompt if isinstance(prompt, str) else None


def _request(
    req: Any,
    at: _Where,
    rid: str,
    api: str,
    experiment: Mapping[str, Any],
    stage: str | None,
    count: Counter | None,
) -> Record:
    need(req, dict, at.where, at.path)
    t_send = need(req.get("timestamp"), int, f"{at.where}.timestamp", at.path)
    stamps = need(req.get("response_timestamps"), list, f"{at.where}.response_timestamps", at.path)
    outputs = need(req.get("response_outputs"), list, f"{at.where}.response_outputs", at.path)
    for k, stamp in enumerate(stamps):
        need(stamp, int, f"{at.where}.response_timestamps[{k}]", at.path)
    if len(outputs) != len(stamps):
        raise at.bad(f"{len(stamps)} response_timestamps but {len(outputs)} response_outputs")
    texts = []
    for k, out in enumerate(outputs):
        need(out, dict, f"{at.where}.response_outputs[{k}]", at.path)
        texts.append(need(out.get("response"), str, f"{at.where}.response_outputs[{k}].response", at.path))
    payload = _payload(req, at)
    parsed = parse_responses(stamps, texts, api, at)
    text = "".join(t for _, t in parsed.content)
    prompt = prompt_text(payload, api)
    error = None
    if parsed.error is not None:
        error = {
            "class": classify(200, parsed.error, mid_stream=True),
            "status": 200,
            "message": parsed.error,
        }
    max_tokens = payload.get("max_completion_tokens", payload.get("max_tokens"))
    streamed = payload.get("stream") is True
    record: Record = {
        "type": "request",
        "id": rid,
        "response_id": parsed.response_id,
        "model": payload.get("model") if isinstance(payload.get("model"), str) else None,
        "api": api,
        "stage": stage,
        "prompt_tokens": count(prompt) if count is not None and prompt is not None else None,
        "max_tokens": max_tokens
        if isinstance(max_tokens, int) and not isinstance(max_tokens, bool)
        else None,
        "t_send": t_send,
        "t_first": parsed.content[0][0] if parsed.content else None,
        "t_end": max(stamps) if stamps else t_send,
        # an answer not streamed is one body: no chunks (schema), its time is t_first
        "chunks_us": [round((stamp - t_send) / 1000) for stamp, _ in parsed.content] if streamed else [],
        "output_tokens": count(text) if count is not None else None,
        "tokens_source": "tokenizer" if count is not None else None,
        "status": 200,
        "finish_reason": parsed.finish_reason,
        "error": error,
        "text": text,
        "stream": streamed,
        "warmup": False,
        "peer": {
            "tool": SOURCE,
            "experiment": dict(experiment),
            "sequence_id": req.get("sequence_id"),
            "responses": len(stamps),
            "content_responses": len(parsed.content),
            "usage": parsed.usage,
        },
    }
    return record


@dataclass(frozen=True)
class _Run:
    export: Path
    summary: Path | None


def _runs(files: list[Path]) -> list[_Run]:
    """Each export with its summary: ``X_genai_perf.json`` beside ``X.json``."""
    kinds = {f: detect_kind(f) for f in files}
    summaries = {f for f, k in kinds.items() if k == "summary"}
    runs = []
    for f, kind in kinds.items():
        if kind != "export":
            continue
        twin = f.with_name(f.stem + _SUMMARY_SUFFIX)
        runs.append(_Run(f, twin if twin in summaries else None))
    paired = {r.summary for r in runs}
    for lone in sorted(summaries - paired):
        export = lone.name.replace(_SUMMARY_SUFFIX, ".json")
        raise BadInputError(f"a GenAI-Perf summary without its per-request export {export}", path=str(lone))
    return runs


def _experiments(data: Any, path: Path) -> list[dict[str, Any]]:
    need(data, dict, "(top level)", path)
    experiments = need(data.get("experiments"), list, "experiments", path)
    for i, entry in enumerate(experiments):
        need(entry, dict, f"experiments[{i}]", path)
        need(entry.get("experiment"), dict, f"experiments[{i}].experiment", path)
        need(entry.get("requests"), list, f"experiments[{i}].requests", path)
    return experiments


def _stage_name(run: _Run, experiment: Mapping[str, Any], several_files: bool, several: bool) -> str | None:
    parts = []
    if several_files:
        parts.append(run.export.parent.name or run.export.stem)
    if several:
        parts.append(f"{experiment.get('mode')}-{experiment.get('value')}")
    return "/".join(parts) or None


def _summary_stage(cfg: Mapping[str, Any], stages: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The stage whose experiment GenAI-Perf summarised (its ``perf_analyzer.stimulus``)."""
    if len(stages) == 1:
        return next(iter(stages))
    stimulus = sub_object(sub_object(cfg, "perf_analyzer"), "stimulus")
    for stage, exp in stages.items():
        if stimulus.get(str(exp.get("mode"))) == exp.get("value"):
            return stage
    return None


def read(files: list[Path], ctx: ImportContext) -> Iterator[Record]:
    """Trace records of GenAI-Perf artifact directories (one run per per-request export)."""
    runs = _runs(files)
    if not runs:
        raise BadInputError(
            "GenAI-Perf artifacts without perf_analyzer's per-request export (profile_export.json)",
            path=str(files[0]),
        )
    counters: dict[str, tuple[Counter | None, str | None]] = {}
    for run in runs:
        summary: dict[str, Any] = {}
        if run.summary is not None:
            summary = need(json_file(run.summary), dict, "(top level)", run.summary)
        cfg = sub_object(summary, "input_config")
        data = json_file(run.export)
        experiments = _experiments(data, run.export)
        kind, endpoint = data.get("service_kind"), str(data.get("endpoint") or "")
        if kind != "openai" or endpoint not in _APIS:
            raise BadInputError(
                f"service_kind {kind!r}, endpoint {endpoint!r}: only OpenAI chat and completions exports "
                "(v1/chat/completions, v1/completions) are read",
                path=str(run.export),
            )
        api = _APIS[endpoint]
        key = json.dumps(sub_object(cfg, "tokenizer"), sort_keys=True)
        if key not in counters:
            counters[key] = load_counter(cfg, ctx) if cfg else (None, None)
            if not cfg:
                ctx.notes.append(
                    f"{run.export.name}: no {run.export.stem}{_SUMMARY_SUFFIX} beside it, so neither "
                    "GenAI-Perf's tokenizer (token counts left null) nor its summary (no parity table)"
                )
        count, tokenizer = counters[key]
        if len(runs) == 1:
            ctx.config.update(cfg)
            ctx.config["perf_analyzer_version"] = data.get("version")
            ctx.config["counted_with"] = f"tokenizer {tokenizer}" if tokenizer else None
        else:
            ctx.config.setdefault("runs", []).append(
                {"export": str(run.export), "input_config": cfg, "perf_analyzer_version": data.get("version")}
            )
        stages: dict[str, dict[str, Any]] = {}
        n_requests: dict[str | None, int] = {}
        for e, entry in enumerate(experiments):
            exp = entry["experiment"]
            stage = _stage_name(run, exp, len(runs) > 1, len(experiments) > 1)
            stages[stage or ""] = exp
            n_requests[stage] = len(entry["requests"])
            prefix = run.export.stem if len(runs) == 1 else f"{run.export.parent.name}-{run.export.stem}"
            for i, req in enumerate(entry["requests"]):
                at = _Where(run.export, f"experiments[{e}].requests[{i}]")
                rid = f"{prefix}-{i}" if len(experiments) == 1 else f"{prefix}-{e}-{i}"
                yield _request(req, at, rid, api, exp, stage, count)
        if run.summary is None:
            continue
        stage = _summary_stage(cfg, stages)
        if stage is None:
            ctx.notes.append(
                f"{run.summary.name}: which of the export's {len(stages)} experiments it summarises is not "
                "stated: no parity table"
            )
            continue
        yield _totals(summary, run, ctx, stage or None, n_requests[stage or None], tokenizer, data)


def _totals(
    summary: dict[str, Any],
    run: _Run,
    ctx: ImportContext,
    stage: str | None,
    requests: int,
    tokenizer: str | None,
    data: Mapping[str, Any],
) -> Record:
    count = summary.get("request_count")
    counted = count.get("avg") if isinstance(count, dict) else None
    return {
        "type": "totals",
        "source": SOURCE,
        "name": "summary" if stage is None else stage,
        "requests": int(counted) if isinstance(counted, int | float) else requests,
        "detail": {
            "peer": {
                "tool": SOURCE,
                "version": "",
                "files": sorted({run.export.name} | ({run.summary.name} if run.summary else set())),
                "run": ctx.run,
                "stage": stage,
                **({"label": stage} if stage else {}),
                "requests": requests,
                "metrics": summary_metrics(summary),
                "context": {
                    "goodput": sub_object(
                        sub_object(sub_object(summary, "input_config"), "input"), "goodput"
                    ),
                    "tokenizer": tokenizer,
                    "perf_analyzer_version": data.get("version"),
                    "endpoint": data.get("endpoint"),
                },
            }
        },
    }
