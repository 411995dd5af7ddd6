"""``traceanalyzer record http``: the OpenAI-compatible streaming collector."""

from __future__ import annotations

import click

from traceanalyzer.errors import UsageError


def _seconds(value: str | None, what: str) -> float | None:
    if value is None:
        return None
    from recorders.http_stream.load import parse_duration

    return parse_duration(value, what=what)


@click.command(
    "http",
    epilog="""\b
Examples:
  traceanalyzer record http --url http://127.0.0.1:8000/v1 --model m --concurrency 16 --requests 500 \\
      --out capture/requests.jsonl
  traceanalyzer record http --url http://llm:8000/v1 --model m --rate 20 --arrival poisson --duration 10m \\
      --prompts builtin:consistency --api-key-env OPENAI_API_KEY --out capture/requests.jsonl
  traceanalyzer record http --url http://llm:8000/v1 --model m --stages "+10 users every 5m to 100" \\
      --duration 1h --warmup 30s --out capture/requests.jsonl
""",
)
@click.option("--url", required=True, metavar="URL", help="API base, e.g. http://host:8000/v1.")
@click.option("--model", required=True, metavar="NAME", help="Model name sent in every request.")
@click.option("--api", type=click.Choice(["chat", "completions"]), default="chat", show_default=True)
@click.option(
    "--prompts",
    metavar="FILE.jsonl|builtin:NAME",
    help="Prompt file (JSONL: id, prompt|messages, scenario, max_tokens, expected) or builtin:mixed "
    "(default), builtin:consistency, builtin:robustness; a file of conversations (id, system, turns) or "
    "builtin:chat runs whole conversations.",
)
@click.option("--concurrency", type=int, help="Closed loop: this many requests in flight (default 1).")
@click.option("--rate", type=float, help="Open loop: requests per second.")
@click.option("--arrival", type=click.Choice(["poisson", "constant"]), default="poisson", show_default=True)
@click.option(
    "--stages",
    metavar="SPEC",
    help='Load stages "60s@8,60s@16,30s@20/s" or a ramp "+10 users every 5m [to 100]".',
)
@click.option("--requests", type=int, help="Stop sending after this many requests (in-flight ones finish).")
@click.option(
    "--duration",
    metavar="DURATION",
    help="Stop sending after this long (e.g. 10m); in-flight ones get --grace.",
)
@click.option("--max-tokens", type=int, help="max_tokens of every request (a prompt's own value wins).")
@click.option(
    "--timeout",
    default="600",
    metavar="DURATION",
    show_default=True,
    help="Total time limit per request (seconds or 10m).",
)
@click.option("--ttft-timeout", metavar="DURATION", help="Time limit for the first output chunk (seconds).")
@click.option(
    "--extra-body", metavar="JSON", help="JSON object merged into each body, e.g. '{\"temperature\": 0}'."
)
@click.option(
    "--header", "headers", multiple=True, metavar="NAME:VALUE", help="Extra request header (repeatable)."
)
@click.option(
    "--api-key-env", metavar="VAR", help="Send 'Authorization: Bearer $VAR'; the key is never written."
)
@click.option("--no-text", is_flag=True, help="Do not record output text.")
@click.option("--out", required=True, metavar="FILE", help="Trace file to write (.jsonl or .jsonl.gz).")
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of Poisson arrivals and random order."
)
@click.option(
    "--warmup",
    default="0",
    metavar="DURATION",
    show_default=True,
    help="Mark requests sent in this first period as warmup.",
)
@click.option(
    "--workers", type=int, default=1, show_default=True, help="Split the load over N processes/files."
)
@click.option(
    "--grace",
    default="30",
    metavar="DURATION",
    show_default=True,
    help="After stopping, wait this long for in-flight requests.",
)
@click.option(
    "--order", type=click.Choice(["cycle", "random"]), help="Prompt order (default: random if weighted)."
)
@click.option(
    "--id-header",
    default="x-request-id",
    show_default=True,
    metavar="NAME",
    help="Header that sends each request's client id, so server logs and traces carry it.",
)
@click.option("--no-id-header", is_flag=True, help="Do not send the client id in a header.")
@click.option("--quiet", is_flag=True, help="No progress line.")
@click.option("--no-stream", is_flag=True, help="Send stream: false (the whole answer in one body).")
@click.option(
    "--conversations",
    "conversation_count",
    type=int,
    help="Conversation file: start this many conversations (default: each once).",
)
@click.option(
    "--think-time", metavar="DURATION", help="Conversations: pause before each next turn, 2s or exp:2s."
)
@click.option("--max-turns", type=int, help="Conversations: send at most this many turns of each.")
@click.option(
    "--on-turn-error",
    type=click.Choice(["stop", "continue"]),
    default="stop",
    show_default=True,
    help="Conversations: a failed turn ends its conversation, or is skipped.",
)
def record_http(
    url: str,
    model: str,
    api: str,
    prompts: str | None,
    concurrency: int | None,
    rate: float | None,
    arrival: str,
    stages: str | None,
    requests: int | None,
    duration: str | None,
    max_tokens: int | None,
    timeout: str,
    ttft_timeout: str | None,
    extra_body: str | None,
    headers: tuple[str, ...],
    api_key_env: str | None,
    no_text: bool,
    out: str,
    seed: int,
    warmup: str,
    workers: int,
    grace: str,
    order: str | None,
    id_header: str,
    no_id_header: bool,
    quiet: bool,
    no_stream: bool,
    conversation_count: int | None,
    think_time: str | None,
    max_turns: int | None,
    on_turn_error: str,
) -> None:
    """Drive an OpenAI-compatible endpoint with streaming requests and record every chunk's arrival.

    One request record per request (success, error class, or aborted at Ctrl-C / SIGTERM), written as it ends.
    Exit 3 when the endpoint cannot be reached at start.
    """
    from recorders.http_stream.collector import run_collector
    from recorders.http_stream.config import CollectorConfig, parse_extra_body, parse_header

    if requests is not None and requests < 1:
        raise UsageError("--requests must be >= 1")
    config = CollectorConfig(
        url=url,
        model=model,
        out=out,
        api=api,
        prompts=prompts,
        concurrency=concurrency,
        rate=rate,
        arrival=arrival,
        stages=stages,
        requests=requests,
        duration_s=_seconds(duration, "--duration"),
        max_tokens=max_tokens,
        timeout_s=_seconds(timeout, "--timeout"),
        ttft_timeout_s=_seconds(ttft_timeout, "--ttft-timeout"),
        extra_body=parse_extra_body(extra_body),
        headers=tuple(parse_header(h) for h in headers),
        api_key_env=api_key_env,
        no_text=no_text,
        seed=seed,
        warmup_s=_seconds(warmup, "--warmup") or 0.0,
        workers=workers,
        grace_s=_seconds(grace, "--grace") or 0.0,
        order=order,
        progress=not quiet,
        id_header=None if no_id_header else id_header,
        stream=not no_stream,
        conversations=conversation_count,
        think_time=think_time,
        max_turns=max_turns,
        on_turn_error=on_turn_error,
    )
    result = run_collector(config)
    click.echo(result.summary(), err=True)
