"""``LLMUser``: a Locust ``HttpUser`` that streams OpenAI-compatible responses and records every chunk.

Put it in a locustfile::

    from locust import constant
    from recorders.locust_user import LLMUser

    class Chat(LLMUser):
        model = "my-model"
        prompt_file = "prompts.jsonl"  # or: prompts = ["Hello", {"id": "q1", "prompt": "..."}]
        wait_time = constant(0)

What it does per request (the same observations as ``traceanalyzer record http``, built into the same
``request`` record by :func:`recorders.http_stream.record.build_record`):

- sends one streaming request (``stream: true``, ``stream_options.include_usage``) to
  ``{host}/chat/completions`` or ``{host}/completions`` with Locust's ``-H http://server:8000/v1``;
- stamps ``t_send`` before the request goes out, ``t_headers`` when the status line and headers are in, and
  every body read as it arrives (``urllib3``'s ``read1``: whatever the socket delivered, no line buffering);
  SSE is decoded after the stream ends; ``t_first`` is the first chunk that carries output text,
  ``chunks_us`` the output chunks' offsets after ``t_send`` in microseconds, ``t_end`` when the stream closed;
- fires Locust's ``request`` event with the true end-to-end time (last output chunk - ``t_send``; Locust by
  itself would time a streamed response only to its headers) and ``response_length`` = output tokens, plus
  a second event of request type ``TTFT`` (``ttft_request_type``) whose response time is the TTFT;
- fails the Locust request with ``CatchResponseError('[CLASS] HTTP STATUS: message')``, the class from
  :func:`recorders.errors.classify`, so Locust's failure table and ``traceanalyzer import locust`` agree;
- writes the ``request`` record to ``{--llm-trace-dir}/llm-requests-{run}-{host}-{worker}.jsonl`` through
  :class:`recorders.tracefile.TraceWriter`: one file per Locust process (``worker`` is ``local``, or
  ``wN`` with N Locust's worker index, as the collector names its workers), all carrying the master's run
  id (``--llm-run``, sent to the workers with the other custom arguments), so a master + workers run leaves
  one file per worker that the loader merges into one capture. A request still in flight when Locust stops
  the user is recorded as ``aborted``.

Locust runs users as gevent greenlets: nothing here blocks outside gevent's patched sockets, and timeouts are
``gevent.Timeout``. Import this module only in Locust processes (it registers Locust command-line options).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import gevent
import requests
import urllib3
from gevent import GreenletExit
from locust import HttpUser, events, task
from locust.env import Environment
from locust.exception import CatchResponseError
from locust.runners import WorkerRunner

from recorders.http_stream.client import (
    ENDPOINTS,
    ERROR_BODY_LIMIT,
    FAIL_ABORTED,
    FAIL_BROKEN,
    FAIL_CONNECTION,
    FAIL_HTTP,
    FAIL_TIMEOUT,
    Exchange,
    base_headers,
    http_error_message,
    request_body,
)
from recorders.http_stream.conversations import (
    Conversation,
    Dialogue,
    load_conversations,
    parse_think_time,
)
from recorders.http_stream.prompts import Prompt, PromptPicker, check_api, load_prompts, parse_prompt_lines
from recorders.http_stream.record import RequestInfo, RunInfo, SessionInfo, build_record, parse_exchange
from recorders.http_stream.sse import SSEDecoder, is_output_event
from recorders.tracefile import Clock, TraceWriter, new_run_id

RECORDER = "locust-llmuser"
TRACE_DIR_ENV = "LLM_TRACE_DIR"
DEFAULT_TRACE_DIR = "llm-traces"
READ_SIZE = 64 * 1024
MESSAGE_IN_LOCUST = 160
"""Characters of an error message's first sentence put into Locust's failure text. Locust groups failures
by that text, so numbers that change per request (token counts) further on would split one error into many
rows; the whole message is in the trace record."""


@events.init_command_line_parser.add_listener
def _add_options(parser: Any, **_kwargs: Any) -> None:
    parser.add_argument(
        "--llm-trace-dir",
        default=os.environ.get(TRACE_DIR_ENV, DEFAULT_TRACE_DIR),
        help=f"LLMUser: directory for the per-process request trace files (env {TRACE_DIR_ENV})",
    )
    parser.add_argument(
        "--llm-run",
        default=new_run_id(),
        help="LLMUser: run id written into every record (default: a new one; a worker takes the master's)",
    )


class _ClientTimeout(Exception):
    """Raised by the gevent timer of one request."""


class _Recorder:
    """The one trace file and per-process state shared by every ``LLMUser`` of a Locust process."""

    def __init__(self, environment: Environment, user_class: type[LLMUser]) -> None:
        options = environment.parsed_options
        trace_dir = getattr(options, "llm_trace_dir", None) or os.environ.get(
            TRACE_DIR_ENV, DEFAULT_TRACE_DIR
        )
        self.run: str = getattr(options, "llm_run", None) or new_run_id()
        self.host = socket.gethostname().split(".")[0]
        runner = environment.runner
        self.worker_index = runner.worker_index if isinstance(runner, WorkerRunner) else 0
        self.worker = f"w{self.worker_index}" if isinstance(runner, WorkerRunner) else "local"
        self.clock = Clock()
        self.ids = itertools.count(1)
        self.in_flight = 0
        classes = [c for c in environment.user_classes if issubclass(c, LLMUser)] or [user_class]
        path = Path(trace_dir) / f"llm-requests-{self.run}-{self.host}-{self.worker}.jsonl"
        self.writer = TraceWriter(
            path,
            recorder=RECORDER,
            run=self.run,
            host=self.host,
            clock=self.clock,
            config={
                "url": environment.host or user_class.host,
                "user_classes": {c.__name__: c.settings() for c in classes},
            },
            # outside ``config``: the writer's secret redaction would hide a key named max_tokens
            extra_meta={"worker": self.worker, "max_tokens": {c.__name__: c.max_tokens for c in classes}},
        )

    def write(self, record: Mapping[str, Any]) -> None:
        with contextlib.suppress(ValueError):  # closed: Locust is shutting down
            self.writer.write(record)


_recorder: _Recorder | None = None
_recorder_lock = threading.Lock()


def _get_recorder(environment: Environment, user_class: type[LLMUser]) -> _Recorder:
    global _recorder
    with _recorder_lock:
        if _recorder is None:
            _recorder = _Recorder(environment, user_class)
        return _recorder


@events.quitting.add_listener
def _close_recorder(**_kwargs: Any) -> None:
    if _recorder is not None:
        _recorder.writer.close()


class LLMUser(HttpUser):
    """A Locust user that sends streaming OpenAI-compatible requests and records them (see module docs).

    Set in a subclass: ``model``, ``api`` (``"chat"`` / ``"completions"``), ``max_tokens`` (a prompt's own
    ``max_tokens`` wins), prompts as ``prompts`` (strings, or dicts in the prompt-file format) or
    ``prompt_file`` (a JSONL prompt file, or ``builtin:NAME``; default ``builtin:mixed``), ``prompt_order``
    (``cycle`` / ``random``), ``timeout_s`` (whole request), ``ttft_timeout_s`` (wait for the first output),
    ``extra_body`` (merged into each request body), ``api_key_env`` (environment variable holding a bearer
    key), ``record_text``, ``request_name`` (the name in Locust's statistics; default the endpoint path),
    ``ttft_request_type`` (``None``: no TTFT entry in Locust's statistics). Records carry ``locust_user``,
    the class name.

    Conversation mode: with ``conversation_file`` (a conversation prompt file or ``builtin:chat``, see
    :mod:`recorders.http_stream.conversations`) each task runs one whole conversation, turn k resending the
    history with the answers received, ``think_time`` (``2s`` or ``exp:2s``) between turns, at most
    ``max_turns`` turns, a failed turn ending it (``on_turn_error = "continue"``: skipped). Records carry the
    same ``session_id``, ``turn``, ``cached_tokens``... as the collector's; Locust's ``wait_time`` runs
    between conversations.
    """

    abstract = True

    model: ClassVar[str] = "default"
    api: ClassVar[str] = "chat"
    max_tokens: ClassVar[int | None] = 128
    prompts: ClassVar[Sequence[str | Mapping[str, Any]] | None] = None
    prompt_file: ClassVar[str | None] = None
    prompt_order: ClassVar[str | None] = None
    seed: ClassVar[int] = 1
    timeout_s: ClassVar[float | None] = 600.0
    ttft_timeout_s: ClassVar[float | None] = None
    connect_timeout_s: ClassVar[float] = 30.0
    extra_body: ClassVar[Mapping[str, Any]] = {}
    extra_headers: ClassVar[Mapping[str, str]] = {}
    api_key_env: ClassVar[str | None] = None
    record_text: ClassVar[bool] = True
    request_name: ClassVar[str | None] = None
    ttft_request_type: ClassVar[str | None] = "TTFT"
    id_header: ClassVar[str | None] = "x-request-id"
    """Header that sends each request's client id to the server (None: not sent)."""
    conversation_file: ClassVar[str | None] = None
    think_time: ClassVar[str | None] = None
    max_turns: ClassVar[int | None] = None
    on_turn_error: ClassVar[str] = "stop"

    _prompt_sets: ClassVar[dict[type, list[Prompt]]] = {}
    _pickers: ClassVar[dict[type, PromptPicker]] = {}
    _conversation_sets: ClassVar[dict[type, list[Conversation]]] = {}
    _conversation_counter: ClassVar[itertools.count[int]] = itertools.count(1)

    @classmethod
    def settings(cls) -> dict[str, Any]:
        """The class's options, for the trace's meta line (``max_tokens`` goes beside ``config``)."""
        return {
            "model": cls.model,
            "api": cls.api,
            "prompts": cls.prompt_source(),
            "prompt_order": cls.prompt_order,
            "timeout_s": cls.timeout_s,
            "ttft_timeout_s": cls.ttft_timeout_s,
            "extra_body": dict(cls.extra_body),
            "api_key_env": cls.api_key_env,
            "request_name": cls.request_name or ENDPOINTS[cls.api],
            "ttft_request_type": cls.ttft_request_type,
            "id_header": cls.id_header,
        }

    # -- prompts ---------------------------------------------------------------------------------------------
    @classmethod
    def prompt_source(cls) -> str:
        """Where the prompts come from, for the trace's meta line."""
        if cls.prompts is not None:
            return f"{cls.__name__}.prompts ({len(cls.prompts)})"
        return cls.prompt_file or "builtin:mixed"

    @classmethod
    def prompt_set(cls) -> list[Prompt]:
        """The class's prompts, parsed and checked once (a bad prompt file names its file and line)."""
        if cls not in cls._prompt_sets:
            if cls.prompts is not None:
                lines = [json.dumps({"prompt": p} if isinstance(p, str) else dict(p)) for p in cls.prompts]
                prompts = parse_prompt_lines(lines, path=f"{cls.__name__}.prompts")
            else:
                prompts = load_prompts(cls.prompt_file)
            check_api(prompts, cls.api, cls.prompt_source())
            cls._prompt_sets[cls] = prompts
        return cls._prompt_sets[cls]

    def next_prompt(self, worker_index: int) -> Prompt:
        """The next prompt of this Locust process (one picker per class and process)."""
        cls = type(self)
        if cls not in cls._pickers:
            rng = random.Random(cls.seed + worker_index)
            cls._pickers[cls] = PromptPicker(cls.prompt_set(), order=cls.prompt_order, rng=rng)
        return cls._pickers[cls].next()[1]

    # -- the task --------------------------------------------------------------------------------------------
    @task
    def llm_request(self) -> None:
        """Send the next prompt, or run the next conversation (override to choose prompts or parameters
        yourself, then call ``send``)."""
        recorder = _get_recorder(self.environment, type(self))
        if type(self).conversation_file is not None:
            self.converse(recorder)
            return
        self.send(self.next_prompt(recorder.worker_index))

    def converse(self, recorder: _Recorder) -> None:
        """Run the class's next conversation, one request per turn (see the class docs)."""
        cls = type(self)
        if cls not in cls._conversation_sets:
            conversations = load_conversations(cls.conversation_file)
            if not conversations:
                raise ValueError(
                    f"{cls.conversation_file}: not a conversation prompt file (lines with 'turns')"
                )
            cls._conversation_sets[cls] = conversations
        conversations = cls._conversation_sets[cls]
        n = next(cls._conversation_counter)
        conv = conversations[(n - 1) % len(conversations)]
        talk = Dialogue(conv, f"{recorder.run}-{recorder.host}-{recorder.worker}-s{n}", cls.max_turns)
        think, rng = parse_think_time(cls.think_time), random.Random(f"{cls.seed}:{n}")
        for k in range(len(talk.turns)):
            if k > 0:
                gevent.sleep(talk.delay(k, think, rng))
            prompt, session = talk.request(k)
            record = self.send(prompt, session=session, headers=talk.headers)
            text = session.parsed.text if session.parsed is not None else ""
            if not talk.answered(k, None if record["error"] else text) and cls.on_turn_error == "stop":
                return

    def send(
        self,
        prompt: Prompt,
        *,
        max_tokens: int | None = None,
        name: str | None = None,
        session: SessionInfo | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Stream one request for ``prompt`` (``session``: a conversation's turn, ``headers`` beside the
        class's), record it, report it to Locust; return the record."""
        cls = type(self)
        recorder = _get_recorder(self.environment, cls)
        max_tokens = max_tokens if max_tokens is not None else (prompt.max_tokens or cls.max_tokens)
        body = request_body(
            prompt, api=cls.api, model=cls.model, max_tokens=max_tokens, extra_body=cls.extra_body
        )
        api_key = os.environ.get(cls.api_key_env) if cls.api_key_env else None
        headers = base_headers({**cls.extra_headers, **(headers or {})}, api_key)
        headers["User-Agent"] = "traceanalyzer-locust"
        request_name = name or cls.request_name or ENDPOINTS[cls.api]
        recorder.in_flight += 1
        req = RequestInfo(
            id=f"{recorder.host}-{recorder.worker}-{next(recorder.ids)}",
            prompt=prompt,
            stage=None,
            in_flight=recorder.in_flight,
            max_tokens=max_tokens,
            warmup=False,
            session=session,
        )
        if cls.id_header:
            headers[cls.id_header] = req.id
        ex = Exchange(t_start=time.monotonic_ns())
        response: requests.Response | None = None
        try:
            response = self._exchange(ENDPOINTS[cls.api], body, headers, ex)
        except GreenletExit:
            ex.fail(
                FAIL_ABORTED, "Locust stopped the user while the request was in flight", time.monotonic_ns()
            )
            self._finish(recorder, req, ex, response, request_name, report=False)
            raise
        finally:
            recorder.in_flight -= 1
        if session is not None:  # the conversation needs the answer; the record reuses the decoding
            session.parsed = parse_exchange(ex, chat=cls.api == "chat")
        return self._finish(recorder, req, ex, response, request_name, report=True)

    def _exchange(
        self, path: str, body: bytes, headers: dict[str, str], ex: Exchange
    ) -> requests.Response | None:
        """Send and read one response into ``ex`` (stamps, status, raw reads, failure)."""
        cls = type(self)
        mono = time.monotonic_ns
        first = [t for t in (cls.ttft_timeout_s, cls.timeout_s) if t is not None]
        timer = gevent.Timeout(min(first), _ClientTimeout()) if first else None
        response: requests.Response | None = None
        try:
            if timer is not None:
                timer.start()
            ex.t_send = mono()
            # catch_response=True hands reporting to this method: Locust fires its request event only when the
            # response context is exited, which is not done here; the event is fired by _finish with the
            # end-to-end time instead of the time to headers.
            response = self.client.post(
                path,
                data=body,
                headers=headers,
                stream=True,
                catch_response=True,
                timeout=(cls.connect_timeout_s, cls.timeout_s),
                allow_redirects=False,
            )
            error = getattr(response, "error", None)
            if error is not None:
                kind = FAIL_TIMEOUT if isinstance(error, requests.Timeout) else FAIL_CONNECTION
                ex.fail(kind, _describe(error), mono())
                return response
            ex.t_headers = mono()
            ex.status = response.status_code
            ex.request_id_header = response.headers.get("x-request-id")
            ex.content_type = response.headers.get("Content-Type", "")
            if response.status_code >= 300:
                data = response.raw.read(ERROR_BODY_LIMIT)
                ex.fail(FAIL_HTTP, http_error_message(data, response.reason), mono())
                return response
            timer = self._read_stream(response, ex, timer)
        except _ClientTimeout:
            ex.fail(FAIL_TIMEOUT, self._timeout_message(ex), mono())
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            if isinstance(exc, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)):
                ex.fail(FAIL_TIMEOUT, _describe(exc), mono())
            else:
                ex.fail(FAIL_CONNECTION if ex.t_headers is None else FAIL_BROKEN, _describe(exc), mono())
        finally:
            if timer is not None:
                timer.close()
            if response is not None and response.raw is not None:
                response.close()
            if ex.t_end is None:
                ex.t_end = mono()
        return response

    def _read_stream(
        self, response: requests.Response, ex: Exchange, timer: gevent.Timeout | None
    ) -> gevent.Timeout | None:
        """Stamp every read of the body; at the first output switch from the TTFT to the total timeout."""
        cls = type(self)
        mono = time.monotonic_ns
        read1 = response.raw.read1
        arrivals, reads = ex.arrivals, ex.reads
        decoder: SSEDecoder | None = SSEDecoder() if cls.ttft_timeout_s is not None else None
        chat = cls.api == "chat"
        while True:
            data = read1(READ_SIZE)
            now = mono()
            if not data:
                ex.t_end = now
                return timer
            arrivals.add(now, arrivals.received + len(data))
            reads.append(data)
            if decoder is not None and any(is_output_event(n, d, chat) for n, d in decoder.feed(data)):
                ex.t_first_seen = now
                decoder = None
                if timer is not None:
                    timer.close()
                    timer = None
                if cls.timeout_s is not None:
                    left_s = cls.timeout_s - (now - ex.t_send if ex.t_send else 0) / 1e9
                    timer = gevent.Timeout(max(left_s, 0.0), _ClientTimeout())
                    timer.start()

    def _timeout_message(self, ex: Exchange) -> str:
        cls = type(self)
        ttft = cls.ttft_timeout_s
        if ttft is not None and ex.t_first_seen is None and (cls.timeout_s is None or ttft <= cls.timeout_s):
            return f"no output within the client TTFT timeout of {ttft:g} s"
        return f"client total timeout of {cls.timeout_s:g} s"

    def _finish(
        self,
        recorder: _Recorder,
        req: RequestInfo,
        ex: Exchange,
        response: requests.Response | None,
        request_name: str,
        *,
        report: bool,
    ) -> dict[str, Any]:
        """Build and write the record; report it to Locust (end-to-end time, and TTFT for a success)."""
        cls = type(self)
        run_info = RunInfo(
            run=recorder.run,
            host=recorder.host,
            worker=recorder.worker,
            model=cls.model,
            api=cls.api,
            include_text=cls.record_text,
            secret=os.environ.get(cls.api_key_env) if cls.api_key_env else None,
            id_header=cls.id_header or None,
        )
        record = build_record(run_info, req, ex, recorder.clock)
        record["locust_user"] = cls.__name__
        recorder.write(record)
        if report:
            self._report(record, response, request_name)
        return record

    def _report(
        self, record: Mapping[str, Any], response: requests.Response | None, request_name: str
    ) -> None:
        chunks_us: list[int] = record["chunks_us"]
        t_send: int = record["t_send"]
        e2e_ms = chunks_us[-1] / 1000 if chunks_us else (record["t_end"] - t_send) / 1e6
        error = record["error"]
        exception: Exception | None = None
        if error is not None:
            status = f" HTTP {error['status']}" if error["status"] else ""
            message = _first_sentence(str(error["message"]))[:MESSAGE_IN_LOCUST]
            exception = CatchResponseError(f"[{error['class']}]{status}: {message}")
        fire = self.environment.events.request.fire
        context = self.context()
        fire(
            request_type="POST",
            name=request_name,
            response_time=e2e_ms,
            response_length=record["output_tokens"] or 0,
            exception=exception,
            context=context,
            response=response,
            start_time=t_send / 1e9,
            url=request_name,
        )
        if error is None and chunks_us and type(self).ttft_request_type:
            fire(
                request_type=type(self).ttft_request_type,
                name=request_name,
                response_time=chunks_us[0] / 1000,
                response_length=0,
                exception=None,
                context=context,
                start_time=t_send / 1e9,
            )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _first_sentence(text: str) -> str:
    flat = " ".join(text.split())
    end = flat.find(". ")
    return flat if end < 0 else flat[: end + 1]
