"""``report --trace-url``: request ids in the report link to their traces, with every value percent-encoded
and the page escaped; bad templates are usage errors."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest

from recorders.tracefile import TraceWriter
from reports import RenderOptions
from reports.html_report import render_html
from reports.trace_links import TraceLinks, check_template
from traceanalyzer.analysis import analyze
from traceanalyzer.cli import main
from traceanalyzer.errors import UsageError
from traceanalyzer.loader import load_capture
from traceanalyzer.model import RequestRef
from traceanalyzer.trace_ids import trace_id

RUN = "run-<1>"
HOSTILE_ID = 'req-"<b>&x=1/#'
T0 = 1_772_366_400_000_000_000


def _capture(directory: Path) -> Path:
    with TraceWriter(directory / "requests.jsonl", recorder="http_stream", run=RUN, host="h") as writer:
        for i in range(12):
            t_send = T0 + i * 500_000_000
            failed = i == 7
            writer.write(
                {
                    "type": "request",
                    "id": HOSTILE_ID if i == 3 else f"req-{i}",
                    "response_id": None if failed else f"chatcmpl-{i}",
                    "model": "m",
                    "t_send": t_send,
                    "t_first": None if failed else t_send + 100_000_000,
                    "t_end": t_send + (2_000_000_000 if i == 3 else 300_000_000),
                    "chunks_us": [] if failed else [100_000, 200_000, 300_000 if i != 3 else 2_000_000],
                    "output_tokens": 0 if failed else 3,
                    "status": 503 if failed else 200,
                    "error": {"class": "server_5xx", "status": 503, "message": "busy"} if failed else None,
                    **({"session_id": "chat 7/a"} if i == 3 else {}),
                }
            )
    return directory


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self.links.append((self._href, data))
            self._href = None


def _request_links(html: str) -> dict[str, str]:
    section = html[html.index('<section id="requests"') :]
    section = section[: section.index("</section>")]
    parser = _Links()
    parser.feed(section)
    return {text: href for href, text in parser.links}


def test_request_ids_link_to_their_traces(tmp_path: Path) -> None:
    analysis = analyze(load_capture([_capture(tmp_path)], cache=False))
    template = "https://lf.example.com/project/P/traces/{trace_id}?c={client_id}&r={response_id}"
    html = render_html(analysis, RenderOptions(trace_url=template))
    links = _request_links(html)
    assert links[HOSTILE_ID] == (
        f"https://lf.example.com/project/P/traces/{trace_id(RUN, HOSTILE_ID)}"
        f"?c={quote(HOSTILE_ID, safe='')}&r=chatcmpl-3"
    )
    assert links[HOSTILE_ID].endswith("?c=req-%22%3Cb%3E%26x%3D1%2F%23&r=chatcmpl-3")
    # The first failure has no response id: it is listed, without a link.
    assert ">req-7<" in html.split('id="requests"')[1] and "req-7" not in links
    assert "<b>" not in html.split('id="requests"')[1]


def test_links_of_one_request() -> None:
    ref = RequestRef("a b", "r/1", None, None, None, None, 0.0, None, None, None, None, None, run="x")
    assert TraceLinks("https://t/{client_id}/{response_id}")(ref) == "https://t/a%20b/r%2F1"
    assert TraceLinks("https://t/{session_id}")(ref) is None  # no session: no link
    chat = RequestRef(
        "c", None, None, None, None, None, 0.0, None, None, None, None, None, session_id="chat 7"
    )
    assert (
        TraceLinks("https://lf/project/P/sessions/{session_id}")(chat)
        == "https://lf/project/P/sessions/chat%207"
    )
    assert TraceLinks("https://t/{trace_id}")(chat) == f"https://t/{trace_id(None, 'c')}"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("https://t/{trace}", r"unknown placeholder \{trace\}"),
        ("https://t/{trace_id!r}", r"unknown placeholder \{trace_id\}"),
        ("javascript:alert({trace_id})", "must be an http"),
        ("https://t/{trace_id", "Single '{'|expected '}'"),
    ],
)
def test_bad_templates_are_usage_errors(template: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        check_template(template)


def test_cli_rejects_a_bad_template_before_analysing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(
            ["report", str(tmp_path / "none"), "-o", str(tmp_path / "r.html"), "--trace-url", "ftp://x/{id}"]
        )
    assert info.value.code == 2
    assert "unknown placeholder {id}" in capsys.readouterr().err
