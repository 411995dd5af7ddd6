"""``import prometheus`` against a loopback server speaking the query API: retries with backoff, errors and
their exit codes, headers and tokens (never written), the window split into several queries."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from recorders.prometheus_import import PrometheusImportOptions, import_prometheus
from recorders.prometheus_import.client import PrometheusClient, api_base
from recorders.prometheus_import.series import QueryError
from recorders.prometheus_import.window import Window
from tests.prometheus_import.conftest import QueryApi, matrix
from traceanalyzer.cli import main
from traceanalyzer.errors import SourceUnreachableError, UsageError

S = 1_800_000_000
WINDOW = Window(S * 1000, (S + 2) * 1000, 1000)


def _dcgm_answer(params: dict[str, str]) -> tuple[int, str]:
    """FB_USED of one GPU at every step of the asked window, the value being the Unix second."""
    start, end, step = (round(float(params[k])) for k in ("start", "end", "step"))
    if "DCGM" not in params["query"]:
        return 200, matrix([])
    labels = {"__name__": "DCGM_FI_DEV_FB_USED", "gpu": "0", "UUID": "GPU-1", "Hostname": "h"}
    return 200, matrix([(labels, [(t, t - S) for t in range(start, end + 1, step)])])


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_retries_with_backoff_on_5xx_then_succeeds() -> None:
    statuses = [503, 502, 200]
    sleeps: list[float] = []

    def respond(params: dict[str, str]) -> tuple[int, str]:
        status = statuses.pop(0)
        return (status, matrix([])) if status == 200 else (status, "upstream busy")

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def query(url: str) -> bytes:
        async with PrometheusClient(url, attempts=5, backoff_s=0.5, sleep=sleep) as client:
            body = await client.query_range("up", WINDOW, what="query 'up'")
            assert client.retries == 2
            return body

    with QueryApi([], respond) as api:
        body = _run(query(api.url))
    assert json.loads(body)["status"] == "success" and sleeps == [0.5, 1.0]


def test_gives_up_after_the_last_try_with_what_failed() -> None:
    async def sleep(seconds: float) -> None:
        return None

    async def query(url: str) -> None:
        async with PrometheusClient(url, attempts=3, sleep=sleep) as client:
            await client.query_range("up", WINDOW, what="query 'dcgm'")

    with (
        QueryApi([], lambda p: (500, '{"status":"error","errorType":"internal","error":"disk full"}')) as api,
        pytest.raises(SourceUnreachableError) as caught,
    ):
        _run(query(api.url))
    assert str(caught.value) == (
        f"cannot get query 'dcgm' from {api.url}: HTTP 500 Internal Server Error: internal: disk full "
        "(tried 3 times)"
    )


BAD_DATA = "1:5: parse error: unclosed left parenthesis"
TOO_MANY = "query processing would load too many samples"


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (401, "Unauthorized", SourceUnreachableError, "HTTP 401 Unauthorized; check --header"),
        (400, json.dumps({"status": "error", "errorType": "bad_data", "error": BAD_DATA}),
         QueryError, f"bad_data: {BAD_DATA}"),
        (422, json.dumps({"status": "error", "errorType": "execution", "error": TOO_MANY}),
         QueryError, f"execution: {TOO_MANY}"),
    ],
)  # fmt: skip
def test_errors_not_worth_retrying_fail_at_once(status: int, body: str, error: type, text: str) -> None:
    async def query(url: str) -> None:
        async with PrometheusClient(url, attempts=5) as client:
            await client.query_range("sum(", WINDOW, what="query 'x'")

    with QueryApi([], lambda p: (status, body)) as api:
        with pytest.raises(error) as caught:
            _run(query(api.url))
        assert len(api.requests) == 1
    assert text in str(caught.value)


def test_unreachable_server_exits_3_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: nothing listens there
    with pytest.raises(SystemExit) as exit_:
        main(["import", "prometheus", "--url", f"http://me:pw-s3cret@127.0.0.1:{port}", "--start", str(S),
              "--end", str(S + 60), "--retries", "0", "--out", str(tmp_path / "out")])  # fmt: skip
    assert exit_.value.code == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        f"error: cannot get the metric names from http://me:<redacted>@127.0.0.1:{port}: ClientConnectorError"
    )
    assert "pw-s3cret" not in err[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "http://p:9090", "--out", "o"], "the window is missing: give --start and --end"),
        (["--url", "http://p:9090", "--start", "2026-12-06T15:00:00Z", "--end", "2026-12-06T14:00:00Z",
          "--out", "o"], "the window is empty"),
        (["--url", "p:9090", "--start", "1", "--end", "2", "--out", "o"], "--url must be an http(s) URL"),
        (["--url", "http://p:9090", "--start", "1", "--end", "2", "--selector", "job=dcgm", "--out", "o"],
         "--selector: 'job=dcgm' is not a label matcher"),
        (["--url", "http://p:9090", "--start", "yesterday", "--end", "2", "--out", "o"], "is not a time"),
        (["--out", "o"], "give either --url (a Prometheus server) or saved responses, not both"),
        (["--url", "http://p:9090", "--start", "1", "--end", "2", "--bearer-token-env", "NO_SUCH_VAR_X",
          "--out", "o"], "NO_SUCH_VAR_X is not set"),
    ],
)  # fmt: skip
def test_bad_options_exit_2(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["import", "prometheus", *args])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_token_and_headers_are_sent_and_never_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROM_TOKEN_FOR_TEST", "s3cr3t-t0ken")
    with QueryApi(["DCGM_FI_DEV_FB_USED", "up"], _dcgm_answer) as api:
        result = import_prometheus(
            PrometheusImportOptions(
                out=tmp_path / "out",
                url=api.url + "/api/v1",
                start=S,
                end=S + 2,
                step_s=1.0,
                headers=("X-Scope-OrgID: team-a", "X-Api-Key: k3y-value"),
                bearer_token_env="PROM_TOKEN_FOR_TEST",
                progress=False,
            )
        )
    for _, _, headers in api.requests:
        assert headers["Authorization"] == "Bearer s3cr3t-t0ken" and headers["X-Scope-OrgID"] == "team-a"
    assert result.records["gpu"] == 3 and result.queries == ["dcgm"]
    assert result.notes == [
        "no serving engine series (engine) in the window: skipped",
        "no node exporter series (node) in the window: skipped",
        "no node exporter series (node_cpu) in the window: skipped",
    ]
    text = (tmp_path / "out" / "gpu.jsonl").read_text()
    assert "s3cr3t-t0ken" not in text and "k3y-value" not in text
    meta = json.loads(text.splitlines()[0])
    assert meta["config"]["headers"] == ["X-Scope-OrgID: team-a", "X-Api-Key: <redacted>"]
    assert meta["config"]["bearer_token_env"] == "PROM_TOKEN_FOR_TEST"


def test_long_window_is_split_into_queries_within_the_point_limit(tmp_path: Path) -> None:
    with QueryApi(["DCGM_FI_DEV_FB_USED"], _dcgm_answer) as api:
        result = import_prometheus(
            PrometheusImportOptions(
                out=tmp_path / "out",
                url=api.url,
                start=S,
                end=S + 24,
                step_s=1.0,
                max_points=10,
                progress=False,
            )
        )
    asked = [
        (round(float(p["start"])) - S, round(float(p["end"])) - S)
        for path, p, _ in api.requests
        if path.endswith("query_range")
    ]
    assert asked == [(0, 9), (10, 19), (20, 24)]
    assert result.parts == 3 and result.requests == 3
    lines = (tmp_path / "out" / "gpu.jsonl").read_text().splitlines()[1:]
    assert [json.loads(line)["mem_used_mib"] for line in lines] == [float(k) for k in range(25)]


def test_existing_output_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "gpu.jsonl").write_text("old\n")
    options = dict(url="http://127.0.0.1:9", start=S, end=S + 2, progress=False)
    with pytest.raises(UsageError, match="output files exist"):
        import_prometheus(PrometheusImportOptions(out=out, **options))  # type: ignore[arg-type]
    with QueryApi(["DCGM_FI_DEV_FB_USED"], _dcgm_answer) as api:
        options["url"] = api.url
        import_prometheus(PrometheusImportOptions(out=out, overwrite=True, step_s=1.0, **options))  # type: ignore[arg-type]
    assert json.loads((out / "gpu.jsonl").read_text().splitlines()[0])["type"] == "meta"


def test_api_base_accepts_the_api_path() -> None:
    assert api_base("http://p:9090/") == "http://p:9090"
    assert api_base("https://mimir/prometheus/api/v1") == "https://mimir/prometheus"
    assert api_base("http://p:9090/api/v1/query_range") == "http://p:9090"
