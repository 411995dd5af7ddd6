"""Start the simulated server for a test or a benchmark: ``run_simserver``.

Example::

    from recorders.simserver.testing import run_simserver

    def test_my_recorder(tmp_path):
        with run_simserver("ramp-oom", seed=3, truth=tmp_path / "truth.jsonl",
                           overrides={"faults.oom_fatal_after_s": 2.0}) as sim:
            client = openai.OpenAI(base_url=sim.base_url, api_key="unused")
            ...                         # sim.metrics_url, sim.dcgm_url, sim.model for the others
        records = sim.truth_records()   # after the block: the server has stopped, the file is complete
        # inside the block, name the records you need: sim.truth_records(wait_for=response_ids)

What it does:

- Starts ``python -m traceanalyzer sim serve --scenario NAME --host 127.0.0.1 --port 0 --seed S`` as a
  SUBPROCESS (so a test's own event loop, threads and timing are not disturbed), lets it pick a free port,
  reads the port from its "listening on" line and waits until ``GET /health`` answers 200 (``start_timeout``
  seconds at most, else ``RuntimeError`` with the server's stderr).
- ``scenario`` is a bundled name (``traceanalyzer sim scenarios`` lists them) or a path to a TOML file.
- ``overrides`` sets scenario parameters, ``{"section.key": value}`` or ``{"section": {"key": value}}``, e.g.
  ``{"engine.queue_timeout_s": 2.0, "faults.oom_fatal_after_s": 1.0}``; they are checked in the calling
  process first (a bad key raises ``BadInputError`` at once) and passed as ``--set section.key=value``
  options. ``extra_args`` are appended to the command line as they are (e.g. ``["--loop", "asyncio"]``).
- ``truth``: where the server writes its ground-truth JSONL (``docs/simserver.md`` has the format); it is
  complete once the block has exited. Inside the block, ``handle.truth_records(wait_for=ids)`` waits
  (bounded) for the records of the requests the caller has seen end: the server writes a record when it
  has finished with the request, a moment after the client may have seen the response end.
- On exit: SIGTERM, then SIGKILL after ``stop_timeout`` seconds. Server stdout/stderr go to temporary files;
  ``handle.log()`` returns stderr (useful in an assertion message).

The handle: ``base_url`` (``http://127.0.0.1:PORT/v1``, what OpenAI clients take), ``url``
(``http://127.0.0.1:PORT``), ``metrics_url`` (vLLM format), ``dcgm_url`` (DCGM exporter format),
``health_url``, ``port``, ``model`` (the served model name), ``truth_path``, ``process``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recorders.simserver.scenario import load_scenario, nest_overrides

_LISTENING = re.compile(r"listening on http://[^:]+:(\d+)/v1")


@dataclass
class SimServerHandle:
    """A running simulated server (see the module docstring)."""

    port: int
    model: str
    truth_path: Path | None
    process: subprocess.Popen[bytes]
    stderr_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def metrics_url(self) -> str:
        return f"{self.url}/metrics"

    @property
    def dcgm_url(self) -> str:
        return f"{self.url}/metrics/dcgm"

    @property
    def health_url(self) -> str:
        return f"{self.url}/health"

    def log(self) -> str:
        """The server's stderr so far."""
        try:
            return self.stderr_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def truth_records(
        self, wait_for: Iterable[str | None] = (), *, at_least: int = 0, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """The ``sim_truth`` records of the truth file so far.

        The server writes a request's record when it has finished with the request, which can be a moment
        after the client saw the end of the response; while the server runs, only complete lines are read.
        ``wait_for``: response ids whose records the caller needs (``None`` entries are ignored); the call
        polls until the file holds every one of them, for at most ``timeout`` seconds while the server runs
        (once it has stopped the file is complete and nothing is waited for), and raises ``AssertionError``
        naming the missing ids otherwise. ``at_least``: the same for a number of records, for callers that
        know how many requests the server saw but not their ids.
        """
        needed = {i for i in wait_for if i is not None}
        deadline = time.monotonic() + timeout
        while True:
            running = self.process.poll() is None  # before reading: a stopped server's file is complete
            records = self._read_truth(complete_lines_only=running)
            missing = needed - {r.get("id") for r in records}
            if not missing and len(records) >= at_least:
                return records
            if not running or time.monotonic() >= deadline:
                state = f"waited {timeout:g} s" if running else "the server has stopped"
                if missing:
                    shown = ", ".join(sorted(missing)[:5]) + (", ..." if len(missing) > 5 else "")
                    what = f"no record of {len(missing)} request(s) the client finished: {shown}"
                else:
                    what = f"{len(records)} records, fewer than the {at_least} requests the client finished"
                raise AssertionError(
                    f"the simulated server's truth file {self.truth_path} has {what} ({state})"
                )
            time.sleep(0.02)

    def _read_truth(self, *, complete_lines_only: bool) -> list[dict[str, Any]]:
        if self.truth_path is None or not self.truth_path.exists():
            return []
        text = self.truth_path.read_text(encoding="utf-8")
        if complete_lines_only:
            text = text[: text.rfind("\n") + 1]  # a line being written is read next time
        records = []
        for line in text.splitlines():
            if line.strip():
                record = json.loads(line)
                if record.get("type") == "sim_truth":
                    records.append(record)
        return records

    def truth_for(self, ids: Iterable[str | None], timeout: float = 10.0) -> dict[str, dict[str, Any]]:
        """The truth records by response id, once the file holds every one of ``ids`` (see
        :meth:`truth_records`, which raises naming the missing ids after ``timeout`` seconds)."""
        return {t["id"]: t for t in self.truth_records(wait_for=list(ids), timeout=timeout)}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def _override_args(overrides: Mapping[str, Any]) -> list[str]:
    args: list[str] = []
    for section, values in nest_overrides(overrides).items():
        if not isinstance(values, Mapping):
            raise ValueError(f"override {section!r} needs a section, as 'section.key'")
        for key, value in values.items():
            args += ["--set", f"{section}.{key}={_toml_value(value)}"]
    return args


def _health_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def stop_process(process: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Stop a recorder or server run as a subprocess: SIGTERM (a clean stop), SIGKILL after ``timeout``."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


@contextlib.contextmanager
def run_simserver(
    scenario: str = "steady",
    *,
    seed: int = 1,
    truth: Path | None = None,
    extra_args: Sequence[str] = (),
    overrides: Mapping[str, Any] | None = None,
    start_timeout: float = 30.0,
    stop_timeout: float = 5.0,
) -> Iterator[SimServerHandle]:
    """Run ``traceanalyzer sim serve`` on a free 127.0.0.1 port for the duration of the block."""
    resolved = load_scenario(scenario, nest_overrides(overrides or {}))  # fail fast, in the test's process
    with tempfile.TemporaryDirectory(prefix="simserver-") as tmp:
        out_path, err_path = Path(tmp) / "stdout.txt", Path(tmp) / "stderr.txt"
        cmd = [
            sys.executable, "-m", "traceanalyzer", "sim", "serve", "--scenario", str(scenario),
            "--host", "127.0.0.1", "--port", "0", "--seed", str(seed),
        ]  # fmt: skip
        if truth is not None:
            cmd += ["--truth", str(truth)]
        cmd += _override_args(overrides or {})
        cmd += list(extra_args)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            process = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        try:
            port = _wait_ready(process, out_path, err_path, start_timeout)
            yield SimServerHandle(port, resolved.model.name, truth, process, err_path)
        finally:
            stop_process(process, stop_timeout)


def _wait_ready(process: subprocess.Popen[bytes], out_path: Path, err_path: Path, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    port: int | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if port is None:
            m = _LISTENING.search(out_path.read_text(encoding="utf-8", errors="replace"))
            port = int(m.group(1)) if m else None
        if port is not None and _health_ok(f"http://127.0.0.1:{port}/health"):
            return port
        time.sleep(0.05)
    stderr = err_path.read_text(encoding="utf-8", errors="replace")[-4000:]
    state = (
        f"exited with {process.returncode}" if process.poll() is not None else f"not ready in {timeout:g} s"
    )
    raise RuntimeError(f"simulated server {state}:\n{stderr}")
