"""``traceanalyzer sim`` commands and scenario files: options, overrides and the errors a user can cause."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from recorders.simserver.scenario import load_scenario, parse_set_option
from traceanalyzer.cli import main
from traceanalyzer.errors import BadInputError, UsageError


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as caught:
        main(list(args))
    out, err = capsys.readouterr()
    return int(caught.value.code or 0), out, err


def test_scenarios_lists_one_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "sim", "scenarios")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()]
    assert names == sorted(names) and "ramp-oom" in names and len(names) == len(set(names))


def test_show_resolves_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(
        capsys,
        "sim",
        "serve",
        "--scenario",
        "queue-timeout",
        "--set",
        "engine.max_batch=9",
        "--model",
        "m",
        "--show",
    )
    assert code == 0
    shown = json.loads(out)
    assert shown["engine"]["max_batch"] == 9 and shown["engine"]["queue_timeout_s"] == 3.0
    assert shown["model"]["name"] == "m"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--scenario", "nope"], "unknown scenario 'nope'"),
        (["--set", "engine.max_btach=3"], "unknown key engine.max_btach"),
        (["--set", "engine.max_batch=many"], "engine.max_batch must be int"),
        (["--set", "engine.kv_policy=evict"], "must be one of preempt, oom"),
        (["--set", "nodot=1"], "--set wants section.key=value"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    code, _, err = _cli(capsys, "sim", "serve", *args, "--show")
    assert code == 2
    assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_port_in_use_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = _cli(capsys, "sim", "serve", "--port", str(port), "--loop", "asyncio")
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in err


def test_scenario_file_and_typed_overrides(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\n[engine]\nmax_batch = 3\ndecode_ms = 7\n[gpu]\nkv_prealloc = false\n')
    scenario = load_scenario(path, {"faults.regression_at_s": 5, "rate_limit": {"rps": 2}})
    assert scenario.name == "mine" and scenario.engine.max_batch == 3
    assert scenario.engine.decode_ms == 7.0 and isinstance(scenario.engine.decode_ms, float)
    assert scenario.faults.regression_at_s == 5.0 and scenario.rate_limit.rps == 2.0
    assert scenario.gpu.kv_prealloc is False
    assert parse_set_option("model.name=llama") == ("model.name", "llama")
    assert parse_set_option('model.name="a b"') == ("model.name", "a b")
    assert parse_set_option("gpu.kv_prealloc=false") == ("gpu.kv_prealloc", False)


def test_bad_scenario_files_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[engine\n")
    with pytest.raises(BadInputError) as caught:
        load_scenario(broken)
    assert caught.value.path == str(broken)
    negative = tmp_path / "negative.toml"
    negative.write_text("[engine]\nmax_batch = -1\n")
    with pytest.raises(BadInputError, match="must not be negative"):
        load_scenario(negative)
    with pytest.raises(UsageError):
        load_scenario("no-such-scenario")
