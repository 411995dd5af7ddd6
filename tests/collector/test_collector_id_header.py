"""The client request id on the wire: ``record http`` sends it in a header (``x-request-id`` by default,
``--id-header NAME``, none with ``--no-id-header``) and notes the header in each request record."""

from __future__ import annotations

from pathlib import Path

import pytest
from collector_kit import MisbehavingServer, collect, read_trace, requests_of

from traceanalyzer.cli import main


def _header(headers: dict[str, str], name: str) -> str:
    """A header's value, whatever case the client wrote its name in."""
    (value,) = (v for k, v in headers.items() if k.lower() == name)
    return value


def test_default_sends_the_client_id_as_x_request_id(
    misbehaving_server: MisbehavingServer, tmp_path: Path
) -> None:
    out = tmp_path / "r.jsonl"
    collect(misbehaving_server.base_url, "m", out, requests=3, concurrency=1)
    records = requests_of(out)
    sent = [_header(s["headers"], "x-request-id") for s in misbehaving_server.seen]
    assert sorted(sent) == sorted(r["id"] for r in records)
    assert all(r["id_header"] == "x-request-id" for r in records)
    assert read_trace(out)[0]["config"]["id_header"] == "x-request-id"


def test_cli_id_header_and_no_id_header(misbehaving_server: MisbehavingServer, tmp_path: Path) -> None:
    base = [
        "record",
        "http",
        "--url",
        misbehaving_server.base_url,
        "--model",
        "m",
        "--requests",
        "2",
        "--quiet",
    ]
    with pytest.raises(SystemExit) as info:
        main([*base, "--id-header", "X-Client-Id", "--out", str(tmp_path / "a.jsonl")])
    assert info.value.code == 0
    records = requests_of(tmp_path / "a.jsonl")
    assert sorted(_header(s["headers"], "x-client-id") for s in misbehaving_server.seen) == sorted(
        r["id"] for r in records
    )
    assert {r["id_header"] for r in records} == {"X-Client-Id"}
    misbehaving_server.seen.clear()
    with pytest.raises(SystemExit) as info:
        main([*base, "--no-id-header", "--out", str(tmp_path / "b.jsonl")])
    assert info.value.code == 0
    assert len(misbehaving_server.seen) == 2
    assert not any(
        k.lower() in ("x-request-id", "x-client-id") for s in misbehaving_server.seen for k in s["headers"]
    )
    assert all("id_header" not in r for r in requests_of(tmp_path / "b.jsonl"))
