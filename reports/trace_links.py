"""Links from the report's request ids to a tracing tool (``report --trace-url TEMPLATE``).

The template is a URL with placeholders, for example
``https://langfuse.example.com/project/P/traces/{trace_id}``:

- ``{trace_id}``: the trace id ``export otel`` gives the request (:func:`traceanalyzer.trace_ids.trace_id`
  of its run and client id), so the link works without asking the tool;
- ``{client_id}``, ``{response_id}``, ``{session_id}``: the request's ids as recorded.

Each value is percent-encoded before it goes into the URL (an id cannot change the URL's shape), and the
template renders through the HTML templates' autoescape like every other string. A request without the
value a placeholder needs (no response id, no session) gets no link.
"""

from __future__ import annotations

import string
from urllib.parse import quote, urlsplit

from traceanalyzer.errors import UsageError
from traceanalyzer.model import RequestRef
from traceanalyzer.trace_ids import trace_id

PLACEHOLDERS = ("trace_id", "client_id", "response_id", "session_id")


def check_template(template: str) -> list[str]:
    """The placeholders of ``template``; :class:`UsageError` unless it is an http(s) URL whose every
    placeholder is one of :data:`PLACEHOLDERS`."""
    try:
        parsed = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise UsageError(f"--trace-url {template!r}: {exc} (write a literal brace as {{{{ or }}}})") from None
    fields = [f for f, _, _ in parsed]
    bad = sorted({f"{{{f}}}" for f, spec, conv in parsed if f not in PLACEHOLDERS or spec or conv})
    if bad:
        known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
        raise UsageError(f"--trace-url: unknown placeholder {', '.join(bad)}; known: {known}")
    parts = urlsplit(template)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--trace-url must be an http(s) URL, not {template!r}")
    return fields


class TraceLinks:
    """``links(ref)``: the URL of one request, or None when the request lacks a value the template needs."""

    def __init__(self, template: str) -> None:
        self.fields = check_template(template)
        self.template = template

    def values(self, ref: RequestRef) -> dict[str, str | None]:
        return {
            "trace_id": trace_id(ref.run, ref.id),
            "client_id": ref.id,
            "response_id": ref.response_id,
            "session_id": ref.session_id,
        }

    def __call__(self, ref: RequestRef) -> str | None:
        values = self.values(ref)
        if any(values[f] is None for f in self.fields):
            return None
        return self.template.format(**{k: quote(v, safe="") for k, v in values.items() if v is not None})
